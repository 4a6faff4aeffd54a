"""A diagonal linear recurrence computed in parallel: the associative scan.

Serves chapter 11 (the recurrence in parallel) and is used by chapters 12 and 13.

The recurrence, elementwise (each state is its own scalar system)::

    x_k = a_k x_{k-1} + b_k,        k = 0, ..., L-1,   x_{-1} = x0 (zero by default)

Each step is an affine map ``f_k(x) = a_k x + b_k``, written as the pair
``(a_k, b_k)``, and ``x_k = f_k(f_{k-1}(... f_0(x_{-1})))``. Composing two affine
maps gives an affine map::

    (a2, b2) o (a1, b1) = (a2 a1, a2 b1 + b2)                        (11.2)

and composition is associative, so the L prefix compositions can be grouped in any
order: a tree of depth O(log L) instead of a chain of length L (Blelloch 1990).
Three ways to run the same recurrence are offered by :func:`linear_recurrence`:

- ``"sequential"``: the chain, one step after another (``jax.lax.scan``);
- ``"parallel"``: ``jax.lax.associative_scan`` with the operator :func:`combine`
  (the fast path);
- ``"blelloch"``: the work-efficient up-sweep / down-sweep of Blelloch, written
  plainly, one tree level per loop iteration (for reading, not for speed).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from ._validate import check_array, check_choice, check_int, fail

__all__ = ["combine", "linear_recurrence", "METHODS"]

METHODS = ("parallel", "sequential", "blelloch")


def combine(left, right):
    """Compose two affine maps, ``left`` first: ``(a2, b2) o (a1, b1)``, eq. (11.2).

    ``left = (a1, b1)`` covers the earlier steps and ``right = (a2, b2)`` the later
    ones; the result ``(a2 a1, a2 b1 + b2)`` maps x to ``a2 (a1 x + b1) + b2``.
    """
    a1, b1 = left
    a2, b2 = right
    return a2 * a1, a2 * b1 + b2


def _sequential(a, b):
    """x_k = a_k x_{k-1} + b_k, one step after another (time on axis 0)."""

    def step(x, ab):
        a_k, b_k = ab
        x = a_k * x + b_k
        return x, x

    _, xs = jax.lax.scan(step, jnp.zeros_like(b[0]), (a, b))
    return xs


def _parallel(a, b):
    """All prefix compositions f_k o ... o f_0 at once; x_k is the b of the k-th."""
    _, xs = jax.lax.associative_scan(combine, (a, b), axis=0)
    return xs


def _blelloch(a, b):
    """Blelloch's scan of the affine maps (a_k, b_k): up-sweep, then down-sweep."""
    L = a.shape[0]
    size = 1 << (L - 1).bit_length()                  # next power of two
    pad = [(0, size - L)] + [(0, 0)] * (a.ndim - 1)
    A = jnp.pad(a, pad, constant_values=1)            # padding: the identity map
    B = jnp.pad(b, pad, constant_values=0)            # (1, 0)

    # Up-sweep: at stride s, the node at k s - 1 becomes the composition of the
    # s maps ending there (its left child's maps, then its right child's).
    s = 2
    while s <= size:
        left = A[s // 2 - 1::s], B[s // 2 - 1::s]
        right = A[s - 1::s], B[s - 1::s]
        new_a, new_b = combine(left, right)
        A, B = A.at[s - 1::s].set(new_a), B.at[s - 1::s].set(new_b)
        s *= 2

    # Down-sweep: the root gets the identity. Each node holds the composition of
    # all maps before its range; it hands that to its left child, and to its
    # right child the same followed by the left child's maps.
    A, B = A.at[-1].set(1), B.at[-1].set(0)
    s = size
    while s >= 2:
        before = A[s - 1::s], B[s - 1::s]
        left_sum = A[s // 2 - 1::s], B[s // 2 - 1::s]
        new_a, new_b = combine(before, left_sum)
        A, B = A.at[s // 2 - 1::s].set(before[0]), B.at[s // 2 - 1::s].set(before[1])
        A, B = A.at[s - 1::s].set(new_a), B.at[s - 1::s].set(new_b)
        s //= 2

    # Now (A_k, B_k) composes the maps before step k (an exclusive scan);
    # applying step k itself gives the inclusive one, whose b is x_k.
    _, xs = combine((A[:L], B[:L]), (a, b))
    return xs


_RUN = {"parallel": _parallel, "sequential": _sequential, "blelloch": _blelloch}


@functools.partial(jax.jit, static_argnames="method")
def _run(a, b, method):
    """Compiled once per shape and method (fast when called outside ``jit``)."""
    return _RUN[method](a, b)


def linear_recurrence(a, b, x0=None, *, axis: int = 0, method: str = "parallel"):
    """``x_k = a_k x_{k-1} + b_k`` elementwise along ``axis``, with ``x_{-1} = x0``.

    Arguments (real or complex):
        a:  decays, same shape as ``b`` or broadcastable to it, time along ``axis``
        b:  inputs, any shape with ``b.shape[axis] = L >= 1``
        x0: initial state, shape of ``b`` without ``axis`` (or broadcastable to
            it); zero when omitted
        method: ``"parallel"`` (``jax.lax.associative_scan``, log depth),
            ``"sequential"`` (``jax.lax.scan``, L steps) or ``"blelloch"`` (the
            plain up-sweep / down-sweep of chapter 11)

    Returns all states x, shape ``b.shape``, in the common dtype of the inputs.
    The initial state enters as ``b_0 + a_0 x0``: the first map applied to x0.
    """
    func = "linear_recurrence"
    method = check_choice(func, "method", method, METHODS)
    b = check_array(func, "b", b, complex_ok=True)
    if b.ndim == 0:
        fail(func, "b", "an array with at least 1 dimension (time)", b)
    a = check_array(func, "a", a, complex_ok=True)
    axis = check_int(func, "axis", axis, minimum=-b.ndim, maximum=b.ndim - 1) % b.ndim
    try:
        fits = jnp.broadcast_shapes(a.shape, b.shape) == b.shape
    except ValueError:
        fits = False
    if not fits:
        fail(func, "a", f"a shape broadcastable to b's {tuple(b.shape)}", a)
    dtype = jnp.result_type(a, b)
    if x0 is not None:
        x0 = check_array(func, "x0", x0, complex_ok=True)
        rest = b.shape[:axis] + b.shape[axis + 1:]
        try:
            fits = jnp.broadcast_shapes(x0.shape, rest) == rest
        except ValueError:
            fits = False
        if not fits:
            fail(func, "x0", f"a shape broadcastable to {tuple(rest)} (b without axis)", x0)
        dtype = jnp.result_type(dtype, x0)
    a = jnp.moveaxis(jnp.broadcast_to(a, b.shape).astype(dtype), axis, 0)
    b = jnp.moveaxis(b.astype(dtype), axis, 0)
    if x0 is not None:
        b = b.at[0].add(a[0] * x0.astype(dtype))
    return jnp.moveaxis(_run(a, b, method), 0, axis)
