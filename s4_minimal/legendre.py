"""Orthogonal polynomials: the bases in which the book writes functions as vectors.

Serves chapter 1 (functions as vectors) and chapter 2 (online approximation).

* Legendre polynomials ``P_n`` on [-1, 1], orthogonal under the uniform weight:
  ``int_{-1}^{1} P_m P_n dx = 2 / (2n + 1) * delta_mn``.
* Laguerre polynomials ``L_n`` on [0, inf), orthonormal under ``exp(-x)``:
  ``int_0^inf L_m L_n exp(-x) dx = delta_mn``.

Both are evaluated by their three-term recurrences, which are stable for the
sizes the book uses (N up to a few hundred).

On an interval [a, b] the functions

    phi_n(x) = sqrt((2n + 1) / (b - a)) * P_n(2 (x - a) / (b - a) - 1)

are orthonormal: ``int_a^b phi_m phi_n dx = delta_mn``. :func:`project` computes
the coefficients ``c_n = int_a^b f phi_n dx`` of a function in that basis (by
Gauss-Legendre quadrature) and :func:`reconstruct` sums ``sum_n c_n phi_n(x)``;
together they give the least-squares polynomial approximation of degree < N.
"""

from __future__ import annotations

from functools import lru_cache, partial

import jax
import jax.numpy as jnp
import numpy as np

from ._precision import full_precision
from ._validate import check_array, check_int, check_scalar, concrete, fail, is_traced

__all__ = ["legendre", "laguerre", "legendre_float64", "laguerre_float64", "gauss_legendre",
           "orthonormal_basis", "project", "reconstruct"]


# Points this far outside the domain (in units of the domain) still count as inside:
# room for rounding in the affine map from [a, b] to [-1, 1].
_EDGE_SLACK = 1e-6


def _legendre_step(n, x, p, p_prev):
    """Bonnet: P_{n+1} = ((2n + 1) x P_n - n P_{n-1}) / (n + 1)."""
    return ((2 * n + 1) * x * p - n * p_prev) / (n + 1)


def _laguerre_step(n, x, p, p_prev):
    """L_{n+1} = ((2n + 1 - x) L_n - n L_{n-1}) / (n + 1)."""
    return ((2 * n + 1 - x) * p - n * p_prev) / (n + 1)


@partial(jax.jit, static_argnums=(0, 2))
def _three_term(N: int, x, step):
    """Stack p_0..p_{N-1} given p_0 = 1, p_1 = step(0, x, 1, 0) and the recurrence.

    Compiled once per (N, step, shape, dtype): later calls reuse the compiled code.
    """
    p0 = jnp.ones_like(x)
    if N == 1:
        return p0[..., None]

    def body(carry, n):
        p_prev, p = carry
        p_next = step(n, x, p, p_prev)
        return (p, p_next), p_next

    p1 = step(0, x, p0, jnp.zeros_like(x))
    _, rest = jax.lax.scan(body, (p0, p1), jnp.arange(1, N - 1, dtype=x.dtype))
    stacked = jnp.concatenate([p0[None], p1[None], rest], axis=0)
    return jnp.moveaxis(stacked, 0, -1)


def _three_term_float64(N: int, x, step):
    """The same recurrence as ``_three_term``, as a float64 NumPy loop."""
    x = np.asarray(x, dtype=np.float64)
    out = np.empty(x.shape + (N,))
    out[..., 0] = 1.0
    if N > 1:
        out[..., 1] = step(0, x, out[..., 0], np.zeros_like(x))
    for n in range(1, N - 1):
        out[..., n + 1] = step(n, x, out[..., n], out[..., n - 1])
    return out


def legendre_float64(N: int, x):
    """:func:`legendre` as float64 NumPy whatever JAX's x64 setting: for reference code.

    The float64 references of :mod:`s4_minimal.online` and :mod:`s4_minimal.memory`
    use it; ``x`` is not range-checked.
    """
    N = check_int("legendre_float64", "N", N, minimum=1)
    return _three_term_float64(N, x, _legendre_step)


def laguerre_float64(N: int, x):
    """:func:`laguerre` as float64 NumPy whatever JAX's x64 setting (``x`` not range-checked)."""
    N = check_int("laguerre_float64", "N", N, minimum=1)
    return _three_term_float64(N, x, _laguerre_step)


def legendre(N: int, x):
    """Legendre polynomials P_0(x), ..., P_{N-1}(x), shape ``x.shape + (N,)``.

    Three-term recurrence (Bonnet):
    ``(n + 1) P_{n+1}(x) = (2n + 1) x P_n(x) - n P_{n-1}(x)``, with P_0 = 1, P_1 = x.

    ``x`` must lie in [-1, 1] (checked when ``x`` is concrete).
    """
    N = check_int("legendre", "N", N, minimum=1)
    x = check_array("legendre", "x", x)
    values = concrete(x)
    if values is not None and values.size and np.max(np.abs(values)) > 1 + _EDGE_SLACK:
        fail("legendre", "x", "values in [-1, 1]", x)
    return _three_term(N, x, _legendre_step)


def laguerre(N: int, x):
    """Laguerre polynomials L_0(x), ..., L_{N-1}(x), shape ``x.shape + (N,)``.

    ``(n + 1) L_{n+1}(x) = (2n + 1 - x) L_n(x) - n L_{n-1}(x)``, with L_0 = 1,
    L_1 = 1 - x. ``x`` must be >= 0.
    """
    N = check_int("laguerre", "N", N, minimum=1)
    x = check_array("laguerre", "x", x)
    values = concrete(x)
    if values is not None and values.size and np.min(values) < 0:
        fail("laguerre", "x", "values >= 0", x)
    return _three_term(N, x, _laguerre_step)


def _gauss_legendre(n: int, a: float, b: float):
    """NumPy's nodes and weights on [-1, 1], mapped to [a, b] by x -> a + (b - a)(x + 1) / 2."""
    x, w = _leggauss(n)
    half = 0.5 * (b - a)
    return a + half * (x + 1.0), half * w  # new arrays: the cached ones are never exposed


def gauss_legendre(n: int, a: float = -1.0, b: float = 1.0):
    """Gauss-Legendre nodes and weights on [a, b] as float64 NumPy arrays.

    ``sum(w * f(x))`` integrates polynomials of degree <= 2n - 1 exactly.
    """
    n = check_int("gauss_legendre", "n", n, minimum=1)
    a = float(check_scalar("gauss_legendre", "a", a))
    b = float(check_scalar("gauss_legendre", "b", b))
    if b <= a:
        fail("gauss_legendre", "b", f"a number > a = {a}", b)
    return _gauss_legendre(n, a, b)


@lru_cache(maxsize=64)
def _leggauss(n: int):
    """Nodes and weights on [-1, 1], cached: NumPy's eigenvalue method costs O(n^3)."""
    return np.polynomial.legendre.leggauss(n)


def _check_interval(func: str, a, b):
    """Check a < b, both finite real scalars; return them as Python floats."""
    a = float(check_scalar(func, "a", a))
    b = float(check_scalar(func, "b", b))
    if b <= a:
        fail(func, "b", f"a number > a = {a}", b)
    return a, b


def _check_points(func: str, x, a: float, b: float):
    """Check ``x``: finite, and inside [a, b] when concrete; return it as a JAX array."""
    x = check_array(func, "x", x)
    values = concrete(x)
    if values is not None and values.size:
        lo, hi = float(np.min(values)), float(np.max(values))
        slack = _EDGE_SLACK * (b - a)
        if lo < a - slack or hi > b + slack:
            fail(func, "x", f"values in [a, b] = [{a}, {b}]", x)
    return x


@partial(jax.jit, static_argnums=0)
def _phi(N: int, x, a, b):
    """The orthonormal basis of [a, b] at x (unchecked), shape ``x.shape + (N,)``."""
    u = jnp.clip(2 * (x - a) / (b - a) - 1, -1.0, 1.0)  # clip: rounding at the ends
    scale = jnp.sqrt((2 * jnp.arange(N, dtype=u.dtype) + 1) / (b - a))
    return _three_term(N, u, _legendre_step) * scale


def orthonormal_basis(N: int, x, a: float = -1.0, b: float = 1.0):
    """phi_0(x), ..., phi_{N-1}(x) on [a, b], shape ``x.shape + (N,)``.

    ``phi_n(x) = sqrt((2n + 1) / (b - a)) P_n(2 (x - a) / (b - a) - 1)``, so that
    ``int_a^b phi_m(x) phi_n(x) dx = delta_mn``.
    """
    N = check_int("orthonormal_basis", "N", N, minimum=1)
    a, b = _check_interval("orthonormal_basis", a, b)
    x = _check_points("orthonormal_basis", x, a, b)
    return _phi(N, x, a, b)


def _project(f, N: int, a: float, b: float, n_quad: int):
    """c_n = <f, phi_n> = sum_j w_j f(x_j) phi_n(x_j): Gauss-Legendre quadrature on [a, b]."""
    nodes, weights = _gauss_legendre(n_quad, a, b)
    x = jnp.asarray(nodes, dtype=jnp.result_type(float))
    return (jnp.asarray(weights, dtype=x.dtype) * f(x)) @ _phi(N, x, a, b)


def _reconstruct(c, x, a: float, b: float):
    """f_N(x) = sum_n c_n phi_n(x)."""
    return _phi(c.shape[0], x, a, b) @ c


@full_precision
def project(f, N: int, a: float = -1.0, b: float = 1.0, n_quad: int | None = None):
    """Coefficients c_0..c_{N-1} of ``f`` in the orthonormal basis of [a, b], shape (N,).

    ``c_n = <f, phi_n> = int_a^b f(x) phi_n(x) dx``, computed with ``n_quad``
    Gauss-Legendre nodes (default ``max(2N, 200)``; exact, up to rounding, when
    f is a polynomial of degree <= 2 n_quad - N). Because the phi_n are orthonormal,
    ``sum_n c_n phi_n`` is the polynomial of degree < N closest to f in the
    L2 norm of [a, b]: the least-squares fit.

    ``f`` is a callable taking an array of points in [a, b] (a JAX array in the
    default dtype) and returning the samples there, of the same shape.
    """
    N = check_int("project", "N", N, minimum=1)
    a, b = _check_interval("project", a, b)
    if not callable(f):
        fail("project", "f", "a callable f(x) -> samples", f, TypeError)
    n_quad = (max(2 * N, 200) if n_quad is None
              else check_int("project", "n_quad", n_quad, minimum=1))

    def samples(x):  # f at the nodes, checked
        values = f(x)
        if is_traced(values):
            values = values.astype(x.dtype)
        else:
            values = jnp.asarray(check_array("project", "f", values), dtype=x.dtype)
        if values.shape != x.shape:
            fail("project", "f", f"a callable returning shape {x.shape} for input of that shape",
                 values)
        return values

    return _project(samples, N, a, b, n_quad)


@full_precision
def reconstruct(c, x, a: float = -1.0, b: float = 1.0):
    """The approximation ``sum_n c_n phi_n(x)`` on [a, b], shape ``x.shape``.

    ``c`` holds N coefficients in the orthonormal basis of [a, b] (as returned by
    :func:`project`); ``x`` must lie in [a, b].
    """
    c = check_array("reconstruct", "c", c, ndim=1)
    if c.shape[0] < 1:
        fail("reconstruct", "c", "at least one coefficient", c)
    a, b = _check_interval("reconstruct", a, b)
    x = _check_points("reconstruct", x, a, b)
    return _reconstruct(c, x, a, b)
