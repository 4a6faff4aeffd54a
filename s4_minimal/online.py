"""Online function approximation: the coefficients of the history f(s), s <= t.

Serves chapter 2 (online approximation) and, as ground truth, chapter 3 (the
HiPPO ODE must reproduce these numbers).

At time t a *measure* says which part of the past matters, through a weight
w(s, t), and comes with a basis g_n(s, t) that is orthonormal under it:
``int g_m g_n w ds = delta_mn``. The coefficients are the projections

    c_n(t) = int f(s) g_n(s, t) w(s, t) ds,

and the approximation of the history is ``f(s) ~ sum_n c_n(t) g_n(s, t)``.
The signal is taken to be zero before s = 0.

=========  ===========================  ==========================================
measure    weight w(s, t)               basis g_n(s, t)
=========  ===========================  ==========================================
``legs``   1/t on [0, t]                sqrt(2n+1) P_n(2 s / t - 1)
``legt``   1/theta on [t - theta, t]    sqrt(2n+1) P_n(2 (s - t) / theta + 1)
``lagt``   exp(-(t - s)) for s <= t     L_n(t - s)
=========  ===========================  ==========================================

These are the conventions of :func:`s4_minimal.hippo.transition` (with
theta = 1 for LegT). The functions here are float64 NumPy references computed
by Gauss-Legendre quadrature on the history, not JAX code meant for speed.
"""

from __future__ import annotations

import numpy as np

from ._validate import check_choice, check_int, check_scalar, fail
from .legendre import gauss_legendre, laguerre_float64, legendre_float64

__all__ = ["example_signal", "basis", "history_interval", "project", "reconstruct", "trajectory",
           "history_error"]

_MEASURES = ("legs", "legt", "lagt")


def example_signal(s):
    """Chapter 2's running example, float64: a slow oscillation, a sharp bump near s = 0.8, a ripple.

    ``sin(2 pi 0.35 s) + 0.9 exp(-((s - 0.8) / 0.18)^2) + 0.3 sin(2 pi 1.1 s)``: smooth,
    but with enough detail that 20 coefficients cannot hold all of [0, 4] exactly,
    so the measures visibly differ in what they keep.
    """
    s = np.asarray(s, dtype=np.float64)
    return (np.sin(2 * np.pi * 0.35 * s) + 0.9 * np.exp(-(((s - 0.8) / 0.18) ** 2))
            + 0.3 * np.sin(2 * np.pi * 1.1 * s))


def _support(measure: str, t: float, theta: float):
    """[a, t]: the part of [0, t] where the weight lives (the signal is zero before 0)."""
    return (max(0.0, t - theta) if measure == "legt" else 0.0), t


def _basis(measure: str, N: int, s, t: float, theta: float):
    """g_n(s, t) and w(s, t) of the table above, as float64 NumPy arrays."""
    r = np.sqrt(2 * np.arange(N) + 1.0)
    if measure == "legs":  # uniform on [0, t]
        g = r * legendre_float64(N, 2 * s / t - 1)
        w = np.where((s >= 0) & (s <= t), 1.0 / t, 0.0)
    elif measure == "legt":  # uniform on the window [t - theta, t]
        g = r * legendre_float64(N, 2 * (s - t) / theta + 1)
        w = np.where((s >= t - theta) & (s <= t), 1.0 / theta, 0.0)
    else:  # lagt: exp(-age) on the whole past
        g = laguerre_float64(N, np.maximum(t - s, 0.0))
        w = np.where(s <= t, np.exp(-np.maximum(t - s, 0.0)), 0.0)
    return g, w


def _project(measure: str, f, t: float, N: int, theta: float, n_quad: int):
    """c_n(t) = int f(s) g_n(s, t) w(s, t) ds, by Gauss-Legendre quadrature on the support."""
    a, b = _support(measure, t, theta)
    s, q = gauss_legendre(n_quad, a, b)
    g, w = _basis(measure, N, s, t, theta)
    return (q * w * f(s)) @ g


def _reconstruct(measure: str, c, s, t: float, theta: float):
    """f(s) ~ sum_n c_n g_n(s, t)."""
    g, _ = _basis(measure, c.size, s, t, theta)
    return g @ c


def history_interval(measure: str, t: float, theta: float = 1.0):
    """The part of [0, t] where the weight of ``measure`` is non-zero, as ``(a, t)``."""
    measure, _, t, theta = _check("history_interval", measure, 1, t, theta)
    return _support(measure, t, theta)


def basis(measure: str, N: int, s, t: float, theta: float = 1.0):
    """``(g, w)``: basis g_n(s, t) of shape ``s.shape + (N,)`` and weight w(s, t) of shape ``s.shape``.

    Points s outside the measure's support get weight 0 (their basis values are
    still the polynomials' values, extended).
    """
    measure, N, t, theta = _check("basis", measure, N, t, theta)
    s = np.asarray(s, dtype=np.float64)
    if not np.all(np.isfinite(s)):
        fail("basis", "s", "finite values", s)
    return _basis(measure, N, s, t, theta)


def project(measure: str, f, t: float, N: int, theta: float = 1.0, n_quad: int | None = None):
    """Coefficients c_0(t)..c_{N-1}(t) of the history of ``f`` under ``measure``, float64 (N,).

    ``f`` is a callable taking a float64 array of times and returning the signal
    there; it is sampled only on [0, t] (the signal is zero before 0). The
    integral uses ``n_quad`` Gauss-Legendre nodes on the support (default
    ``max(2N, 400)``): exact for polynomial f of degree < 2 n_quad - N, and
    accurate to about machine precision for smooth f.
    """
    measure, N, t, theta = _check("project", measure, N, t, theta)
    if not callable(f):
        fail("project", "f", "a callable f(s) -> samples", f, TypeError)
    n_quad = max(2 * N, 400) if n_quad is None else check_int("project", "n_quad", n_quad, minimum=1)
    return _project(measure, _checked_samples("project", f), t, N, theta, n_quad)


def reconstruct(measure: str, c, s, t: float, theta: float = 1.0):
    """The approximation ``sum_n c_n g_n(s, t)`` of the history at times ``s``, float64."""
    try:
        c = np.asarray(c)
    except (TypeError, ValueError):
        fail("reconstruct", "c", "a 1-D array of N >= 1 coefficients", c, TypeError)
    if not (np.issubdtype(c.dtype, np.integer) or np.issubdtype(c.dtype, np.floating)):
        fail("reconstruct", "c", "a 1-D array of real coefficients", c, TypeError)
    if c.ndim != 1 or c.size < 1:
        fail("reconstruct", "c", "a 1-D array of N >= 1 coefficients", c)
    if not np.all(np.isfinite(c)):
        fail("reconstruct", "c", "finite values", c)
    measure, _, t, theta = _check("reconstruct", measure, c.size, t, theta)
    s = np.asarray(s, dtype=np.float64)
    if not np.all(np.isfinite(s)):
        fail("reconstruct", "s", "finite values", s)
    return _reconstruct(measure, c.astype(np.float64), s, t, theta)


def trajectory(measure: str, f, ts, N: int, theta: float = 1.0, n_quad: int | None = None):
    """Coefficients at each time of ``ts``: ``project`` row by row, float64 shape ``(len(ts), N)``.

    This is the state a memory must carry: row k is c(ts[k]). Computing it this
    way revisits the whole history at every time (the cost chapter 3 removes).
    """
    measure = check_choice("trajectory", "measure", measure, _MEASURES)
    ts = np.asarray(ts, dtype=np.float64)
    if ts.ndim != 1 or ts.size < 1:
        fail("trajectory", "ts", "a 1-D array of at least one time", ts)
    if not np.all(np.isfinite(ts)) or np.any(ts <= 0):
        fail("trajectory", "ts", "finite times > 0", ts)
    return np.stack([project(measure, f, t, N, theta, n_quad) for t in ts])


def history_error(measure: str, f, t: float, N: int, theta: float = 1.0,
                  n_quad: int | None = None):
    """Weighted RMS error of the approximation over the observed history.

    With ``[a, t] = history_interval(measure, t, theta)`` and
    ``f_hat = reconstruct(measure, project(measure, f, t, N), .)``, returns

        sqrt( int_a^t (f - f_hat)^2 w ds / int_a^t w ds ),

    by Gauss-Legendre quadrature with ``n_quad`` nodes (default ``max(2N, 400)``).
    For ``legs`` (and ``legt`` once t >= theta) the weight lives on [a, t] with
    total mass 1, so this is the measure's own norm of the error: the quantity
    the projection minimises.
    """
    measure, N, t, theta = _check("history_error", measure, N, t, theta)
    if not callable(f):
        fail("history_error", "f", "a callable f(s) -> samples", f, TypeError)
    n_quad = (max(2 * N, 400) if n_quad is None
              else check_int("history_error", "n_quad", n_quad, minimum=1))
    c = project(measure, f, t, N, theta, n_quad)
    a, b = history_interval(measure, t, theta)
    s, q = gauss_legendre(n_quad, a, b)
    _, w = basis(measure, N, s, t, theta)
    values = np.asarray(f(s), dtype=np.float64)
    residual = values - reconstruct(measure, c, s, t, theta)
    return float(np.sqrt(np.sum(q * w * residual**2) / np.sum(q * w)))


# --------------------------------------------------------------------------------------
# argument checks
# --------------------------------------------------------------------------------------

def _checked_samples(func, f):
    """``f`` wrapped so that its samples are checked: float64, the shape of s, finite."""
    def samples(s):
        values = np.asarray(f(s), dtype=np.float64)
        if values.shape != s.shape:
            fail(func, "f", f"a callable returning shape {s.shape} for input of that shape",
                 values)
        if not np.all(np.isfinite(values)):
            fail(func, "f", "a callable returning finite samples", values)
        return values
    return samples


def _check(func, measure, N, t, theta):
    measure = check_choice(func, "measure", measure, _MEASURES)
    N = check_int(func, "N", N, minimum=1)
    t = float(check_scalar(func, "t", t, positive=True))
    theta = float(check_scalar(func, "theta", theta, positive=True))
    return measure, N, t, theta
