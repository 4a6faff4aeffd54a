"""Argument checks shared by every public function of ``s4_minimal``.

Each helper raises ``TypeError`` (wrong kind of thing) or ``ValueError`` (right
kind, wrong value) with a message of the form::

    <function>: argument '<name>' expected <what>, got <what was received>

so a reader who passes bad input learns which argument was wrong, what it was
and what was wanted. Checks on array *values* (finiteness, signs) are skipped
when the array is a JAX tracer (inside ``jit``/``grad``/``vmap``), where values
are unknown; checks on shapes and dtypes always run.
"""

from __future__ import annotations

import numbers
from typing import Iterable

import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "fail",
    "check_int",
    "check_scalar",
    "check_choice",
    "check_array",
    "check_square",
    "check_bool",
    "check_tree",
    "set_fields",
    "is_traced",
    "concrete",
]


def _describe(value) -> str:
    """A short, readable description of ``value`` for error messages."""
    if isinstance(value, (np.ndarray, jax.Array)):
        return f"array of shape {tuple(value.shape)} and dtype {value.dtype}"
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{text} ({type(value).__name__})"


def fail(func: str, name: str, expected: str, value, error=ValueError):
    """Raise ``error`` naming the function, the argument, what was wanted and what came."""
    raise error(f"{func}: argument '{name}' expected {expected}, got {_describe(value)}")


def is_traced(x) -> bool:
    """True when ``x`` is a JAX tracer, whose values are unknown at trace time."""
    return isinstance(x, jax.core.Tracer)


def concrete(x):
    """``x`` as a NumPy array when its values are known, ``None`` for a tracer.

    Value checks use NumPy on purpose: inside ``jax.jit`` even a constant captured
    from outside becomes a tracer once a ``jnp`` operation touches it, so checks
    written with ``jnp`` would fail to convert to ``bool`` there.
    """
    return None if is_traced(x) else np.asarray(x)


def check_int(func: str, name: str, value, minimum: int | None = None,
              maximum: int | None = None) -> int:
    """Return ``value`` as a Python int, checking it is an integer in [minimum, maximum]."""
    if isinstance(value, bool) or not isinstance(value, (numbers.Integral, np.integer)):
        fail(func, name, "an integer", value, TypeError)
    value = int(value)
    if minimum is not None and value < minimum:
        fail(func, name, f"an integer >= {minimum}", value)
    if maximum is not None and value > maximum:
        fail(func, name, f"an integer <= {maximum}", value)
    return value


def check_scalar(func: str, name: str, value, positive: bool = False):
    """Check that ``value`` is a finite real scalar (and > 0 if ``positive``).

    Returns the value unchanged, so a traced scalar (under ``jax.grad`` with
    respect to a step size, say) flows through; its value checks are skipped.
    """
    if is_traced(value):
        if jnp.ndim(value) != 0:
            fail(func, name, "a scalar", value)
        return value
    if isinstance(value, bool) or not (
        isinstance(value, numbers.Real)
        or (isinstance(value, (np.ndarray, np.generic, jax.Array))
            and np.ndim(value) == 0 and np.isrealobj(value))
    ):
        fail(func, name, "a real scalar", value, TypeError)
    as_float = float(value)
    if not np.isfinite(as_float):
        fail(func, name, "a finite number", value)
    if positive and as_float <= 0:
        fail(func, name, "a number > 0", value)
    return value


def check_choice(func: str, name: str, value, choices: Iterable[str]) -> str:
    """Check that ``value`` is one of the strings in ``choices`` (case-insensitive)."""
    choices = tuple(choices)
    if not isinstance(value, str):
        fail(func, name, f"a string, one of {choices}", value, TypeError)
    lowered = value.lower()
    if lowered not in choices:
        fail(func, name, f"one of {choices}", value)
    return lowered


def check_array(func: str, name: str, value, ndim: int | tuple[int, ...] | None = None,
                shape: tuple | None = None, complex_ok: bool = False,
                finite: bool = True):
    """Convert ``value`` to a JAX array and check its rank, shape, dtype and values.

    ``shape`` may contain ``None`` for "any size". Integer and boolean inputs are
    promoted to JAX's default float dtype. Complex input is refused unless
    ``complex_ok``. Non-finite entries are refused when ``finite`` and the array
    is concrete.
    """
    if isinstance(value, (str, bytes)) or value is None:
        fail(func, name, "an array of numbers", value, TypeError)
    try:
        arr = value if is_traced(value) else jnp.asarray(value)
    except (TypeError, ValueError):
        fail(func, name, "an array of numbers", value, TypeError)
    if not (jnp.issubdtype(arr.dtype, jnp.number) or arr.dtype == jnp.bool_):
        fail(func, name, "an array of numbers", value, TypeError)
    if jnp.issubdtype(arr.dtype, jnp.complexfloating) and not complex_ok:
        fail(func, name, "a real array", value, TypeError)
    if not jnp.issubdtype(arr.dtype, jnp.inexact):
        arr = arr.astype(jnp.result_type(float))
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if arr.ndim not in allowed:
            words = " or ".join(str(d) for d in allowed)
            fail(func, name, f"an array with {words} dimension(s)", arr)
    if shape is not None:
        ok = arr.ndim == len(shape) and all(
            want is None or want == got for want, got in zip(shape, arr.shape))
        if not ok:
            wanted = "(" + ", ".join("any" if s is None else str(s) for s in shape) + ")"
            fail(func, name, f"shape {wanted}", arr)
    values = concrete(value) if finite else None
    if values is not None and not np.all(np.isfinite(values)):
        fail(func, name, "finite values (no NaN or inf)", arr)
    return arr


def check_square(func: str, name: str, value, complex_ok: bool = True):
    """Convert ``value`` to a JAX array and check that it is a square matrix (N, N)."""
    arr = check_array(func, name, value, ndim=2, complex_ok=complex_ok)
    if arr.shape[0] != arr.shape[1]:
        fail(func, name, "a square matrix", arr)
    return arr


def check_bool(func: str, name: str, value) -> bool:
    """Return ``value`` as a Python bool, refusing anything that is not True or False."""
    if not isinstance(value, (bool, np.bool_)):
        fail(func, name, "True or False", value, TypeError)
    return bool(value)


def check_tree(func: str, name: str, tree, like, origin: str):
    """Check that ``tree`` has the structure and leaf shapes of ``like`` (shape structs).

    ``like`` is what ``jax.eval_shape`` of the function that made the tree returns, so
    the layout of a parameter dict is written once, in its ``init``. Returns the tree
    with its leaves as JAX arrays of one float dtype. ``origin`` says, for the error
    message, what was expected and where it comes from.
    """
    leaves, treedef = jax.tree_util.tree_flatten_with_path(tree)
    want, want_def = jax.tree_util.tree_flatten_with_path(like)
    if treedef != want_def:
        fail(func, name, origin, tree, TypeError)
    out = []
    for (path, leaf), (_, spec) in zip(leaves, want):
        where = name + jax.tree_util.keystr(path)
        out.append(check_array(func, where, leaf, shape=spec.shape))
    dtypes = sorted({str(x.dtype) for x in out})
    if len(dtypes) > 1:
        fail(func, name, "arrays of one float dtype", dtypes, TypeError)
    return jax.tree_util.tree_unflatten(treedef, out)


def set_fields(obj, **values):
    """Store checked values on a frozen dataclass, from its ``__post_init__``.

    Every configuration object of the package is a frozen dataclass (hashable, so it
    can be a static argument of ``jax.jit``) that checks its fields on creation and
    stores them in canonical form (a lower-case choice, a Python float) this way.
    """
    for field, value in values.items():
        object.__setattr__(obj, field, value)
