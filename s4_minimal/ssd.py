"""The matrix view of a selective SSM: semiseparable matrices and the chunked algorithm (SSD).

Serves chapter 13 (the matrix view).

A time-varying SSM whose state matrix is a scalar times the identity, one scalar
decay ``a_t = exp(log_a_t)`` per head and step, maps each head's input
``x_t`` (a vector of ``P`` channels) to outputs ``y_t`` through a state ``h_t``
of shape (P, N)::

    h_t = a_t h_{t-1} + x_t B_t^T,      y_t = h_t C_t                    (13.1)

(``B_t, C_t`` vectors of N numbers, shared by the P channels of a head). Unrolled
from ``h_{-1} = 0`` it is one matrix product along time, ``y = M x``, with

    M[i, j] = (C_i . B_j) a_i a_{i-1} ... a_{j+1}   for i >= j,  0 above      (13.2)

a lower-triangular *semiseparable* matrix. Three ways to compute the same y:

- :func:`ssd_naive`: form M (O(L^2) memory) and multiply, the reference;
- :func:`ssd_scan`: run the recurrence (13.1) with :func:`s4_minimal.scan.linear_recurrence`
  (stores all L states of shape (P, N));
- :func:`ssd_chunked`: Mamba-2's chunked algorithm: M's diagonal blocks as dense
  matrix products, the rest through one state per chunk and a short scan of L / Q
  states between chunks (Dao and Gu 2024).

Shapes (Mamba-2's layout): ``x`` (batch, L, heads, P), ``log_a`` (batch, L, heads)
with ``log_a <= 0``, ``B`` and ``C`` (batch, L, groups, N) where ``groups``
divides ``heads`` (heads ``g r, ..., g r + r - 1`` share group g). Mamba-2's
discretization is the caller's: ``log_a = dt A`` and ``x <- dt x``.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from ._precision import full_precision
from ._validate import check_array, check_choice, check_int, concrete, fail
from .scan import linear_recurrence

__all__ = ["segsum", "semiseparable_matrix", "ssd_naive", "ssd_scan", "ssd_chunked", "PRECISIONS"]

_HI = jax.lax.Precision.HIGHEST


def _einsum(spec, *arrays):
    return jnp.einsum(spec, *arrays, precision=_HI)


def _segsum(log_a):
    """S[..., i, j] = log_a[j+1] + ... + log_a[i] for i >= j, -inf above the diagonal.

    Each entry is summed directly (a cumulative sum down the columns of a masked
    matrix), never as a difference of two running sums, which in float32 would
    lose the small sums near the diagonal to cancellation.
    """
    L = log_a.shape[-1]
    strictly_below = jnp.tril(jnp.ones((L, L), bool), -1)
    terms = jnp.where(strictly_below, log_a[..., :, None], 0)       # [i, j] = log_a_i if i > j
    S = jnp.cumsum(terms, axis=-2)
    return jnp.where(jnp.tril(jnp.ones((L, L), bool)), S, -jnp.inf)


def _heads(BC, heads):
    """Repeat each group's B or C for the heads that share it: (..., g, N) -> (..., h, N)."""
    return jnp.repeat(BC, heads // BC.shape[-2], axis=-2)


def _semiseparable_matrix(log_a, B, C):
    """M[b, h, i, j] = (C_i . B_j) exp(log_a_{j+1} + ... + log_a_i), eq. (13.2)."""
    heads = log_a.shape[2]
    CB = _einsum("bihn,bjhn->bhij", _heads(C, heads), _heads(B, heads))
    decay = jnp.exp(_segsum(jnp.moveaxis(log_a, 1, 2)))             # (b, h, L, L)
    return CB * decay


def _ssd_naive(x, log_a, B, C):
    """y = M x for each batch and head: O(L^2) time and memory."""
    return _einsum("bhij,bjhp->bihp", _semiseparable_matrix(log_a, B, C), x)


def _ssd_scan(x, log_a, B, C, method):
    """Run h_t = a_t h_{t-1} + x_t B_t^T and read y_t = h_t C_t, eq. (13.1)."""
    heads = log_a.shape[2]
    a = jnp.exp(log_a)[..., None, None]                             # (b, L, h, 1, 1)
    inputs = x[..., :, None] * _heads(B, heads)[..., None, :]       # (b, L, h, P, N)
    states = linear_recurrence(a, inputs, axis=1, method=method)
    return _einsum("blhpn,blhn->blhp", states, _heads(C, heads))


def _ssd_chunked(x, log_a, B, C, Q, precision=_HI):
    """Mamba-2's chunked algorithm: L = c Q steps in c chunks of Q steps."""
    b, L, h, P = x.shape
    g = B.shape[2]
    x, B, C = (t.reshape(b, L // Q, Q, *t.shape[2:]) for t in (x, B, C))
    log_a = jnp.moveaxis(log_a.reshape(b, L // Q, Q, h), 3, 1)      # (b, h, c, Q)
    cum = jnp.cumsum(log_a, axis=-1)      # log_a_0 + ... + log_a_i, from the chunk's start
    dot = functools.partial(jnp.einsum, precision=precision)

    # 1. Inside each chunk: the diagonal block of M, as dense products. Its decays
    #    exp(cum_i - cum_j) use sums that start at the chunk, never at t = 0.
    lower = jnp.tril(jnp.ones((Q, Q), bool))
    decay = jnp.exp(jnp.where(lower, cum[..., :, None] - cum[..., None, :], -jnp.inf))
    CB = dot("bcign,bcjgn->bgcij", C, B)                            # shared by g's heads
    scores = jnp.repeat(CB, h // g, axis=1) * decay                  # (b, h, c, Q, Q)
    y_inside = dot("bhcij,bcjhp->bcihp", scores, x)

    # 2. The state each chunk leaves behind (from a zero start), decayed to its end.
    to_end = jnp.exp(cum[..., -1:] - cum)                           # (b, h, c, Q)
    chunk_states = dot("bcjhn,bcjhp->bchpn",
                       _heads(B, h), jnp.moveaxis(to_end, 1, 3)[..., None] * x)

    # 3. A short scan between chunks: the state entering chunk k.
    chunk_decay = jnp.exp(cum[..., -1])                             # (b, h, c)
    after = linear_recurrence(jnp.moveaxis(chunk_decay, 2, 1)[..., None, None],
                              chunk_states, axis=1)
    before = jnp.concatenate([jnp.zeros_like(after[:, :1]), after[:, :-1]], axis=1)

    # 4. What the entering state contributes at each step of the chunk.
    from_start = jnp.moveaxis(jnp.exp(cum), 1, 3)[..., None]        # (b, c, Q, h, 1)
    y_across = dot("bcihn,bchpn->bcihp", _heads(C, h), before) * from_start
    return (y_inside + y_across).reshape(b, L, h, P)


# --------------------------------------------------------------------------------------
# public functions: argument checks around the functions above
# --------------------------------------------------------------------------------------

def _check(func, x, log_a, B, C):
    x = check_array(func, "x", x, ndim=4)
    b, L, h, _ = x.shape
    log_a = check_array(func, "log_a", log_a, shape=(b, L, h))
    values = concrete(log_a)
    if values is not None and (values > 0).any():
        fail(func, "log_a", "values <= 0 (decays a = exp(log_a) <= 1)", log_a)
    B = check_array(func, "B", B, ndim=4)
    if B.shape[:2] != (b, L) or h % B.shape[2] != 0:
        fail(func, "B", f"shape ({b}, {L}, groups, N) with groups dividing {h}", B)
    C = check_array(func, "C", C, shape=B.shape)
    dtype = jnp.result_type(x, log_a, B, C)
    return tuple(t.astype(dtype) for t in (x, log_a, B, C))


@full_precision
def semiseparable_matrix(log_a, B, C):
    """The matrix M of eq. (13.2), shape (batch, heads, L, L)::

        M[b, h, i, j] = (C_i . B_j) exp(log_a_{j+1} + ... + log_a_i)  (i >= j), 0 above

    log_a (batch, L, heads), B and C (batch, L, groups, N).
    """
    func = "semiseparable_matrix"
    log_a = check_array(func, "log_a", log_a, ndim=3)
    x = jnp.zeros(log_a.shape + (1,), log_a.dtype)
    return _semiseparable_matrix(*_check(func, x, log_a, B, C)[1:])


def segsum(log_a):
    """Segment sums ``S[..., i, j] = sum_{j < k <= i} log_a[..., k]`` (i >= j), -inf above.

    ``exp(S)`` is the matrix of decays ``a_i ... a_{j+1}`` (1 on the diagonal, 0
    above it). log_a: (..., L), returns (..., L, L).
    """
    log_a = check_array("segsum", "log_a", log_a)
    if log_a.ndim == 0:
        fail("segsum", "log_a", "an array with at least 1 dimension", log_a)
    return _segsum(log_a)


@full_precision
def ssd_naive(x, log_a, B, C):
    """``y = M x`` with M of eq. (13.2) formed densely: the O(L^2) reference.

    x (batch, L, heads, P), log_a (batch, L, heads) <= 0, B and C (batch, L, groups, N);
    returns y (batch, L, heads, P).
    """
    return _ssd_naive(*_check("ssd_naive", x, log_a, B, C))


@full_precision
def ssd_scan(x, log_a, B, C, *, method: str = "parallel"):
    """The recurrence (13.1), ``h_t = a_t h_{t-1} + x_t B_t^T``, ``y_t = h_t C_t``.

    Same shapes as :func:`ssd_naive`; ``method`` is passed to
    :func:`s4_minimal.scan.linear_recurrence`. Stores all states: batch L heads P N numbers.
    """
    from .scan import METHODS
    method = check_choice("ssd_scan", "method", method, METHODS)
    return _ssd_scan(*_check("ssd_scan", x, log_a, B, C), method)


# Matrix-product precisions of ssd_chunked: full float32 products, or three
# TensorFloat-32 products that add back what one loses (NVIDIA GPUs only).
PRECISIONS = {"highest": _HI, "tf32x3": jax.lax.DotAlgorithmPreset.TF32_TF32_F32_X3}


@full_precision
def ssd_chunked(x, log_a, B, C, *, chunk: int = 64, precision: str = "highest"):
    """``y = M x`` by Mamba-2's chunked algorithm, chunks of ``chunk`` steps.

    The default chunk, 64, was the fastest forward pass of chunks 64, 128 and 256 on
    an H200 (batch 16, 8 heads of width 32, state 64, L = 16,384, float32;
    ``book/data/bench_after_h200.json``), and 256 the slowest in both directions.

    Same shapes and result as :func:`ssd_naive`. L need not be a multiple of
    ``chunk``: the sequence is padded at the end with zero inputs (which change no
    earlier output) and the padding is cut from y. Cost O(L Q (N + P)) per head
    in matrix products, plus a scan over L / Q chunk states. ``precision`` is a
    key of :data:`PRECISIONS` (``"tf32x3"`` runs on NVIDIA GPUs only).
    """
    x, log_a, B, C = _check("ssd_chunked", x, log_a, B, C)
    Q = check_int("ssd_chunked", "chunk", chunk, minimum=1)
    precision = PRECISIONS[check_choice("ssd_chunked", "precision", precision, PRECISIONS)]
    L = x.shape[1]
    Q = min(Q, L)
    pad = -L % Q
    if pad:
        x, log_a, B, C = (jnp.pad(t, [(0, 0), (0, pad)] + [(0, 0)] * (t.ndim - 2))
                          for t in (x, log_a, B, C))
    return _ssd_chunked(x, log_a, B, C, Q, precision)[:, :L]
