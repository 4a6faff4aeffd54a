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
                                     "layer_fast", "rnn_step"])
    return perf.run_benchmark(cfg, progress=False)


def test_benchmark_json_has_every_field(tiny_result):
    r = json.loads(json.dumps(tiny_result))           # JSON-serializable
    assert {"environment", "config", "ceilings", "counting", "methods", "results"} <= set(r)
    assert {"device", "platform", "jax", "backend_version", "date"} <= set(r["environment"])
    assert r["ceilings"]["bandwidth"] > 0 and r["ceilings"]["flops"] > 0
    assert r["config"]["sizes"] == [32, 64] and r["config"]["H"] == 2
    rows = r["results"]
    for row in rows:
        assert ROW_FIELDS <= set(row) and row["ms"] > 0 and row["x_floor"] > 0
    seen = {(row["method"], row["pass"]) for row in rows}
    assert {("naive", "fwd"), ("dplr_fast", "fwd"), ("dplr_fast", "fwd+bwd"), ("diag_fast", "fwd"),
            ("fft_conv", "fwd"), ("layer_fast", "fwd"), ("layer_fast", "fwd+bwd"),
            ("rnn_step", "fwd")} <= seen
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
