"""Claims of chapter 7 (S4D) about s4_minimal.s4d and the diagonal kernels of s4_minimal.kernels."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from s4_minimal import discretize, hippo, kernels, s4d, ssm


def random_diag(N, seed):
    """A random stable complex diagonal system (not conjugate-symmetric)."""
    rng = np.random.default_rng(seed)
    cn = lambda n: rng.standard_normal(n) + 1j * rng.standard_normal(n)
    Lambda = -rng.uniform(0.1, 2, N) + 1j * rng.uniform(-10, 10, N)
    return Lambda, cn(N), cn(N)


def dense_kernel(A, B, C, dt, L, method):
    """The naive kernel of a dense system (a vector A means diag(A)): powers of Ab (complex)."""
    A = np.diag(A) if np.ndim(A) == 1 else A
    Ab, Bb = discretize.discretize(A, B, dt, method)
    return np.asarray(ssm.conv_kernel(Ab, Bb, C, L))


# ---------------------------------------------------------------- initializations

@pytest.mark.parametrize("name", s4d.INITS)
@pytest.mark.parametrize("N", [2, 8, 64])
def test_init_returns_half_the_states_complex128_with_nonnegative_imag(name, N):
    Lambda, B = s4d.init(name, N)
    for x in (Lambda, B):
        assert isinstance(x, np.ndarray) and x.shape == (N // 2,) and x.dtype == np.complex128
    assert np.all(Lambda.imag >= 0)
    np.testing.assert_allclose(Lambda.real, -0.5, atol=1e-12)
    if name == "legs":
        assert np.all(np.diff(Lambda.imag) > 0) and Lambda.imag[0] > 0


def test_init_lin_and_inv_match_the_paper_formulas():
    N = 16
    n = np.arange(N // 2)
    Lambda, B = s4d.init("lin", N)
    np.testing.assert_allclose(Lambda, -0.5 + 1j * np.pi * n, rtol=0, atol=1e-14)
    np.testing.assert_array_equal(B, np.ones(N // 2))
    Lambda, B = s4d.init("inv", N)
    np.testing.assert_allclose(Lambda.imag, N / np.pi * (N / (2 * n + 1) - 1), rtol=1e-15)
    assert Lambda.imag[0] == pytest.approx(N * (N - 1) / np.pi)
    np.testing.assert_array_equal(B, np.ones(N // 2))


def test_init_legs_is_legs_without_its_low_rank_term(x64):
    # The conjugate-closed S4D-LegS system equals the dense normal part of LegS,
    # A + P0 P0^T (LegS with the rank-one term dropped), with LegS's B: same kernel.
    N, L, dt = 16, 200, 0.05
    Lambda, B = s4d.init("legs", N)
    Lam_all, _, _, V = hippo.legs_dplr(N)
    np.testing.assert_allclose(np.sort_complex(np.r_[Lambda, Lambda.conj()]),
                               np.sort_complex(Lam_all), atol=1e-12)
    A, B_legs = hippo.transition("legs", N)
    P0 = np.sqrt(np.arange(N) + 0.5)
    C = np.random.default_rng(0).standard_normal(N)
    C_v = C @ V[:, N // 2:]                    # C in the basis of the kept eigenvectors
    for method in kernels.DIAG_METHODS:
        K_ref = dense_kernel(A + np.outer(P0, P0), B_legs, C, dt, L, method)
        K = 2 * kernels.kernel_diag(Lambda, B, C_v, dt, L, method)
        np.testing.assert_allclose(K, K_ref.real, rtol=0, atol=1e-11 * np.max(np.abs(K_ref)))


def test_init_rejects_bad_arguments():
    with pytest.raises(ValueError, match="'name'"):
        s4d.init("legt", 8)
    with pytest.raises(TypeError, match="'name'"):
        s4d.init(3, 8)
    with pytest.raises(ValueError, match="'N' expected an even integer"):
        s4d.init("lin", 7)
    with pytest.raises(ValueError, match="'N'"):
        s4d.init("lin", 0)
    with pytest.raises(TypeError, match="'N'"):
        s4d.init("inv", 8.0)


# ---------------------------------------------------------------- the Vandermonde kernel

@pytest.mark.parametrize("method", kernels.DIAG_METHODS)
def test_kernel_diag_zoh_and_bilinear_equal_dense_naive_kernel(method, x64):
    Lambda, B, C = random_diag(12, seed=1)
    K_ref = dense_kernel(Lambda, B, C, 0.03, 257, method)
    K = kernels.kernel_diag(Lambda, B, C, 0.03, 257, method)
    np.testing.assert_allclose(K, K_ref.real, rtol=0, atol=1e-12 * np.max(np.abs(K_ref)))


@pytest.mark.parametrize("name", s4d.INITS)
def test_conjugate_halving_equals_full_n_state_kernel(name, x64):
    N, L, dt = 32, 500, 0.01
    Lambda, B = s4d.init(name, N)
    rng = np.random.default_rng(2)
    C = rng.standard_normal(N // 2) + 1j * rng.standard_normal(N // 2)
    half = 2 * kernels.kernel_diag(Lambda, B, C, dt, L)
    full = kernels.kernel_diag(*s4d.full_system(Lambda, B, C), dt, L)
    dense = dense_kernel(*(np.asarray(x) for x in s4d.full_system(Lambda, B, C)), dt, L, "zoh")
    scale = np.max(np.abs(dense))
    assert np.max(np.abs(dense.imag)) < 1e-12 * scale      # the full system is real
    np.testing.assert_allclose(half, full, rtol=0, atol=1e-12 * scale)
    np.testing.assert_allclose(half, dense.real, rtol=0, atol=1e-11 * scale)


def test_full_system_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="'C'"):
        s4d.full_system(-np.ones(3) + 0j, np.ones(3), np.ones(2))


# ---------------------------------------------------------------- S4D-LegS against S4-LegS

def legs_basis_kernels(N, n_basis=4, dt=1e-2, L=1000):
    """First basis kernels (C = e_n, n < n_basis) of S4-LegS and S4D-LegS, bilinear.

    S4-LegS: kernel_dplr of the DPLR form (equal to the dense kernel, chapter 6).
    S4D-LegS: the same Lambda, B, C with the low-rank term dropped, B halved; with the
    conjugate halving, 2 * kernel_diag(Lambda, B / 2, C_v) = kernel_diag(Lambda, B, C_v).
    """
    Lambda, B = s4d.init("legs", N)
    V = hippo.legs_dplr(N)[3][:, N // 2:]
    K_s4, K_s4d = [], []
    for n in range(n_basis):
        e_n = np.eye(N)[n]
        _, args = kernels.legs_dplr_system(N, dt, e_n, L)
        K_s4.append(kernels.kernel_dplr(*args, dt, L, real_system=True))
        K_s4d.append(kernels.kernel_diag(Lambda, B, e_n @ V, dt, L, "bilinear"))
    return np.array(K_s4), np.array(K_s4d)


def test_s4d_legs_kernel_approaches_s4_legs_kernel_as_n_grows(x64):
    # As the chapter states: same C = e_n (n < 4), dt = 0.01, L = 1000, bilinear, B halved
    # for S4D-LegS; relative 2-norm (Frobenius over the 4 kernels) roughly halves per
    # doubling of N from N = 64 on. Without halving B the S4D kernel tends to twice S4's.
    gap, gap_unhalved = [], []
    for N in (64, 128, 256):
        K_s4, K_s4d = legs_basis_kernels(N)
        gap.append(np.linalg.norm(K_s4d - K_s4) / np.linalg.norm(K_s4))
        gap_unhalved.append(np.linalg.norm(2 * K_s4d - K_s4) / np.linalg.norm(K_s4))
    assert gap[1] < 0.65 * gap[0] and gap[2] < 0.65 * gap[1] and gap[2] < 0.3
    assert abs(gap_unhalved[2] - 1) < 2 * gap[2] + 1e-9


# ---------------------------------------------------------------- memory-lean evaluation

@pytest.mark.parametrize("L,block", [(1, None), (100, None), (1000, None), (1000, 7), (64, 64)])
@pytest.mark.parametrize("method", kernels.DIAG_METHODS)
def test_factored_kernel_equals_vandermonde_kernel(L, block, method, x64):
    Lambda, B, C = random_diag(9, seed=3)
    K = kernels.kernel_diag(Lambda, B, C, 0.02, L, method)
    K_f = kernels.kernel_diag_factored(Lambda, B, C, 0.02, L, method, block=block)
    assert K_f.shape == (L,)
    np.testing.assert_allclose(K_f, K, rtol=0, atol=1e-12 * np.max(np.abs(K)))


@pytest.mark.skipif(jax.default_backend() != "cpu",
                    reason="what XLA allocates is backend-specific: on an H100 it fuses the "
                           "direct form's exponentials into the product instead")
def test_factored_kernel_never_forms_the_vandermonde_matrix():
    H, N, L = 8, 64, 4096
    args = (jnp.zeros((H, N // 2), jnp.complex64) - 0.5, jnp.ones((H, N // 2), jnp.complex64),
            jnp.ones((H, N // 2), jnp.complex64), jnp.full(H, 0.01, jnp.float32))

    def temp_bytes(kernel):
        fn = jax.jit(jax.vmap(lambda lam, b, c, dt: kernel(lam, b, c, dt, L)))
        return fn.lower(*args).compile().memory_analysis().temp_size_in_bytes

    vandermonde_bytes = H * (N // 2) * L * 8     # complex64
    assert temp_bytes(kernels.kernel_diag) >= vandermonde_bytes
    assert temp_bytes(kernels.kernel_diag_factored) < vandermonde_bytes / 10


def test_factored_kernel_rejects_bad_block():
    with pytest.raises(ValueError, match="'block'"):
        kernels.kernel_diag_factored(-np.ones(2) + 0j, np.ones(2), np.ones(2), 0.1, 8, block=0)


# ---------------------------------------------------------------- JAX: jit, vmap, dtypes

@pytest.mark.parametrize("kernel", [kernels.kernel_diag, kernels.kernel_diag_factored])
def test_jit_and_vmap_over_channels(kernel, x64):
    H, N, L = 4, 16, 300
    Lambda, B = s4d.init("inv", N)
    Cs = np.random.default_rng(4).standard_normal((H, N // 2)) + 0j
    dts = jnp.array([1e-3, 1e-2, 3e-2, 1e-1])
    batched = jax.jit(jax.vmap(kernel, in_axes=(None, None, 0, 0, None, None)),
                      static_argnums=(4, 5))(Lambda, B, Cs, dts, L, "bilinear")
    loop = np.stack([kernel(Lambda, B, Cs[h], dts[h], L, "bilinear") for h in range(H)])
    assert batched.shape == (H, L)
    np.testing.assert_allclose(batched, loop, rtol=0, atol=1e-12 * np.max(np.abs(loop)))


@pytest.mark.parametrize("kernel", [kernels.kernel_diag, kernels.kernel_diag_factored])
def test_float64_kept_under_x64_and_float32_otherwise(kernel):
    Lambda, B = s4d.init("lin", 8)
    old = jax.config.jax_enable_x64
    try:
        jax.config.update("jax_enable_x64", True)
        assert kernel(Lambda, B, B, 0.1, 16).dtype == jnp.float64
        jax.config.update("jax_enable_x64", False)
        assert kernel(Lambda, B, B, 0.1, 16).dtype == jnp.float32
    finally:
        jax.config.update("jax_enable_x64", old)


def test_diag_kernels_use_full_precision_products():
    Lambda, B = (jnp.asarray(x, jnp.complex64) for x in s4d.init("lin", 8))
    for kernel in (kernels.kernel_diag, kernels.kernel_diag_factored):
        text = str(jax.make_jaxpr(lambda c: kernel(Lambda, B, c, 0.1, 16))(B))
        assert text.count("dot_general") > 0
        assert text.count("dot_general") == text.count("Precision.HIGHEST, Precision.HIGHEST")
