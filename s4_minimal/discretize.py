"""Discretization: from the ODE x' = A x + B u to the recurrence x_k = Ab x_{k-1} + Bb u_k.

Serves chapter 4 (from ODE to RNN). With step ``dt``:

* ``"euler"`` (forward): ``Ab = I + dt A``, ``Bb = dt B``;
* ``"backward_euler"``: ``Ab = (I - dt A)^-1``, ``Bb = (I - dt A)^-1 dt B``;
* ``"bilinear"`` (trapezoid, Tustin): ``Ab = (I - dt/2 A)^-1 (I + dt/2 A)``,
  ``Bb = (I - dt/2 A)^-1 dt B``;
* ``"zoh"`` (zero-order hold, exact for piecewise-constant u):
  ``Ab = exp(dt A)``, ``Bb = A^-1 (exp(dt A) - I) B``, computed as one block
  matrix exponential ``exp(dt [[A, B], [0, 0]]) = [[Ab, Bb], [0, 1]]`` so that a
  singular A needs no special case.

The first three are the generalized bilinear transform (:func:`gbt`) with
alpha = 0, 1, 1/2: ``Ab = (I - alpha dt A)^-1 (I + (1 - alpha) dt A)``,
``Bb = (I - alpha dt A)^-1 dt B``.
"""

from __future__ import annotations

import jax.numpy as jnp
import jax.scipy.linalg

from ._precision import full_precision
from ._validate import check_array, check_choice, check_scalar, check_square, fail

__all__ = ["METHODS", "ALPHA", "gbt", "discretize"]

METHODS = ("euler", "backward_euler", "bilinear", "zoh")
ALPHA = {"euler": 0.0, "backward_euler": 1.0, "bilinear": 0.5}


def _gbt(A, B, dt, alpha):
    """``Ab = (I - alpha dt A)^-1 (I + (1 - alpha) dt A)``, ``Bb = (I - alpha dt A)^-1 dt B``."""
    eye = jnp.eye(A.shape[0], dtype=A.dtype)
    left = eye - alpha * dt * A
    Ab = jnp.linalg.solve(left, eye + (1 - alpha) * dt * A)
    Bb = jnp.linalg.solve(left, dt * B)
    return Ab, Bb


def _zoh(A, B, dt):
    """``Ab = exp(dt A)``, ``Bb = A^-1 (exp(dt A) - I) B`` from one block exponential:
    ``exp(dt [[A, B], [0, 0]]) = [[Ab, Bb], [0, 1]]`` (no inverse of A needed)."""
    N = A.shape[0]
    block = jnp.zeros((N + 1, N + 1), dtype=A.dtype)
    block = block.at[:N, :N].set(A).at[:N, N].set(B)
    expo = jax.scipy.linalg.expm(dt * block)
    return expo[:N, :N], expo[:N, N]


@full_precision
def gbt(A, B, dt, alpha):
    """Generalized bilinear transform: ``Ab = (I - alpha dt A)^-1 (I + (1 - alpha) dt A)``,
    ``Bb = (I - alpha dt A)^-1 dt B``, for ``alpha`` in [0, 1]."""
    A, B, dt = _check_AB("gbt", A, B, dt)
    alpha = check_scalar("gbt", "alpha", alpha)
    if not (0.0 <= float(alpha) <= 1.0):
        fail("gbt", "alpha", "a number in [0, 1]", alpha)
    return _gbt(A, B, dt, alpha)


@full_precision
def discretize(A, B, dt, method: str = "bilinear"):
    """Discrete ``(Ab, Bb)`` of shapes (N, N) and (N,) for ``method`` in ``METHODS``:
    :func:`_zoh` for ``"zoh"``, else the generalized bilinear transform :func:`_gbt`."""
    method = check_choice("discretize", "method", method, METHODS)
    A, B, dt = _check_AB("discretize", A, B, dt)
    if method == "zoh":
        return _zoh(A, B, dt)
    return _gbt(A, B, dt, ALPHA[method])


# --------------------------------------------------------------------------------------
# argument checks
# --------------------------------------------------------------------------------------

def _check_AB(func, A, B, dt):
    A = check_square(func, "A", A)
    N = A.shape[0]
    B = check_array(func, "B", B, shape=(N,), complex_ok=True)
    dt = check_scalar(func, "dt", dt, positive=True)
    dtype = jnp.result_type(A, B, dt)
    return A.astype(dtype), B.astype(dtype), dt
