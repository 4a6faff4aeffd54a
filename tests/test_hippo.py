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


def _lmu_form(N):
    """The HiPPO paper's LegT in the LMU form, c' = -A c + B f, written entry by entry."""
    A, B = np.zeros((N, N)), np.zeros(N)
    for n in range(N):
        for k in range(N):
            A[n, k] = (2 * n + 1) * ((-1.0) ** (n - k) if n >= k else 1.0)
        B[n] = (2 * n + 1) * (-1.0) ** n
    return A, B


def test_legt_is_the_lmu_form_under_the_diagonal_similarity():
    # c_paper = D c with D = diag((-1)^n sqrt(2n+1)): -A_paper = D A D^-1, B_paper = D B.
    N = 12
    A, B = hippo.transition("legt", N)
    A_paper, B_paper = _lmu_form(N)
    D = np.diag((-1.0) ** np.arange(N) * np.sqrt(2 * np.arange(N) + 1))
    np.testing.assert_allclose(-A_paper, D @ A @ np.linalg.inv(D), atol=1e-12)
    np.testing.assert_allclose(B_paper, D @ B, atol=1e-12)


def test_halved_legt_is_the_window_of_length_two():
    # The S4 code's legt is A / 2, B / 2: with the true leaving value f(t - 2) put back,
    # the derivative of the theta = 2 projection is exactly (A c + B f) / 2 + correction.
    N, t, theta, eps = 10, 3.5, 2.0, 1e-4
    A, B = hippo.transition("legt", N)
    c = online.project("legt", f, t, N, theta=theta)
    dc = (online.project("legt", f, t + eps, N, theta=theta)
          - online.project("legt", f, t - eps, N, theta=theta)) / (2 * eps)
    r = np.sqrt(2 * np.arange(N) + 1)
    sign = (-1.0) ** np.arange(N)
    corrected = (A @ c + B * f(t) + r * sign * ((r * sign) @ c - f(t - theta))) / theta
    np.testing.assert_allclose(corrected, dc, atol=1e-6)


def test_lagt_plus_half_identity_projects_onto_laguerre_functions():
    # The S4 code's lagt, A + I/2, keeps c_n(t) = int_0^t f(s) L_n(t - s) exp(-(t - s)/2) ds.
    from s4_minimal.legendre import gauss_legendre, laguerre_float64

    def coeffs(t, N):
        s, w = gauss_legendre(200, 0.0, t)
        return (w * f(s) * np.exp(-(t - s) / 2)) @ laguerre_float64(N, t - s)

    N, t, eps = 8, 2.0, 1e-4
    A, B = hippo.transition("lagt", N)
    dc = (coeffs(t + eps, N) - coeffs(t - eps, N)) / (2 * eps)
    np.testing.assert_allclose((A + np.eye(N) / 2) @ coeffs(t, N) + B * f(t), dc, atol=1e-6)


def test_the_listed_core_is_what_transition_runs():
    """Chapter 3 shows hippo._transition; transition adds only argument checks."""
    for measure in hippo.MEASURES:
        A, B = hippo.transition(measure, 9)
        A_core, B_core = hippo._transition(measure, 9)
        assert np.array_equal(A, A_core) and np.array_equal(B, B_core)
