"""Orthogonal polynomials: the bases in which the book writes functions as vectors.

Serves chapter 1 (functions as vectors) and chapter 2 (online approximation).

* Legendre polynomials ``P_n`` on [-1, 1], orthogonal under the uniform weight:
  ``int_{-1}^{1} P_m P_n dx = 2 / (2n + 1) * delta_mn``.
* Laguerre polynomials ``L_n`` on [0, inf), orthonormal under ``exp(-x)``:
  ``int_0^inf L_m L_n exp(-x) dx = delta_mn``.

Both are evaluated by their three-term recurrences, which are stable for the
sizes the book uses (N up to a few hundred).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ._validate import check_array, check_int, check_scalar, fail, is_traced

__all__ = ["legendre", "laguerre", "gauss_legendre"]


def _three_term(N: int, x, step):
    """Stack p_0..p_{N-1} given p_0 = 1, p_1 = step(0, x, 1, 0) and the recurrence."""
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


def legendre(N: int, x):
    """Legendre polynomials P_0(x), ..., P_{N-1}(x), shape ``x.shape + (N,)``.

    Three-term recurrence (Bonnet):
    ``(n + 1) P_{n+1}(x) = (2n + 1) x P_n(x) - n P_{n-1}(x)``, with P_0 = 1, P_1 = x.

    ``x`` must lie in [-1, 1] (checked when ``x`` is concrete).
    """
    N = check_int("legendre", "N", N, minimum=1)
    x = check_array("legendre", "x", x)
    if not is_traced(x) and x.size and float(jnp.max(jnp.abs(x))) > 1 + 1e-6:
        fail("legendre", "x", "values in [-1, 1]", x)

    def step(n, x, p, p_prev):
        return ((2 * n + 1) * x * p - n * p_prev) / (n + 1)

    return _three_term(N, x, step)


def laguerre(N: int, x):
    """Laguerre polynomials L_0(x), ..., L_{N-1}(x), shape ``x.shape + (N,)``.

    ``(n + 1) L_{n+1}(x) = (2n + 1 - x) L_n(x) - n L_{n-1}(x)``, with L_0 = 1,
    L_1 = 1 - x. ``x`` must be >= 0.
    """
    N = check_int("laguerre", "N", N, minimum=1)
    x = check_array("laguerre", "x", x)
    if not is_traced(x) and x.size and float(jnp.min(x)) < 0:
        fail("laguerre", "x", "values >= 0", x)

    def step(n, x, p, p_prev):
        return ((2 * n + 1 - x) * p - n * p_prev) / (n + 1)

    return _three_term(N, x, step)


def gauss_legendre(n: int, a: float = -1.0, b: float = 1.0):
    """Gauss-Legendre nodes and weights on [a, b] as float64 NumPy arrays.

    ``sum(w * f(x))`` integrates polynomials of degree <= 2n - 1 exactly.
    """
    n = check_int("gauss_legendre", "n", n, minimum=1)
    a = float(check_scalar("gauss_legendre", "a", a))
    b = float(check_scalar("gauss_legendre", "b", b))
    if b <= a:
        fail("gauss_legendre", "b", f"a number > a = {a}", b)
    x, w = np.polynomial.legendre.leggauss(n)
    half = 0.5 * (b - a)
    return a + half * (x + 1.0), half * w
