"""Timing the recurrence three ways, and the matrix view against the scan.

Serves chapter 11 (the recurrence in parallel) and chapter 13 (the matrix view).

Command line (writes a JSON file the chapters plot)::

    python -m s4_minimal.bench_after --out FILE.json [--quick]

Part 1, a diagonal SSM of H channels with N/2 complex states each (zero-order
hold, real output ``y = 2 Re(C x)``), from inputs u of shape (batch, L, H) to
outputs y, computed by

- ``sequential``: the recurrence, one step after another (``lax.scan``);
- ``parallel``:   the recurrence as an associative scan (``lax.associative_scan``);
- ``conv``:       the Vandermonde kernel (chapter 7) plus an FFT convolution
  (chapter 5); the kernel is computed inside every call, so its cost is included.

Part 2, the scalar-decay SSM of chapter 13 (batch 16, 8 heads of width 32, state
64, chunk 256, L = 16,384 by default): ``ssd.ssd_chunked`` against ``ssd.ssd_scan``
(associative scan), forward and forward+backward, with the float32 error against
a float64 run of the chunked algorithm with another chunk size. The chunked form
runs twice: with full float32 matrix products (``chunked``) and with three
TensorFloat-32 products each (``chunked_tf32x3``, NVIDIA GPUs only; skipped
elsewhere, the reason recorded in the row).

Every time is the median of ``repeats`` (>= 10) calls after two warm-up calls,
each waited for with ``jax.block_until_ready`` (:func:`s4_minimal.bench.time_median`).
Memory is XLA's count for one compiled call (arguments + outputs + temporaries).
"""

from __future__ import annotations

import argparse
import copy
import datetime

import jax
import jax.numpy as jnp
import numpy as np

from . import bench, environment, kernels, ssd
from .scan import linear_recurrence

__all__ = ["FULL", "QUICK", "run", "diag_rows", "ssd_rows", "ssd_inputs", "ssd_floor", "merge",
           "format_table", "main", "MAMBA2_TRITON_H200"]

FULL = {
    "diag": {"H": 256, "N_half": 32, "dt": 0.01, "sizes": [1024, 4096, 16384, 65536],
             "batches": [1, 4, 16], "max_state_gib": 16.0},
    "ssd": {"batch": 16, "L": 16384, "heads": 8, "head_dim": 32, "state": 64, "groups": 1,
            "chunk": 256, "reference_chunk": 64,
            "variants": [[64, "highest"], [128, "highest"], [128, "tf32x3"],
                         [64, "tf32x3"]]},
    "repeats": 10,
}
QUICK = {
    "diag": {"H": 16, "N_half": 8, "dt": 0.01, "sizes": [256, 1024],
             "batches": [1, 4], "max_state_gib": 16.0},
    "ssd": {"batch": 2, "L": 512, "heads": 2, "head_dim": 16, "state": 16, "groups": 1,
            "chunk": 64, "reference_chunk": 32, "variants": [[32, "highest"], [32, "tf32x3"]]},
    "repeats": 10,
}

# The official Mamba-2 Triton kernel (mamba_chunk_scan_combined) at the FULL ssd
# setting on one H200, float32, measured outside this script (it needs the
# mamba_ssm package and a CUDA toolchain), together with a jax.lax.associative_scan
# of the same recurrence measured there.
MAMBA2_TRITON_H200 = {"fwd_ms": 1.62, "fwd+bwd_ms": 6.58, "max_err_f32": 1.5e-3,
                      "associative_scan_fwd_ms": 27.0, "associative_scan_fwd+bwd_ms": 119.0}


# --------------------------------------------------------------------------------------
# part 1: the diagonal SSM three ways
# --------------------------------------------------------------------------------------

def _diag_system(H, N_half, dt, dtype):
    """S4D-Lin-like channels: Lambda = -1/2 + i pi n, random B and C (seeded)."""
    rng = np.random.default_rng(0)
    Lam = -0.5 + 1j * np.pi * np.arange(N_half) + np.zeros((H, 1))
    B = rng.standard_normal((H, N_half)) + 1j * rng.standard_normal((H, N_half))
    C = rng.standard_normal((H, N_half)) + 1j * rng.standard_normal((H, N_half))
    dts = dt * np.exp(rng.uniform(-1, 1, H))
    return tuple(jnp.asarray(t, dtype) for t in (Lam, B, C)) + (
        jnp.asarray(dts, jnp.finfo(dtype).dtype),)


def _recurrence_ssm(method):
    def run(u, Lam, B, C, dts):                          # u (batch, L, H)
        Ab = jnp.exp(dts[:, None] * Lam)                 # (H, N/2), zero-order hold
        Bb = (Ab - 1) / Lam * B
        b = u[..., None] * Bb                            # (batch, L, H, N/2)
        x = linear_recurrence(Ab, b, axis=1, method=method)
        return 2 * jnp.real(jnp.einsum("blhn,hn->blh", x, C))
    return run


def _conv_ssm(u, Lam, B, C, dts):
    L = u.shape[1]
    K = 2 * jax.vmap(lambda l, b, c, d: kernels.kernel_diag(l, b, c, d, L))(Lam, B, C, dts)
    n = 2 * L
    U = jnp.fft.rfft(u, n, axis=1)                       # (batch, n/2+1, H)
    return jnp.fft.irfft(U * jnp.fft.rfft(K.T, n, axis=0), n, axis=1)[:, :L]


DIAG_METHODS = {"sequential": _recurrence_ssm("sequential"),
                "parallel": _recurrence_ssm("parallel"), "conv": _conv_ssm}


def _peak_bytes(f, args, compiled=None):
    """Device memory of one compiled call (XLA's count), None where unavailable."""
    try:
        m = (compiled or f.lower(*args).compile()).memory_analysis()
        return int(m.argument_size_in_bytes + m.output_size_in_bytes + m.temp_size_in_bytes)
    except Exception:  # backends without a memory analysis
        return None


def _diag_rows(cfg, repeats, bar, rows=None):
    rows = [] if rows is None else rows
    H, Nh = cfg["H"], cfg["N_half"]
    sys32 = _diag_system(H, Nh, cfg["dt"], jnp.complex64)
    sys64 = _diag_system(H, Nh, cfg["dt"], jnp.complex128)
    for L in cfg["sizes"]:
        for batch in cfg["batches"]:
            rng = np.random.default_rng(L + batch)
            u64 = rng.standard_normal((batch, L, H))
            inputs = [(jnp.asarray(u64, jnp.float32),) + sys32,
                      (jnp.asarray(rng.standard_normal((batch, L, H)), jnp.float32),) + sys32]
            y64 = np.asarray(jax.jit(_conv_ssm)(jnp.asarray(u64), *sys64))
            state_bytes = batch * L * H * Nh * 8
            for name, fn in DIAG_METHODS.items():
                row = {"part": "diag", "method": name, "L": L, "batch": batch, "pass": "fwd",
                       "state_bytes": state_bytes}
                if name != "conv" and state_bytes > cfg["max_state_gib"] * 2**30:
                    row["skipped"] = "the states alone exceed max_state_gib"
                else:
                    try:
                        f = jax.jit(fn)
                        compiled = f.lower(*inputs[0]).compile()
                        row["ms"] = 1e3 * bench.time_median(compiled, inputs, repeats)
                        row["peak_bytes"] = _peak_bytes(f, inputs[0], compiled)
                        row["rel_err_f32"] = bench.relative_error(y64, compiled(*inputs[0]))
                    except Exception as e:  # out of memory on the device, say
                        row["skipped"] = f"{type(e).__name__}: {str(e)[:200]}"
                rows.append(row)
                bar.update(1)
    return rows


# --------------------------------------------------------------------------------------
# part 2: the matrix view (SSD) against the scan
# --------------------------------------------------------------------------------------

def ssd_inputs(seed, batch, L, heads, head_dim, state, groups, dtype=np.float32):
    """Mamba-2-like inputs: dt log-uniform in [1e-3, 1e-1], A uniform in [-16, -1].

    Returns ``(dt x, dt A, B, C)``: the arguments of the ``ssd`` functions.
    """
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, L, heads, head_dim))
    dt = np.exp(rng.uniform(np.log(1e-3), np.log(1e-1), (batch, L, heads)))
    A = -rng.uniform(1, 16, heads)
    B = rng.standard_normal((batch, L, groups, state))
    C = rng.standard_normal((batch, L, groups, state))
    return tuple(jnp.asarray(t, dtype) for t in (x * dt[..., None], dt * A, B, C))


def _loss_grad(fn):
    """Gradient of <w, y> with respect to all four inputs (w fixed): a fwd+bwd pass."""
    def loss(w, *args):
        return jnp.vdot(w, fn(*args))
    return jax.grad(loss, argnums=(1, 2, 3, 4))


def ssd_floor(c, Q, grad=False):
    """``(flops, bytes)`` of the chunked SSD: its matrix products and its inputs + output.

    Per batch and chunk of Q steps: C B^T once per group (2 g Q^2 N), the masked
    scores times x per head (2 h Q^2 P), the chunk's state and the entering state's
    contribution (2 x 2 h Q N P). Bytes: x, y, log_a, B, C in float32, read or written
    once. Forward+backward: three times both.
    """
    b, L, h, P, N, g = (c[k] for k in ("batch", "L", "heads", "head_dim", "state", "groups"))
    chunks = -(-L // Q)
    flops = 2 * b * chunks * (g * Q * Q * N + h * Q * Q * P + 2 * h * Q * N * P)
    nbytes = 4 * b * L * (2 * h * P + h + 2 * g * N)
    return (3 * flops, 3 * nbytes) if grad else (flops, nbytes)


def _ssd_methods(c):
    """name -> (function, chunk, precision): the chunked form in each variant, the scan."""
    out = {}
    variants = [[c["chunk"], "highest"], [c["chunk"], "tf32x3"]] + list(c.get("variants", []))
    for Q, prec in variants:
        name = "chunked" + ("" if prec == "highest" else "_" + prec) + (
            "" if Q == c["chunk"] else f"_q{Q}")
        out[name] = (lambda *a, Q=Q, prec=prec: ssd.ssd_chunked(*a, chunk=Q, precision=prec),
                     Q, prec)
    out["scan"] = (lambda *a: ssd.ssd_scan(*a, method="parallel"), None, None)
    return out


def _ssd_rows(cfg, repeats, bar, ceil=None, rows=None):
    c = cfg
    shape = (c["batch"], c["L"], c["heads"], c["head_dim"], c["state"], c["groups"])
    inputs = [ssd_inputs(s, *shape) for s in (1, 2)]
    w = jnp.asarray(np.random.default_rng(3).standard_normal(inputs[0][0].shape), jnp.float32)
    ref_fn = jax.jit(lambda *a: ssd.ssd_chunked(*a, chunk=c["reference_chunk"]))
    x64 = [jnp.asarray(t, jnp.float64) for t in inputs[0]]
    y64 = np.asarray(ref_fn(*x64))
    g64 = [np.asarray(g) for g in jax.jit(_loss_grad(ref_fn))(w.astype(jnp.float64), *x64)]
    rows = [] if rows is None else rows
    for name, (fn, Q, prec) in _ssd_methods(c).items():
        for pass_ in ("fwd", "fwd+bwd"):
            row = {"part": "ssd", "method": name, "L": c["L"], "batch": c["batch"], "pass": pass_,
                   "chunk": Q, "precision": prec}
            try:
                if pass_ == "fwd":
                    f, args = jax.jit(fn), inputs
                else:
                    f, args = jax.jit(_loss_grad(fn)), [(w,) + a for a in inputs]
                compiled = f.lower(*args[0]).compile()
                row["ms"] = 1e3 * bench.time_median(compiled, args, repeats)
                row["peak_bytes"] = _peak_bytes(f, args[0], compiled)
                out = compiled(*args[0])
                if pass_ == "fwd":
                    row["rel_err_f32"] = bench.relative_error(y64, out)
                    row["max_err_f32"] = float(np.max(np.abs(y64 - np.asarray(out, np.float64)))
                                               / np.max(np.abs(y64)))
                else:
                    row["rel_err_f32"] = bench.relative_error(
                        np.concatenate([g.ravel() for g in g64]),
                        np.concatenate([np.asarray(g).ravel() for g in out]))
                del out
                if Q is not None and ceil is not None:
                    fl, by = ssd_floor(c, Q, pass_ == "fwd+bwd")
                    t_fl, t_by = fl / ceil["flops"], by / ceil["bandwidth"]
                    row.update(flops=fl, bytes=by, floor_ms=1e3 * max(t_fl, t_by),
                               bound="flops" if t_fl >= t_by else "bytes",
                               x_floor=row["ms"] / (1e3 * max(t_fl, t_by)))
            except Exception as e:  # out of memory on the device, say
                row["skipped"] = f"{type(e).__name__}: {str(e)[:200]}"
            rows.append(row)
            bar.update(1)
    return rows


class _NoBar:
    @staticmethod
    def update(n):
        pass


def diag_rows(cfg, repeats: int = 10):
    """Part 1 alone for a config like ``FULL["diag"]`` (needs ``jax_enable_x64``)."""
    return _diag_rows(cfg, repeats, _NoBar())


def ssd_rows(cfg, repeats: int = 10):
    """Part 2 alone for a config like ``FULL["ssd"]`` (needs ``jax_enable_x64``)."""
    return _ssd_rows(cfg, repeats, _NoBar())


class _Bar:
    """tqdm where it is installed; otherwise a line every ten steps."""

    def __init__(self, total, disable, on_update=None):
        self.n, self.disable, self.on_update = 0, disable, on_update
        try:
            from tqdm.auto import tqdm
            self.bar = tqdm(total=total, desc="bench_after", disable=disable)
        except ImportError:
            self.bar = None

    def update(self, n):
        self.n += n
        if self.bar is not None:
            self.bar.update(n)
        elif not self.disable and self.n % 10 == 0:
            print(f"bench_after: {self.n} rows", flush=True)
        if self.on_update is not None:
            self.on_update()

    def close(self):
        if self.bar is not None:
            self.bar.close()


def run(config=None, *, quick: bool = False, progress: bool = True, parts=("diag", "ssd"),
        out: str | None = None):
    """Run the parts (``"ssd"``, ``"diag"``, in the given order); the JSON-ready dict.

    Needs float64 (``jax_enable_x64``) for the references; :func:`main` turns it on.
    ``out``: a JSON file rewritten after each row. The device's ceilings
    (:func:`s4_minimal.perf.measure_ceilings`) are measured first; the SSD rows give
    their floors (:func:`ssd_floor`) against them.
    """
    from .perf import measure_ceilings

    if not jax.config.jax_enable_x64:
        raise RuntimeError("run: the float64 references need jax_enable_x64 "
                           "(use the command line, which enables it)")
    config = config or (QUICK if quick else FULL)
    repeats = config["repeats"]
    if repeats < 10:
        raise ValueError(f"run: config 'repeats' expected >= 10, got {repeats}")
    for part in parts:
        if part not in ("diag", "ssd"):
            raise ValueError(f"run: 'parts' expected names from ('diag', 'ssd'), got {part!r}")
    d = config["diag"]
    total = (3 * len(d["sizes"]) * len(d["batches"]) * ("diag" in parts)
             + 2 * len(_ssd_methods(config["ssd"])) * ("ssd" in parts))
    date = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    result = {"environment": {**environment(), "date": date}, "config": config, "quick": quick,
              "mamba2_triton_h200": MAMBA2_TRITON_H200, "ceilings": measure_ceilings(),
              "rows": [], "parts_done": []}
    bar = _Bar(total, disable=not progress,
               on_update=(lambda: bench.write_json(result, out)) if out else None)
    for part in parts:
        if part == "diag":
            _diag_rows(d, repeats, bar, result["rows"])
        else:
            _ssd_rows(config["ssd"], repeats, bar, result["ceilings"], result["rows"])
        result["parts_done"].append(part)
        if out:
            bench.write_json(result, out)
    bar.close()
    return result


def merge(results):
    """Several runs' JSON dicts as one: the first run's metadata, every run's rows."""
    out = dict(results[0])
    out["rows"] = [row for r in results for row in r["rows"]]
    out["parts_done"] = [p for r in results for p in r.get("parts_done", [])]
    return out


def format_table(result):
    """A plain-text table of the rows (times in ms, memory in MiB)."""
    lines = [f"{'part':<5}{'method':<20}{'pass':<8}{'L':>7}{'batch':>6}{'ms':>10}"
             f"{'MiB':>9}{'f32 err':>9}"]
    for r in result["rows"]:
        if "skipped" in r:
            tail = f"  skipped ({r['skipped'][:30]})"
        else:
            mb = "-" if r.get("peak_bytes") is None else f"{r['peak_bytes'] / 2**20:.0f}"
            tail = f"{r['ms']:>10.3f}{mb:>9}{r['rel_err_f32']:>9.1e}"
        lines.append(f"{r['part']:<5}{r['method']:<20}{r['pass']:<8}{r['L']:>7}"
                     f"{r['batch']:>6}{tail}")
    return "\n".join(lines)


def main(argv=None):
    """``python -m s4_minimal.bench_after --out FILE.json [--quick]``."""
    p = argparse.ArgumentParser(prog="python -m s4_minimal.bench_after",
                                description="Time the recurrence (sequential, parallel scan) "
                                            "against the kernel + FFT convolution, and the "
                                            "chunked SSD against the scan; write JSON.")
    p.add_argument("--out", required=True, help="JSON file to write")
    p.add_argument("--quick", action="store_true", help="small sizes (a CPU minute)")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--parts", default="diag,ssd", help="comma-separated, in order: diag, ssd")
    p.add_argument("--diag-sizes", default=None, help="comma-separated L (part 1)")
    p.add_argument("--diag-batches", default=None, help="comma-separated batch sizes (part 1)")
    p.add_argument("--merge", nargs="+", default=None, metavar="JSON",
                   help="merge these result files into --out and print the table")
    args = p.parse_args(argv)
    if args.merge:
        result = merge(bench.read_json_runs(args.merge))
    else:
        jax.config.update("jax_enable_x64", True)
        parts = tuple(x.strip() for x in args.parts.split(",") if x.strip())
        config = copy.deepcopy(QUICK if args.quick else FULL)
        for key, text in (("sizes", args.diag_sizes), ("batches", args.diag_batches)):
            if text:
                config["diag"][key] = [int(x) for x in text.split(",")]
        try:
            result = run(config, quick=args.quick, progress=not args.no_progress, parts=parts,
                         out=args.out)
        except ValueError as e:
            p.error(str(e))
    print(format_table(result))
    bench.write_json(result, args.out)
    return result


if __name__ == "__main__":
    main()
