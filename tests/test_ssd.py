"""Claims of chapter 13 (the matrix view) about s4_minimal.ssd."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from s4_minimal import ssd, ssm
from s4_minimal import bench_after
from s4_minimal.bench_after import ssd_inputs


def loop(x, log_a, B, C):
    """The float64 reference: h_t = a_t h_{t-1} + x_t B_t^T, y_t = h_t C_t, per batch and head."""
    b, L, h, P = x.shape
    r = h // B.shape[2]
    y = np.zeros((b, L, h, P))
    for i in range(b):
        for j in range(h):
            state = np.zeros((P, B.shape[3]))
            for t in range(L):
                state = np.exp(log_a[i, t, j]) * state + np.outer(x[i, t, j], B[i, t, j // r])
                y[i, t, j] = state @ C[i, t, j // r]
    return y


def small_problem(L, seed=0, heads=4, groups=2):
    return [np.asarray(t) for t in ssd_inputs(seed, 2, L, heads, 3, 5, groups, np.float64)]


def rel_max(ref, got):
    return np.max(np.abs(np.asarray(got, np.float64) - ref)) / np.max(np.abs(ref))


@pytest.mark.parametrize("L, chunk", [(37, 8), (37, 64), (64, 16), (1, 4)])
def test_matrix_equals_scan_equals_chunked_equals_loop(x64, L, chunk):
    args = small_problem(L)
    expected = loop(*args)
    # float64: rounding only (measured at most 4.7e-16 relative to max |y|).
    for got in (ssd.ssd_naive(*args), ssd.ssd_scan(*args),
                ssd.ssd_scan(*args, method="sequential"), ssd.ssd_chunked(*args, chunk=chunk)):
        assert rel_max(expected, got) < 1e-13


def test_semiseparable_matrix_entries(x64):
    _, log_a, B, C = small_problem(9, seed=1)
    M = np.asarray(ssd.semiseparable_matrix(log_a, B, C))
    r = 4 // 2
    for i in range(9):
        for j in range(9):
            for hd in (0, 3):
                want = 0.0
                if i >= j:
                    decay = np.prod(np.exp(log_a[1, j + 1:i + 1, hd]))
                    want = C[1, i, hd // r] @ B[1, j, hd // r] * decay
                # float64 products of at most 9 factors (measured 2e-16 relative)
                assert abs(M[1, hd, i, j] - want) <= 1e-13 * max(1.0, abs(want))


def test_time_invariant_matrix_is_chapter_5_toeplitz(x64):
    # constant decay a and constant B, C: M[i, j] = C a^(i-j) B = K[i - j] with
    # chapter 5's kernel of the system (Ab, Bb, C) = (a I, B, C).
    L, N, a = 12, 4, 0.8
    rng = np.random.default_rng(2)
    Bv, Cv = rng.standard_normal(N), rng.standard_normal(N)
    log_a = np.full((1, L, 1), np.log(a))
    M = np.asarray(ssd.semiseparable_matrix(log_a, np.tile(Bv, (1, L, 1, 1)),
                                            np.tile(Cv, (1, L, 1, 1))))[0, 0]
    K = np.asarray(ssm.conv_kernel(a * np.eye(N), Bv, Cv, L))
    toeplitz = np.array([[K[i - j] if i >= j else 0.0 for j in range(L)] for i in range(L)])
    # float64 (measured 4e-16)
    np.testing.assert_allclose(M, toeplitz, rtol=0, atol=1e-13)


def test_segsum_is_the_log_of_the_decay_products(x64):
    log_a = -np.random.default_rng(3).uniform(0, 1, 7)
    S = np.asarray(ssd.segsum(log_a))
    for i in range(7):
        for j in range(7):
            if i < j:
                assert S[i, j] == -np.inf
            else:
                # sums of at most 6 terms (measured 2e-16)
                assert abs(S[i, j] - log_a[j + 1:i + 1].sum()) < 1e-14


@pytest.mark.parametrize("dtype, bound", [(np.float32, 1e-5), (np.float64, 1e-13)])
@pytest.mark.parametrize("L", [300, 4096])
def test_step_by_step_equals_chunked_up_to_4096_steps(dtype, bound, L):
    # the recurrence one step at a time against the chunked algorithm (chunk 256,
    # L = 300 not a multiple of it); Mamba-2-like decays and inputs. Relative to
    # max |y|: measured at most 2.7e-6 (float32) and 3.8e-15 (float64).
    with jax.enable_x64(dtype == np.float64):
        args = ssd_inputs(4, 1, L, 2, 8, 16, 1, dtype)
        seq = np.asarray(ssd.ssd_scan(*args, method="sequential"))
        chunked = np.asarray(ssd.ssd_chunked(*args, chunk=256))
        assert chunked.dtype == dtype
        assert rel_max(seq, chunked) < bound


def test_float32_chunked_error_against_float64(x64):
    # one long sequence of Mamba-2-like inputs, chunk 256: the float32 chunked
    # output against the float64 loop of the recurrence (measured 1.2e-6 relative
    # to max |y|; the decays inside a chunk are exp of differences of sums that
    # start at the chunk, at most 256 terms).
    args64 = [np.asarray(t) for t in ssd_inputs(5, 1, 2048, 4, 8, 16, 1, np.float64)]
    ref = np.asarray(ssd.ssd_scan(*args64, method="sequential"))
    y32 = ssd.ssd_chunked(*[t.astype(np.float32) for t in args64], chunk=256)
    assert y32.dtype == jnp.float32
    assert rel_max(ref, y32) < 1e-5


def test_gradient_equals_central_differences(x64):
    args = small_problem(11, seed=6)
    w = np.random.default_rng(7).standard_normal(args[0].shape)
    loss = jax.jit(lambda *a: jnp.sum(w * ssd.ssd_chunked(*a, chunk=4)))
    grads = jax.grad(loss, argnums=(0, 1, 2, 3))(*args)
    eps = 1e-6
    worst = 0.0
    for k, index in [(0, (1, 5, 2, 1)), (1, (0, 3, 1)), (1, (1, 10, 3)), (2, (0, 4, 1, 2)),
                     (3, (1, 9, 0, 4))]:
        plus = [t.copy() for t in args]
        minus = [t.copy() for t in args]
        plus[k][index] += eps
        minus[k][index] -= eps
        fd = (float(loss(*plus)) - float(loss(*minus))) / (2 * eps)
        worst = max(worst, abs(fd - float(grads[k][index])) / max(1.0, abs(fd)))
    # central differences in float64: ~ eps^2 + 1e-16 / eps (measured 2.2e-10)
    assert worst < 1e-7


@pytest.mark.parametrize("change, name, error", [
    (dict(x=np.ones((2, 5, 4))), "'x'", ValueError),
    (dict(log_a=np.ones((2, 5, 4))), "'log_a'", ValueError),
    (dict(log_a=-np.ones((2, 6, 4))), "'log_a'", ValueError),
    (dict(B=np.ones((2, 5, 3, 2))), "'B'", ValueError),
    (dict(C=np.ones((2, 5, 2, 3))), "'C'", ValueError),
    (dict(x="x"), "'x'", TypeError),
])
def test_bad_arguments_name_the_argument(change, name, error):
    args = dict(x=np.ones((2, 5, 4, 3)), log_a=-np.ones((2, 5, 4)), B=np.ones((2, 5, 2, 2)),
                C=np.ones((2, 5, 2, 2)))
    args.update(change)
    for f in (ssd.ssd_naive, ssd.ssd_scan, ssd.ssd_chunked):
        with pytest.raises(error, match=name):
            f(**args)


def test_bad_options_name_the_argument():
    args = (np.ones((1, 5, 2, 3)), -np.ones((1, 5, 2)), np.ones((1, 5, 1, 2)),
            np.ones((1, 5, 1, 2)))
    with pytest.raises(ValueError, match="'chunk'"):
        ssd.ssd_chunked(*args, chunk=0)
    with pytest.raises(TypeError, match="'chunk'"):
        ssd.ssd_chunked(*args, chunk=2.0)
    with pytest.raises(ValueError, match="'precision'"):
        ssd.ssd_chunked(*args, precision="low")
    with pytest.raises(ValueError, match="'method'"):
        ssd.ssd_scan(*args, method="fast")


def test_bench_after_rows_have_the_fields_the_chapters_read(x64):
    from s4_minimal import bench_after

    tiny = {"diag": {"H": 2, "N_half": 2, "dt": 0.01, "sizes": [32], "batches": [1],
                     "max_state_gib": 1.0},
            "ssd": {"batch": 1, "L": 40, "heads": 2, "head_dim": 2, "state": 3, "groups": 1,
                    "chunk": 16, "reference_chunk": 8},
            "repeats": 10}
    result = bench_after.run(tiny, progress=False)
    assert {"environment", "config", "rows", "mamba2_triton_h200"} <= set(result)
    methods = {(r["part"], r["method"], r["pass"]) for r in result["rows"]}
    assert methods >= {("diag", m, "fwd") for m in ("sequential", "parallel", "conv")}
    assert methods >= {("ssd", m, p) for m in ("chunked", "scan") for p in ("fwd", "fwd+bwd")}
    for r in result["rows"]:
        if "skipped" in r:     # chunked_tf32x3 off NVIDIA GPUs
            assert r["method"] == "chunked_tf32x3"
            continue
        assert r["ms"] > 0
        # float32 against float64 at these tiny sizes (measured at most 2.8e-6)
        assert r["rel_err_f32"] < 1e-5
    assert "chunked" in bench_after.format_table(result)
    for r in result["rows"]:
        if r["part"] == "ssd" and r["method"] == "chunked" and "skipped" not in r:
            assert r["chunk"] == 16 and r["precision"] == "highest" and r["x_floor"] > 0
            assert (r["flops"], r["bytes"]) == bench_after.ssd_floor(
                tiny["ssd"], 16, r["pass"] == "fwd+bwd")


def test_ssd_floor_counts_the_chunked_products_by_hand():
    # batch 2, L = 40 in chunks of 16 (3 chunks, the last padded), 4 heads of width 3
    # sharing 2 groups, state 5. Per batch and chunk: C B^T per group 2 * 2 * 16^2 * 5,
    # scores x per head 2 * 4 * 16^2 * 3, chunk states and their read-out 2 * 2 * 4 * 16 * 5 * 3.
    c = {"batch": 2, "L": 40, "heads": 4, "head_dim": 3, "state": 5, "groups": 2}
    flops = 2 * 3 * (2 * 2 * 256 * 5 + 2 * 4 * 256 * 3 + 2 * 2 * 4 * 16 * 5 * 3)
    nbytes = 4 * 2 * 40 * (2 * 4 * 3 + 4 + 2 * 2 * 5)    # x, y; log_a; B, C
    assert bench_after.ssd_floor(c, 16) == (flops, nbytes)
    assert bench_after.ssd_floor(c, 16, grad=True) == (3 * flops, 3 * nbytes)
