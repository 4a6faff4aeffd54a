"""HiPPO transition matrices: the linear ODEs that keep online coefficients current.

Serves chapter 3 (the HiPPO ODE) and chapter 6 (the S4 kernel).

Each measure of chapter 2 has coefficients ``c(t)`` (see :mod:`s4_minimal.online`
for the basis each one refers to) that obey a linear ODE driven by the input f:

* ``"legs"`` (scaled Legendre, uniform weight on [0, t]):
  ``c'(t) = (1/t) (A c(t) + B f(t))``, time-varying;
  ``A[n, k] = -sqrt(2n+1) sqrt(2k+1)`` for n > k, ``-(n+1)`` for n = k, 0 above;
  ``B[n] = sqrt(2n+1)``.
* ``"legt"`` (translated Legendre, uniform weight on the window [t - 1, t]):
  ``c'(t) = A c(t) + B f(t)``;
  ``A[n, k] = -sqrt(2n+1) sqrt(2k+1)`` for n >= k, ``-(-1)^(n-k) sqrt(2n+1) sqrt(2k+1)``
  for n < k; ``B[n] = sqrt(2n+1)``.
* ``"lagt"`` (Laguerre, weight exp(-(t - s)) on the past):
  ``c'(t) = A c(t) + B f(t)``; ``A[n, k] = -1`` for n >= k, 0 above; ``B[n] = 1``.

LegS and LagT are exact: the ODE's solution *is* the projection. LegT needs the
value f(t - 1) leaving the window, which it replaces by its own reconstruction,
so its ODE reproduces the projection only up to the truncation error.

Which variant these are, against the published conventions (chapter 3 checks
each numerically):

* The HiPPO paper writes ``c' = -A c + B f`` and states LegT in the LMU form,
  ``A[n, k] = (2n+1) (-1)^(n-k)`` for n >= k, ``(2n+1)`` for n < k,
  ``B[n] = (2n+1) (-1)^n`` (window theta = 1), for coefficients of the plain
  Legendre polynomials of the reversed age. With ``D = diag((-1)^n sqrt(2n+1))``
  its state is ``D c`` and its matrices are ``-D A D^-1`` and ``D B`` of ours.
* The official S4 code's ``legt`` is ours halved, ``A / 2, B / 2``: the window
  theta = 2 (a LegT matrix scales as 1 / theta).
* Our ``lagt`` is that code's ``tlagt`` with beta = 1; its ``lagt`` is
  ``A + I / 2``, the projection onto the Laguerre functions
  ``exp(-x / 2) L_n(x)`` of the age x under the plain (unweighted) inner product.
"""

from __future__ import annotations

import numpy as np

from ._validate import check_choice, check_int

__all__ = ["MEASURES", "transition", "legs_dplr"]

MEASURES = ("legs", "legt", "lagt")


def _transition(measure: str, N: int):
    """The matrices of chapter 3, entry by entry, with r_n = sqrt(2n + 1)."""
    n = np.arange(N, dtype=np.float64)
    r = np.sqrt(2 * n + 1)
    row, col = np.meshgrid(n, n, indexing="ij")
    if measure == "legs":  # -r_n r_k below the diagonal, -(n + 1) on it
        A = -np.outer(r, r) * (row > col) - np.diag(n + 1)
        B = r.copy()
    elif measure == "legt":  # -r_n r_k on and below, -(-1)^(n-k) r_n r_k above
        sign = np.where(row >= col, 1.0, (-1.0) ** (row - col))
        A = -np.outer(r, r) * sign
        B = r.copy()
    else:  # lagt: -1 on and below the diagonal
        A = -np.tril(np.ones((N, N)))
        B = np.ones(N)
    return A, B


def transition(measure: str, N: int):
    """HiPPO ``(A, B)`` for ``measure`` in ``MEASURES``, float64 NumPy arrays of shapes (N, N), (N,).

    The sign convention is ``c' = A c + B f`` (A negative definite in effect), the
    state holds coefficients of the orthonormal bases of :mod:`s4_minimal.online`,
    LegT has the window theta = 1 (the S4 code's ``legt`` is ``A / 2, B / 2``, theta = 2;
    the HiPPO paper's LMU form is ``-D A D^-1, D B`` with ``D = diag((-1)^n sqrt(2n+1))``),
    and LagT is the S4 code's ``tlagt`` with beta = 1 (its ``lagt`` is ``A + I / 2``).
    """
    measure = check_choice("transition", "measure", measure, MEASURES)
    N = check_int("transition", "N", N, minimum=1)
    return _transition(measure, N)


def _legs_dplr(N: int):
    """LegS = V (diag(Lambda) - P P^*) V^*, as S = A + P0 P0^T is normal."""
    A, B_legs = _transition("legs", N)
    P0 = np.sqrt(np.arange(N, dtype=np.float64) + 0.5)   # sqrt(n + 1/2)
    J = A + np.outer(P0, P0) + 0.5 * np.eye(N)   # S = -I/2 + J, J skew
    omega, V = np.linalg.eigh(-1j * J)           # -iJ Hermitian: V unitary
    Lambda = -0.5 + 1j * omega                   # eigenvalues of S
    P = V.conj().T @ P0                          # P = V^* P0
    B = V.conj().T @ B_legs                      # B = V^* B_legs
    return Lambda, P, B, V


def legs_dplr(N: int):
    """LegS in diagonal-plus-low-rank form: ``(Lambda, P, B, V)``.

    With ``P0[n] = sqrt(n + 1/2)``, ``S = A + P0 P0^T`` equals ``-I/2`` plus a
    skew-symmetric matrix, so it is normal and ``S = V diag(Lambda) V^*`` with V
    unitary. Then, to rounding,

    ``V @ (diag(Lambda) - outer(P, conj(P))) @ V^* == A_legs`` and ``V @ B == B_legs``,

    where ``P = V^* P0`` and ``B = V^* B_legs`` (``V^*`` the conjugate transpose).
    Computed in float64 (complex128) from the Hermitian matrix ``-i (S + I/2)`` with
    ``numpy.linalg.eigh``. See :func:`_legs_dplr` for the algorithm.
    """
    N = check_int("legs_dplr", "N", N, minimum=1)
    return _legs_dplr(N)
