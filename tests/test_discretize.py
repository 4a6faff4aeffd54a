"""Tests of s4_minimal.discretize against independent references.

References: SciPy's continuous-to-discrete conversion (scipy.signal.cont2discrete),
SciPy's matrix exponential, and exact solutions of x' = A x. Comparisons run in
float64 (the ``x64`` fixture), so tolerances are a few hundred ulps.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg
import scipy.signal

from s4_minimal import discretize as D
from s4_minimal import hippo



SCIPY_NAME = {"euler": "euler", "backward_euler": "backward_diff", "bilinear": "bilinear", "zoh": "zoh"}


@pytest.mark.parametrize("method", D.METHODS)
@pytest.mark.parametrize("measure", hippo.MEASURES)
@pytest.mark.parametrize("dt", [1e-3, 0.1])
def test_discretize_equals_scipy_cont2discrete(x64, method, measure, dt):
    A, B = hippo.transition(measure, 8)
    Ab, Bb = D.discretize(A, B, dt, method)
    ad, bd, *_ = scipy.signal.cont2discrete((A, B[:, None], np.eye(8), np.zeros((8, 1))), dt,
                                            method=SCIPY_NAME[method])
    # Two float64 solves / expm of matrices with norm <= ~50 * dt: 1e-12 is ~100 ulps.
    np.testing.assert_allclose(np.asarray(Ab), ad, rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(np.asarray(Bb), bd[:, 0], rtol=1e-11, atol=1e-12)


def test_zoh_equals_matrix_exponential_formula(x64):
    A, B = hippo.transition("legs", 6)
    dt = 0.3
    Ab, Bb = D.discretize(A, B, dt, "zoh")
    E = scipy.linalg.expm(dt * A)
    np.testing.assert_allclose(np.asarray(Ab), E, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(np.asarray(Bb), np.linalg.solve(A, (E - np.eye(6)) @ B), rtol=1e-10, atol=1e-12)


def test_zoh_handles_singular_A(x64):
    # A = 0: x' = B u gives Ab = I, Bb = dt B exactly (A^-1 does not exist).
    Ab, Bb = D.discretize(np.zeros((3, 3)), np.ones(3), 0.25, "zoh")
    np.testing.assert_allclose(np.asarray(Ab), np.eye(3), atol=1e-15)
    np.testing.assert_allclose(np.asarray(Bb), 0.25 * np.ones(3), atol=1e-15)


@pytest.mark.parametrize("method", ["euler", "backward_euler", "bilinear"])
def test_gbt_with_alpha_0_1_half_is_euler_backward_bilinear(x64, method):
    A, B = hippo.transition("legt", 5)
    a1, b1 = D.discretize(A, B, 0.05, method)
    a2, b2 = D.gbt(A, B, 0.05, D.ALPHA[method])
    np.testing.assert_allclose(np.asarray(a1), np.asarray(a2), atol=1e-15)
    np.testing.assert_allclose(np.asarray(b1), np.asarray(b2), atol=1e-15)


@pytest.mark.parametrize("method,order", [("euler", 1), ("backward_euler", 1), ("bilinear", 2)])
def test_free_response_error_has_the_method_order(x64, method, order):
    # x' = A x, x(0) = B: exact x(T) = expm(T A) B. Halving dt divides the error by 2^order.
    A, B = hippo.transition("legt", 4)
    T = 1.0
    exact = scipy.linalg.expm(T * A) @ B
    errors = []
    for steps in (400, 800):
        Ab, _ = D.discretize(A, B, T / steps, method)
        errors.append(np.linalg.norm(np.linalg.matrix_power(np.asarray(Ab), steps) @ B - exact))
    observed = np.log2(errors[0] / errors[1])
    assert abs(observed - order) < 0.1, observed  # asymptotic regime: within 0.1 of the order


def test_zoh_free_response_is_exact(x64):
    A, B = hippo.transition("legt", 4)
    Ab, _ = D.discretize(A, B, 0.1, "zoh")
    exact = scipy.linalg.expm(1.0 * A) @ B
    np.testing.assert_allclose(np.linalg.matrix_power(np.asarray(Ab), 10) @ B, exact, atol=1e-11)


@pytest.mark.parametrize("dt", [1e-2, 1.0, 100.0])
@pytest.mark.parametrize("method", ["backward_euler", "bilinear", "zoh"])
def test_stable_methods_keep_eigenvalues_inside_unit_circle(x64, method, dt):
    A, B = hippo.transition("legs", 16)
    Ab, _ = D.discretize(A, B, dt, method)
    assert np.max(np.abs(np.linalg.eigvals(np.asarray(Ab)))) < 1.0


def test_forward_euler_is_unstable_for_large_steps(x64):
    # Eigenvalues 1 - dt (n + 1) leave the unit circle once dt (n + 1) > 2.
    A, B = hippo.transition("legs", 16)
    Ab, _ = D.discretize(A, B, 0.2, "euler")
    np.testing.assert_allclose(np.max(np.abs(np.linalg.eigvals(np.asarray(Ab)))), 16 * 0.2 - 1, rtol=1e-10)


def test_discretize_keeps_float32_by_default_and_float64_with_x64():
    A, B = hippo.transition("legs", 4)
    Ab, Bb = D.discretize(jnp.asarray(A, jnp.float32), jnp.asarray(B, jnp.float32), 0.1)
    assert Ab.dtype == jnp.float32 and Bb.dtype == jnp.float32
    with jax.enable_x64(True):
        Ab, Bb = D.discretize(A, B, 0.1)
        assert Ab.dtype == jnp.float64 and Bb.dtype == jnp.float64


def test_discretize_is_jittable_and_differentiable_in_dt(x64):
    A, B = hippo.transition("legs", 4)
    f = jax.jit(lambda dt: D.discretize(A, B, dt, "zoh")[1].sum())
    grad = jax.grad(f)(0.1)
    fd = (f(0.1 + 1e-6) - f(0.1 - 1e-6)) / 2e-6
    np.testing.assert_allclose(grad, fd, rtol=1e-6)  # central difference error ~1e-10


def test_rejects_unknown_method():
    with pytest.raises(ValueError, match="method"):
        D.discretize(np.eye(2), np.ones(2), 0.1, "rk4")


@pytest.mark.parametrize("dt", [0.0, -0.1, float("nan"), float("inf")])
def test_rejects_non_positive_or_non_finite_dt(dt):
    with pytest.raises(ValueError, match="'dt'"):
        D.discretize(np.eye(2), np.ones(2), dt)


def test_rejects_non_square_A():
    with pytest.raises(ValueError, match="'A'"):
        D.discretize(np.ones((2, 3)), np.ones(2), 0.1)


def test_rejects_A_of_wrong_rank():
    with pytest.raises(ValueError, match="'A'"):
        D.discretize(np.ones(3), np.ones(3), 0.1)


def test_rejects_B_of_wrong_length():
    with pytest.raises(ValueError, match="'B'"):
        D.discretize(np.eye(3), np.ones(2), 0.1)


def test_gbt_rejects_alpha_outside_unit_interval():
    with pytest.raises(ValueError, match="alpha"):
        D.gbt(np.eye(2), np.ones(2), 0.1, 1.5)
