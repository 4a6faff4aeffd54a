"""s4_minimal.fast: the fast kernels compute the same functions as the readable references."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from s4_minimal import fast, hippo, kernels, layers
from s4_minimal.bench import relative_error


def dplr_system(H, N, r=1, seed=0, paired=False):
    """Random stable DPLR systems for H channels (conjugate-paired: real kernels)."""
    rng = np.random.default_rng(seed)
    c = lambda *s: rng.standard_normal(s) + 1j * rng.standard_normal(s)  # noqa: E731
    n = N // 2 if paired else N
    lam = -rng.uniform(0.1, 1.0, (H, n)) + 1j * rng.uniform(-30, 30, (H, n))
    P, Q, B, Ct = c(H, r, n), c(H, r, n), c(H, n), c(H, n)
    if paired:
        full = lambda x: np.concatenate([x, np.conj(x)], axis=-1)  # noqa: E731
        lam, P, B, Ct = full(lam), full(P), full(B), full(Ct)
        Q = P
    dt = np.exp(rng.uniform(np.log(1e-3), np.log(1e-1), H))
    return lam, P, Q, B, Ct, dt


def reference_dplr(system, L, real_system):
    lam, P, Q, B, Ct, dt = system
    return np.stack([np.asarray(kernels.kernel_dplr(lam[h], P[h], Q[h], B[h], Ct[h], float(dt[h]),
                                                    L, real_system)) for h in range(lam.shape[0])])


def reference_diag(system, L, method):
    lam, B, C, dt = system
    return np.stack([np.asarray(kernels.kernel_diag(lam[h], B[h], C[h], float(dt[h]), L, method))
                     for h in range(lam.shape[0])])


def diag_system(H, N, seed=0):
    rng = np.random.default_rng(seed)
    lam = -0.5 + 1j * np.pi * np.arange(N) + np.zeros((H, 1))
    c = lambda *s: rng.standard_normal(s) + 1j * rng.standard_normal(s)  # noqa: E731
    return lam, c(H, N), c(H, N), np.exp(rng.uniform(np.log(1e-3), np.log(1e-1), H))


@pytest.mark.parametrize("L, r, real_system, chunk", [(64, 1, False, None), (100, 1, True, 7),
                                                      (33, 2, False, 5), (256, 1, True, -1)])
def test_fast_dplr_kernel_equals_reference_in_float64(x64, L, r, real_system, chunk):
    system = dplr_system(3, 12, r=r, paired=real_system)
    ref = reference_dplr(system, L, real_system)
    out = fast.kernel_dplr_fast(*system, L, real_system, chunk=chunk, impl="xla")
    assert out.dtype == jnp.float64 and out.shape == (3, L)
    assert relative_error(ref, out) < 1e-12


def test_pallas_cauchy_kernel_equals_reference_in_interpret_mode(x64):
    system = dplr_system(2, 8, paired=True)
    ref = reference_dplr(system, 64, True)
    out = fast.kernel_dplr_fast(*system, 64, True, impl="interpret")
    assert relative_error(ref, out) < 1e-12


@pytest.mark.parametrize("impl", ["xla", "interpret"])
def test_fast_dplr_float32_within_1e5_of_float64(impl):
    L = 512
    system = dplr_system(3, 16, paired=True, seed=1)
    with jax.enable_x64(True):
        ref = reference_dplr(system, L, True)
    out = fast.kernel_dplr_fast(*[x.astype(np.complex64) for x in system[:5]],
                                system[5].astype(np.float32), L, True, impl=impl)
    assert out.dtype == jnp.float32
    assert relative_error(ref, out) < 1e-5


def _grads(f, system, G):
    args = [jnp.asarray(x) for x in system]
    return jax.grad(lambda *a: jnp.sum(f(*a) * G), argnums=tuple(range(6)))(*args)


@pytest.mark.parametrize("impl", ["xla", "interpret"])
def test_gradients_of_fast_dplr_equal_gradients_of_reference(x64, impl):
    H, L = 2, 48
    system = dplr_system(H, 8, paired=True, seed=2)
    G = jnp.asarray(np.random.default_rng(3).standard_normal((H, L)))
    ref = jax.vmap(lambda *a: kernels.kernel_dplr(*a[:5], a[5], L, real_system=True))
    g_ref = _grads(ref, system, G)
    g_fast = _grads(lambda *a: fast.kernel_dplr_fast(*a, L, True, impl=impl), system, G)
    for name, a, b in zip(["Lambda", "P", "Q", "B", "Ct", "dt"], g_ref, g_fast):
        assert relative_error(np.stack([np.real(a), np.imag(a)]),
                              np.stack([np.real(b), np.imag(b)])) < 1e-10, name


PALLAS_CONFIGS = [fast.pallas_config(**c) for c in
                  [{"fwd": "loop", "bm_fwd": 128}, {"fwd": "loop", "bm_fwd": 256, "warps_fwd": 8},
                   {"fwd": "tile", "bm_fwd": 128, "bm_bwd": 16},
                   {"fwd": "tile", "bm_fwd": 64, "bm_bwd": 64}]]


@pytest.mark.parametrize("config", PALLAS_CONFIGS, ids=lambda c: str(dict(c)))
def test_every_pallas_configuration_gives_the_reference_value_and_gradient(x64, monkeypatch,
                                                                           config):
    """The benchmark picks among these configurations by speed alone: each one must be
    the same function. Float64, interpret mode (measured: value 4e-16, gradients 9e-16,
    bounds 1e-12 and 1e-10)."""
    monkeypatch.setattr(fast, "PALLAS", config)
    H, L = 2, 100                      # M = 51: padded to the block size
    system = dplr_system(H, 6, paired=True, seed=4)     # N = 6: padded to 8
    assert relative_error(reference_dplr(system, L, True),
                          fast.kernel_dplr_fast(*system, L, True, impl="interpret")) < 1e-12
    G = jnp.asarray(np.random.default_rng(5).standard_normal((H, L)))
    ref = jax.vmap(lambda *a: kernels.kernel_dplr(*a[:5], a[5], L, real_system=True))
    g_ref = _grads(ref, system, G)
    g_fast = _grads(lambda *a: fast.kernel_dplr_fast(*a, L, True, impl="interpret"), system, G)
    for name, a, b in zip(["Lambda", "P", "Q", "B", "Ct", "dt"], g_ref, g_fast):
        assert relative_error(np.stack([np.real(a), np.imag(a)]),
                              np.stack([np.real(b), np.imag(b)])) < 1e-10, name


def test_pallas_config_rejects_unknown_entries():
    with pytest.raises(ValueError, match="bm"):
        fast.pallas_config(bm=64)


@pytest.mark.parametrize("method", ["zoh", "bilinear"])
@pytest.mark.parametrize("L", [1, 7, 100, 1024])
def test_fast_diag_kernel_equals_reference_in_float64(x64, method, L):
    system = diag_system(3, 10)
    ref = reference_diag(system, L, method)
    out = fast.kernel_diag_fast(*system, L, method)
    assert out.shape == (3, L) and relative_error(ref, out) < 1e-12


@pytest.mark.parametrize("method", ["zoh", "bilinear"])
def test_fast_diag_float32_within_1e5_of_float64(method):
    L = 4096
    system = diag_system(3, 16, seed=4)
    with jax.enable_x64(True):
        ref = reference_diag(system, L, method)
    out = fast.kernel_diag_fast(*[x.astype(np.complex64) for x in system[:3]],
                                system[3].astype(np.float32), L, method)
    assert out.dtype == jnp.float32 and relative_error(ref, out) < 1e-5


def test_gradients_of_fast_diag_equal_gradients_of_reference(x64):
    H, L = 2, 50
    lam, B, C, dt = diag_system(H, 6, seed=5)
    G = jnp.asarray(np.random.default_rng(6).standard_normal((H, L)))
    ref = jax.vmap(lambda *a: kernels.kernel_diag(*a[:3], a[3], L))
    args = [jnp.asarray(x) for x in (lam, B, C, dt)]
    g1 = jax.grad(lambda *a: jnp.sum(ref(*a) * G), argnums=(0, 1, 2, 3))(*args)
    g2 = jax.grad(lambda *a: jnp.sum(fast.kernel_diag_fast(*a, L) * G), argnums=(0, 1, 2, 3))(*args)
    for a, b in zip(g1, g2):
        assert relative_error(np.stack([np.real(a), np.imag(a)]),
                              np.stack([np.real(b), np.imag(b)])) < 1e-10


def test_cauchy_sums_equal_the_reference_cauchy_kernel(x64):
    rng = np.random.default_rng(7)
    lam = -rng.uniform(0.1, 1, (2, 5)) + 1j * rng.standard_normal((2, 5))
    W = rng.standard_normal((2, 3, 5)) + 1j * rng.standard_normal((2, 3, 5))
    omega = rng.standard_normal((2, 9)) * 10
    out = fast.cauchy_sums(W, omega, lam, chunk=4)
    for h in range(2):
        np.testing.assert_allclose(out[h], kernels.cauchy(W[h], 1j * omega[h], lam[h]), rtol=1e-12)


@pytest.mark.parametrize("kind", ["dplr", "diag"])
def test_layer_kernel_implementations_agree_in_value_and_gradient(x64, kind):
    fast_cfg = layers.LayerConfig(H=3, N=8, kernel=kind)          # kernel_impl="fast"
    ref_cfg = layers.LayerConfig(H=3, N=8, kernel=kind, kernel_impl="reference")
    params = layers.init_ssm(jax.random.PRNGKey(0), fast_cfg, dtype=jnp.float64)
    assert relative_error(layers.ssm_kernel(params, ref_cfg, 200),
                          layers.ssm_kernel(params, fast_cfg, 200)) < 1e-12  # measured 1.1e-15

    def loss(p, cfg):
        return jnp.sum(jnp.cos(jnp.arange(200)) * layers.ssm_kernel(p, cfg, 200))

    g_fast, g_ref = (jax.grad(loss)(params, c) for c in (fast_cfg, ref_cfg))
    scale = max(float(jnp.max(jnp.abs(g))) for g in jax.tree_util.tree_leaves(g_ref))
    for a, b in zip(jax.tree_util.tree_leaves(g_ref), jax.tree_util.tree_leaves(g_fast)):
        # D does not enter the kernel: its gradient is 0 both ways
        assert float(jnp.max(jnp.abs(a - b))) < 1e-10 * scale      # measured 4e-15


def test_bad_arguments_name_the_argument():
    lam, P, Q, B, Ct, dt = dplr_system(2, 4)
    with pytest.raises(ValueError, match="'B' expected shape \\(2, 4\\)"):
        fast.kernel_dplr_fast(lam, P, Q, B[:, :3], Ct, dt, 16)
    with pytest.raises(ValueError, match="'dt' expected a scalar or shape \\(2,\\)"):
        fast.kernel_dplr_fast(lam, P, Q, B, Ct, np.ones(3), 16)
    with pytest.raises(ValueError, match="'dt' expected positive step sizes"):
        fast.kernel_dplr_fast(lam, P, Q, B, Ct, -dt, 16)
    with pytest.raises(ValueError, match="'Lambda' expected entries with negative real part"):
        fast.kernel_dplr_fast(-lam, P, Q, B, Ct, dt, 16)
    with pytest.raises(ValueError, match="'impl' expected one of"):
        fast.kernel_dplr_fast(lam, P, Q, B, Ct, dt, 16, impl="cuda")
    with pytest.raises(TypeError, match="'L' expected an integer"):
        fast.kernel_diag_fast(lam, B, Ct, dt, 16.0)
    with pytest.raises(ValueError, match="'method' expected one of"):
        fast.kernel_diag_fast(lam, B, Ct, dt, 16, method="euler")
