"""An accurate reference solver for the HiPPO ODEs: the coefficients c(t) driven by a signal f.

Serves chapter 3 (the HiPPO ODE), where its output is compared with the direct
projection of :func:`s4_minimal.online.project`, and chapter 4, where it is the
"exact" answer that discretizations are measured against.

The method is the classical fourth-order Runge-Kutta rule (RK4) with a fixed
step, in float64 NumPy: simple enough to read, accurate enough (error ~ h^4) to
serve as ground truth, and independent of the discretizations of chapter 4.

* ``"legt"`` and ``"lagt"`` are time-invariant, ``c' = A c + B f(t)``; they are
  integrated in t from ``c(0) = 0`` (the signal is zero before 0).
* ``"legs"`` is ``c' = (1/t) (A c + B f(t))``, singular at t = 0. In the
  logarithmic time ``tau = log t`` it becomes time-invariant,
  ``dc/dtau = A c + B f(e^tau)``, because ``dtau = dt / t``. The solver steps in
  tau, so ``h`` is a step in log time, and starts at a small ``t0 > 0`` with
  ``c(t0) = f(t0 / 2) e_0``: over [0, t0] the history is nearly constant, and the
  LegS coefficients of a constant are (const, 0, 0, ...). The error of that
  start is O(t0) in c_1..c_{N-1} and O(t0^2) in c_0, and the ODE itself shrinks
  it further by the factor (t0 / t)^(n+1) in mode n by the time t.
"""

from __future__ import annotations

import numpy as np

from ._validate import check_choice, check_int, check_scalar, fail
from .hippo import MEASURES, transition

__all__ = ["rk4", "hippo_ode"]


def rk4(A, B, f, grid):
    """Integrate ``x' = A x + B f(t)`` from ``x(grid[0]) = x0`` along ``grid`` by RK4 (float64).

    ``A`` (N, N) and ``B`` (N,) are float64 NumPy arrays; ``f`` is a vectorized
    callable of time; ``grid`` holds the step end points. Returns a function
    ``advance(x0) -> x(grid[-1])``. One step of length h from x is

    ``k1 = F(t, x)``, ``k2 = F(t + h/2, x + h/2 k1)``, ``k3 = F(t + h/2, x + h/2 k2)``,
    ``k4 = F(t + h, x + h k3)``, ``x + h/6 (k1 + 2 k2 + 2 k3 + k4)``,

    with ``F(t, x) = A x + B f(t)``. Kept as a plain loop so that it reads like
    the textbook rule.
    """
    grid = np.asarray(grid, dtype=np.float64)
    h = np.diff(grid)
    # Every f value RK4 needs, in one vectorized call: start, middle, end of each step.
    fa, fm, fb = (np.asarray(f(p), dtype=np.float64)
                  for p in (grid[:-1], grid[:-1] + h / 2, grid[1:]))

    def advance(x):
        for i in range(h.size):
            k1 = A @ x + B * fa[i]
            k2 = A @ (x + h[i] / 2 * k1) + B * fm[i]
            k3 = A @ (x + h[i] / 2 * k2) + B * fm[i]
            k4 = A @ (x + h[i] * k3) + B * fb[i]
            x = x + h[i] / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        return x

    return advance


def _hippo_ode(measure: str, f, times, N: int, h: float, t0: float | None):
    """c(t) at ``times`` by RK4: in log time tau = log t for LegS, in t for LegT and LagT."""
    A, B = transition(measure, N)
    x = np.zeros(N)
    if measure == "legs":  # dc/dtau = A c + B f(e^tau), from c(t0) = f(t0 / 2) e_0
        x[0] = float(np.asarray(f(np.array([t0 / 2])), dtype=np.float64)[0])
        start, stops = np.log(t0), np.log(times)
        g = lambda tau: f(np.exp(tau))  # the input seen in log time
    else:  # dc/dt = A c + B f(t), from c(0) = 0
        start, stops, g = 0.0, times, f
    out = np.empty((times.size, N))
    for i, stop in enumerate(stops):  # equal steps <= h from one requested time to the next
        steps = max(1, int(np.ceil((stop - start) / h - 1e-9)))
        x = rk4(A, B, g, np.linspace(start, stop, steps + 1))(x)
        out[i] = x
        start = stop
    return out


def hippo_ode(measure: str, f, times, N: int, h: float, t0: float | None = None):
    """Coefficients ``c(t)`` of the HiPPO ODE of ``measure`` at each of ``times``, shape (len(times), N).

    ``f`` is a vectorized callable of time (float64 arrays in, samples out).
    ``h`` is the largest RK4 step: in t for ``"legt"`` (window theta = 1) and
    ``"lagt"``, in log time ``log t`` for ``"legs"``; each interval between
    consecutive requested times is split into equal steps no longer than ``h``,
    so the solution lands exactly on every requested time. ``t0`` (LegS only,
    default ``1e-8 * min(times)``) is where the LegS integration starts.
    Float64 NumPy throughout.
    """
    measure = check_choice("hippo_ode", "measure", measure, MEASURES)
    N = check_int("hippo_ode", "N", N, minimum=1)
    h = float(check_scalar("hippo_ode", "h", h, positive=True))
    if not callable(f):
        fail("hippo_ode", "f", "a callable f(t) -> samples", f, TypeError)
    try:  # NumPy float64 directly: check_array would round to float32 when x64 is off
        times = np.atleast_1d(np.asarray(times, dtype=np.float64))
    except (TypeError, ValueError):
        fail("hippo_ode", "times", "a sequence of numbers", times, TypeError)
    if (times.ndim != 1 or times.size == 0 or not np.all(np.isfinite(times))
            or np.any(times <= 0) or np.any(np.diff(times) <= 0)):
        fail("hippo_ode", "times", "a non-empty increasing sequence of times > 0", times)
    if measure == "legs":
        t0 = 1e-8 * times[0] if t0 is None else float(check_scalar("hippo_ode", "t0", t0, positive=True))
        if t0 >= times[0]:
            fail("hippo_ode", "t0", f"a start time < the first requested time {times[0]}", t0)
    return _hippo_ode(measure, f, times, N, h, t0)
