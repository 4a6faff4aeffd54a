"""s4_minimal.bench: the error and time measurements the chapters report."""

import numpy as np
import pytest

from s4_minimal.bench import best_time, relative_error


def test_relative_error_is_the_ratio_of_euclidean_norms():
    u = np.array([3.0, 4.0])
    assert relative_error(u, u) == 0.0
    assert relative_error(u, np.array([3.0, 3.0])) == pytest.approx(1 / 5, rel=1e-15)
    with pytest.raises(ValueError, match=r"'approx' expected an array of shape \(2,\)"):
        relative_error(u, np.ones(3))


def test_best_time_warms_up_once_then_returns_the_fastest_of_repeats():
    calls = []

    def f(x):
        calls.append(x)
        return x

    t = best_time(f, 1.0, repeats=4)
    assert len(calls) == 5 and 0 <= t < 1
    with pytest.raises(TypeError, match="'f' expected a callable"):
        best_time(3)
    with pytest.raises(ValueError, match="'repeats' expected an integer >= 1"):
        best_time(f, 1.0, repeats=0)


# --------------------------------------------------------------------------------------
# the performance benchmark (chapter 10), at tiny sizes on the CPU
# --------------------------------------------------------------------------------------

import json  # noqa: E402

from s4_minimal import bench  # noqa: E402

ROW_FIELDS = {"method", "L", "pass", "ms", "flops", "bytes", "floor_ms", "bound", "x_floor",
              "peak_bytes", "rel_err_f32"}


@pytest.fixture(scope="module")
def tiny_result():
    cfg = bench.BenchConfig(sizes=[32, 64], H=2, N=4, batch=2, layer_sizes=[32], repeats=2,
                            check_channels=1, rnn_steps=8,
                            methods=["naive", "dplr_fast", "diag_fast", "fft_conv",
                                     "layer_fast", "rnn_step"])
    return bench.run_benchmark(cfg, progress=False)


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
    table = bench.format_table(tiny_result)
    assert "dplr_fast" in table and max(len(line) for line in table.splitlines()) <= 76


def test_time_median_warms_up_twice_and_rotates_inputs():
    calls = []
    t = bench.time_median(lambda x: calls.append(x), [(1,), (2,), (3,)], repeats=4)
    assert calls == [1, 2, 1, 2, 3, 1] and t >= 0
    with pytest.raises(TypeError, match="'inputs' expected a non-empty list"):
        bench.time_median(lambda: 0, [])


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
        bench.BenchConfig(**kwargs)


def test_command_line_rejects_bad_options(capsys):
    with pytest.raises(SystemExit):
        bench.main(["--methods", "fastest"])
    assert "'methods' expected names from" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        bench.main(["--sizes", "12,x"])
    assert "comma-separated integers" in capsys.readouterr().err
