"""Fast kernels: the same functions as :mod:`s4_minimal.kernels`, written for the hardware.

Serves chapter 10 (performance). The readable references are
:func:`s4_minimal.kernels.kernel_dplr` and :func:`s4_minimal.kernels.kernel_diag`;
the functions here compute the same kernels, batched natively over a leading
channel axis H, and are checked against the references in ``tests/test_fast.py``
(float64 to rounding, float32 within 1e-5 relative of float64 over all channels
together). :func:`kernel_dplr_fast` does not keep the pole nearest to each point
apart as :func:`s4_minimal.kernels.kernel_dplr` does, so a single channel with a
pole close to one of the points can be less accurate in float32 (2.5e-5 in the
worst of 256 LegS channels at L = 1,024 on an H200, chapter 10).

What changes, and why it is faster:

* :func:`kernel_dplr_fast` never forms the (L/2, N) Cauchy matrix. Each Cauchy sum
  ``sum_n w_n / (s_m - Lambda_n)`` is written as one elementwise expression
  followed by a sum over n, which XLA fuses into a single pass: the terms live in
  registers, only the (H, M) sums reach memory. The ``(r+1)^2`` sums of the
  Woodbury identity share one denominator, computed once per (h, m, n) in real
  arithmetic (``s = i omega`` is imaginary, so ``1/(s - Lambda)`` costs one
  reciprocal). Frequencies are processed in chunks under ``lax.map`` and the
  chunk is rematerialized in the backward pass (``jax.checkpoint``), so neither
  direction ever stores an (H, L/2, N) array. The points ``s`` use the stable form
  ``s = (2i/dt) tan(pi j / L)`` (no ``1 - z`` cancellation in float32) and
  ``2/(1+z) = 1 + i tan(pi j / L)``.
* :func:`kernel_diag_fast` splits the Vandermonde matrix: with ``k = T a + b``
  (``0 <= b < T``), ``Ab^k = Ab^(T a) Ab^b``, so ``K = Re(U V)`` with
  ``U[a, n] = exp(T a log Ab_n)`` of shape (L/T, N) and ``V[n, b] = c_n exp(b log Ab_n)``
  of shape (N, T): ``2 N sqrt(L)`` exponentials instead of ``N L``, and one real
  matrix product ``[Re U, Im U] @ [Re V; -Im V]`` that runs on the matrix units.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from ._precision import full_precision
from ._validate import check_array, check_choice, check_int, concrete, fail
from .kernels import DIAG_METHODS, _discretize_diag

__all__ = ["kernel_dplr_fast", "kernel_diag_fast", "cauchy_sums", "default_chunk"]

_HIGHEST = jax.lax.Precision.HIGHEST


# --------------------------------------------------------------------------------------
# the fused Cauchy sums
# --------------------------------------------------------------------------------------

def _cauchy_sums_chunk(W, omega, Lambda):
    """``out[h, i, m] = sum_n W[h, i, n] / (i omega[h, m] - Lambda[h, n])`` in real arithmetic.

    The denominator ``i omega - Lambda = a + i b`` with ``a = -Re Lambda``,
    ``b = omega - Im Lambda`` gives ``1 / (a + i b) = (a - i b) / (a^2 + b^2)``:
    one reciprocal per (h, m, n), shared by every row i of W.
    """
    a = -jnp.real(Lambda)[:, None, :]                       # (H, 1, N)
    b = omega[:, :, None] - jnp.imag(Lambda)[:, None, :]    # (H, M, N)
    q = 1.0 / (a * a + b * b)
    dr, di = a * q, -b * q                                  # 1/(s - Lambda), (H, M, N)
    wr, wi = jnp.real(W)[:, :, None, :], jnp.imag(W)[:, :, None, :]   # (H, R, 1, N)
    out_r = jnp.sum(wr * dr[:, None] - wi * di[:, None], axis=-1)
    out_i = jnp.sum(wr * di[:, None] + wi * dr[:, None], axis=-1)
    return jax.lax.complex(out_r, out_i)                    # (H, R, M)


def _cauchy_sums(W, omega, Lambda, chunk):
    """:func:`_cauchy_sums_chunk` over frequency chunks, rematerialized for the gradient."""
    body = jax.checkpoint(_cauchy_sums_chunk)
    H, M = omega.shape
    if chunk is None or chunk >= M:
        return body(W, omega, Lambda)
    count = -(-M // chunk)
    pad = count * chunk - M
    omega_c = jnp.pad(omega, ((0, 0), (0, pad)))            # padded points are discarded
    omega_c = jnp.moveaxis(omega_c.reshape(H, count, chunk), 1, 0)
    out = jax.lax.map(lambda om: body(W, om, Lambda), omega_c)   # (count, H, R, chunk)
    out = jnp.moveaxis(out, 0, 2).reshape(H, W.shape[1], count * chunk)
    return out[:, :, :M]


# --------------------------------------------------------------------------------------
# the same sums as a hand-written (Pallas) kernel, with its own backward pass
# --------------------------------------------------------------------------------------
#
# XLA fuses the expression above, but not well: on an H100 it reaches a few percent of
# the arithmetic rate (chapter 10). The Pallas kernels below give each program one
# channel h and a block of BM frequencies and write only the R sums per frequency.
# Two forward layouts: the "tile" kernel forms the (BM, N) tile of 1/(s - Lambda) and
# sums across it (a reduction across threads for every row); the "loop" kernel keeps
# each frequency in one thread and visits the N terms in turn (no reduction across
# threads; on an H200 about three times faster, chapter 10). Everything is real: W and
# Lambda come split into real and imaginary parts, so the backward pass is ordinary
# real calculus (derived in the comments of ``_cauchy_bwd_kernel``).

def _pallas_tile(omega_ref, lr_ref, li_ref):
    """The tile ``1/(i omega_m - Lambda_n) = dr + i di``, shape (BM, N)."""
    a = -lr_ref[...]                                        # (N,)
    b = omega_ref[...][:, None] - li_ref[...][None, :]      # (BM, N)
    q = 1.0 / (a[None, :] * a[None, :] + b * b)
    return a[None, :] * q, -b * q


def _cauchy_fwd_kernel(wr_ref, wi_ref, omega_ref, lr_ref, li_ref, out_r_ref, out_i_ref):
    dr, di = _pallas_tile(omega_ref, lr_ref, li_ref)
    for i in range(wr_ref.shape[0]):                        # R rows share the tile
        wr, wi = wr_ref[i, :][None, :], wi_ref[i, :][None, :]
        out_r_ref[i, :] = jnp.sum(wr * dr - wi * di, axis=1)
        out_i_ref[i, :] = jnp.sum(wr * di + wi * dr, axis=1)


def _cauchy_bwd_kernel(wr_ref, wi_ref, omega_ref, lr_ref, li_ref, gr_ref, gi_ref,
                       ct_wr_ref, ct_wi_ref, ct_omega_ref, ct_lr_ref, ct_li_ref):
    # out_i = sum_n w_in d_n with d = 1/D, D = a + i b, a = -Re Lambda, b = omega - Im Lambda.
    # For a real loss with cotangent g = gr + i gi of out, a change dX of out costs
    # Re(conj(g) dX). With dd/da = -d^2 and dd/db = -i d^2:
    #   ct_wr = Re sum_m conj(g) d,  ct_wi = -Im sum_m conj(g) d,
    #   with S = sum_i conj(g_i) w_i and E = d^2 S:
    #   ct_a = -Re E, ct_b = Im E, so ct_omega = sum_n Im E, ct_lr = sum_m Re E,
    #   ct_li = -sum_m Im E.
    dr, di = _pallas_tile(omega_ref, lr_ref, li_ref)
    sr = jnp.zeros_like(dr)
    si = jnp.zeros_like(dr)
    for i in range(wr_ref.shape[0]):
        gr, gi = gr_ref[i, :][:, None], gi_ref[i, :][:, None]     # (BM, 1)
        wr, wi = wr_ref[i, :][None, :], wi_ref[i, :][None, :]     # (1, N)
        ct_wr_ref[i, :] = jnp.sum(gr * dr + gi * di, axis=0)
        ct_wi_ref[i, :] = jnp.sum(gi * dr - gr * di, axis=0)
        sr = sr + gr * wr + gi * wi
        si = si + gr * wi - gi * wr
    er, ei = dr * dr - di * di, 2.0 * dr * di
    Er, Ei = er * sr - ei * si, er * si + ei * sr
    ct_omega_ref[...] = jnp.sum(Ei, axis=1)
    ct_lr_ref[...] = jnp.sum(Er, axis=0)
    ct_li_ref[...] = -jnp.sum(Ei, axis=0)


def _pallas_specs(H, R, N, BM):
    from jax.experimental import pallas as pl
    sq = pl.Squeezed()
    w = pl.BlockSpec((sq, R, N), lambda h, m: (h, 0, 0))
    om = pl.BlockSpec((sq, BM), lambda h, m: (h, m))
    lam = pl.BlockSpec((sq, N), lambda h, m: (h, 0))
    rows = pl.BlockSpec((sq, R, BM), lambda h, m: (h, 0, m))
    part_w = pl.BlockSpec((sq, sq, R, N), lambda h, m: (h, m, 0, 0))
    part_lam = pl.BlockSpec((sq, sq, N), lambda h, m: (h, m, 0))
    return w, om, lam, rows, part_w, part_lam


def _cauchy_fwd_loop_kernel(wr_ref, wi_ref, omega_ref, lr_ref, li_ref, out_r_ref, out_i_ref):
    # The same sums with the frequencies spread over the program's threads and the
    # N terms visited one after another in a loop: every (m, n) term is added in
    # registers, no sum crosses threads. Lambda_n and W[:, n] are read as blocks of
    # one number (the same for every thread).
    from jax.experimental import pallas as pl
    omega = omega_ref[...]                                  # (BM,)
    R, N = wr_ref.shape

    def term(n, acc):
        one = pl.ds(n, 1)
        a = -lr_ref[one]                                    # (1,)
        b = omega - li_ref[one]                             # (BM,)
        q = 1.0 / (a * a + b * b)
        dr, di = a * q, -b * q
        new = []
        for i in range(R):
            wr, wi = wr_ref[i, one], wi_ref[i, one]
            new.append(acc[2 * i] + (wr * dr - wi * di))
            new.append(acc[2 * i + 1] + (wr * di + wi * dr))
        return tuple(new)

    zero = jnp.zeros_like(omega)
    acc = jax.lax.fori_loop(0, N, term, (zero,) * (2 * R))
    for i in range(R):
        out_r_ref[i, :] = acc[2 * i]
        out_i_ref[i, :] = acc[2 * i + 1]


def _compiler_params(warps):
    if jax.default_backend() != "gpu":
        return None
    from jax.experimental.pallas import triton as plgpu
    return plgpu.CompilerParams(num_warps=warps, num_stages=1)


#: How the Pallas path runs: forward kernel ("tile": a (BM, N) tile summed over n;
#: "loop": one frequency per thread, the n terms in turn), frequencies per program
#: and warps per program in each direction.
PALLAS_DEFAULT = (("fwd", "loop"), ("bm_fwd", 512), ("warps_fwd", 4), ("bm_bwd", 32),
                  ("warps_bwd", 4))


#: The configuration :func:`kernel_dplr_fast` runs (a :func:`pallas_config` tuple). On
#: an H200 at L = 16,384 the loop layout's forward takes 0.54 to 0.68 ms in every block
#: size the benchmark of chapter 10 tried, the tile layout's 1.75 ms or more.
PALLAS = PALLAS_DEFAULT


def pallas_config(**changes):
    """:data:`PALLAS_DEFAULT` with some entries replaced, as a hashable tuple."""
    cfg = dict(PALLAS_DEFAULT)
    for k, v in changes.items():
        if k not in cfg:
            fail("pallas_config", k, f"one of {tuple(cfg)}", k)
        cfg[k] = v
    return tuple(cfg.items())


def _cauchy_pallas_fwd_call(wr, wi, omega, lr, li, interpret, config):
    from jax.experimental import pallas as pl
    c = dict(config)
    H, R, N = wr.shape
    M = omega.shape[1]
    w, om, lam, rows, _, _ = _pallas_specs(H, R, N, c["bm_fwd"])
    out = jax.ShapeDtypeStruct((H, R, M), wr.dtype)
    kernel = _cauchy_fwd_loop_kernel if c["fwd"] == "loop" else _cauchy_fwd_kernel
    return pl.pallas_call(
        kernel, out_shape=(out, out), grid=(H, M // c["bm_fwd"]),
        in_specs=[w, w, om, lam, lam], out_specs=(rows, rows),
        interpret=interpret, compiler_params=_compiler_params(c["warps_fwd"]),
        name="cauchy_fwd")(wr, wi, omega, lr, li)


def _cauchy_pallas_bwd_call(wr, wi, omega, lr, li, gr, gi, interpret, config):
    from jax.experimental import pallas as pl
    c = dict(config)
    H, R, N = wr.shape
    M = omega.shape[1]
    blocks = M // c["bm_bwd"]
    w, om, lam, rows, part_w, part_lam = _pallas_specs(H, R, N, c["bm_bwd"])
    f = wr.dtype
    outs = (jax.ShapeDtypeStruct((H, blocks, R, N), f), jax.ShapeDtypeStruct((H, blocks, R, N), f),
            jax.ShapeDtypeStruct((H, M), f), jax.ShapeDtypeStruct((H, blocks, N), f),
            jax.ShapeDtypeStruct((H, blocks, N), f))
    ct_wr, ct_wi, ct_omega, ct_lr, ct_li = pl.pallas_call(
        _cauchy_bwd_kernel, out_shape=outs, grid=(H, blocks),
        in_specs=[w, w, om, lam, lam, rows, rows],
        out_specs=(part_w, part_w, om, part_lam, part_lam),
        interpret=interpret, compiler_params=_compiler_params(c["warps_bwd"]),
        name="cauchy_bwd")(wr, wi, omega, lr, li, gr, gi)
    return (ct_wr.sum(1), ct_wi.sum(1), ct_omega, ct_lr.sum(1), ct_li.sum(1))


@functools.partial(jax.custom_vjp, nondiff_argnums=(5, 6))
def _cauchy_pallas_real(wr, wi, omega, lr, li, interpret, config):
    return _cauchy_pallas_fwd_call(wr, wi, omega, lr, li, interpret, config)


def _cauchy_pallas_real_fwd(wr, wi, omega, lr, li, interpret, config):
    out = _cauchy_pallas_fwd_call(wr, wi, omega, lr, li, interpret, config)
    return out, (wr, wi, omega, lr, li)


def _cauchy_pallas_real_bwd(interpret, config, res, g):
    gr, gi = g
    return _cauchy_pallas_bwd_call(*res, gr, gi, interpret, config)


_cauchy_pallas_real.defvjp(_cauchy_pallas_real_fwd, _cauchy_pallas_real_bwd)


def _pow2(n):
    return 1 << max(0, int(np.ceil(np.log2(n))))


def _cauchy_sums_pallas(W, omega, Lambda, interpret, config=PALLAS_DEFAULT):
    """:func:`_cauchy_sums_chunk` by the Pallas kernels, with padding to block sizes.

    N and R are padded to powers of two (zero weights; padded Lambda = -1), M to a
    multiple of the block sizes (the padded sums are dropped, so their cotangents are 0).
    """
    c = dict(config)
    H, R, N = W.shape
    M = omega.shape[1]
    Rp, Np = _pow2(R), _pow2(N)
    block = int(np.lcm(c["bm_fwd"], c["bm_bwd"]))
    Mp = -(-M // block) * block
    W = jnp.pad(W, ((0, 0), (0, Rp - R), (0, Np - N)))
    Lambda = jnp.pad(Lambda, ((0, 0), (0, Np - N)), constant_values=-1.0)
    omega = jnp.pad(omega, ((0, 0), (0, Mp - M)))
    out_r, out_i = _cauchy_pallas_real(jnp.real(W), jnp.imag(W), omega, jnp.real(Lambda),
                                       jnp.imag(Lambda), interpret, tuple(config))
    return jax.lax.complex(out_r, out_i)[:, :R, :M]


def cauchy_sums(W, omega, Lambda, chunk=None):
    """Batched Cauchy sums at imaginary points: ``out[h, i, m] = sum_n W[h,i,n] / (i omega[h,m] - Lambda[h,n])``.

    ``W`` (H, R, N) complex, ``omega`` (H, M) real, ``Lambda`` (H, N) complex; output
    (H, R, M). Equals :func:`s4_minimal.kernels.cauchy` with ``s = i omega`` for each h.
    ``chunk`` (frequencies per pass) bounds the working memory.
    """
    func = "cauchy_sums"
    Lambda = check_array(func, "Lambda", Lambda, ndim=2, complex_ok=True)
    H, N = Lambda.shape
    W = check_array(func, "W", W, ndim=3, complex_ok=True)
    if W.shape[0] != H or W.shape[2] != N:
        fail(func, "W", f"shape ({H}, R, {N}) to match Lambda", W)
    omega = check_array(func, "omega", omega, ndim=2)
    if omega.shape[0] != H:
        fail(func, "omega", f"shape ({H}, M) to match Lambda", omega)
    if chunk is not None:
        chunk = check_int(func, "chunk", chunk, minimum=1)
    cdtype = jnp.result_type(W, omega, Lambda, jnp.complex64)
    rdtype = jnp.finfo(cdtype).dtype
    return _cauchy_sums(W.astype(cdtype), omega.astype(rdtype), Lambda.astype(cdtype), chunk)


# --------------------------------------------------------------------------------------
# the DPLR (S4) kernel
# --------------------------------------------------------------------------------------

def _frequencies(L, real_system):
    """``tan(pi j / L)`` (float64, NumPy) for the evaluated roots, and the Nyquist mask."""
    count = L // 2 + 1 if real_system else L
    j = np.arange(count)
    nyquist = 2 * j == L
    t = np.tan(np.pi * np.where(nyquist, 0, j) / L)
    return t, nyquist


@functools.partial(jax.jit, static_argnames=("L", "real_system", "chunk", "impl", "pallas"))
def _kernel_dplr_fast(Lambda, P, Q, B, Ct, dt, L, real_system, chunk, impl,
                      pallas=PALLAS_DEFAULT):
    """The fast S4 kernel for H channels: (H, L). Arguments already checked and cast."""
    cdtype = Lambda.dtype
    rdtype = jnp.finfo(cdtype).dtype
    H, r, N = P.shape
    t_np, nyquist_np = _frequencies(L, real_system)
    # z = -1 (s infinite) takes the limit below, not a Cauchy sum: leaving it out of
    # the sums also keeps their count a power of two (no padding to the block size)
    t = jnp.asarray(t_np[~nyquist_np], rdtype)                        # (M,)
    omega = (2.0 / dt)[:, None] * t[None, :]                          # s = i omega, (H, M)

    left = jnp.concatenate([Ct[:, None, :], jnp.conj(Q)], axis=1)     # (H, r+1, N)
    right = jnp.concatenate([B[:, None, :], P], axis=1)               # (H, r+1, N)
    W = (left[:, :, None, :] * right[:, None, :, :]).reshape(H, (r + 1) ** 2, N)
    if impl == "xla":
        k = _cauchy_sums(W, omega, Lambda, chunk)
    else:   # "pallas" compiled for the GPU, "interpret" anywhere (tests on the CPU)
        k = _cauchy_sums_pallas(W, omega, Lambda, impl == "interpret", pallas)
    k = k.reshape(H, r + 1, r + 1, -1)
    k00, k01, k10, k11 = k[:, 0, 0], k[:, 0, 1:], k[:, 1:, 0], k[:, 1:, 1:]
    if r == 1:
        resolvent_term = k00 - k01[:, 0] * k10[:, 0] / (1.0 + k11[:, 0, 0])
    else:
        small = jnp.eye(r, dtype=cdtype)[None, :, :, None] + k11          # (H, r, r, M)
        corr = jnp.linalg.solve(jnp.moveaxis(small, -1, 1),
                                jnp.moveaxis(k10, -1, 1)[..., None])[..., 0]   # (H, M, r)
        resolvent_term = k00 - jnp.sum(jnp.moveaxis(k01, -1, 1) * corr, axis=-1)
    Khat = jax.lax.complex(jnp.ones_like(t), t) * resolvent_term      # 2/(1+z) = 1 + i tan
    limit = (dt / 2)[:, None] * jnp.sum(Ct * B, axis=-1)[:, None]     # Khat(-1)
    for j in np.flatnonzero(nyquist_np):                               # at most one
        Khat = jnp.concatenate([Khat[:, :j], limit.astype(cdtype), Khat[:, j:]], axis=1)
    if not real_system:
        half = np.arange(L // 2 + 1)
        Khat = 0.5 * (Khat[:, half] + jnp.conj(Khat[:, (-half) % L]))
    # The spectrum of a real K is real at j = 0 and j = L/2. CPU FFTs ignore an imaginary
    # part there, GPU FFTs need not (1e-2 apart on an H100 when the promise of
    # real_system is broken): drop it explicitly so every backend computes the same.
    ends = [0] + ([L // 2] if L % 2 == 0 else [])
    Khat = Khat.at[:, ends].set(jnp.real(Khat[:, ends]).astype(cdtype))
    return jnp.fft.irfft(Khat, n=L, axis=-1)


IMPLS = ("auto", "xla", "pallas", "interpret")


def default_chunk(H: int, L: int, N: int, budget: int = 1 << 26) -> int | None:
    """Frequencies per pass so that one pass touches about ``budget`` (h, m, n) terms."""
    M = L // 2 + 1
    per = max(1, budget // max(1, H * N))
    return None if per >= M else per


@full_precision
def kernel_dplr_fast(Lambda, P, Q, B, Ct, dt, L: int, real_system: bool = False,
                     chunk: int | None = -1, impl: str = "auto"):
    """:func:`s4_minimal.kernels.kernel_dplr` for H channels at once: Re K of shape (H, L).

    ``Lambda``, ``B``, ``Ct`` have shape (H, N); ``P``, ``Q`` shape (H, N) (rank 1)
    or (H, r, N); ``dt`` a scalar or shape (H,). Row h equals
    ``kernel_dplr(Lambda[h], P[h], Q[h], B[h], Ct[h], dt[h], L, real_system)``.
    ``chunk``: frequencies per fused pass (``None``: all at once; -1, the
    default: about 2^26 terms per pass; XLA path only). ``impl``: ``"xla"`` (fused
    expression), ``"pallas"`` (the hand-written kernel, GPU), ``"interpret"`` (the
    same kernel run by the Pallas interpreter, any backend, slow) or ``"auto"``
    (Pallas on a GPU, XLA elsewhere). Requires Re(Lambda) < 0.
    """
    func = "kernel_dplr_fast"
    Lambda = check_array(func, "Lambda", Lambda, ndim=2, complex_ok=True)
    H, N = Lambda.shape
    P = _check_low_rank_batched(func, "P", P, H, N)
    Q = _check_low_rank_batched(func, "Q", Q, H, N)
    if P.shape != Q.shape:
        fail(func, "Q", f"the shape of P {tuple(P.shape)}", Q)
    B = _check_batched(func, "B", B, H, N)
    Ct = _check_batched(func, "Ct", Ct, H, N)
    dt = _check_dt(func, dt, H)
    L = check_int(func, "L", L, minimum=1)
    if not isinstance(real_system, bool):
        fail(func, "real_system", "True or False", real_system, TypeError)
    if chunk == -1:
        chunk = default_chunk(H, L, N)
    elif chunk is not None:
        chunk = check_int(func, "chunk", chunk, minimum=1)
    impl = check_choice(func, "impl", impl, IMPLS)
    if impl == "auto":
        impl = "pallas" if jax.default_backend() == "gpu" else "xla"
    _check_stable(func, Lambda)
    cdtype = jnp.result_type(Lambda, P, Q, B, Ct, dt, jnp.complex64)
    rdtype = jnp.finfo(cdtype).dtype
    Lambda, P, Q, B, Ct = (x.astype(cdtype) for x in (Lambda, P, Q, B, Ct))
    return _kernel_dplr_fast(Lambda, P, Q, B, Ct, dt.astype(rdtype), L, real_system, chunk,
                             impl, PALLAS)


# --------------------------------------------------------------------------------------
# the diagonal (S4D) kernel
# --------------------------------------------------------------------------------------

def _split(L):
    """Block size T and block count so that ``T * count >= L`` with both near sqrt(L)."""
    T = 1 << max(0, int(np.ceil(np.log2(np.sqrt(L)))))
    return T, -(-L // T)


@functools.partial(jax.jit, static_argnames=("L", "method"))
def _kernel_diag_fast(Lambda, B, C, dt, L, method):
    """The factored Vandermonde kernel for H channels: (H, L). Arguments checked and cast."""
    rdtype = jnp.finfo(Lambda.dtype).dtype
    log_Ab, Bb = _discretize_diag(Lambda, B, dt[:, None], method)   # (H, N) each
    c = C * Bb                                                      # (H, N)
    T, count = _split(L)
    a = jnp.arange(count, dtype=rdtype) * T                         # block starts
    b = jnp.arange(T, dtype=rdtype)                                 # offsets in a block
    U = jnp.exp(log_Ab[:, None, :] * a[None, :, None])              # (H, count, N)
    V = c[:, :, None] * jnp.exp(log_Ab[:, :, None] * b[None, None, :])   # (H, N, T)
    left = jnp.concatenate([jnp.real(U), jnp.imag(U)], axis=-1)     # (H, count, 2N)
    right = jnp.concatenate([jnp.real(V), -jnp.imag(V)], axis=1)    # (H, 2N, T)
    K = jnp.einsum("hak,hkb->hab", left, right, precision=_HIGHEST)
    return K.reshape(K.shape[0], count * T)[:, :L]


@full_precision
def kernel_diag_fast(Lambda, B, C, dt, L: int, method: str = "zoh"):
    """:func:`s4_minimal.kernels.kernel_diag` for H channels at once: Re K of shape (H, L).

    ``Lambda``, ``B``, ``C`` have shape (H, N); ``dt`` a scalar or shape (H,). Row h
    equals ``kernel_diag(Lambda[h], B[h], C[h], dt[h], L, method)``. Requires
    Re(Lambda) < 0.
    """
    func = "kernel_diag_fast"
    method = check_choice(func, "method", method, DIAG_METHODS)
    Lambda = check_array(func, "Lambda", Lambda, ndim=2, complex_ok=True)
    H, N = Lambda.shape
    B = _check_batched(func, "B", B, H, N)
    C = _check_batched(func, "C", C, H, N)
    dt = _check_dt(func, dt, H)
    L = check_int(func, "L", L, minimum=1)
    _check_stable(func, Lambda)
    cdtype = jnp.result_type(Lambda, B, C, dt, jnp.complex64)
    rdtype = jnp.finfo(cdtype).dtype
    Lambda, B, C = (x.astype(cdtype) for x in (Lambda, B, C))
    return _kernel_diag_fast(Lambda, B, C, dt.astype(rdtype), L, method)


# --------------------------------------------------------------------------------------
# argument checks (batched shapes)
# --------------------------------------------------------------------------------------

def _check_batched(func, name, value, H, N):
    arr = check_array(func, name, value, ndim=2, complex_ok=True)
    if arr.shape != (H, N):
        fail(func, name, f"shape ({H}, {N}) (channels, states) to match Lambda", arr)
    return arr


def _check_low_rank_batched(func, name, value, H, N):
    arr = check_array(func, name, value, ndim=(2, 3), complex_ok=True)
    if arr.shape[0] != H or arr.shape[-1] != N:
        fail(func, name, f"shape ({H}, {N}) or ({H}, r, {N}) to match Lambda", arr)
    return arr.reshape(H, -1, N)


def _check_dt(func, dt, H):
    dt = check_array(func, "dt", dt, ndim=(0, 1))
    if dt.ndim == 1 and dt.shape[0] != H:
        fail(func, "dt", f"a scalar or shape ({H},) (one step per channel)", dt)
    values = concrete(dt)
    if values is not None and not np.all(values > 0):
        fail(func, "dt", "positive step sizes", dt)
    return jnp.broadcast_to(dt, (H,))


def _check_stable(func, Lambda):
    values = concrete(Lambda)
    if values is not None and not np.all(np.real(values) < 0):
        fail(func, "Lambda", "entries with negative real part (a stable diagonal)", Lambda)
