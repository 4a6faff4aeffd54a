"""s4_minimal.perf: the benchmark of chapter 10, at tiny sizes on the CPU, and its floors."""

import json

import pytest

from s4_minimal import perf

ROW_FIELDS = {"method", "L", "pass", "ms", "flops", "bytes", "floor_ms", "bound", "x_floor",
              "peak_bytes", "rel_err_f32"}


@pytest.fixture(scope="module")
def tiny_result():
    cfg = perf.BenchConfig(sizes=[32, 64], H=2, N=4, batch=2, layer_sizes=[32], repeats=2,
                            check_channels=1, rnn_steps=8,
                            methods=["naive", "dplr_fast", "diag_fast", "fft_conv",
                                     "layer_fast", "layer_kernel", "layer_conv", "rnn_step",
                                     "rnn_loop", "legs_error"])
    return perf.run_benchmark(cfg, progress=False)


def test_benchmark_json_has_every_field(tiny_result):
    r = json.loads(json.dumps(tiny_result))           # JSON-serializable
    assert {"environment", "config", "ceilings", "counting", "methods", "results"} <= set(r)
    assert {"device", "platform", "jax", "backend_version", "date"} <= set(r["environment"])
    assert r["ceilings"]["bandwidth"] > 0 and r["ceilings"]["flops"] > 0
    assert r["config"]["sizes"] == [32, 64] and r["config"]["H"] == 2
    rows = r["results"]
    assert r["complete"] and not r["skipped"] and not r["failed"]
    for row in rows:
        if row["method"] == "legs_error":    # an error, no time: the layer's LegS start
            # float32 against float64 (measured 3e-07 at L = 32, 64)
            assert row["rel_err_f32"] < 1e-5 and row["worst_channel_err_f32"] < 1e-5
            continue
        assert ROW_FIELDS <= set(row) and row["ms"] > 0 and row["x_floor"] > 0
    seen = {(row["method"], row["pass"]) for row in rows}
    assert {("naive", "fwd"), ("dplr_fast", "fwd"), ("dplr_fast", "fwd+bwd"), ("diag_fast", "fwd"),
            ("fft_conv", "fwd"), ("layer_fast", "fwd"), ("layer_fast", "fwd+bwd"),
            ("layer_kernel", "fwd+bwd"), ("layer_conv", "fwd+bwd"), ("rnn_step", "fwd"),
            ("rnn_loop", "fwd")} <= seen
    assert sorted(row["unroll"] for row in rows if row["method"] == "rnn_loop") == [1, 8]
    assert sorted(row["unroll"] for row in rows if row["method"] == "rnn_step") == sorted(
        perf.RNN_UNROLLS)
    for row in rows:
        if row["method"] in ("naive", "dplr_fast", "diag_fast") and row["pass"] == "fwd":
            assert row["rel_err_f32"] < 1e-5          # float32 on the device vs float64
    table = perf.format_table(tiny_result)
    assert "dplr_fast" in table and max(len(line) for line in table.splitlines()) <= 76


@pytest.mark.parametrize("kwargs, error, match", [
    ({"sizes": [1]}, ValueError, "'sizes' expected an integer >= 2"),
    ({"sizes": "1024"}, TypeError, "'sizes' expected a list"),
    ({"methods": ["fastest"]}, ValueError, "'methods' expected names from"),
    ({"N": 7}, ValueError, "'N' expected an even integer"),
    ({"repeats": 0}, ValueError, "'repeats' expected an integer >= 1"),
    ({"caps": {"nope": 3}}, ValueError, "'caps' expected method names"),
])
def test_bad_benchmark_options_give_clear_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        perf.BenchConfig(**kwargs)


def test_command_line_rejects_bad_options(capsys):
    with pytest.raises(SystemExit):
        perf.main(["--methods", "fastest"])
    assert "'methods' expected names from" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        perf.main(["--sizes", "12,x"])
    assert "comma-separated integers" in capsys.readouterr().err


# Hand counts at H = 2, N = 4, L = 8 (M = L/2 + 1 = 5, log2 L = 3, rank r = 1), written out
# from FLOOR_COUNTING's rules term by term, independently of perf.floor's code.
HAND = {
    "naive": (2 * 2 * 8 * 4 * 4, 4 * 2 * 16 + 4 * 2 * 8),                 # 512, 192
    "dense_gf": (2 * 5 * (8 / 3) * 64, 4 * 2 * 16 + 4 * 2 * 8),           # 1706.7, 192
    "dplr_fast": (2 * 5 * 4 * (6 + 8 * 4) + 2.5 * 2 * 8 * 3, 8 * 2 * 4 * 4 + 4 * 2 * 8),
    "diag_fast": (4 * 2 * 8 * 4, 8 * 2 * 4 * 3 + 4 * 2 * 8),
    "cauchy_xla": (2 * 5 * 4 * (6 + 8 * 4), 8 * 2 * 5 * 4),
    "irfft": (2.5 * 2 * 8 * 3, 8 * 2 * 5 + 4 * 2 * 8),
    "scan": (2 * 2 * 8 * 4 * 4, 2 * 4 * 2 * 8),
    "fft_conv": (3 * 2.5 * 16 * 4 * 2, 3 * 4 * 2 * 8),
    # batch 3: the kernel's Cauchy terms, then 2B + 1 = 7 FFTs of length 2L = 16
    "layer_fast": (2 * 5 * 4 * (6 + 8 * 4) + 7 * 2.5 * 16 * 4 * 2, 2 * 4 * 3 * 8 * 2),
    # one step: ~60 flops per complex state, the H N/2 complex64 states read and written
    "rnn_step": (60 * 2 * 2, 2 * 8 * 2 * 2),
    "rnn_loop": (60 * 2 * 2, 2 * 8 * 2 * 2),
    # the layer's parts: its kernel counts as dplr; its convolutions: 2B + 1 = 7 FFTs,
    # u read and y written (B L H float32 each), K read (H L float32)
    "layer_kernel": (2 * 5 * 4 * (6 + 8 * 4) + 2.5 * 2 * 8 * 3, 8 * 2 * 4 * 4 + 4 * 2 * 8),
    "layer_conv": (7 * 2.5 * 16 * 4 * 2, 2 * 4 * 3 * 8 * 2 + 4 * 2 * 8),
    "dplr_variant": (2 * 5 * 4 * (6 + 8 * 4) + 2.5 * 2 * 8 * 3, 8 * 2 * 4 * 4 + 4 * 2 * 8),
}


@pytest.mark.parametrize("name", sorted(HAND))
def test_floors_equal_hand_counts(name):
    cfg = perf.BenchConfig(sizes=[8], H=2, N=4, batch=3)
    flops, nbytes = HAND[name]
    assert perf.floor(name, 8, cfg) == pytest.approx((flops, nbytes), rel=1e-12)
    assert perf.floor(name, 8, cfg, grad=True) == pytest.approx((3 * flops, 3 * nbytes),
                                                                rel=1e-12)


def test_dense_generating_function_floor_counts_the_complex_lu_once():
    # (8/3) N^3 real flops per frequency: a complex LU is (1/3) N^3 complex multiply-adds
    # (8 real flops each: 4 multiplications, 4 additions counting the accumulate)
    cfg = perf.BenchConfig(sizes=[64], H=1, N=64)
    flops, _ = perf.floor("dense_gf", 64, cfg)
    assert flops == pytest.approx(33 * (8 / 3) * 64 ** 3, rel=1e-12)


def test_ceilings_take_the_best_way_to_move_memory():
    c = perf.measure_ceilings(repeats=2)
    assert set(c["bandwidth_each"]) == {"x + 1", "copy", "sum"}
    assert c["bandwidth"] == max(c["bandwidth_each"].values()) > 0
    assert c["bandwidth_by"] in c["bandwidth_each"] and c["flops"] > 0


def test_a_run_out_of_budget_skips_its_steps_and_says_so(tmp_path):
    cfg = perf.BenchConfig(sizes=[32], H=2, N=4, repeats=1, methods=["dplr_fast"])
    out = tmp_path / "run.json"
    r = perf.run_benchmark(cfg, progress=False, out=str(out), budget_s=0.0)
    assert r["skipped"] == ["ceilings", "dplr_fast L=32"] and r["results"] == []
    assert not r["complete"] and json.loads(out.read_text())["skipped"] == r["skipped"]


def _row(method, L, pass_, ms, **extra):
    return {"method": method, "L": L, "pass": pass_, "ms": ms, **extra}


def test_merge_keeps_every_run_and_the_first_of_duplicate_rows():
    a = {"environment": {"device": "x"}, "config": {"methods": ["a"]}, "ceilings": {},
         "results": [_row("dplr_fast", 64, "fwd", 1.0), _row("rnn_loop", 8, "fwd", 2.0, unroll=1)],
         "skipped": ["naive L=64"], "complete": False}   # measured by the second run
    b = {"environment": {"device": "x"}, "config": {"methods": ["b"]}, "ceilings": {},
         "results": [_row("dplr_fast", 64, "fwd", 9.0), _row("rnn_loop", 8, "fwd", 3.0, unroll=8),
                     _row("naive", 64, "fwd", 4.0)], "skipped": ["scan L=64"], "complete": False}
    m = perf.merge([a, b])
    assert [(r["method"], r["ms"]) for r in m["results"]] == [
        ("dplr_fast", 1.0), ("rnn_loop", 2.0), ("rnn_loop", 3.0), ("naive", 4.0)]
    assert len(m["runs"]) == 2 and m["skipped"] == ["scan L=64"] and not m["complete"]


def test_pick_pallas_takes_the_fastest_configuration_that_agrees_with_xla():
    def variant(direction, ms, diff, **changes):
        cfg = dict(perf.fast.pallas_config(**changes))
        return _row("dplr_variant", 64, "fwd" if direction == "fwd" else "fwd+bwd", ms,
                    direction=direction, config=cfg, rel_diff_vs_xla=diff)
    rows = [variant("fwd", 1.0, 1e-7), variant("fwd", 0.2, 1e-2, fwd="tile"),   # wrong: out
            variant("fwd", 0.5, 1e-7, bm_fwd=128), variant("bwd", 3.0, 1e-7),
            variant("bwd", 2.0, 1e-7, bm_bwd=64, warps_bwd=8),
            {"method": "dplr_variant", "L": 64, "direction": "bwd", "skipped": "no"}]
    best = dict(perf.pick_pallas(rows, 64))
    assert best == {"fwd": "loop", "bm_fwd": 128, "warps_fwd": 4, "bm_bwd": 64, "warps_bwd": 8}
    assert perf.pick_pallas(rows, 128) is None


def test_variant_rows_time_every_configuration_in_interpret_mode(monkeypatch):
    monkeypatch.setattr(perf, "PALLAS_VARIANTS", {"fwd": [{}, {"fwd": "tile", "bm_fwd": 128}],
                                                  "bwd": [{"bm_bwd": 16}]})
    cfg = perf.BenchConfig(sizes=[32], H=2, N=4, repeats=1)
    rows = perf._variant_rows(32, cfg, {"flops": 1e9, "bandwidth": 1e9}, {"interpret": True})
    assert [(r["variant"], r["pass"]) for r in rows] == [
        ("default", "fwd"), ("fwd=tile,bm_fwd=128", "fwd"), ("bm_bwd=16", "fwd+bwd")]
    # float32, the same sums in another order (measured at most 2e-7)
    assert all(r["rel_diff_vs_xla"] < 1e-5 and r["ms"] > 0 for r in rows)
    table = perf.format_table({"results": rows + [{"method": "legs_error", "L": 32,
                                                   "rel_err_f32": 1e-6}], "ceilings": None})
    assert "dplr_variant" in table and max(len(line) for line in table.splitlines()) <= 76
