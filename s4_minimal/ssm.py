"""The discrete state space model, run two ways: as an RNN and as a convolution.

Serves chapter 4 (the recurrence) and chapter 5 (the convolution view).

Recurrence: ``x_k = Ab x_{k-1} + Bb u_k``, ``y_k = C x_k``, with ``x_{-1} = x0``
(zero by default). Unrolled from a zero state, ``y = K * u`` with the kernel
``K[k] = C Ab^k Bb``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from ._precision import full_precision
from ._validate import check_array, check_int, check_square

__all__ = ["scan_ssm", "conv_kernel", "causal_conv"]


def _scan_ssm(Ab, Bb, C, u, x0):
    """``x_k = Ab x_{k-1} + Bb u_k`` from ``x_{-1} = x0``, ``y_k = C x_k``: one step per sample."""

    def step(x, u_k):
        x = Ab @ x + Bb * u_k
        return x, x

    _, xs = jax.lax.scan(step, x0, u)
    return xs, xs @ C


def _conv_kernel(Ab, Bb, C, L):
    """``K[k] = C Ab^k Bb`` for k < L: keep ``v = Ab^k Bb``, record ``C v``, multiply by Ab."""

    def step(v, _):
        return Ab @ v, C @ v

    _, K = jax.lax.scan(step, Bb, None, length=L)
    return K


def _causal_conv(u, K):
    """``y[k] = sum_{j <= k} K[j] u[k - j]``: both zero-padded to 2L, so the FFT's circular
    convolution equals the causal one on the first L outputs."""
    L = u.shape[0]
    n = 2 * L
    y = jnp.fft.irfft(jnp.fft.rfft(u, n) * jnp.fft.rfft(K, n), n)
    return y[:L]


@full_precision
def scan_ssm(Ab, Bb, C, u, x0=None):
    """Run the recurrence over ``u`` of shape (L,): returns ``(xs, y)`` of shapes (L, N), (L,).

    ``x_k = Ab x_{k-1} + Bb u_k`` with ``x_{-1} = x0`` (zero by default), ``y_k = C x_k``.
    """
    Ab, Bb, C = _check_system("scan_ssm", Ab, Bb, C)
    N = Ab.shape[0]
    u = check_array("scan_ssm", "u", u, ndim=1)
    dtype = jnp.result_type(Ab, Bb, C, u)
    x0 = (jnp.zeros(N, dtype) if x0 is None
          else check_array("scan_ssm", "x0", x0, shape=(N,), complex_ok=True).astype(dtype))
    return _scan_ssm(Ab, Bb, C, u.astype(dtype), x0)


@full_precision
def conv_kernel(Ab, Bb, C, L: int):
    """The kernel ``K[k] = C Ab^k Bb`` for k < L, by repeated products with Ab: O(L N^2)."""
    Ab, Bb, C = _check_system("conv_kernel", Ab, Bb, C)
    L = check_int("conv_kernel", "L", L, minimum=1)
    return _conv_kernel(Ab, Bb.astype(jnp.result_type(Ab, Bb)), C, L)


def causal_conv(u, K):
    """``y[k] = sum_{j <= k} K[j] u[k - j]`` by FFT, shape (L,).

    Both signals are zero-padded to length 2L before the FFT so that the
    circular convolution the FFT computes equals the linear (causal) one on the
    first L outputs.
    """
    u = check_array("causal_conv", "u", u, ndim=1)
    K = check_array("causal_conv", "K", K, shape=(u.shape[0],))
    return _causal_conv(u, K)


# --------------------------------------------------------------------------------------
# argument checks
# --------------------------------------------------------------------------------------

def _check_system(func, Ab, Bb, C):
    Ab = check_square(func, "Ab", Ab)
    N = Ab.shape[0]
    Bb = check_array(func, "Bb", Bb, shape=(N,), complex_ok=True)
    C = check_array(func, "C", C, shape=(N,), complex_ok=True)
    return Ab, Bb, C
