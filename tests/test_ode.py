"""Tests of s4_minimal.ode: the reference RK4 solver of the HiPPO ODEs.

References: the direct projection of s4_minimal.online (quadrature, float64),
SciPy's adaptive DOP853 integrator at tight tolerance, and the h^4 law of RK4.
"""

import numpy as np
import pytest
import scipy.integrate

from s4_minimal import hippo, online
from s4_minimal.ode import hippo_ode, rk4


def f(s):
    s = np.asarray(s, dtype=np.float64)
    return np.sin(2.5 * s) + 0.5 * np.cos(6 * s) * np.exp(-0.3 * s) + 0.2 * s


TIMES = np.array([0.5, 1.5, 3.0])


@pytest.mark.parametrize("measure", ["legs", "lagt"])
def test_ode_solution_equals_direct_projection(measure):
    # LegS and LagT are exact: the ODE reproduces the projection up to the RK4
    # error, measured 2e-8 (LegS, h = 0.0025 in log time) and 1e-9 (LagT, h = 0.005),
    # falling as h^4; the tolerance leaves a factor 5.
    N = 12
    h = 0.0025 if measure == "legs" else 0.005
    c = hippo_ode(measure, f, TIMES, N, h=h)
    ref = np.array([online.project(measure, f, t, N) for t in TIMES])
    np.testing.assert_allclose(c, ref, rtol=0, atol=1e-7)


def test_legt_ode_matches_projection_up_to_truncation_that_shrinks_with_N():
    # LegT replaces f(t - 1) by its reconstruction: the gap is the truncation error,
    # which falls as N grows; it is not an RK4 error (halving h changes nothing).
    # Times >= 1 only: before t = 1 the window holds the jump of f at s = 0 and the
    # gap falls only like 1/N (chapter 3 shows it).
    times = TIMES[1:]
    gaps = []
    for N in (4, 8, 16):
        c = hippo_ode("legt", f, times, N, h=0.002)
        c_half = hippo_ode("legt", f, times, N, h=0.001)
        ref = np.array([online.project("legt", f, t, N) for t in times])
        gaps.append(np.max(np.abs(c - ref)))
        assert np.max(np.abs(c - c_half)) < 1e-3 * gaps[-1]
    assert gaps[0] > 10 * gaps[1] > 10 * gaps[2]


def test_legs_ode_starts_near_zero_without_losing_accuracy():
    # Starting at t0 = 1e-3 * t instead of 1e-8 * t changes the result by O(t0^2),
    # as the start-up analysis in the module docstring says.
    N = 8
    a = hippo_ode("legs", f, [2.0], N, h=0.005, t0=2e-3)
    b = hippo_ode("legs", f, [2.0], N, h=0.005, t0=2e-8)
    assert np.max(np.abs(a - b)) < 1e-5


@pytest.mark.parametrize("measure", hippo.MEASURES)
def test_rk4_error_is_fourth_order(measure):
    # Compare with a much finer run; halving h divides the error by 16.
    N = 6
    fine = hippo_ode(measure, f, [2.0], N, h=0.0025)
    errors = [np.max(np.abs(hippo_ode(measure, f, [2.0], N, h=h) - fine)) for h in (0.04, 0.02)]
    assert 3.5 < np.log2(errors[0] / errors[1]) < 4.5  # pre-asymptotic spread of +-0.5


def test_rk4_equals_scipy_dop853():
    A, B = hippo.transition("legt", 6)
    grid = np.linspace(0.0, 2.0, 801)
    x = rk4(A, B, f, grid)(np.zeros(6))
    sol = scipy.integrate.solve_ivp(lambda t, y: A @ y + B * f(t), (0.0, 2.0), np.zeros(6),
                                    method="DOP853", rtol=1e-12, atol=1e-12)
    # RK4 error with h = 2.5e-3: ~ h^4 * 1e4 ~ 4e-7 at most; measured far smaller.
    np.testing.assert_allclose(x, sol.y[:, -1], atol=1e-7)


def test_rejects_unknown_measure():
    with pytest.raises(ValueError, match="measure"):
        hippo_ode("fourier-x", f, [1.0], 4, 0.01)


def test_rejects_N_below_one():
    with pytest.raises(ValueError, match="'N'"):
        hippo_ode("legs", f, [1.0], 0, 0.01)


@pytest.mark.parametrize("h", [0.0, -1.0, float("nan")])
def test_rejects_bad_step(h):
    with pytest.raises(ValueError, match="'h'"):
        hippo_ode("legs", f, [1.0], 4, h)


@pytest.mark.parametrize("times", [[0.0, 1.0], [2.0, 1.0], []])
def test_rejects_times_not_increasing_positive(times):
    with pytest.raises(ValueError, match="'times'"):
        hippo_ode("lagt", f, times, 4, 0.01)


def test_rejects_non_callable_f():
    with pytest.raises(TypeError, match="'f'"):
        hippo_ode("lagt", np.ones(3), [1.0], 4, 0.01)


def test_rejects_t0_after_first_time():
    with pytest.raises(ValueError, match="'t0'"):
        hippo_ode("legs", f, [1.0], 4, 0.01, t0=2.0)


def test_times_keep_float64_precision_without_x64():
    # t = 0.1 is not a float32 number; the solver must land on 0.1 itself.
    c = hippo_ode("lagt", f, [0.1], 4, h=0.001)
    np.testing.assert_allclose(c[0], online.project("lagt", f, 0.1, 4), atol=1e-12)


def test_the_listed_core_is_what_hippo_ode_runs():
    """Chapter 3 shows ode._hippo_ode; hippo_ode adds the argument checks and LegS's default t0."""
    from s4_minimal.ode import _hippo_ode

    f = np.cos
    times = np.array([0.5, 1.0])
    for measure in hippo.MEASURES:
        t0 = 1e-8 * 0.5 if measure == "legs" else None
        assert np.array_equal(hippo_ode(measure, f, times, 5, 0.05),
                              _hippo_ode(measure, f, times, 5, 0.05, t0))
