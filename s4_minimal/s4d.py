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
  measures its distance to S4-LegS's kernel shrinking like 1/N). Like the authors'
  reference code we return the unhalved B: a constant scale of B is absorbed by the
  learned C.
* ``"lin"`` (S4D-Lin): ``Lambda_n = -1/2 + i pi n``, ``B_n = 1``.
* ``"inv"`` (S4D-Inv): ``Lambda_n = -1/2 + i (N / pi) (N / (2n + 1) - 1)``, ``B_n = 1``,
  with N the full state size (the paper's formula, the asymptotics of the S4D-LegS
  eigenvalues).

All are complex128 NumPy arrays (computed in float64, whatever JAX's setting).
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from . import hippo
from ._validate import check_array, check_choice, check_int, fail

__all__ = ["INITS", "init", "full_system", "conjugate_pairs"]

INITS = ("legs", "lin", "inv")


def init(name: str, N: int):
    """``(Lambda, B)``: complex128 arrays of shape (N // 2,), one state of each conjugate pair.

    ``name`` in ``INITS`` (``"legs"``, ``"lin"``, ``"inv"``); ``N`` the full (even) state
    size. The real kernel of the full N-state system is ``2 * kernel_diag(Lambda, B, C,
    dt, L)`` (see the module docstring).
    """
    name = check_choice("init", "name", name, INITS)
    N = check_int("init", "N", N, minimum=2)
    if N % 2:
        fail("init", "N", "an even integer (states come in conjugate pairs)", N)
    return _init(name, N)


def _init(name, N):
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


def conjugate_pairs(x):
    """The full conjugate-paired array ``[x, conj x]`` along the last axis.

    The states of a real system in a complex basis come in conjugate pairs; the
    package stores one of each pair and completes them here.
    """
    return jnp.concatenate([x, jnp.conj(x)], axis=-1)
