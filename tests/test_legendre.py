"""Tests of s4_minimal.legendre: the polynomials, quadrature, projection and reconstruction.

Each test names the claim it checks. Float64 tests switch x64 on through the
``x64`` fixture, which restores the previous setting afterwards.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.special

from s4_minimal import legendre as L



def smooth(x):
    """A smooth, non-polynomial test function (works on NumPy and JAX arrays)."""
    return jnp.exp(jnp.sin(3 * x)) + 0.3 * jnp.cos(7 * x)


# ---------------------------------------------------------------- polynomials

@pytest.mark.parametrize("N", [1, 2, 7, 100, 500])
def test_legendre_matches_numpy_legvander(x64, N):
    x = np.linspace(-1, 1, 301)
    ours = np.asarray(L.legendre(N, x))
    ref = np.polynomial.legendre.legvander(x, N - 1)
    assert ours.shape == (301, N)
    assert ours.dtype == np.float64
    # |P_n| <= 1 on [-1, 1] and each recurrence step adds O(eps): rounding grows
    # at most like n * eps ~ 1e-13 at n = 500; 1e-12 leaves a safety factor of 10.
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-12)


def test_legendre_matches_scipy_eval_legendre_at_n_500(x64):
    # An independent implementation (SciPy's), at random points, degree up to 499.
    x = np.random.default_rng(0).uniform(-1, 1, 200)
    ours = np.asarray(L.legendre(500, x))
    n = np.arange(500)
    ref = scipy.special.eval_legendre(n[None, :], x[:, None])
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-12)  # same budget as above


def test_legendre_float32_without_x64_within_float32_tolerance():
    if jax.config.jax_enable_x64:
        pytest.skip("runs only with the default float32 setting")
    x = np.linspace(-1, 1, 101)
    ours = L.legendre(200, x)
    assert ours.dtype == jnp.float32
    # float32 eps ~ 1.2e-7; error grows ~ n * eps -> 2.4e-5 at n = 200; allow 1e-4.
    np.testing.assert_allclose(np.asarray(ours), np.polynomial.legendre.legvander(x, 199),
                               rtol=0, atol=1e-4)


def test_legendre_shape_is_x_shape_plus_N_and_values_at_one_are_one(x64):
    x = np.array([[1.0, -1.0], [0.5, 0.0]])
    P = np.asarray(L.legendre(6, x))
    assert P.shape == (2, 2, 6)
    np.testing.assert_allclose(P[0, 0], 1.0, atol=1e-15)  # P_n(1) = 1
    np.testing.assert_allclose(P[0, 1], (-1.0) ** np.arange(6), atol=1e-15)  # P_n(-1) = (-1)^n


@pytest.mark.parametrize("N", [1, 5, 200])
def test_laguerre_matches_numpy_lagvander(x64, N):
    x = np.linspace(0, 20, 201)
    ref = np.polynomial.laguerre.lagvander(x, N - 1)
    # L_n(x) grows like exp(x/2) for large x: compare relative to the row scale.
    scale = np.maximum(1.0, np.abs(ref).max(axis=1, keepdims=True))
    np.testing.assert_allclose(np.asarray(L.laguerre(N, x)) / scale, ref / scale,
                               rtol=0, atol=1e-11)


# ---------------------------------------------------------------- quadrature

@pytest.mark.parametrize("n", [1, 3, 10])
def test_gauss_legendre_integrates_degree_2n_minus_1_exactly(n):
    a, b = -0.5, 2.0
    x, w = L.gauss_legendre(n, a, b)
    for k in range(2 * n):
        exact = (b ** (k + 1) - a ** (k + 1)) / (k + 1)
        # Exact in exact arithmetic; float64 sums of n terms of size <= 2^k.
        assert abs(np.sum(w * x**k) - exact) <= 1e-13 * max(1.0, abs(exact)) * 2**k


def test_gram_matrix_of_legendre_is_diag_2_over_2n_plus_1_at_N_500(x64):
    N = 500
    x, w = L.gauss_legendre(N)  # exact for P_m P_n, degree <= 998 = 2N - 2
    P = np.asarray(L.legendre(N, x))
    gram = (P * w[:, None]).T @ P
    expected = np.diag(2.0 / (2 * np.arange(N) + 1))
    # Entries are sums of N products of size <= 1 times weights summing to 2:
    # rounding ~ N * eps ~ 1e-13.
    np.testing.assert_allclose(gram, expected, rtol=0, atol=1e-12)


def test_orthonormal_basis_gram_is_identity_on_interval(x64):
    N, a, b = 300, 2.0, 5.0
    x, w = L.gauss_legendre(N, a, b)
    phi = np.asarray(L.orthonormal_basis(N, x, a, b))
    # phi_n is sqrt((2n+1)/(b-a)) ~ 14 times P_n: rounding of the Gram entries ~ 1e-12.
    np.testing.assert_allclose((phi * w[:, None]).T @ phi, np.eye(N), rtol=0, atol=1e-11)


# ---------------------------------------------------------------- projection

def test_project_recovers_coefficients_of_a_function_in_the_span(x64):
    N, a, b = 40, -3.0, 1.0
    c_true = np.random.default_rng(0).normal(size=N) / (1 + np.arange(N))
    f = lambda x: L.reconstruct(c_true, x, a, b)  # noqa: E731
    c = np.asarray(L.project(f, N, a, b))
    np.testing.assert_allclose(c, c_true, rtol=0, atol=1e-13)  # exact up to rounding
    # With more coefficients, the extra ones are zero: projections are nested.
    c_more = np.asarray(L.project(f, N + 10, a, b))
    np.testing.assert_allclose(c_more[:N], c_true, rtol=0, atol=1e-13)
    np.testing.assert_allclose(c_more[N:], 0.0, rtol=0, atol=1e-13)


@pytest.mark.parametrize("N", [3, 50, 500])
def test_projection_equals_least_squares_fit(x64, N):
    """Coefficients by inner products = argmin of the (weighted) squared error."""
    a, b = 0.0, 4.0
    c = np.asarray(L.project(smooth, N, a, b))
    # Brute force: minimise sum_j w_j (f(x_j) - sum_n d_n P_n(u_j))^2 with numpy's
    # lstsq over an independent Gauss grid of M points, M > N so the discrete
    # inner product equals the continuous one on polynomials of degree < N.
    M = max(2 * N + 11, 300)  # > N, and enough nodes to integrate f phi_n accurately
    xj, wj = np.polynomial.legendre.leggauss(M)
    X = a + (b - a) * (xj + 1) / 2
    A = np.polynomial.legendre.legvander(xj, N - 1) * np.sqrt(wj * (b - a) / 2)[:, None]
    d, *_ = np.linalg.lstsq(A, np.sqrt(wj * (b - a) / 2) * np.asarray(smooth(X)), rcond=None)
    # Convert from the P_n basis to the orthonormal phi_n = sqrt((2n+1)/(b-a)) P_n(u).
    c_ref = d / np.sqrt((2 * np.arange(N) + 1) / (b - a))
    # Both sides are accurate quadratures of the same integrals: they agree to
    # rounding. Sums of ~1000 terms with |f| <= 3, int |phi_n| <= 2, plus lstsq's
    # QR (~N eps): observed 2.5e-12 at N = 500; 1e-11 allows a factor of 4.
    np.testing.assert_allclose(c, c_ref, rtol=0, atol=1e-11)


def test_projection_minimises_error_on_a_dense_grid_in_the_monomial_basis(x64):
    """Brute force in another basis: least squares with x^k on 20001 uniform points."""
    N, a, b = 6, -1.0, 2.0
    x = np.linspace(a, b, 20001)
    h = x[1] - x[0]
    w = np.full_like(x, 2 * h / 3)
    w[1::2] = 4 * h / 3
    w[[0, -1]] = h / 3  # composite Simpson rule, O(h^4)
    V = np.vander(x, N, increasing=True)
    coef, *_ = np.linalg.lstsq(V * np.sqrt(w)[:, None], np.sqrt(w) * np.asarray(smooth(x)),
                               rcond=None)
    ours = np.asarray(L.reconstruct(L.project(smooth, N, a, b), x, a, b))
    # Simpson is O(h^4) accurate, h = 1.5e-4: the discrete and continuous fits differ
    # by ~1e-14; the monomial lstsq (condition ~1e3) adds ~1e-12. Allow 1e-9.
    np.testing.assert_allclose(ours, V @ coef, rtol=0, atol=1e-9)


def test_reconstruct_converges_to_smooth_target(x64):
    a, b = 0.0, 4.0
    x = np.linspace(a, b, 1001)
    errs = [float(np.max(np.abs(L.reconstruct(L.project(smooth, N, a, b), x, a, b)
                                - np.asarray(smooth(x))))) for N in (10, 30, 80)]
    assert errs[0] > errs[1] > 1e6 * errs[2]
    # Analytic target: geometric convergence down to rounding (1.5e-11 measured
    # at N = 80, where |phi_n| ~ 6 times coefficient errors ~1e-13 sum up).
    assert errs[2] < 1e-10


def test_project_and_reconstruct_keep_float32_without_x64():
    if jax.config.jax_enable_x64:
        pytest.skip("runs only with the default float32 setting")
    c = L.project(smooth, 20, 0.0, 1.0)
    y = L.reconstruct(c, np.linspace(0, 1, 11), 0.0, 1.0)
    assert c.dtype == jnp.float32 and y.dtype == jnp.float32
    # float32: the fit error (~1e-9 at N = 20 on [0, 1]) is below float32 rounding, 1e-5.
    np.testing.assert_allclose(np.asarray(y), np.asarray(smooth(np.linspace(0, 1, 11))),
                               atol=1e-5)


def test_reconstruct_is_jittable_and_vmappable(x64):
    c = L.project(smooth, 12, 0.0, 1.0)
    x = np.linspace(0, 1, 9)
    eager = L.reconstruct(c, x, 0.0, 1.0)
    jitted = jax.jit(lambda c, x: L.reconstruct(c, x, 0.0, 1.0))(c, x)
    np.testing.assert_allclose(np.asarray(jitted), np.asarray(eager), rtol=0, atol=1e-14)
    batch = jax.vmap(lambda c: L.reconstruct(c, x, 0.0, 1.0))(jnp.stack([c, 2 * c]))
    np.testing.assert_allclose(np.asarray(batch[1]), 2 * np.asarray(eager), rtol=0, atol=1e-14)


def test_project_vmaps_and_differentiates_over_a_family_of_functions(x64):
    # c_1 of sin(k x) on [-1, 1] is <sin(kx), sqrt(3/2) x> = sqrt(3/2) * 2 (sin k - k cos k) / k^2.
    def c1(k):
        return L.project(lambda x: jnp.sin(k * x), 4)[1]

    def exact(k):
        return np.sqrt(1.5) * 2 * (np.sin(k) - k * np.cos(k)) / k**2

    ks = jnp.array([0.5, 1.0, 3.0])
    # Closed form vs 200-node Gauss quadrature of a smooth integrand: rounding, 1e-14.
    np.testing.assert_allclose(np.asarray(jax.vmap(c1)(ks)), exact(np.asarray(ks)), atol=1e-14)
    k, h = 1.3, 1e-5
    fd = (exact(k + h) - exact(k - h)) / (2 * h)  # central difference: error ~h^2 = 1e-10
    assert abs(float(jax.grad(c1)(k)) - fd) < 1e-8


# ---------------------------------------------------------------- bad input

@pytest.mark.parametrize("call", [
    lambda: L.legendre(0, [0.0]),
    lambda: L.laguerre(0, [0.0]),
    lambda: L.orthonormal_basis(0, [0.0]),
    lambda: L.project(np.sin, 0),
])
def test_N_below_one_is_refused_naming_N(call):
    with pytest.raises(ValueError, match="'N'"):
        call()


def test_non_integer_N_is_refused_naming_N():
    with pytest.raises(TypeError, match="'N'"):
        L.legendre(2.5, [0.0])


@pytest.mark.parametrize("call", [
    lambda: L.gauss_legendre(4, 1.0, 1.0),
    lambda: L.orthonormal_basis(3, [0.0], 1.0, -1.0),
    lambda: L.project(np.sin, 3, 2.0, 2.0),
    lambda: L.reconstruct([1.0, 2.0], [0.0], 0.0, -1.0),
])
def test_interval_with_b_not_above_a_is_refused_naming_b(call):
    with pytest.raises(ValueError, match="'b'"):
        call()


def test_infinite_interval_end_is_refused_naming_a():
    with pytest.raises(ValueError, match="'a'"):
        L.project(np.sin, 3, -np.inf, 1.0)


@pytest.mark.parametrize("call", [
    lambda: L.legendre(3, [0.0, 1.5]),
    lambda: L.laguerre(3, [-0.1]),
    lambda: L.orthonormal_basis(3, [4.5], 0.0, 4.0),
    lambda: L.reconstruct([1.0, 2.0], [-0.01], 0.0, 4.0),
])
def test_points_outside_the_domain_are_refused_naming_x(call):
    with pytest.raises(ValueError, match="'x'"):
        call()


def test_non_finite_points_are_refused_naming_x():
    with pytest.raises(ValueError, match="'x'"):
        L.reconstruct([1.0], [0.0, np.nan])


def test_non_finite_samples_are_refused_naming_f():
    with pytest.raises(ValueError, match="'f'"):
        L.project(lambda x: jnp.log(x), 4, -1.0, 1.0)  # log of negatives: NaN


def test_f_must_be_callable_and_return_the_right_shape():
    with pytest.raises(TypeError, match="'f'"):
        L.project(np.zeros(10), 4)
    with pytest.raises(ValueError, match="'f'"):
        L.project(lambda x: x[:3], 4)


def test_bad_coefficients_are_refused_naming_c():
    with pytest.raises(ValueError, match="'c'"):
        L.reconstruct(np.ones((2, 2)), [0.0])
    with pytest.raises(ValueError, match="'c'"):
        L.reconstruct([1.0, np.inf], [0.0])
    with pytest.raises(ValueError, match="'c'"):
        L.reconstruct([], [0.0])


def test_float64_numpy_recurrences_equal_the_jax_ones_and_numpy_references():
    # Same recurrence, NumPy loop in float64 whatever the x64 setting; references are
    # NumPy's legvander and SciPy's eval_laguerre (agreement to rounding, 1e-12).
    x = np.linspace(-1, 1, 33)
    P = L.legendre_float64(40, x)
    assert P.dtype == np.float64 and P.shape == (33, 40)
    np.testing.assert_allclose(P, np.polynomial.legendre.legvander(x, 39), atol=1e-12)
    u = np.linspace(0, 5, 21)
    G = L.laguerre_float64(12, u)
    ref = np.stack([scipy.special.eval_laguerre(n, u) for n in range(12)], axis=-1)
    np.testing.assert_allclose(G, ref, atol=1e-12)
    with pytest.raises(ValueError, match="'N' expected an integer >= 1"):
        L.legendre_float64(0, x)


# ------------------------------------------------- the cores chapter 1 shows

def test_the_listed_cores_are_what_the_public_functions_run(x64):
    """Chapter 1 shows _gauss_legendre, _project, _reconstruct; the wrappers add only checks."""
    nodes, weights = L.gauss_legendre(7, 0.5, 2.0)
    core_nodes, core_weights = L._gauss_legendre(7, 0.5, 2.0)
    assert np.array_equal(nodes, core_nodes) and np.array_equal(weights, core_weights)
    c = np.asarray(L.project(smooth, 9, -1.0, 2.0, n_quad=50))
    assert np.array_equal(c, np.asarray(L._project(smooth, 9, -1.0, 2.0, 50)))
    x = np.linspace(-1.0, 2.0, 11)
    assert np.array_equal(np.asarray(L.reconstruct(c, x, -1.0, 2.0)),
                          np.asarray(L._reconstruct(jnp.asarray(c), jnp.asarray(x), -1.0, 2.0)))
