"""Claims of chapter 5 (the convolution view) about s4_minimal.ssm."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from s4_minimal import discretize, hippo, ssm



def random_stable_system(N, seed, dtype=np.float64):
    """A random dense (Ab, Bb, C) with spectral radius 0.95 (stable, non-normal)."""
    rng = np.random.default_rng(seed)
    Ab = rng.standard_normal((N, N))
    Ab *= 0.95 / np.max(np.abs(np.linalg.eigvals(Ab)))
    return (Ab.astype(dtype), rng.standard_normal(N).astype(dtype),
            rng.standard_normal(N).astype(dtype))


def test_conv_kernel_equals_brute_force_powers(x64):
    Ab, Bb, C = random_stable_system(6, 0)
    L = 40
    expected = [C @ np.linalg.matrix_power(Ab, k) @ Bb for k in range(L)]
    # float64 products of a 6x6 matrix with spectral radius < 1: rounding only.
    np.testing.assert_allclose(ssm.conv_kernel(Ab, Bb, C, L), expected, rtol=0, atol=1e-12)


def test_causal_conv_equals_direct_sum(x64):
    rng = np.random.default_rng(1)
    for L in (1, 2, 7, 64, 101):  # odd and even lengths, and the trivial one
        u, K = rng.standard_normal(L), rng.standard_normal(L)
        direct = np.array([sum(K[j] * u[k - j] for j in range(k + 1)) for k in range(L)])
        # FFT of length 2L in float64: error ~ 1e-15 * L * max|u||K|.
        np.testing.assert_allclose(ssm.causal_conv(u, K), direct, rtol=0, atol=1e-12)


def test_causal_conv_output_ignores_future_input(x64):
    rng = np.random.default_rng(2)
    L, k = 128, 50
    u, K = rng.standard_normal(L), rng.standard_normal(L)
    v = u.copy()
    v[k:] = rng.standard_normal(L - k)  # change only the future of step k - 1
    y_u, y_v = ssm.causal_conv(u, K), ssm.causal_conv(v, K)
    np.testing.assert_allclose(y_u[:k], y_v[:k], rtol=0, atol=1e-12)
    # without the zero padding the circular convolution would mix the future in:
    circular = np.real(np.fft.ifft(np.fft.fft(u) * np.fft.fft(K)))
    circular_v = np.real(np.fft.ifft(np.fft.fft(v) * np.fft.fft(K)))
    assert np.max(np.abs(circular[:k] - circular_v[:k])) > 1e-3


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_rnn_equals_cnn_random_stable_systems(seed):
    L, N = 512, 8
    Ab, Bb, C = random_stable_system(N, seed)
    u = np.random.default_rng(10 + seed).standard_normal(L)
    with jax.enable_x64(True):
        _, y_rnn = ssm.scan_ssm(Ab, Bb, C, u)
        y_cnn = ssm.causal_conv(u, ssm.conv_kernel(Ab, Bb, C, L))
        scale = np.max(np.abs(y_rnn))
        # float64: two different orders of the same sums, error ~ 1e-16 * L * growth.
        assert np.max(np.abs(y_rnn - y_cnn)) / scale < 1e-11
    f32 = [x.astype(np.float32) for x in (Ab, Bb, C, u)]
    _, y_rnn32 = ssm.scan_ssm(*f32)
    y_cnn32 = ssm.causal_conv(f32[3], ssm.conv_kernel(*f32[:3], L))
    assert y_rnn32.dtype == jnp.float32
    # float32: eps ~ 6e-8, amplified by the transient growth of a non-normal Ab.
    assert np.max(np.abs(y_rnn32 - y_cnn32)) / scale < 1e-4


@pytest.mark.parametrize("measure", hippo.MEASURES)
def test_rnn_equals_cnn_hippo_systems(measure, x64):
    N, L, dt = 32, 2048, 1e-3
    A, B = hippo.transition(measure, N)
    Ab, Bb = discretize.discretize(A, B, dt, "bilinear")
    C = np.random.default_rng(3).standard_normal(N)
    u = np.random.default_rng(4).standard_normal(L)
    _, y_rnn = ssm.scan_ssm(Ab, Bb, C, u)
    y_cnn = ssm.causal_conv(u, ssm.conv_kernel(Ab, Bb, C, L))
    assert np.max(np.abs(y_rnn - y_cnn)) / np.max(np.abs(y_rnn)) < 1e-11


def test_scan_ssm_from_initial_state_adds_free_response(x64):
    Ab, Bb, C = random_stable_system(5, 4)
    x0 = np.random.default_rng(5).standard_normal(5)
    u = np.random.default_rng(6).standard_normal(30)
    _, y = ssm.scan_ssm(Ab, Bb, C, u, x0)
    _, y_zero = ssm.scan_ssm(Ab, Bb, C, u)
    free = [C @ np.linalg.matrix_power(Ab, k + 1) @ x0 for k in range(30)]
    np.testing.assert_allclose(y - y_zero, free, rtol=0, atol=1e-12)


def test_conv_kernel_rejects_bad_length():
    Ab, Bb, C = random_stable_system(3, 0)
    with pytest.raises(ValueError, match="'L'"):
        ssm.conv_kernel(Ab, Bb, C, 0)
    with pytest.raises(TypeError, match="'L'"):
        ssm.conv_kernel(Ab, Bb, C, 2.5)


def test_ssm_functions_reject_mismatched_shapes():
    Ab, Bb, C = random_stable_system(3, 0)
    with pytest.raises(ValueError, match="'Bb'"):
        ssm.conv_kernel(Ab, Bb[:2], C, 4)
    with pytest.raises(ValueError, match="'C'"):
        ssm.scan_ssm(Ab, Bb, C[:2], np.ones(4))
    with pytest.raises(ValueError, match="'Ab'"):
        ssm.conv_kernel(Ab[:2], Bb, C, 4)
    with pytest.raises(ValueError, match="'K'"):
        ssm.causal_conv(np.ones(8), np.ones(7))
    with pytest.raises(ValueError, match="'u'"):
        ssm.causal_conv(np.ones((2, 4)), np.ones(4))


@pytest.mark.parametrize("method", discretize.METHODS)
def test_kernel_sums_to_the_continuous_dc_gain_for_every_method_and_step(x64, method):
    # sum_k C Ab^k Bb = C (I - Ab)^-1 Bb = -C A^-1 B for every GBT weight and for ZOH
    # (chapter 5, exercise 5.1). LegS, N = 8: eigenvalues -1..-8, so forward Euler is
    # stable for dt < 0.25.
    A, B = hippo.transition("legs", 8)
    C = np.random.default_rng(7).standard_normal(8)
    expected = -C @ np.linalg.solve(A, B)
    for dt in (0.02, 0.2):
        Ab, Bb = discretize.discretize(A, B, dt, method)
        K = ssm.conv_kernel(Ab, Bb, C, int(50 / dt))  # the tail decays like e^-50
        # float64 sums of up to 2,500 terms: measured below 1e-12, bound 1e-10.
        assert abs(float(jnp.sum(K)) - expected) < 1e-10


def test_impulse_response_of_the_recurrence_is_the_kernel(x64):
    # Chapter 5: the output for a unit pulse u = (1, 0, 0, ...) is K itself.
    A, B = hippo.transition("legs", 64)
    C = np.random.default_rng(1).standard_normal(64)
    Ab, Bb = discretize.discretize(A, B, 1e-3, "bilinear")
    pulse = np.zeros(500)
    pulse[0] = 1.0
    _, y = ssm.scan_ssm(Ab, Bb, C, pulse)
    K = ssm.conv_kernel(Ab, Bb, C, 500)
    # float64, the same products in the same order: measured 0, bound 1e-12 relative.
    assert float(jnp.max(jnp.abs(y - K))) < 1e-12 * float(jnp.max(jnp.abs(K)))
