"""Tests of s4_minimal.online: measures, bases and the direct projection of a history.

These functions are float64 NumPy code: no x64 switch is needed, except where
a test compares with s4_minimal.legendre (JAX), which gets the ``x64`` fixture.
"""

import numpy as np
import pytest
import scipy.integrate

from s4_minimal import legendre as L
from s4_minimal import online



def f(s):
    """A smooth test signal on [0, ~4] (NumPy in, NumPy out)."""
    s = np.asarray(s, dtype=np.float64)
    return np.sin(2.5 * s) + 0.5 * np.cos(6 * s) * np.exp(-0.3 * s) + 0.2 * s


MEASURES = ("legs", "legt", "lagt")


def _gram(measure, N, t, theta=1.0):
    """Gram matrix of the basis under the measure's weight, on its whole support."""
    if measure == "lagt":
        # Support (-inf, t]: with u = t - s the weight is exp(-u) on [0, inf);
        # Gauss-Laguerre integrates exp(-u) p(u) exactly for deg p <= 2n - 1.
        u, q = np.polynomial.laguerre.laggauss(N + 5)
        s = t - u
        q = q * np.exp(u)  # basis() multiplies the weight back in
    else:
        lo = t - theta if measure == "legt" else 0.0
        s, q = L.gauss_legendre(N + 5, lo, t)
    g, w = online.basis(measure, N, s, t, theta)
    return (g * (q * w)[:, None]).T @ g


@pytest.mark.parametrize("measure", MEASURES)
@pytest.mark.parametrize("t", [0.5, 3.0])
def test_basis_is_orthonormal_under_each_measure(measure, t):
    N = 30
    gram = _gram(measure, N, t, theta=0.8)
    # Exact quadrature; rounding of sums of ~35 terms of size <= 2N+1 = 61: 1e-12.
    np.testing.assert_allclose(gram, np.eye(N), rtol=0, atol=1e-12)


def test_project_legt_equals_legendre_projection_on_the_window(x64):
    N, t, theta = 20, 3.3, 1.0
    c = online.project("legt", f, t, N, theta)
    # online's basis is g_n = sqrt(2n+1) P_n under weight 1/theta; legendre's is
    # phi_n = sqrt((2n+1)/theta) P_n under weight 1, so c_online = c_legendre / sqrt(theta).
    c_leg = np.asarray(L.project(f, N, t - theta, t, n_quad=400)) / np.sqrt(theta)
    np.testing.assert_allclose(c, c_leg, rtol=0, atol=1e-13)  # same integrals, rounding


def test_project_legs_equals_legendre_projection_on_all_of_the_past(x64):
    N, t = 20, 3.3
    c = online.project("legs", f, t, N)
    c_leg = np.asarray(L.project(f, N, 0.0, t, n_quad=400)) / np.sqrt(t)
    np.testing.assert_allclose(c, c_leg, rtol=0, atol=1e-13)


@pytest.mark.parametrize("measure", MEASURES)
def test_project_matches_adaptive_quadrature_coefficient_by_coefficient(measure):
    N, t, theta = 6, 2.7, 1.0
    c = online.project(measure, f, t, N, theta)
    a, b = online.history_interval(measure, t, theta)
    ref = []
    for n in range(N):
        def integrand(s, n=n):
            g, w = online.basis(measure, N, np.array([s]), t, theta)
            return f(s) * g[0, n] * w[0]
        ref.append(scipy.integrate.quad(integrand, a, b, epsabs=1e-13, epsrel=1e-13)[0])
    # QUADPACK to 1e-13 against Gauss-Legendre with 400 nodes (exact to rounding).
    np.testing.assert_allclose(c, ref, rtol=0, atol=1e-11)


@pytest.mark.parametrize("measure", ["legs", "legt"])
def test_polynomial_history_is_reconstructed_exactly(measure):
    # Not LagT: its weight reaches s < 0, where the signal is zero, so the
    # history it sees is a polynomial with a jump at 0, not a polynomial.
    N, t = 8, 2.5
    p = lambda s: 1 - 2 * s + 0.5 * s**3 - 0.1 * s**7  # noqa: E731  degree 7 < N
    c = online.project(measure, p, t, N)
    a, b = online.history_interval(measure, t)
    s = np.linspace(a, b, 101)
    # The basis spans polynomials of degree < N in s: the fit is exact up to rounding
    # (|p| <= 50 on [0, 2.5], Laguerre values up to ~1e3: 1e-9 absolute).
    np.testing.assert_allclose(online.reconstruct(measure, c, s, t), p(s), rtol=0, atol=1e-9)


def test_legt_ignores_the_history_before_its_window_but_legs_does_not():
    t, theta, N = 3.0, 1.0, 10
    g = lambda s: f(s) + np.where(s < t - theta, 5.0 * np.sin(9 * s), 0.0)  # noqa: E731
    legt_f, legt_g = (online.project("legt", h, t, N, theta) for h in (f, g))
    legs_f, legs_g = (online.project("legs", h, t, N) for h in (f, g))
    np.testing.assert_allclose(legt_f, legt_g, rtol=0, atol=1e-14)  # never sampled there
    assert np.max(np.abs(legs_f - legs_g)) > 0.1


def test_lagt_weights_the_recent_past_more_than_the_far_past():
    # A bump far in the past changes LagT's coefficients far less than the same bump recently.
    t, N = 4.0, 8
    def bump(center):
        return lambda s: np.exp(-((np.asarray(s) - center) / 0.1) ** 2)
    far = np.linalg.norm(online.project("lagt", bump(0.5), t, N))
    near = np.linalg.norm(online.project("lagt", bump(3.5), t, N))
    assert near > 5 * far  # exp(-(t - s)) alone gives a factor exp(3) ~ 20


def test_trajectory_rows_equal_project_at_each_time():
    ts = np.array([0.3, 1.0, 2.2])
    traj = online.trajectory("legs", f, ts, 5)
    assert traj.shape == (3, 5)
    for row, t in zip(traj, ts):
        np.testing.assert_array_equal(row, online.project("legs", f, t, 5))


@pytest.mark.parametrize("measure", ["legs", "legt"])
def test_history_error_equals_parseval_residual(measure):
    # For an orthonormal projection, ||f - f_hat||^2 = ||f||^2 - sum c_n^2
    # (the weight has total mass 1 on [a, t] here, t >= theta).
    N, t = 6, 3.0
    err = online.history_error(measure, f, t, N)
    a, b = online.history_interval(measure, t)
    s, q = L.gauss_legendre(400, a, b)
    norm2 = np.sum(q * f(s) ** 2) / (b - a)
    c = online.project(measure, f, t, N)
    # err^2 ~ 1e-2, the two sides each accurate to ~1e-15 relative: 1e-12 absolute.
    assert abs(err**2 - (norm2 - np.sum(c**2))) < 1e-12


def test_history_error_lagt_matches_dense_grid_integration():
    N, t = 6, 3.0
    err = online.history_error("lagt", f, t, N)
    s = np.linspace(0.0, t, 200001)
    c = online.project("lagt", f, t, N)
    w = np.exp(-(t - s))
    r2 = (f(s) - online.reconstruct("lagt", c, s, t)) ** 2 * w
    ref = np.sqrt(scipy.integrate.simpson(r2, x=s) / scipy.integrate.simpson(w, x=s))
    assert abs(err - ref) < 1e-9 * max(1.0, ref)  # Simpson with h = 1.5e-5: O(h^4)


@pytest.mark.parametrize("measure", MEASURES)
def test_history_error_does_not_grow_with_N(measure):
    errs = [online.history_error(measure, f, 3.0, N) for N in (2, 4, 8, 16)]
    if measure == "lagt":
        # LagT's norm lives on (-inf, t], the error is measured on [0, t]: only a trend.
        assert errs[-1] < errs[0]
    else:
        # Nested orthogonal projections: the error is non-increasing in N (up to rounding).
        assert all(e2 <= e1 + 1e-14 for e1, e2 in zip(errs, errs[1:]))


# ---------------------------------------------------------------- bad input

def test_unknown_measure_is_refused_naming_measure():
    for call in (lambda: online.project("fourier", f, 1.0, 4),
                 lambda: online.basis("LEGX", 4, [0.5], 1.0),
                 lambda: online.history_error("nope", f, 1.0, 4),
                 lambda: online.trajectory("nope", f, [1.0], 4)):
        with pytest.raises(ValueError, match="'measure'"):
            call()


@pytest.mark.parametrize("measure", MEASURES)
def test_N_below_one_is_refused_naming_N(measure):
    with pytest.raises(ValueError, match="'N'"):
        online.project(measure, f, 1.0, 0)
    with pytest.raises(ValueError, match="'N'"):
        online.history_error(measure, f, 1.0, 0)


def test_non_positive_time_and_window_are_refused_by_name():
    with pytest.raises(ValueError, match="'t'"):
        online.project("legs", f, 0.0, 4)
    with pytest.raises(ValueError, match="'theta'"):
        online.project("legt", f, 1.0, 4, theta=-1.0)
    with pytest.raises(ValueError, match="'ts'"):
        online.trajectory("legs", f, [1.0, -2.0], 4)


def test_non_finite_samples_are_refused_naming_f():
    with pytest.raises(ValueError, match="'f'"):
        online.project("legs", lambda s: np.where(s > 1, np.nan, s), 2.0, 4)
    with pytest.raises(TypeError, match="'f'"):
        online.history_error("legs", [1.0, 2.0], 2.0, 4)


def test_bad_coefficients_and_times_are_refused_by_name():
    with pytest.raises(ValueError, match="'c'"):
        online.reconstruct("legs", [1.0, np.nan], [0.5], 1.0)
    with pytest.raises(TypeError, match="'c'"):
        online.reconstruct("legs", ["a", "b"], [0.5], 1.0)
    with pytest.raises(ValueError, match="'s'"):
        online.reconstruct("legs", [1.0, 2.0], [0.5, np.inf], 1.0)


def test_example_signal_is_the_stated_formula():
    s = np.array([0.0, 0.8, 2.5])
    expected = (np.sin(2 * np.pi * 0.35 * s) + 0.9 * np.exp(-(((s - 0.8) / 0.18) ** 2))
                + 0.3 * np.sin(2 * np.pi * 1.1 * s))
    np.testing.assert_array_equal(online.example_signal(s), expected)
    assert online.example_signal(s).dtype == np.float64


def test_the_listed_cores_are_what_the_public_functions_run():
    """Chapter 2 shows _basis, _support, _project and _reconstruct; the wrappers add only checks."""
    f = online.example_signal
    s = np.linspace(0.0, 2.5, 17)
    for measure in ("legs", "legt", "lagt"):
        g, w = online.basis(measure, 6, s, 2.5)
        g_core, w_core = online._basis(measure, 6, s, 2.5, 1.0)
        assert np.array_equal(g, g_core) and np.array_equal(w, w_core)
        assert online.history_interval(measure, 2.5) == online._support(measure, 2.5, 1.0)
        c = online.project(measure, f, 2.5, 6, n_quad=80)
        assert np.array_equal(c, online._project(measure, f, 2.5, 6, 1.0, 80))
        assert np.array_equal(online.reconstruct(measure, c, s, 2.5),
                              online._reconstruct(measure, c, s, 2.5, 1.0))
