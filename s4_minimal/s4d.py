"""S4D: diagonal state matrices and their initializations.

Serves chapter 7 (S4D). Reference: A. Gu, A. Gupta, K. Goel, C. Re, "On the
Parameterization and Initialization of Diagonal State Space Models" (NeurIPS 2022).

A diagonal SSM has ``A = diag(Lambda)``; its kernel is the Vandermonde sum of
:func:`s4_minimal.kernels.kernel_diag`. For a *real* system the eigenvalues come in
conjugate pairs ``(lambda, conj lambda)`` with entries of B and C conjugate too, so
the N-state system is described by N/2 of its states. :func:`init` returns that half:
one eigenvalue of each pair, the one with ``Im(lambda) >= 0``.

**Where the factor 2 lives (conjugate-pair halving).** With ``Lambda, B`` from
:func:`init` (shape (N // 2,)) and any complex C of the same shape, the N-state system

    Lambda_full = [Lambda, conj(Lambda)],  B_full = [B, conj(B)],  C_full = [C, conj(C)]

(built by :func:`full_system`) has the real kernel

    K_full = kernel_diag(Lambda_full, B_full, C_full, dt, L)
           = 2 * kernel_diag(Lambda, B, C, dt, L),

because the two states of a pair contribute complex conjugate terms whose sum is twice
the real part of one. ``kernel_diag`` itself has no factor 2: it returns
``Re sum_n C_n Bb_n Ab_n^k`` over the states it is given. A caller that keeps only the
half (as S4D layers do) multiplies by 2 (or absorbs the 2 into its learned C).

Initializations (``n = 0, ..., N/2 - 1``):

* ``"legs"`` (S4D-LegS): the diagonal part of LegS's DPLR form
  (:func:`s4_minimal.hippo.legs_dplr`, drop the low-rank term ``P P^*``): eigenvalues
  ``-1/2 + i omega_n`` of the normal part of LegS, with B = ``V^* B_legs`` in the same
  basis (kept half, Im > 0, in increasing order of Im). The S4D paper's analysis matches
  the diagonal part to LegS with B *halved*; with the halving convention above, the
  N-state kernel with B/2 is ``kernel_diag(Lambda, B, C)`` with no factor 2 (chapter 7
  measures its distance to S4-LegS's bilinear kernel: it falls with N once the fastest
  frequencies pass 2 / dt, so it depends on dt as much as on N). Like the authors'
  reference code we return the unhalved B: a constant scale of B is absorbed by the
  learned C.
* ``"lin"`` (S4D-Lin): ``Lambda_n = -1/2 + i pi n``, ``B_n = 1``.
* ``"inv"`` (S4D-Inv): ``Lambda_n = -1/2 + i (N / pi) (N / (2n + 1) - 1)``, ``B_n = 1``,
  with N the full state size (the paper's formula, the asymptotics of the S4D-LegS
  eigenvalues).

**Clipping Im(B) (optional).** The authors' reference code clips the imaginary part
of the LegS B to [-2, 2] (its ``B_clip = 2``, used for S4D-LegS and for the DPLR
initialization); ``init(..., b_clip=2.0)`` does the same:
``B -> Re B + i clip(Im B, -b_clip, b_clip)``. This is not a property of the system:
each eigenvector of V is fixed only up to a phase ``e^{i phi_n}``, which turns
``B_n`` into ``e^{-i phi_n} B_n`` (and C into ``C_n e^{i phi_n}``) without changing the
kernel; the clip sees one particular choice of phases (here NumPy's ``eigh``). With
phases that make B real it changes nothing. The default ``b_clip=None`` does not clip.
For ``"lin"`` and ``"inv"`` B is real and the clip is a no-op.

All are complex128 NumPy arrays (computed in float64, whatever JAX's setting).
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from . import hippo
from ._validate import check_array, check_choice, check_int, check_scalar, fail

__all__ = ["INITS", "init", "full_system", "conjugate_pairs"]

INITS = ("legs", "lin", "inv")


def _init(name, N):
    """(Lambda, B) of the kept half, n < N/2: LegS's normal part and V^* B_legs; Lin
    ``-1/2 + i pi n``, B = 1; Inv ``-1/2 + i (N/pi) (N/(2n+1) - 1)``, B = 1."""
    n = np.arange(N // 2)
    if name == "legs":
        Lambda, _, B, _ = hippo.legs_dplr(N)   # eigh sorts Im(Lambda) ascending
        Lambda, B = Lambda[N // 2:], B[N // 2:]  # the half with Im(Lambda) > 0
    elif name == "lin":
        Lambda = -0.5 + 1j * np.pi * n
        B = np.ones(N // 2)
    else:  # inv
        Lambda = -0.5 + 1j * (N / np.pi) * (N / (2 * n + 1) - 1)
        B = np.ones(N // 2)
    return Lambda.astype(np.complex128), B.astype(np.complex128)


def _clip_imag(B, bound):
    """``Re B + i clip(Im B, -bound, bound)``: the reference code's clip of B."""
    return B.real + 1j * np.clip(B.imag, -bound, bound)


def init(name: str, N: int, *, b_clip=None):
    """``(Lambda, B)``: complex128 arrays of shape (N // 2,), one state of each conjugate pair.

    ``name`` in ``INITS`` (``"legs"``, ``"lin"``, ``"inv"``); ``N`` the full (even) state
    size. The real kernel of the full N-state system is ``2 * kernel_diag(Lambda, B, C,
    dt, L)`` (see the module docstring). ``b_clip`` (keyword-only, ``None`` or a number
    > 0): return ``Re B + i clip(Im B, -b_clip, b_clip)``, as the reference code does
    with ``b_clip = 2`` (the result depends on the eigenvectors' phases, see the module
    docstring).
    """
    name = check_choice("init", "name", name, INITS)
    N = check_int("init", "N", N, minimum=2)
    if N % 2:
        fail("init", "N", "an even integer (states come in conjugate pairs)", N)
    if b_clip is not None:
        b_clip = float(check_scalar("init", "b_clip", b_clip, positive=True))
    Lambda, B = _init(name, N)
    return Lambda, B if b_clip is None else _clip_imag(B, b_clip)


def conjugate_pairs(x):
    """The full conjugate-paired array ``[x, conj x]`` along the last axis.

    The states of a real system in a complex basis come in conjugate pairs; the
    package stores one of each pair and completes them here.
    """
    return jnp.concatenate([x, jnp.conj(x)], axis=-1)


def full_system(Lambda, B, C):
    """The N-state conjugate-closed system ``([x, conj x] for x in (Lambda, B, C))``.

    Its real kernel ``kernel_diag(*full_system(Lambda, B, C), dt, L)`` equals
    ``2 * kernel_diag(Lambda, B, C, dt, L)``. Arrays of shape (M,) in, (2M,) out.
    """
    Lambda = check_array("full_system", "Lambda", Lambda, ndim=1, complex_ok=True)
    M = Lambda.shape[0]
    B = check_array("full_system", "B", B, shape=(M,), complex_ok=True)
    C = check_array("full_system", "C", C, shape=(M,), complex_ok=True)
    return tuple(conjugate_pairs(x) for x in (Lambda, B, C))
