"""Iteration script for the fast kernels (one GPU call): times variants, prints a table."""
import time, sys, json
import jax, jax.numpy as jnp, numpy as np
from s4_minimal import kernels, fast, hippo

def timeit(f, inputs, n=20):
    jax.block_until_ready(f(*inputs[0]))
    jax.block_until_ready(f(*inputs[1]))
    ts = []
    for i in range(n):
        x = inputs[i % len(inputs)]
        t0 = time.perf_counter(); jax.block_until_ready(f(*x)); ts.append(time.perf_counter() - t0)
    return float(np.median(ts)) * 1e3

def dplr_inputs(H, N, seed):
    rng = np.random.default_rng(seed)
    Lam, P, B, V = hippo.legs_dplr(N)
    Lam = (Lam.real * rng.uniform(0.5, 2, (H, 1)) + 1j * Lam.imag).astype(np.complex64)
    P = np.broadcast_to(P, (H, N)).astype(np.complex64); B = np.broadcast_to(B, (H, N)).astype(np.complex64)
    Ct = (rng.standard_normal((H, N)) + 1j * rng.standard_normal((H, N))).astype(np.complex64)
    dt = np.exp(rng.uniform(np.log(1e-3), np.log(1e-1), H)).astype(np.float32)
    return [jnp.asarray(x) for x in (Lam, P, P, B, Ct, dt)]

H, N = 256, 64
rows = []
dev = jax.devices()[0]
print(dev.device_kind, jax.__version__)
for L in [16384, 65536]:
    inputs = [dplr_inputs(H, N, s) for s in range(3)]
    G = jnp.asarray(np.random.default_rng(9).standard_normal((H, L)), jnp.float32)
    ref = jax.jit(jax.vmap(lambda *a: kernels.kernel_dplr(*a[:5], a[5], L, True)))
    variants = {"ref": ref}
    for ch in [None, 512, 1024, 2048, 4096]:
        variants[f"fast_c{ch}"] = jax.jit(lambda *a, ch=ch: fast.kernel_dplr_fast(*a, L, True, chunk=ch))
    for name, f in variants.items():
        if name == "ref" and L > 16384: continue
        try:
            tf = timeit(f, inputs)
            g = jax.jit(jax.grad(lambda Lam, P, Q, B, Ct, dt, f=f: jnp.sum(f(Lam, P, Q, B, Ct, dt) * G), argnums=(0, 1, 2, 3, 4, 5)))
            tb = timeit(g, inputs)
        except Exception as e:
            print(name, L, "failed", repr(e)[:300]); continue
        rows.append((name, L, tf, tb)); print(f"{name:14s} L={L:6d} fwd {tf:8.3f} ms  fwd+bwd {tb:8.3f} ms", flush=True)
    # accuracy vs float64 on CPU for 4 channels
    out = np.asarray(variants["fast_c1024"](*inputs[0]))[:4]
    a = [np.asarray(x)[:4] for x in inputs[0]]
    cpu = jax.devices("cpu")[0]
    with jax.enable_x64(True), jax.default_device(cpu):
        r64 = np.stack([np.asarray(kernels.kernel_dplr(a[0][h].astype(np.complex128), a[1][h].astype(np.complex128), a[2][h].astype(np.complex128), a[3][h].astype(np.complex128), a[4][h].astype(np.complex128), float(a[5][h]), L, True)) for h in range(4)])
    print("dplr f32 err", L, np.linalg.norm(out - r64) / np.linalg.norm(r64))
    # diag
    rng = np.random.default_rng(1)
    Lam = jnp.asarray((-0.5 + 1j * np.pi * np.arange(N))[None].repeat(H, 0), jnp.complex64)
    Bd = jnp.ones((H, N), jnp.complex64)
    din = [(Lam, Bd, jnp.asarray(rng.standard_normal((H, N)) + 1j * rng.standard_normal((H, N)), jnp.complex64),
            jnp.asarray(np.exp(rng.uniform(np.log(1e-3), np.log(1e-1), H)), jnp.float32)) for _ in range(3)]
    dref = jax.jit(jax.vmap(lambda *a: kernels.kernel_diag(*a, L)))
    dfast = jax.jit(lambda *a: fast.kernel_diag_fast(*a, L))
    for name, f in [("diag_ref", dref), ("diag_fast", dfast)]:
        tf = timeit(f, din); print(f"{name:14s} L={L:6d} fwd {tf:8.3f} ms", flush=True)
    out = np.asarray(dfast(*din[0]))[:4]; a = [np.asarray(x)[:4] for x in din[0]]
    with jax.enable_x64(True), jax.default_device(cpu):
        r64 = np.stack([np.asarray(kernels.kernel_diag(a[0][h].astype(np.complex128), a[1][h].astype(np.complex128), a[2][h].astype(np.complex128), float(a[3][h]), L)) for h in range(4)])
    print("diag f32 err", L, np.linalg.norm(out - r64) / np.linalg.norm(r64))
print("peak bytes", (dev.memory_stats() or {}).get("peak_bytes_in_use"))
