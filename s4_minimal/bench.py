"""Measuring: the two numbers every chapter reports, an error and a time.

Serves chapters 4-8 (the relative errors and timings they print) and the benchmark of
chapter 10 (:mod:`s4_minimal.perf`), which times with the same helpers.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time

import jax
import numpy as np

from ._validate import check_int, fail

__all__ = ["relative_error", "best_time", "time_median"]


def relative_error(reference, approx):
    """``||reference - approx|| / ||reference||`` (Euclidean norms, in float64), a Python float."""
    reference = np.asarray(reference, dtype=np.float64)
    approx = np.asarray(approx, dtype=np.float64)
    if reference.shape != approx.shape:
        fail("relative_error", "approx", f"an array of shape {reference.shape}", approx)
    return float(np.linalg.norm(reference - approx) / np.linalg.norm(reference))


def _timings(f, inputs, repeats, warmup):
    """Wall-clock seconds of ``repeats`` calls ``f(*x)``, ``x`` rotating over ``inputs``.

    ``warmup`` calls first (compilation, autotuning, allocation) are not counted;
    every call waits for JAX's asynchronous result (``jax.block_until_ready``).
    """
    for i in range(warmup):
        jax.block_until_ready(f(*inputs[i % len(inputs)]))
    times = []
    for i in range(repeats):
        x = inputs[i % len(inputs)]
        start = time.perf_counter()
        jax.block_until_ready(f(*x))
        times.append(time.perf_counter() - start)
    return times


def best_time(f, *args, repeats: int = 5):
    """The shortest wall-clock time, in seconds, of ``repeats`` calls ``f(*args)``.

    One call first compiles and warms up and is not counted. The minimum is the
    least noisy estimate on a machine doing other work.
    """
    if not callable(f):
        fail("best_time", "f", "a callable", f, TypeError)
    repeats = check_int("best_time", "repeats", repeats, minimum=1)
    return min(_timings(f, [args], repeats, warmup=1))


def time_median(f, inputs, repeats: int = 20):
    """Median wall-clock seconds of ``f(*x)`` over ``repeats`` calls, ``x`` rotating over ``inputs``.

    Two warm-up calls first are not counted. Rotating the inputs keeps a cache from
    serving the same data twice in a row.
    """
    if not callable(f):
        fail("time_median", "f", "a callable", f, TypeError)
    if not isinstance(inputs, (list, tuple)) or not inputs:
        fail("time_median", "inputs", "a non-empty list of argument tuples", inputs, TypeError)
    repeats = check_int("time_median", "repeats", repeats, minimum=1)
    return statistics.median(_timings(f, inputs, repeats, warmup=2))


def write_json(result, path):
    """Write ``result`` as JSON through a temporary file, so a run cut short never leaves
    half a file (the benchmarks rewrite their record after every row)."""
    with open(path + ".tmp", "w") as fh:
        json.dump(result, fh, indent=1)
    os.replace(path + ".tmp", path)


def read_json_runs(paths):
    """The benchmark records at ``paths`` that can be read; a missing or broken file is
    skipped with a note on stderr (a run cut short may not have written its file)."""
    runs = []
    for path in paths:
        try:
            with open(path) as fh:
                runs.append(json.load(fh))
        except (OSError, ValueError) as e:
            print(f"merge: {path} skipped ({e})", file=sys.stderr)
    return runs
