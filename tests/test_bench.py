"""s4_minimal.bench: the error and time measurements the chapters report."""

import numpy as np
import pytest

from s4_minimal import bench
from s4_minimal.bench import best_time, relative_error, time_median


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


def test_time_median_warms_up_twice_and_rotates_inputs():
    calls = []
    t = time_median(lambda x: calls.append(x), [(1,), (2,), (3,)], repeats=4)
    assert calls == [1, 2, 1, 2, 3, 1] and t >= 0
    with pytest.raises(TypeError, match="'inputs' expected a non-empty list"):
        time_median(lambda: 0, [])


def test_read_json_runs_keeps_what_it_can_read(tmp_path, capsys):
    good, broken = tmp_path / "good.json", tmp_path / "broken.json"
    bench.write_json({"rows": [1, 2]}, str(good))
    broken.write_text("{not json")
    runs = bench.read_json_runs([str(good), str(broken), str(tmp_path / "missing.json")])
    assert runs == [{"rows": [1, 2]}]
    err = capsys.readouterr().err
    assert "broken.json skipped" in err and "missing.json skipped" in err
    assert not (tmp_path / "good.json.tmp").exists()  # written through a temporary file
