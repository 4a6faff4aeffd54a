"""Tests of s4_minimal.hippo.transition: the HiPPO matrices and the ODEs they define.

The references are entry-by-entry loops over the published formulas and finite
differences of the direct projection of s4_minimal.online (float64 NumPy).
"""

import numpy as np
import pytest

from s4_minimal import hippo, online


def f(s):
    s = np.asarray(s, dtype=np.float64)
    return np.sin(2.5 * s) + 0.5 * np.cos(6 * s) * np.exp(-0.3 * s) + 0.2 * s


def _loops(measure, N):
    """The formulas of the HiPPO paper, one entry at a time."""
    A, B = np.zeros((N, N)), np.zeros(N)
    for n in range(N):
        for k in range(N):
            rr = np.sqrt((2 * n + 1) * (2 * k + 1))
            if measure == "legs":
                A[n, k] = -rr if n > k else (-(n + 1) if n == k else 0.0)
            elif measure == "legt":
                A[n, k] = -rr if n >= k else -((-1) ** (n - k)) * rr
            else:
                A[n, k] = -1.0 if n >= k else 0.0
        B[n] = 1.0 if measure == "lagt" else np.sqrt(2 * n + 1)
    return A, B


@pytest.mark.parametrize("measure", hippo.MEASURES)
@pytest.mark.parametrize("N", [1, 2, 7])
def test_transition_matches_formulas_entrywise(measure, N):
    A, B = hippo.transition(measure, N)
    A_ref, B_ref = _loops(measure, N)
    assert A.dtype == np.float64 and A.shape == (N, N) and B.shape == (N,)
    # sqrt(2n+1) sqrt(2k+1) versus sqrt((2n+1)(2k+1)): equal up to 2 ulps.
    np.testing.assert_allclose(A, A_ref, rtol=1e-15, atol=0)
    np.testing.assert_allclose(B, B_ref, rtol=1e-15, atol=0)


def test_legs_eigenvalues_are_minus_one_to_minus_N():
    # A_legs is lower triangular: its eigenvalues are its diagonal, -(n + 1).
    A, _ = hippo.transition("legs", 12)
    np.testing.assert_allclose(np.sort(np.linalg.eigvals(A).real), -np.arange(12, 0, -1), atol=1e-9)


def test_lagt_is_one_jordan_block_at_minus_one():
    # A + I is strictly lower triangular with ones: nilpotent of index exactly N.
    N = 6
    A, _ = hippo.transition("lagt", N)
    M = A + np.eye(N)
    assert np.count_nonzero(np.linalg.matrix_power(M, N - 1)) > 0
    assert np.count_nonzero(np.linalg.matrix_power(M, N)) == 0


def test_legt_eigenvalues_in_left_half_plane():
    A, _ = hippo.transition("legt", 16)
    assert np.max(np.linalg.eigvals(A).real) < 0


def _derivative(measure, t, N, eps=1e-4):
    """Central difference of the direct projection: error O(eps^2) ~ 1e-8."""
    return (online.project(measure, f, t + eps, N) - online.project(measure, f, t - eps, N)) / (2 * eps)


@pytest.mark.parametrize("t", [0.7, 2.5])
def test_legs_ode_right_hand_side_equals_derivative_of_projection(t):
    N = 10
    A, B = hippo.transition("legs", N)
    c = online.project("legs", f, t, N)
    rhs = (A @ c + B * f(t)) / t
    # Tolerance: central difference error ~ eps^2 |c'''| ~ 1e-8, plus rounding 1e-16/eps.
    np.testing.assert_allclose(rhs, _derivative("legs", t, N), atol=1e-6)


@pytest.mark.parametrize("t", [0.7, 2.5])
def test_lagt_ode_right_hand_side_equals_derivative_of_projection(t):
    N = 10
    A, B = hippo.transition("lagt", N)
    c = online.project("lagt", f, t, N)
    np.testing.assert_allclose(A @ c + B * f(t), _derivative("lagt", t, N), atol=1e-6)


def test_legt_ode_right_hand_side_is_exact_up_to_the_leaving_value():
    # The exact derivative needs f(t - 1); the ODE uses the reconstruction
    # sum_k c_k g_k(t - 1) instead. With the true f(t - 1) put back the match is exact.
    N, t = 10, 2.5
    A, B = hippo.transition("legt", N)
    c = online.project("legt", f, t, N)
    r = np.sqrt(2 * np.arange(N) + 1)
    sign = (-1.0) ** np.arange(N)
    recon_left = (r * sign) @ c  # g_k(t - 1) = r_k P_k(-1) = r_k (-1)^k
    corrected = A @ c + B * f(t) + r * sign * (recon_left - f(t - 1))
    np.testing.assert_allclose(corrected, _derivative("legt", t, N), atol=1e-6)


def test_transition_rejects_unknown_measure():
    with pytest.raises(ValueError, match="measure"):
        hippo.transition("chebyshev", 4)


@pytest.mark.parametrize("N", [0, -3])
def test_transition_rejects_N_below_one(N):
    with pytest.raises(ValueError, match="'N'"):
        hippo.transition("legs", N)


def test_transition_rejects_non_integer_N():
    with pytest.raises(TypeError, match="'N'"):
        hippo.transition("legs", 4.0)
