"""Tests of s4_minimal.memory: the time-varying LegS recurrence and the memory experiment.

References: dense NumPy float64 linear algebra in plain loops, Gauss-Legendre
quadrature piece by piece, and s4_minimal.legendre.
"""

import json

import jax.numpy as jnp
import numpy as np
import pytest

from s4_minimal import hippo
from s4_minimal import memory as M
from s4_minimal.bench import relative_error
from s4_minimal.legendre import gauss_legendre, legendre



def test_legs_matvec_equals_dense_product(x64):
    A, _ = hippo.transition("legs", 40)
    c = np.random.default_rng(0).standard_normal(40)
    np.testing.assert_allclose(np.asarray(M.legs_matvec(jnp.asarray(c))), A @ c, rtol=1e-12, atol=1e-11)


@pytest.mark.parametrize("a", [1e-3, 0.5, 7.0])
def test_legs_solve_equals_dense_solve(x64, a):
    # The scalar recurrence for S has factors (1 - a n) / d_n of modulus < 1: stable.
    A, _ = hippo.transition("legs", 40)
    y = np.random.default_rng(1).standard_normal(40)
    x = np.asarray(M.legs_solve(a, jnp.asarray(y)))
    np.testing.assert_allclose(x, np.linalg.solve(np.eye(40) - a * A, y), rtol=1e-10, atol=1e-11)


def _dense_loop(u, N, alpha):
    """The recurrence written the slow, obvious way: a dense solve per step."""
    A, B = hippo.transition("legs", N)
    c = np.zeros(N)
    c[0] = u[0]
    for k in range(2, len(u) + 1):
        dt = np.log(k / (k - 1))
        rhs = (np.eye(N) + (1 - alpha) * dt * A) @ c + dt * B * u[k - 1]
        c = np.linalg.solve(np.eye(N) - alpha * dt * A, rhs)
    return c


@pytest.mark.parametrize("method", ["euler", "backward_euler", "bilinear"])
def test_structured_recurrence_equals_dense_loop(x64, method):
    u = np.random.default_rng(2).standard_normal(300)
    N = 8 if method == "euler" else 24  # forward Euler blows up early for large N
    c = np.asarray(M.legs_recurrence(jnp.asarray(u), N, method))
    ref = _dense_loop(u, N, M.ALPHA[method])
    np.testing.assert_allclose(c, ref, rtol=1e-9, atol=1e-11)  # 300 steps of ~1e-14 rounding


def test_states_end_with_the_final_state(x64):
    u = M.signal("smooth", 100)
    cs = M.legs_recurrence(u, 6, states=True)
    assert cs.shape == (100, 6)
    np.testing.assert_allclose(np.asarray(cs[-1]), np.asarray(M.legs_recurrence(u, 6)), atol=1e-14)
    np.testing.assert_allclose(np.asarray(cs[0]), [u[0], 0, 0, 0, 0, 0], atol=1e-15)


@pytest.mark.parametrize("method", ["backward_euler", "bilinear"])
def test_constant_signal_keeps_exact_state(x64, method):
    # The LegS coefficients of a constant are (const, 0, ...) at every t; since
    # A e_0 = -B, every GBT step keeps that state exactly.
    c = np.asarray(M.legs_recurrence(jnp.full(500, 2.5), 16, method))
    np.testing.assert_allclose(c, 2.5 * np.eye(16)[0], atol=1e-12)


def test_project_samples_equals_piecewise_quadrature():
    L, N = 37, 9
    u = np.random.default_rng(3).standard_normal(L)
    ref = np.zeros(N)
    r = np.sqrt(2 * np.arange(N) + 1)
    for j in range(L):  # exact for the degree N-1 integrand with N nodes per piece
        s, w = gauss_legendre(N, j, j + 1)
        P = np.polynomial.legendre.legvander(2 * s / L - 1, N - 1)
        ref += (w * u[j] / L) @ (P * r)
    np.testing.assert_allclose(M.project_samples(u, N), ref, rtol=1e-12, atol=1e-14)


def test_bilinear_recurrence_approaches_exact_projection(x64):
    # Measured: coefficient error 2e-7 relative for the smooth signal, L = 16,000,
    # N = 64 (float64). The error is the bilinear step's, O(dtau^2) per step.
    u = M.signal("smooth", 16000)
    c = np.asarray(M.legs_recurrence(u, 64))
    p = M.project_samples(u, 64)
    assert np.linalg.norm(c - p) / np.linalg.norm(p) < 1e-6


def test_history_basis_equals_legendre_sum(x64):
    c = np.random.default_rng(4).standard_normal(7)
    L = 50
    s = (np.arange(L) + 0.5) / L
    ref = np.asarray(legendre(7, jnp.asarray(2 * s - 1))) @ (np.sqrt(2 * np.arange(7) + 1) * c)
    np.testing.assert_allclose(M.history_basis(7, L) @ c, ref, atol=1e-12)


def test_state_of_N_numbers_cannot_hold_N_plus_1_samples(x64):
    # The map from L = N + 1 samples to the final state is linear with N outputs:
    # it has a non-zero null space. A signal in it leaves the state at zero,
    # so it and the zero signal cannot be told apart from the state.
    N = 10
    L = N + 1
    cols = np.stack([np.asarray(M.legs_recurrence(e, N)) for e in np.eye(L)], axis=1)
    assert np.linalg.matrix_rank(cols) == N
    null = np.linalg.svd(cols)[2][-1]
    assert np.linalg.norm(null) == pytest.approx(1.0)
    assert np.max(np.abs(np.asarray(M.legs_recurrence(null, N)))) < 1e-12


def test_white_noise_error_is_sqrt_one_minus_N_over_L():
    # Projecting L i.i.d. samples onto N orthonormal directions keeps N/L of the
    # energy on average: relative error ~ sqrt(1 - N/L). Spread ~ sqrt(2/L) ~ 0.03.
    L, N = 2000, 400
    u = M.signal("noise", L, seed=5)
    err = relative_error(u, M.history_basis(N, L) @ M.project_samples(u, N))
    assert err == pytest.approx(np.sqrt(1 - N / L), abs=0.03)


def test_memory_table_shapes_and_easy_cases():
    t = M.memory_table(Ns=(8, 32), L=400, bandwidths=(2,))
    assert t["rows"] == ["smooth", "bandlimited 2 cycles", "smooth+noise", "noise"]
    rec, proj = np.array(t["recurrence"]), np.array(t["projection"])
    assert rec.shape == proj.shape == (4, 2)
    assert rec[0, 1] < 1e-3 and rec[3, 1] > 0.9  # smooth is kept, noise is not
    # Where truncation dominates (error > 1e-2) the recurrence is as good as the
    # exact projection, to 1 percent.
    big = proj > 1e-2
    np.testing.assert_allclose(rec[big], proj[big], rtol=1e-2)


@pytest.mark.parametrize("signal_kind", M.SIGNALS)
def test_signals_have_unit_rms(signal_kind):
    u = M.signal(signal_kind, 1000, bandwidth=20, seed=1)
    assert np.sqrt(np.mean(u ** 2)) == pytest.approx(1.0, rel=1e-12)


def test_recurrence_rejects_unknown_method():
    with pytest.raises(ValueError, match="method"):
        M.legs_recurrence(np.ones(5), 4, "zoh")


def test_recurrence_rejects_N_below_one():
    with pytest.raises(ValueError, match="'N'"):
        M.legs_recurrence(np.ones(5), 0)


def test_recurrence_rejects_u_of_wrong_rank():
    with pytest.raises(ValueError, match="'u'"):
        M.legs_recurrence(np.ones((5, 2)), 4)


def test_recurrence_rejects_non_finite_u():
    with pytest.raises(ValueError, match="'u'"):
        M.legs_recurrence(np.array([1.0, np.nan]), 4)


def test_signal_rejects_unknown_kind():
    with pytest.raises(ValueError, match="kind"):
        M.signal("chirp", 100)


def test_project_samples_rejects_u_of_wrong_rank():
    with pytest.raises(ValueError, match="'u'"):
        M.project_samples(np.ones((2, 2, 2)), 4)


def test_command_line_writes_the_table_with_date_versions_and_device(tmp_path, capsys):
    out = tmp_path / "table.json"
    table = M.main(["--L", "400", "--N", "8", "16", "--out", str(out)])
    stored = json.loads(out.read_text())
    assert stored["N"] == [8, 16] and stored["L"] == 400
    assert len(stored["rows"]) == len(stored["recurrence"]) == 7
    assert all(len(row) == 2 for row in stored["recurrence"])
    assert stored["recurrence"] == table["recurrence"]
    assert {"date", "environment", "seconds"} <= stored.keys()
    assert stored["environment"]["backend"]
    assert "smooth" in capsys.readouterr().out
