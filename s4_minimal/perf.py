"""The performance benchmark of chapter 10: ``python -m s4_minimal.perf --help``.

Every way the book computes the kernel K, the recurrence against the FFT convolution,
the S4 layer and RNN-mode generation, timed on the default JAX device. Each timing is
the median of ``repeats`` calls after two warm-up calls (compilation excluded), each
call waited for with ``block_until_ready``, the inputs rotating over three random
draws (:func:`s4_minimal.bench.time_median`). Each result is also given as a multiple
of its *floor*: the larger of (bytes that must move) / (measured bandwidth) and
(flops) / (measured float32 rate), both ceilings measured in the same run (see
``FLOOR_COUNTING``).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import sys

import jax
import jax.numpy as jnp
import numpy as np

from . import environment, fast, kernels, layers, ssm
from ._validate import check_bool, check_int, fail, set_fields
from .bench import best_time, read_json_runs, relative_error, time_median, write_json
from .s4d import conjugate_pairs

__all__ = ["METHODS", "LAYER_METHODS", "FLOOR_COUNTING", "PALLAS_VARIANTS", "BenchConfig",
           "run_benchmark", "measure_ceilings", "floor", "pick_pallas", "merge", "format_table",
           "main"]

#: Kernel-level methods: name -> what it computes (the book's function).
METHODS = {
    "naive": "K by powers of Ab: ssm.conv_kernel (a scan of L matrix-vector products)",
    "dense_gf": "dense generating function: Ct (I - Ab z)^-1 Bb at L/2+1 roots, irfft",
    "dplr_ref": "kernels.kernel_dplr (real_system), vmapped over channels",
    "dplr_fast": "fast.kernel_dplr_fast (Pallas Cauchy kernel on a GPU, XLA elsewhere)",
    "dplr_fast_xla": "fast.kernel_dplr_fast(impl='xla'): fused XLA Cauchy sums",
    "diag_ref": "kernels.kernel_diag (ZOH), vmapped over channels",
    "diag_fast": "fast.kernel_diag_fast (ZOH): factored Vandermonde, one matmul",
    "dplr_variant": "fast.kernel_dplr_fast's Pallas path in another configuration "
                    "(fast.pallas_config: forward kernel, block sizes, warps)",
    "cauchy_pallas": "part of dplr_fast: the Cauchy sums alone (Pallas kernel; GPU only)",
    "cauchy_xla": "part of dplr_fast_xla: the Cauchy sums alone (fused XLA)",
    "irfft": "part of every DPLR method: the inverse real FFT of H spectra",
    "scan": "the recurrence ssm.scan_ssm: L sequential steps (output y)",
    "legs_error": "no timing: the float32 error of the layer's kernel (fast.PALLAS) for "
                  "its LegS start, every channel, against kernels.kernel_dplr in float64",
    "fft_conv": "ssm.causal_conv with a known K, by FFT (output y)",
}
#: Layer-level methods (batch of sequences, H channels, DPLR kernel).
LAYER_METHODS = {
    "layer_ref": "layers.ssm_apply, kernel_impl=\"reference\" (kernels.kernel_dplr)",
    "layer_fast": "layers.ssm_apply, kernel_impl=\"fast\" (fast.kernel_dplr_fast)",
    "rnn_step": "layers.ssm_scan: one RNN step per sample inside one lax.scan, "
                "its loop unrolled as the row says",
    "layer_kernel": "part of layer_fast: the H kernels alone (layers.ssm_kernel)",
    "layer_conv": "part of layer_fast: the batch of FFT convolutions alone, K given, "
                  "in the layer's (batch, L, H) layout",
    "layer_conv_hl": "layer_conv with u stored as (batch, H, L): FFTs along the last axis",
    "rnn_loop": "a lax.scan of the same length whose step only adds u_k to a state "
                "of the same size: the cost of one loop iteration",
}
#: Pallas configurations the benchmark tries for dplr_variant (forward ones timed
#: forward, backward ones forward+backward), as keyword arguments of fast.pallas_config.
PALLAS_VARIANTS = {
    "fwd": [{}, {"bm_fwd": 256}, {"bm_fwd": 1024}, {"bm_fwd": 512, "warps_fwd": 8},
            {"bm_fwd": 128, "warps_fwd": 1}, {"fwd": "tile", "bm_fwd": 64},
            {"fwd": "tile", "bm_fwd": 128}],
    "bwd": [{}, {"bm_bwd": 16}, {"bm_bwd": 64}, {"warps_bwd": 8},
            {"bm_bwd": 64, "warps_bwd": 8}],
}
#: Methods with a gradient (forward+backward) timing.
GRAD_METHODS = ("dplr_ref", "dplr_fast", "dplr_fast_xla", "diag_ref", "diag_fast",
                "layer_ref", "layer_fast")
#: How the floors count bytes and flops (f32: 4 bytes, c64: 8; M = L/2 + 1 frequencies).
FLOOR_COUNTING = {
    "bandwidth": "the best of three ways to move 2^28 float32 (x + 1, a copy, a sum): "
                 "bytes read + written over the shortest time",
    "flops": "a float32 matmul 8192^3 at Precision.HIGHEST (no TF32): 2 n^3 over the time",
    "naive": "flops 2 H L N^2 (real Ab); bytes: Ab read once, K written",
    "dense_gf": "flops H M (8/3) N^3 (a complex LU solve: (1/3) N^3 complex "
                "multiply-adds of 8 real flops each); bytes: Ab, K",
    "dplr": "flops H M N (6 + 8 (r+1)^2) (one reciprocal + (r+1)^2 complex "
            "multiply-adds per term) + FFT 2.5 H L log2 L; bytes: parameters, K",
    "diag": "flops 4 H L N (the real matmul); bytes: parameters, K",
    "scan": "flops 2 H L N^2; bytes: u read, y written",
    "fft_conv": "flops 3 FFTs of 2L: 3 x 2.5 (2L) log2(2L) H; bytes: u, K read, y written",
    "layer": "the dplr kernel counts + a batch of FFT convolutions; bytes: u read, y written",
    "rnn_step": "flops per step ~60 H N/2; bytes per step: state read+written (H N/2 c64)",
    "layer_kernel": "the dplr counts",
    "layer_conv": "(2B + 1) FFTs of 2L per channel; bytes: u read, y written, K read",
    "grad": "forward+backward: 3x the forward flops and bytes",
}


_DEFAULT_CAPS = {"naive": 16384, "dense_gf": 1024, "scan": 16384, "dplr_ref": 65536,
                 "diag_ref": 65536}


@dataclasses.dataclass(frozen=True)
class BenchConfig:
    """Sizes and methods of one benchmark run (see :func:`main` for the options).

    ``caps``: the largest L per method (slow methods stop early); the given entries
    replace those of the defaults.
    """

    sizes: tuple = (1024, 4096, 16384, 65536)
    H: int = 256
    N: int = 64
    batch: int = 16
    methods: tuple | None = None
    layer_sizes: tuple = (1024, 4096, 16384, 65536)
    repeats: int = 20
    check_channels: int = 4
    rnn_steps: int = 2048
    caps: dict | None = None
    grad: bool = True
    variant_sizes: tuple = (16384, 65536)

    def __post_init__(self):
        func = "BenchConfig"
        N = check_int(func, "N", self.N, minimum=2)
        if N % 2:
            fail(func, "N", "an even integer (conjugate pairs)", self.N)
        known = tuple(METHODS) + tuple(LAYER_METHODS)
        methods = known if self.methods is None else self.methods
        if isinstance(methods, str) or not all(isinstance(m, str) for m in methods):
            fail(func, "methods", f"a list of names from {known}", methods, TypeError)
        for m in methods:
            if m not in known:
                fail(func, "methods", f"names from {known}", m)
        caps = dict(_DEFAULT_CAPS)
        if self.caps is not None:
            if not isinstance(self.caps, dict):
                fail(func, "caps", "a dict method -> largest L", self.caps, TypeError)
            for m, v in self.caps.items():
                if m not in known:
                    fail(func, "caps", f"method names from {known}", m)
                caps[m] = check_int(func, f"caps[{m!r}]", v, minimum=1)
        set_fields(self, sizes=_check_sizes(func, "sizes", self.sizes),
                   layer_sizes=_check_sizes(func, "layer_sizes", self.layer_sizes,
                                            allow_empty=True),
                   H=check_int(func, "H", self.H, minimum=1), N=N,
                   batch=check_int(func, "batch", self.batch, minimum=1),
                   methods=tuple(methods),
                   repeats=check_int(func, "repeats", self.repeats, minimum=1),
                   check_channels=check_int(func, "check_channels", self.check_channels,
                                            minimum=0),
                   rnn_steps=check_int(func, "rnn_steps", self.rnn_steps, minimum=1),
                   caps=caps, grad=check_bool(func, "grad", self.grad),
                   variant_sizes=_check_sizes(func, "variant_sizes", self.variant_sizes,
                                              allow_empty=True))

    def as_dict(self):
        """The configuration as JSON-ready values (tuples as lists)."""
        return {k: (list(v) if isinstance(v, tuple) else v)
                for k, v in dataclasses.asdict(self).items()}


def _check_sizes(func, name, sizes, allow_empty=False):
    if isinstance(sizes, (str, bytes)) or not hasattr(sizes, "__iter__"):
        fail(func, name, "a list of sequence lengths", sizes, TypeError)
    out = tuple(check_int(func, name, s, minimum=2) for s in sizes)
    if not out and not allow_empty:
        fail(func, name, "at least one sequence length", sizes)
    return out


# --------------------------------------------------------------------------------------
# timing and ceilings
# --------------------------------------------------------------------------------------

def measure_ceilings(repeats: int = 10, size: int = 1 << 28, n: int = 8192):
    """Measured device ceilings: ``{"bandwidth": bytes/s, "flops": flop/s}`` (float32).

    Bandwidth: the best of three ways to move ``size`` float32 numbers (``x + 1`` and
    a copy read and write them, a sum only reads them), each timed by its shortest
    call, so that no floor is computed against a low ceiling. Flops: a float32 matrix
    product of order ``n`` at full precision. On a CPU the sizes shrink to 2^22 numbers
    and n = 512 (about a second).
    """
    if jax.default_backend() == "cpu":
        size, n = min(size, 1 << 22), min(n, 512)
    key = jax.random.PRNGKey(0)
    x = jax.random.normal(key, (size,), jnp.float32)
    moves = {"x + 1": (jax.jit(lambda x: x + 1.0), 8 * size),
             "copy": (jax.jit(lambda x: jnp.copy(x)), 8 * size),
             "sum": (jax.jit(jnp.sum), 4 * size)}
    rates = {name: nbytes / best_time(f, x, repeats=repeats)
             for name, (f, nbytes) in moves.items()}
    del x
    a = jax.random.normal(key, (n, n), jnp.float32)
    b = jax.random.normal(jax.random.PRNGKey(1), (n, n), jnp.float32)
    mm = jax.jit(lambda a, b: jnp.matmul(a, b, precision=jax.lax.Precision.HIGHEST))
    t_mm = best_time(mm, a, b, repeats=repeats)
    best = max(rates, key=rates.get)
    return {"bandwidth": rates[best], "bandwidth_by": best, "bandwidth_each": rates,
            "flops": 2 * n ** 3 / t_mm, "copy_bytes": 8 * size, "matmul_n": n}


# --------------------------------------------------------------------------------------
# inputs
# --------------------------------------------------------------------------------------

def _pairs(rng, H, n):
    return rng.standard_normal((H, n)) + 1j * rng.standard_normal((H, n))


def _dplr_inputs(seed, H, N, dtype=np.complex64):
    """A random real DPLR system per channel in the layer's conjugate-paired form."""
    rng = np.random.default_rng(seed)
    n = N // 2
    lam = -np.exp(rng.uniform(np.log(0.1), np.log(1.0), (H, n))) + 1j * np.pi * rng.uniform(0, n, (H, n))
    P = 0.5 * _pairs(rng, H, n)
    dt = np.exp(rng.uniform(np.log(1e-3), np.log(1e-1), H))
    B, C = _pairs(rng, H, n), _pairs(rng, H, n)
    out = [np.asarray(conjugate_pairs(x)).astype(dtype) for x in (lam, P, P, B, C)]
    return out + [dt.astype(np.finfo(dtype).dtype)]


def _diag_inputs(seed, H, N, dtype=np.complex64):
    """S4D-Lin-like diagonal systems with random B, C and dt per channel."""
    rng = np.random.default_rng(seed)
    lam = np.broadcast_to(-0.5 + 1j * np.pi * np.arange(N), (H, N))
    dt = np.exp(rng.uniform(np.log(1e-3), np.log(1e-1), H))
    return ([x.astype(dtype) for x in (lam, _pairs(rng, H, N), _pairs(rng, H, N))]
            + [dt.astype(np.finfo(dtype).dtype)])


def _dense_inputs(seed, H, N, dtype=np.float32):
    """Bilinear LegS (Ab, Bb) per channel (dt varies) and a random real C."""
    from . import hippo
    rng = np.random.default_rng(seed)
    A, B = hippo.transition("legs", N)
    dt = np.exp(rng.uniform(np.log(1e-3), np.log(1e-1), H))
    I = np.eye(N)
    Ab = np.stack([np.linalg.solve(I - d / 2 * A, I + d / 2 * A) for d in dt])
    Bb = np.stack([np.linalg.solve(I - d / 2 * A, d * B) for d in dt])
    return [x.astype(dtype) for x in (Ab, Bb, rng.standard_normal((H, N)))]


# --------------------------------------------------------------------------------------
# the methods: each returns (function, list of input tuples, float64 reference or None)
# --------------------------------------------------------------------------------------

def _dense_gf(Ab, Bb, C, L):
    """K from the dense generating function of one channel (C here is Ct = C (I - Ab^L))."""
    z = kernels.roots_of_unity(L, half=True).astype(jnp.result_type(Ab, jnp.complex64))
    eye = jnp.eye(Ab.shape[0], dtype=z.dtype)
    x = jnp.linalg.solve(eye[None] - z[:, None, None] * Ab[None], jnp.broadcast_to(Bb, (z.shape[0],) + Bb.shape)[..., None])
    Khat = (x[..., 0] @ C.astype(z.dtype))
    return jnp.fft.irfft(Khat, n=L)


def _kernel_method(name, L, cfg):
    H, N = cfg.H, cfg.N
    if name in ("naive", "dense_gf"):
        inputs = [_dense_inputs(s, H, N) for s in range(3)]
        if name == "naive":
            one = lambda Ab, Bb, C: ssm.conv_kernel(Ab, Bb, C, L)
        else:
            one = lambda Ab, Bb, C: _dense_gf(Ab, Bb, C, L)
        return jax.jit(jax.vmap(one)), inputs, one
    if name.startswith("dplr"):
        inputs = [_dplr_inputs(s, H, N) for s in range(3)]
        if name == "dplr_ref":
            f = jax.vmap(lambda *a: kernels.kernel_dplr(*a[:5], a[5], L, real_system=True))
        else:
            impl = "xla" if name == "dplr_fast_xla" else "auto"
            f = lambda *a: fast.kernel_dplr_fast(*a, L, real_system=True, impl=impl)
        one = lambda *a: kernels.kernel_dplr(*a[:5], a[5], L, real_system=True)
        return jax.jit(f), inputs, one
    if name.startswith("diag"):
        inputs = [_diag_inputs(s, H, N) for s in range(3)]
        if name == "diag_ref":
            f = jax.vmap(lambda *a: kernels.kernel_diag(*a[:3], a[3], L))
        else:
            f = lambda *a: fast.kernel_diag_fast(*a, L)
        one = lambda *a: kernels.kernel_diag(*a[:3], a[3], L)
        return jax.jit(f), inputs, one
    if name.startswith("cauchy"):
        rng = np.random.default_rng(3)
        t = np.tan(np.pi * np.arange(L // 2 + 1) / L).astype(np.float32)
        t[-1] = 0.0 if L % 2 == 0 else t[-1]
        inputs = []
        for s in range(3):
            a = _dplr_inputs(s, H, N)
            W = np.repeat(a[4][:, None, :], 4, axis=1) * np.repeat(a[3][:, None, :], 4, axis=1)
            inputs.append((W, (2 / a[5])[:, None] * t[None, :], a[0]))
        if name == "cauchy_pallas":
            f = lambda W, om, lam: fast._cauchy_sums_pallas(
                W, om, lam, jax.default_backend() != "gpu", fast.PALLAS)
        else:
            f = lambda W, om, lam: fast._cauchy_sums(W, om, lam, fast.default_chunk(H, L, N))
        one = lambda W, om, lam: kernels._cauchy(W, 1j * om, lam)
        return jax.jit(f), inputs, one
    if name == "irfft":
        rng = np.random.default_rng(4)
        inputs = []
        for _ in range(3):   # the spectrum of a real signal: real at j = 0 and j = L/2
            x = rng.standard_normal((H, L // 2 + 1)) + 1j * rng.standard_normal((H, L // 2 + 1))
            x[:, 0] = x[:, 0].real
            if L % 2 == 0:
                x[:, -1] = x[:, -1].real
            inputs.append((x.astype(np.complex64),))
        one = lambda x: jnp.fft.irfft(x, n=L)
        return jax.jit(jax.vmap(one)), inputs, one
    rng = np.random.default_rng(7)
    dense = [_dense_inputs(s, H, N) for s in range(3)]
    us = [rng.standard_normal((H, L)).astype(np.float32) for _ in range(3)]
    if name == "scan":
        one = lambda Ab, Bb, C, u: ssm.scan_ssm(Ab, Bb, C, u)[1]
        return jax.jit(jax.vmap(one)), [tuple(d) + (u,) for d, u in zip(dense, us)], one
    if name == "fft_conv":
        Ks = [rng.standard_normal((H, L)).astype(np.float32) * 0.01 for _ in range(3)]
        one = ssm.causal_conv
        return jax.jit(jax.vmap(one)), list(zip(us, Ks)), one
    fail("run_benchmark", "methods", f"names from {tuple(METHODS)}", name)


def _grad_of(f, n_args):
    """Forward+backward: the gradient of sum(f(...) * G) for a fixed random G."""
    def loss(*args):
        out = f(*args)
        G = jnp.cos(jnp.arange(out.size, dtype=out.dtype).reshape(out.shape))
        return jnp.sum(out * G)
    return jax.jit(jax.grad(loss, argnums=tuple(range(n_args))))


def floor(name: str, L: int, cfg: BenchConfig, grad: bool = False):
    """``(flops, bytes)`` that method ``name`` must do and move at length L.

    The rules are those of ``FLOOR_COUNTING``, with r = 1 (rank one) and M = L/2 + 1;
    ``"rnn_step"`` counts one step of the recurrence (L is not used).
    """
    H, N, r = cfg.H, cfg.N, 1
    M = L // 2 + 1
    lg = np.log2(L)
    out = 4 * H * L
    if name == "naive":
        fl, by = 2 * H * L * N * N, 4 * H * N * N + out
    elif name == "dense_gf":
        fl, by = H * M * (8 / 3) * N ** 3, 4 * H * N * N + out
    elif name.startswith("dplr"):
        fl, by = H * M * N * (6 + 8 * (r + 1) ** 2) + 2.5 * H * L * lg, 8 * H * N * 4 + out
    elif name.startswith("diag"):
        fl, by = 4 * H * L * N, 8 * H * N * 3 + out
    elif name.startswith("cauchy"):
        fl, by = H * M * N * (6 + 8 * (r + 1) ** 2), 8 * H * M * (r + 1) ** 2
    elif name == "irfft":
        fl, by = 2.5 * H * L * lg, 8 * H * M + out
    elif name == "scan":
        fl, by = 2 * H * L * N * N, 2 * out
    elif name == "fft_conv":
        fl, by = 3 * 2.5 * 2 * L * (lg + 1) * H, 3 * out
    elif name == "layer_kernel":
        return floor("dplr_fast", L, cfg, grad)
    elif name.startswith("layer_conv"):
        B = cfg.batch
        fl = (2 * B + 1) * 2.5 * 2 * L * (lg + 1) * H
        by = 2 * 4 * B * L * H + out
    elif name.startswith("layer"):
        B = cfg.batch
        fl = H * M * N * (6 + 8 * (r + 1) ** 2) + (2 * B + 1) * 2.5 * 2 * L * (lg + 1) * H
        by = 2 * 4 * B * L * H
    elif name in ("rnn_step", "rnn_loop"):   # one step, whatever L
        fl, by = 60 * H * (N // 2), 2 * 8 * H * (N // 2)
    else:
        raise KeyError(name)
    return (3 * fl, 3 * by) if grad else (fl, by)


def _error64(one, inputs, check):
    """Float32 result of the device vs the float64 reference on the CPU, first ``check`` channels."""
    if check == 0:
        return None
    cpu = jax.devices("cpu")[0]
    with jax.enable_x64(True), jax.default_device(cpu):
        args = [np.asarray(x)[:check] for x in inputs]
        wide = [x.astype(np.complex128 if np.iscomplexobj(x) else np.float64) for x in args]
        ref = np.stack([np.asarray(one(*[x[h] for x in wide])) for h in range(check)])
    return ref


def _record(name, L, t, cfg, ceil, grad=False, peak=None, err=None, extra=None):
    fl, by = floor(name, L, cfg, grad)
    t_floor = max(fl / ceil["flops"], by / ceil["bandwidth"])
    row = {"method": name, "L": L, "pass": "fwd+bwd" if grad else "fwd", "ms": 1e3 * t,
           "flops": fl, "bytes": by, "floor_ms": 1e3 * t_floor,
           "bound": "flops" if fl / ceil["flops"] >= by / ceil["bandwidth"] else "bytes",
           "x_floor": t / t_floor, "peak_bytes": peak, "rel_err_f32": err}
    if extra:
        row.update(extra)
    return row


# --------------------------------------------------------------------------------------
# the layer and RNN mode
# --------------------------------------------------------------------------------------

def _compile(f, args):
    """``(compiled, peak bytes)``: one compilation serves the timing and the memory count."""
    compiled = jax.jit(f).lower(*args).compile()
    try:
        m = compiled.memory_analysis()
        peak = int(m.argument_size_in_bytes + m.output_size_in_bytes + m.temp_size_in_bytes)
    except Exception:  # backends without a memory analysis
        peak = None
    return compiled, peak


def _timed(f, inputs, cfg):
    """``(median seconds, peak bytes)`` of ``f`` over the rotating ``inputs``."""
    compiled, peak = _compile(f, inputs[0])
    return time_median(compiled, inputs, cfg.repeats), peak


def _layer_rows(L, cfg, ceil, name):
    rows = []
    rng = np.random.default_rng(11)
    us = [jnp.asarray(rng.standard_normal((cfg.batch, L, cfg.H)), jnp.float32) for _ in range(3)]
    impl = "reference" if name == "layer_ref" else "fast"
    lcfg = layers.LayerConfig(H=cfg.H, N=cfg.N, kernel="dplr", kernel_impl=impl)
    params = [layers.init_ssm(jax.random.PRNGKey(s), lcfg) for s in range(3)]
    extra = {"batch": cfg.batch}
    if name in ("layer_ref", "layer_fast"):
        ins = list(zip(params, us))
        fwd = lambda p, u: layers.ssm_apply(p, lcfg, u)
        loss = lambda p, u: jnp.sum(layers.ssm_apply(p, lcfg, u) ** 2)
    elif name == "layer_kernel":
        ins = [(p,) for p in params]
        fwd = lambda p: layers.ssm_kernel(p, lcfg, L)
        loss = lambda p: jnp.sum(jnp.cos(layers.ssm_kernel(p, lcfg, L)))
    else:   # the convolutions alone, K given (batch, L, H) or (batch, H, L)
        Ks = [jnp.asarray(rng.standard_normal((cfg.H, L)) * 0.01, jnp.float32)
              for _ in range(3)]
        if name == "layer_conv":
            conv = jax.vmap(jax.vmap(ssm.causal_conv, in_axes=(-1, 0), out_axes=-1),
                            in_axes=(0, None))
            ins = list(zip(us, Ks))
        else:
            conv = jax.vmap(jax.vmap(ssm.causal_conv), in_axes=(0, None))
            ins = [(jnp.swapaxes(u, 1, 2), K) for u, K in zip(us, Ks)]
        fwd = conv
        loss = lambda u, K: jnp.sum(conv(u, K) ** 2)
    grad = jax.grad(loss, argnums=tuple(range(len(ins[0]))))
    for f, is_grad in ((fwd, False), (grad, True)):
        if is_grad and not cfg.grad:
            continue
        t, peak = _timed(f, ins, cfg)
        rows.append(_record(name, L, t, cfg, ceil, grad=is_grad, peak=peak,
                            extra={**extra, "samples_per_s": cfg.batch * L / t}))
    return rows


def _step_row(name, t, T, cfg, ceil, extra=None):
    fl, by = floor(name, T, cfg)
    t_floor = max(fl / ceil["flops"], by / ceil["bandwidth"])
    row = {"method": name, "L": T, "pass": "fwd", "ms": 1e3 * t, "us_per_step": 1e6 * t,
           "flops": fl, "bytes": by, "floor_ms": 1e3 * t_floor,
           "bound": "flops" if fl / ceil["flops"] >= by / ceil["bandwidth"] else "bytes",
           "x_floor": t / t_floor, "peak_bytes": None, "rel_err_f32": None}
    row.update(extra or {})
    return row


#: The loop unrollings the RNN rows are timed at (layers.SCAN_UNROLL is the default).
RNN_UNROLLS = (1, 4, 8, 16)


def _rnn_rows(cfg, ceil):
    lcfg = layers.LayerConfig(H=cfg.H, N=cfg.N, kernel="dplr")
    T = cfg.rnn_steps
    params = layers.init_ssm(jax.random.PRNGKey(0), lcfg)
    rp = layers.ssm_rnn_params(params, lcfg, T)
    rng = np.random.default_rng(5)
    us = [(jnp.asarray(rng.standard_normal((T, cfg.H)), jnp.float32),) for _ in range(3)]
    rows = []
    for unroll in RNN_UNROLLS:
        t, _ = _timed(lambda u, unroll=unroll: layers.ssm_scan(rp, u, unroll=unroll), us, cfg)
        rows.append(_step_row("rnn_step", t / T, T, cfg, ceil, {"unroll": unroll}))
    return rows


def _rnn_loop_rows(cfg, ceil):
    """The same loop with a step that does almost nothing: what one iteration costs."""
    T, n = cfg.rnn_steps, cfg.N // 2
    rng = np.random.default_rng(6)
    us = [(jnp.asarray(rng.standard_normal((T, cfg.H)), jnp.float32),) for _ in range(3)]
    rows = []
    for unroll in (1, 8):
        def loop(u, unroll=unroll):
            def step(x, u_k):
                x = x + u_k[:, None]
                return x, x[:, 0].real
            x0 = jnp.zeros((cfg.H, n), jnp.complex64)
            return jax.lax.scan(step, x0, u, unroll=unroll)[1]
        t, _ = _timed(loop, us, cfg)
        rows.append(_step_row("rnn_loop", t / T, T, cfg, ceil, {"unroll": unroll}))
    return rows


def _variant_rows(L, cfg, ceil, state):
    """dplr_fast's Pallas path in each configuration of PALLAS_VARIANTS (GPU only)."""
    if jax.default_backend() != "gpu" and not state.get("interpret"):
        return []
    impl = "pallas" if jax.default_backend() == "gpu" else "interpret"
    inputs = [tuple(jnp.asarray(x) for x in _dplr_inputs(s, cfg.H, cfg.N)) for s in range(3)]
    inputs = [(a[0], a[1][:, None], a[2][:, None]) + a[3:] for a in inputs]
    rows = []
    # every configuration must agree with the XLA path (value and gradient) to be picked
    xla = lambda *a: fast._kernel_dplr_fast(*a, L, True, fast.default_chunk(cfg.H, L, cfg.N),
                                            "xla")
    want = {"fwd": jax.jit(xla)(*inputs[0]), "bwd": _grad_of(xla, 6)(*inputs[0])}

    def differs(direction, got):
        a = np.concatenate([np.ravel(np.asarray(x)) for x in jax.tree_util.tree_leaves(got)])
        b = np.concatenate([np.ravel(np.asarray(x))
                            for x in jax.tree_util.tree_leaves(want[direction])])
        return float(np.linalg.norm(a - b) / np.linalg.norm(b))

    for direction in ("fwd", "bwd"):
        for changes in PALLAS_VARIANTS[direction]:
            config = fast.pallas_config(**changes)
            f = lambda *a, config=config: fast._kernel_dplr_fast(*a, L, True, None, impl,
                                                                 config)
            name = ",".join(f"{k}={v}" for k, v in changes.items()) or "default"
            extra = {"variant": name, "config": dict(config), "direction": direction}
            if state.get("log"):
                print(f"  dplr_variant L={L} {direction} {name}", file=sys.stderr,
                      flush=True)
            try:
                g = f if direction == "fwd" else _grad_of(f, 6)
                compiled, peak = _compile(g, inputs[0])
                extra["rel_diff_vs_xla"] = differs(direction, compiled(*inputs[0]))
                t = time_median(compiled, inputs, cfg.repeats)
                rows.append(_record("dplr_variant", L, t, cfg, ceil, grad=direction == "bwd",
                                    peak=peak, extra=extra))
            except Exception as e:  # a configuration the compiler refuses
                rows.append({"method": "dplr_variant", "L": L, "variant": name,
                             "direction": direction, "skipped": f"{type(e).__name__}: "
                                                                 f"{str(e)[:300]}"})
    return rows


def pick_pallas(rows, L):
    """The fastest forward and backward configurations at length L, or None.

    Only configurations within 1e-5 relative of the XLA path (value, or gradient
    for the backward ones) take part.
    """
    best = {}
    for direction, pass_ in (("fwd", "fwd"), ("bwd", "fwd+bwd")):
        ok = [r for r in rows if r.get("method") == "dplr_variant" and r["L"] == L
              and r.get("direction") == direction and "ms" in r and r["pass"] == pass_
              and r["rel_diff_vs_xla"] < 1e-5]
        if not ok:
            return None
        best[direction] = dict(min(ok, key=lambda r: r["ms"])["config"])
    keys = {"fwd": ("fwd", "bm_fwd", "warps_fwd"), "bwd": ("bm_bwd", "warps_bwd")}
    return fast.pallas_config(**{k: best[d][k] for d, ks in keys.items() for k in ks})


def _kernel_rows(m, L, cfg, ceil):
    f, inputs, one = _kernel_method(m, L, cfg)
    inputs = [tuple(jnp.asarray(x) for x in ins) for ins in inputs]
    compiled, peak = _compile(f, inputs[0])
    t = time_median(compiled, inputs, cfg.repeats)
    out = np.asarray(compiled(*inputs[0]))
    if not np.all(np.isfinite(out)):
        raise FloatingPointError(f"{m} at L = {L} returned non-finite values")
    err = None
    check = min(cfg.check_channels, cfg.H)
    if check:
        ref = _error64(one, inputs[0], check)
        if np.iscomplexobj(ref) or np.iscomplexobj(out):   # compare both parts
            ref, out = np.stack([ref.real, ref.imag]), np.stack([out.real, out.imag])
            err = relative_error(ref, out[:, :check])
        else:
            err = relative_error(ref, out[:check])
    rows = [_record(m, L, t, cfg, ceil, peak=peak, err=err)]
    if cfg.grad and m in GRAD_METHODS:
        tg, peak = _timed(_grad_of(f, len(inputs[0])), inputs, cfg)
        rows.append(_record(m, L, tg, cfg, ceil, grad=True, peak=peak))
    return rows


def _legs_error_rows(L, cfg):
    """The float32 error of the layer's kernel for its LegS start, all H channels."""
    lcfg = layers.LayerConfig(H=cfg.H, N=cfg.N, kernel="dplr")
    params = layers.init_ssm(jax.random.PRNGKey(0), lcfg)
    k32 = np.asarray(jax.jit(lambda p: layers.ssm_kernel(p, lcfg, L))(params))
    with jax.enable_x64(True):
        p64 = jax.tree_util.tree_map(
            lambda x: jnp.asarray(np.asarray(x), jnp.complex128 if np.iscomplexobj(x)
                                  else jnp.float64), params)
        k64 = np.asarray(layers.ssm_kernel(p64, layers.LayerConfig(
            H=cfg.H, N=cfg.N, kernel="dplr", kernel_impl="reference"), L))
    per = np.linalg.norm(k64 - k32, axis=1) / np.linalg.norm(k64, axis=1)
    return [{"method": "legs_error", "L": L, "pass": "fwd", "rel_err_f32": relative_error(k64, k32),
             "worst_channel_err_f32": float(per.max()), "pallas": dict(fast.PALLAS)
             if jax.default_backend() == "gpu" else None}]


# --------------------------------------------------------------------------------------
# the run
# --------------------------------------------------------------------------------------

class _Bar:
    """A tqdm progress bar (``progress``), or a line per step on stderr with the
    seconds since the start (``log``, or ``progress`` without tqdm installed), so a
    log shows where a run that was cut short stopped; or nothing."""

    def __init__(self, total, progress, log):
        import time
        self.start = time.perf_counter()
        self.bar, self.log = None, log
        if progress:
            try:
                from tqdm import tqdm
                self.bar = tqdm(total=total, desc="benchmark", file=sys.stderr)
            except ImportError:
                self.log = True

    def begin(self, text):
        if self.log:
            import time
            print(f"benchmark [{time.perf_counter() - self.start:6.1f} s] {text} ...",
                  file=sys.stderr, flush=True)

    def step(self, text):
        if self.bar is not None:
            self.bar.set_postfix_str(text)
            self.bar.update(1)

    def close(self):
        if self.bar is not None:
            self.bar.close()


def _jobs(cfg):
    """The run as (label, method, L) in order: the given methods, each over its sizes."""
    jobs = [("ceilings", "ceilings", None)]
    for m in cfg.methods:
        if m == "rnn_step" or m == "rnn_loop":
            jobs.append((m, m, None))
        elif m in LAYER_METHODS:
            jobs += [(f"{m} L={L}", m, L) for L in cfg.layer_sizes]
        elif m == "legs_error":
            jobs += [(f"{m} L={L}", m, L) for L in cfg.sizes]
        elif m == "dplr_variant":
            jobs += [(f"{m} L={L}", m, L) for L in cfg.variant_sizes]
        else:
            jobs += [(f"{m} L={L}", m, L) for L in cfg.sizes if L <= cfg.caps.get(m, L)]
    return jobs


def run_benchmark(cfg: BenchConfig, progress: bool = True, out: str | None = None,
                  budget_s: float | None = None, pick: int | None = None, log: bool = False):
    """Run every method of ``cfg``; returns the JSON-ready dict (metadata, ceilings, rows).

    ``out``: a JSON file rewritten after every step, so a run cut short keeps what it
    measured. ``budget_s``: steps that would start after this many seconds are
    skipped (listed under ``"skipped"``). ``pick``: after the ``dplr_variant`` rows at
    this L, :data:`s4_minimal.fast.PALLAS` is set to the fastest forward and backward
    configurations for the rest of the run (recorded under ``"pallas"``). ``log``: a
    line on stderr as each step starts.
    """
    import time
    if not isinstance(cfg, BenchConfig):
        fail("run_benchmark", "cfg", "a BenchConfig", cfg, TypeError)
    start = time.perf_counter()
    jobs = _jobs(cfg)
    bar = _Bar(len(jobs), progress, log)
    date = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    result = {"environment": {**environment(), "date": date}, "config": cfg.as_dict(),
              "ceilings": None, "counting": FLOOR_COUNTING,
              "methods": {**METHODS, **LAYER_METHODS}, "pallas_variants": PALLAS_VARIANTS,
              "results": [], "skipped": [], "failed": [], "complete": False}
    rows = result["results"]
    ceil = None
    for label, m, L in jobs:
        if budget_s is not None and time.perf_counter() - start > budget_s:
            result["skipped"].append(label)
            continue
        bar.begin(label)
        try:
            if m == "ceilings":
                ceil = measure_ceilings(repeats=max(3, min(cfg.repeats, 10)))
                result["ceilings"] = ceil
            elif m == "rnn_step":
                rows += _rnn_rows(cfg, ceil)
            elif m == "rnn_loop":
                rows += _rnn_loop_rows(cfg, ceil)
            elif m == "legs_error":
                rows += _legs_error_rows(L, cfg)
            elif m == "dplr_variant":
                rows += _variant_rows(L, cfg, ceil, {"log": log})
                if pick == L and jax.default_backend() == "gpu":
                    best = pick_pallas(rows, L)
                    if best is not None:
                        fast.PALLAS = best
            elif m in LAYER_METHODS:
                rows += _layer_rows(L, cfg, ceil, m)
            else:
                rows += _kernel_rows(m, L, cfg, ceil)
        except Exception as e:  # keep going: one failing method must not lose the others
            if m == "ceilings":
                raise
            result["failed"].append({"job": label, "error": f"{type(e).__name__}: {str(e)[:300]}"})
        bar.step(label)
        result["pallas"] = dict(fast.PALLAS)
        result["elapsed_s"] = time.perf_counter() - start
        if out:
            write_json(result, out)
    bar.close()
    stats = jax.devices()[0].memory_stats() or {}
    result["process_peak_bytes"] = stats.get("peak_bytes_in_use")
    result["complete"] = not result["skipped"] and not result["failed"]
    if out:
        write_json(result, out)
    return result


def merge(results):
    """Several runs' JSON dicts as one: the first run's metadata, every run's rows
    (a row measured twice, same method, L, pass and variant, kept from the first run),
    and as skipped only what no run measured."""
    if not results:
        fail("merge", "results", "at least one benchmark result", results)
    out = dict(results[0])
    out["runs"] = [{"config": r["config"], "ceilings": r["ceilings"],
                    "environment": r["environment"], "elapsed_s": r.get("elapsed_s"),
                    "skipped": r.get("skipped", []), "failed": r.get("failed", []),
                    "pallas": r.get("pallas")} for r in results]
    seen, out["results"] = set(), []
    for row in (row for r in results for row in r["results"]):   # the first of duplicates
        key = (row["method"], row["L"], row.get("pass"), row.get("variant"), row.get("unroll"))
        if key not in seen:
            seen.add(key)
            out["results"].append(row)
    # what one run skipped and another measured is no longer missing
    measured = {f"{row['method']} L={row['L']}" for row in out["results"]}
    out["skipped"] = list(dict.fromkeys(s for r in results for s in r.get("skipped", [])
                                        if s not in measured))
    out["failed"] = [s for r in results for s in r.get("failed", [])]
    out["complete"] = not out["skipped"] and not out["failed"]
    return out


def format_table(result):
    """The results as a plain-text table (one line per row, at most 76 characters)."""
    lines = [f"{'method':<14}{'L':>7} {'pass':<8}{'ms':>10}{'x floor':>9}{'bound':>6}"
             f"{'MB':>8}{'f32 err':>9}"]
    for r in result["results"]:
        err = "" if r.get("rel_err_f32") is None else f"{r['rel_err_f32']:.0e}"
        if "ms" not in r:   # an error alone, or a configuration that did not compile
            tail = "skipped" if "skipped" in r else ""
            lines.append(f"{r['method']:<14}{r['L']:>7} {tail:<45}{err:>9}")
            continue
        mb = "" if r.get("peak_bytes") is None else f"{r['peak_bytes'] / 2**20:.0f}"
        ms = f"{r['ms']:.4f}" if r["ms"] < 1 else f"{r['ms']:.2f}"
        lines.append(f"{r['method']:<14}{r['L']:>7} {r['pass']:<8}{ms:>10}"
                     f"{r['x_floor']:>9.1f}{r['bound']:>6}{mb:>8}{err:>9}")
    c = result["ceilings"]
    if c:
        lines.append(f"ceilings: {c['bandwidth'] / 1e9:.0f} GB/s, {c['flops'] / 1e9:.0f} "
                     f"GFLOP/s (float32) on {result['environment']['device']}")
    return "\n".join(lines)


def _int_list(text):
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}")


def main(argv=None):
    """Command line: ``python -m s4_minimal.perf [--sizes 1024,4096] [--methods a,b] ...``."""
    p = argparse.ArgumentParser(prog="python -m s4_minimal.perf",
                                description="Time every way s4_minimal computes the S4 kernel "
                                            "and layer; print a table, write JSON.")
    p.add_argument("--sizes", type=_int_list, default=[1024, 4096, 16384, 65536])
    p.add_argument("--layer-sizes", type=_int_list, default=[1024, 4096, 16384, 65536])
    p.add_argument("--H", type=int, default=256)
    p.add_argument("--N", type=int, default=64)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--methods", default="all",
                   help="comma-separated, from: " + ", ".join(list(METHODS) + list(LAYER_METHODS)))
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--check-channels", type=int, default=4)
    p.add_argument("--rnn-steps", type=int, default=2048)
    p.add_argument("--no-grad", action="store_true")
    p.add_argument("--no-progress", action="store_true",
                   help="a line per step instead of a progress bar")
    p.add_argument("--out", default=None, help="JSON file to write (after every step)")
    p.add_argument("--budget-s", type=float, default=None,
                   help="skip the steps that would start after this many seconds")
    p.add_argument("--pick-pallas", type=int, default=None, metavar="L",
                   help="after the dplr_variant rows at this L, run the rest with the "
                        "fastest Pallas configuration")
    p.add_argument("--pallas-from", default=None, metavar="JSON",
                   help="run with the Pallas configuration a previous run picked")
    p.add_argument("--variant-sizes", type=_int_list, default=[16384, 65536])
    p.add_argument("--merge", nargs="+", default=None, metavar="JSON",
                   help="merge these result files into --out and print the table")
    args = p.parse_args(argv)
    if args.merge:
        result = merge(read_json_runs(args.merge))
        print(format_table(result))
        if args.out:
            write_json(result, args.out)
        return result
    methods = None if args.methods == "all" else [m.strip() for m in args.methods.split(",")]
    try:
        cfg = BenchConfig(sizes=args.sizes, H=args.H, N=args.N, batch=args.batch,
                          methods=methods, layer_sizes=args.layer_sizes, repeats=args.repeats,
                          check_channels=args.check_channels, rnn_steps=args.rnn_steps,
                          grad=not args.no_grad, variant_sizes=args.variant_sizes)
    except (ValueError, TypeError) as e:
        p.error(str(e))
    if args.pallas_from:
        try:
            with open(args.pallas_from) as fh:
                fast.PALLAS = fast.pallas_config(**json.load(fh)["pallas"])
        except (OSError, ValueError, KeyError) as e:
            print(f"--pallas-from: {e}; the default configuration runs", file=sys.stderr)
    result = run_benchmark(cfg, progress=not args.no_progress, out=args.out,
                           budget_s=args.budget_s, pick=args.pick_pallas,
                           log=args.no_progress)
    print(format_table(result))
    return result


if __name__ == "__main__":
    main()
