"""Iteration 2: Pallas block sizes, and where the float32 error of the XLA path comes from."""
import time
import jax, jax.numpy as jnp, numpy as np
from s4_minimal import kernels, fast, hippo
import os
exec(open("tools/perf_iter.py").read().split("H, N = 256, 64")[0].split("from s4_minimal import kernels, fast, hippo")[1].replace("n=20", "n=int(os.environ.get('NRUN', 20))"))
H, N = int(os.environ.get("PH", 256)), int(os.environ.get("PN", 64))
IMPL = os.environ.get("IMPL", "pallas")
SIZES = [int(x) for x in os.environ.get("SIZES", "16384,65536").split(",")]
VARIANTS = [(64, 4, 32, 4), (128, 4, 64, 4), (32, 4, 16, 4), (128, 8, 32, 8), (64, 2, 32, 2)][:int(os.environ.get("NVAR", 5))]
cpu = jax.devices("cpu")[0]
def err64(out, inp, L, nch=4):
    nch = min(nch, H)
    a = [np.asarray(x)[:nch] for x in inp]
    with jax.enable_x64(True), jax.default_device(cpu):
        r64 = np.stack([np.asarray(kernels.kernel_dplr(*[a[i][h].astype(np.complex128) for i in range(5)], float(a[5][h]), L, True)) for h in range(nch)])
    out = np.asarray(out)[:nch]
    return np.linalg.norm(out - r64) / np.linalg.norm(r64)
for L in SIZES:
    inputs = [dplr_inputs(H, N, s) for s in range(3)]
    G = jnp.asarray(np.random.default_rng(9).standard_normal((H, L)), jnp.float32)
    if L == SIZES[0]:
        ref = jax.jit(jax.vmap(lambda *a: kernels.kernel_dplr(*a[:5], a[5], L, True)))
        print("err ref f32 on gpu", err64(ref(*inputs[0]), inputs[0], L))
        print("err xla f32 on gpu", err64(jax.jit(lambda *a: fast.kernel_dplr_fast(*a, L, True, impl="xla"))(*inputs[0]), inputs[0], L))
    for bmf, wf, bmb, wb in VARIANTS:
        jax.clear_caches()
        fast._BM_FWD, fast._WARPS_FWD, fast._BM_BWD, fast._WARPS_BWD = bmf, wf, bmb, wb
        f = jax.jit(lambda *a: fast.kernel_dplr_fast(*a, L, True, impl=IMPL))
        g = jax.jit(jax.grad(lambda Lam, P, Q, B, Ct, dt: jnp.sum(f(Lam, P, Q, B, Ct, dt) * G), argnums=(0, 1, 2, 3, 4, 5)))
        try:
            tf = timeit(f, inputs); tb = timeit(g, inputs)
            e = err64(f(*inputs[0]), inputs[0], L) if bmf == 64 else float("nan")
        except Exception as ex:
            print("failed", bmf, wf, bmb, wb, repr(ex)[:2000]); continue
        print(f"pallas L={L} fwd BM={bmf} w={wf} {tf:.3f} ms | bwd BM={bmb} w={wb} fwd+bwd {tb:.3f} ms | err {e:.2e}", flush=True)
    # grads of pallas vs xla (4 channels' worth, relative)
    fx = lambda *a: fast.kernel_dplr_fast(*a, L, True, impl="xla")
    gx = jax.jit(jax.grad(lambda *p: jnp.sum(fx(*p) * G), argnums=(0, 1, 2, 3, 4, 5)))(*inputs[0])
    gp = g(*inputs[0])
    print("grad rel diff pallas vs xla", [f"{float(jnp.linalg.norm(x - y) / jnp.linalg.norm(x)):.1e}" for x, y in zip(gx, gp)])
print("peak bytes", (jax.devices()[0].memory_stats() or {}).get("peak_bytes_in_use"))
