"""Measuring: the two numbers every chapter reports, an error and a time.

Serves chapters 4-6 now and the performance chapter later.
"""

from __future__ import annotations

import time

import jax
import numpy as np

from ._validate import check_int, fail

__all__ = ["relative_error", "best_time"]


def relative_error(reference, approx):
    """``||reference - approx|| / ||reference||`` (Euclidean norms, in float64), a Python float."""
    reference = np.asarray(reference, dtype=np.float64)
    approx = np.asarray(approx, dtype=np.float64)
    if reference.shape != approx.shape:
        fail("relative_error", "approx", f"an array of shape {reference.shape}", approx)
    return float(np.linalg.norm(reference - approx) / np.linalg.norm(reference))


def best_time(f, *args, repeats: int = 5):
    """The shortest wall-clock time, in seconds, of ``repeats`` calls ``f(*args)``.

    One call first compiles and warms up and is not counted; every call waits for
    JAX's asynchronous result (``jax.block_until_ready``). The minimum is the
    least noisy estimate on a machine doing other work.
    """
    if not callable(f):
        fail("best_time", "f", "a callable", f, TypeError)
    repeats = check_int("best_time", "repeats", repeats, minimum=1)
    jax.block_until_ready(f(*args))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(f(*args))
        times.append(time.perf_counter() - start)
    return min(times)
