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
    # measured 0 (exact for lin/inv; eigh keeps Re = -1/2 exactly here), bound 1e-12
    np.testing.assert_allclose(Lambda.real, -0.5, atol=1e-12)
    if name == "legs":
        assert np.all(np.diff(Lambda.imag) > 0) and Lambda.imag[0] > 0


def test_init_lin_and_inv_match_the_paper_formulas():
    N = 16
    n = np.arange(N // 2)
    Lambda, B = s4d.init("lin", N)
    # both sides evaluate the same formula: measured 0, bounds 1e-14 and 1e-15
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
    # measured 2.8e-14 (eigenvalues up to ~100), bound 1e-12
    np.testing.assert_allclose(np.sort_complex(np.r_[Lambda, Lambda.conj()]),
                               np.sort_complex(Lam_all), atol=1e-12)
    A, B_legs = hippo.transition("legs", N)
    P0 = np.sqrt(np.arange(N) + 0.5)
    C = np.random.default_rng(0).standard_normal(N)
    C_v = C @ V[:, N // 2:]                    # C in the basis of the kept eigenvectors
    for method in kernels.DIAG_METHODS:
        K_ref = dense_kernel(A + np.outer(P0, P0), B_legs, C, dt, L, method)
        K = 2 * kernels.kernel_diag(Lambda, B, C_v, dt, L, method)
        # measured 1.6e-14 of max |K| (zoh 6.7e-15), bound 1e-11
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
    # measured 9.6e-15 of max |K| (both methods), bound 1e-12
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
    # the full system is real: measured imag <= 3.2e-16 of max |K|, bound 1e-12
    assert np.max(np.abs(dense.imag)) < 1e-12 * scale
    # measured <= 3.4e-16 (half vs full) and <= 1.5e-14 (half vs dense) of max |K|,
    # bounds 1e-12 and 1e-11 (the dense side multiplies by Ab 500 times)
    np.testing.assert_allclose(half, full, rtol=0, atol=1e-12 * scale)
    np.testing.assert_allclose(half, dense.real, rtol=0, atol=1e-11 * scale)


def test_full_system_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="'C'"):
        s4d.full_system(-np.ones(3) + 0j, np.ones(3), np.ones(2))


# ---------------------------------------------------------------- S4D-LegS against S4-LegS

def legs_basis_kernels(N, n_basis=4, dt=1e-2, L=1000, b_clip=None):
    """First basis kernels (C = e_n, n < n_basis) of S4-LegS and S4D-LegS, bilinear.

    S4-LegS: kernel_dplr of the DPLR form (equal to the dense kernel, chapter 6).
    S4D-LegS: the same Lambda, B, C with the low-rank term dropped, B halved; with the
    conjugate halving, 2 * kernel_diag(Lambda, B / 2, C_v) = kernel_diag(Lambda, B, C_v).
    """
    Lambda, B = s4d.init("legs", N, b_clip=b_clip)
    V = hippo.legs_dplr(N)[3][:, N // 2:]
    K_s4, K_s4d = [], []
    for n in range(n_basis):
        e_n = np.eye(N)[n]
        _, args = kernels.legs_dplr_system(N, dt, e_n, L)
        K_s4.append(kernels.kernel_dplr(*args, dt, L, real_system=True))
        K_s4d.append(kernels.kernel_diag(Lambda, B, e_n @ V, dt, L, "bilinear"))
    return np.array(K_s4), np.array(K_s4d)


def distance(K_s4, K_s4d):
    """Relative 2-norm (Frobenius over the basis kernels), as chapter 7 prints it."""
    return np.linalg.norm(K_s4d - K_s4) / np.linalg.norm(K_s4)


def test_s4d_legs_kernel_approaches_s4_legs_kernel_as_n_grows_at_dt_001(x64):
    # As the chapter states: same C = e_n (n < 4), dt = 0.01, L = 1000, bilinear, B halved
    # for S4D-LegS. Measured distances 0.821, 0.408, 0.203 for N = 64, 128, 256 (ratios
    # 0.50 and 0.50 per doubling, bound 0.65; last 0.203, bound 0.3). Without halving B
    # the S4D kernel tends to twice S4's: measured 1.08 at N = 256, |1.08 - 1| = 0.08
    # against the bound 2 * 0.203 = 0.41.
    gap, gap_unhalved = [], []
    for N in (64, 128, 256):
        K_s4, K_s4d = legs_basis_kernels(N)
        gap.append(distance(K_s4, K_s4d))
        gap_unhalved.append(distance(K_s4, 2 * K_s4d))
    assert gap[1] < 0.65 * gap[0] and gap[2] < 0.65 * gap[1] and gap[2] < 0.3
    assert abs(gap_unhalved[2] - 1) < 2 * gap[2] + 1e-9


def test_s4d_legs_distance_depends_on_dt(x64):
    # The same N = 64 kernels over the same time (0 to 10) at three steps: measured
    # 1.41 (dt = 0.001), 0.82 (dt = 0.01), 0.23 (dt = 0.1); bounds > 1.2 and < 0.35.
    fine = distance(*legs_basis_kernels(64, dt=1e-3, L=10_000))
    coarse = distance(*legs_basis_kernels(64, dt=1e-1, L=100))
    assert fine > 1.2 and coarse < 0.35


# ---------------------------------------------------------------- clipping Im(B)

@pytest.mark.parametrize("N", [8, 64])
def test_init_b_clip_clips_only_the_imaginary_part(N):
    _, B = s4d.init("legs", N)
    _, B_clip = s4d.init("legs", N, b_clip=2.0)
    assert np.all(np.abs(B_clip.imag) <= 2.0)
    np.testing.assert_array_equal(B_clip.real, B.real)
    inside = np.abs(B.imag) <= 2.0
    np.testing.assert_array_equal(B_clip[inside], B[inside])
    np.testing.assert_array_equal(np.abs(B_clip.imag[~inside]), 2.0)
    if N == 64:   # NumPy's phases: 11 of 32 entries beyond 2 (nearest ones 1.92, 2.08)
        assert np.sum(~inside) > 0
    for name in ("lin", "inv"):   # B = 1: nothing to clip
        np.testing.assert_array_equal(s4d.init(name, N, b_clip=0.5)[1], s4d.init(name, N)[1])


def test_init_b_clip_depends_on_the_eigenvectors_phases(x64):
    # Rotating each eigenvector by a phase leaves the unclipped kernel unchanged but not
    # the clipped one; with the phases that make B real the clip does nothing.
    N, L, dt = 32, 400, 0.01
    Lambda, B = s4d.init("legs", N)
    C = np.random.default_rng(5).standard_normal(N // 2) + 0j
    phase = np.conj(B) / np.abs(B)                 # B_n -> |B_n|, C_n -> C_n / phase_n
    B_real, C_rot = B * phase, C / phase
    K = kernels.kernel_diag(Lambda, B, C, dt, L, "bilinear")
    K_rot = kernels.kernel_diag(Lambda, B_real, C_rot, dt, L, "bilinear")
    # measured 1.9e-16 of max |K|, bound 1e-13
    np.testing.assert_allclose(K_rot, K, rtol=0, atol=1e-13 * np.max(np.abs(K)))
    np.testing.assert_array_equal(s4d._clip_imag(B_real, 2.0), B_real)
    K_clip = kernels.kernel_diag(Lambda, s4d.init("legs", N, b_clip=2.0)[1], C, dt, L,
                                 "bilinear")
    # NumPy's phases: the clip moves the kernel by 0.87 of its norm (bound > 0.05)
    assert np.linalg.norm(K_clip - K) > 0.05 * np.linalg.norm(K)


def test_init_rejects_bad_b_clip():
    with pytest.raises(ValueError, match="'b_clip'"):
        s4d.init("legs", 8, b_clip=0)
    with pytest.raises(ValueError, match="'b_clip'"):
        s4d.init("legs", 8, b_clip=float("nan"))
    with pytest.raises(TypeError, match="'b_clip'"):
        s4d.init("legs", 8, b_clip="2")
    with pytest.raises(TypeError):
        s4d.init("legs", 8, 2.0)                   # keyword-only


# ---------------------------------------------------------------- bilinear frequency warping

@pytest.mark.parametrize("dt", [1e-3, 1e-2, 1e-1])
def test_bilinear_warping_closed_forms(dt, x64):
    # For lambda = -1/2 + i w the bilinear Ab (dense matrix, discretize) has
    # |Ab|^2 = 1 - dt / ((1 + dt/4)^2 + (w dt/2)^2) and
    # arg Ab = atan2(w dt/2, 1 - dt/4) + atan2(w dt/2, 1 + dt/4), close to 2 atan(w dt/2).
    w = np.geomspace(1e-2, 1e5, 300)
    Ab, _ = discretize.discretize(np.diag(-0.5 + 1j * w), np.ones(300), dt, "bilinear")
    z = np.diag(np.asarray(Ab))
    x = w * dt / 2
    # exact forms: measured <= 8.9e-16, bound 1e-14
    np.testing.assert_allclose(np.abs(z) ** 2, 1 - dt / ((1 + dt / 4) ** 2 + x ** 2),
                               rtol=0, atol=1e-14)
    np.testing.assert_allclose(np.angle(z),
                               np.arctan2(x, 1 - dt / 4) + np.arctan2(x, 1 + dt / 4),
                               rtol=0, atol=1e-14)
    # the chapter's approximations: measured 0.041 dt^2 (angle), 0.50 dt^2 (|Ab|^2);
    # bounds 0.1 dt^2 and dt^2
    assert np.max(np.abs(np.angle(z) - 2 * np.arctan(x))) < 0.1 * dt ** 2
    assert np.max(np.abs(np.abs(z) ** 2 - (1 - dt / (1 + x ** 2)))) < dt ** 2


def test_float32_phase_error_grows_like_k_times_log_ab(x64):
    # exp(k log Ab) as kernel_diag computes it in complex64: the phase error at lag k is
    # about k |log Ab| 2^-24. Measured max ratio (error / estimate) over lags 10..16383:
    # 1.18 (S4D-Inv's fastest mode, N = 64, ZOH, dt = 0.01, |log Ab| = 12.8); bounds 3
    # (the estimate holds) and 0.3 (it is not loose).
    Lambda, _ = s4d.init("inv", 64)
    lam = Lambda[np.argmax(Lambda.imag)]
    log32, _ = kernels._discretize_diag(jnp.complex64(lam), jnp.complex64(1),
                                        jnp.float32(0.01), "zoh")
    k = np.arange(16384)
    v32 = np.asarray(jnp.exp(log32 * jnp.arange(16384, dtype=jnp.float32)))
    v64 = np.exp(0.01 * lam * k)
    assert v32.dtype == np.complex64
    err = np.abs(np.angle(v32.astype(np.complex128) / v64))
    ratio = err[10:] / (k[10:] * abs(0.01 * lam) * 2.0 ** -24)
    assert 0.3 < np.max(ratio) < 3


# ---------------------------------------------------------------- memory-lean evaluation

@pytest.mark.parametrize("L,block", [(1, None), (100, None), (1000, None), (1000, 7), (64, 64)])
@pytest.mark.parametrize("method", kernels.DIAG_METHODS)
def test_factored_kernel_equals_vandermonde_kernel(L, block, method, x64):
    Lambda, B, C = random_diag(9, seed=3)
    K = kernels.kernel_diag(Lambda, B, C, 0.02, L, method)
    K_f = kernels.kernel_diag_factored(Lambda, B, C, 0.02, L, method, block=block)
    assert K_f.shape == (L,)
    # measured <= 8.3e-16 of max |K| over all cases, bound 1e-12
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

    vandermonde_bytes = H * (N // 2) * L * 8     # complex64, 8 MiB
    # measured (XLA CPU, jax 0.10.2): direct 8.25 MiB (1.03x the tensor, bound >= 1x);
    # factored 0.375 MiB (0.047x, bound < 0.1x)
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
    # measured 0 (the same arithmetic batched), bound 1e-12 of max |K|
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
