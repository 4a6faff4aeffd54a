"""Claims of chapter 11 (the recurrence in parallel) about s4_minimal.scan."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from s4_minimal import scan

METHODS = scan.METHODS


def loop(a, b, x0=None):
    """The float64 reference: x_k = a_k x_{k-1} + b_k, one step at a time in NumPy."""
    a = np.broadcast_to(a, b.shape)
    x = np.zeros(b.shape[1:], b.dtype) if x0 is None else x0
    out = np.empty_like(b)
    for k in range(b.shape[0]):
        x = a[k] * x + b[k]
        out[k] = x
    return out


def random_problem(shape, seed, complex_=False):
    """Decays with |a| < 1 and standard normal inputs."""
    rng = np.random.default_rng(seed)
    a = rng.uniform(-0.99, 0.99, shape)
    b = rng.standard_normal(shape)
    if complex_:
        a = a * np.exp(1j * rng.uniform(0, 2 * np.pi, shape))
        b = b + 1j * rng.standard_normal(shape)
    return a, b


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("L", [1, 2, 7, 8, 257])
def test_every_method_equals_the_loop(x64, method, L):
    for complex_ in (False, True):
        a, b = random_problem((L, 3), L, complex_)
        # float64, |a| < 1: rounding only (measured at most 1.0e-15 over these cases).
        np.testing.assert_allclose(scan.linear_recurrence(a, b, method=method), loop(a, b),
                                   rtol=0, atol=1e-13)


@pytest.mark.parametrize("method", METHODS)
def test_initial_state_broadcast_decay_and_other_axis(x64, method):
    rng = np.random.default_rng(1)
    a, b = random_problem((50, 4, 3), 2)
    a = a[:, :1, :]                                    # one decay shared along axis 1
    x0 = rng.standard_normal((4, 3))
    expected = loop(a, b, x0)
    got = scan.linear_recurrence(np.moveaxis(a, 0, 2), np.moveaxis(b, 0, 2), x0,
                                 axis=2, method=method)
    # float64 rounding only (measured 4e-16).
    np.testing.assert_allclose(np.moveaxis(np.asarray(got), 2, 0), expected, rtol=0, atol=1e-13)


def test_combine_is_associative_and_has_an_identity(x64):
    rng = np.random.default_rng(3)
    f, g, h = [(rng.standard_normal(5), rng.standard_normal(5)) for _ in range(3)]
    left = scan.combine(scan.combine(f, g), h)
    right = scan.combine(f, scan.combine(g, h))
    # the two groupings differ by rounding only (measured 4e-16)
    np.testing.assert_allclose(left[0], right[0], rtol=1e-14, atol=1e-14)
    np.testing.assert_allclose(left[1], right[1], rtol=1e-14, atol=1e-14)
    one = (np.ones(5), np.zeros(5))
    for side in (scan.combine(one, f), scan.combine(f, one)):
        np.testing.assert_array_equal(side[0], f[0])
        np.testing.assert_array_equal(side[1], f[1])
    # composition order: combine(f, g) is "f first, then g"
    x = rng.standard_normal(5)
    a, b = scan.combine(f, g)
    np.testing.assert_allclose(a * x + b, g[0] * (f[0] * x + f[1]) + g[1], rtol=1e-14)


def test_blelloch_equals_jax_associative_scan_with_the_same_operator(x64):
    a, b = random_problem((1000, 2), 4, complex_=True)
    _, reference = jax.lax.associative_scan(scan.combine, (jnp.asarray(a), jnp.asarray(b)))
    # two tree orders of the same float64 products (measured 4e-16)
    np.testing.assert_allclose(scan.linear_recurrence(a, b, method="blelloch"), reference,
                               rtol=0, atol=1e-13)


@pytest.mark.parametrize("dtype, bound", [(np.float32, 2e-6), (np.float64, 1e-14)])
@pytest.mark.parametrize("L", [64, 4096])
def test_step_by_step_equals_parallel_up_to_4096_steps(dtype, bound, L):
    # the RNN (one step at a time) against the parallel scan, in float32 and float64;
    # measured at most 2.2e-7 (float32) and 4.1e-16 (float64), relative to max |x|.
    rng = np.random.default_rng(L)
    a = np.exp(-rng.uniform(1e-3, 0.1, (L, 8)))      # slow decays: long memory
    b = rng.standard_normal((L, 8))
    with jax.enable_x64(dtype == np.float64):
        a, b = a.astype(dtype), b.astype(dtype)
        seq = np.asarray(scan.linear_recurrence(a, b, method="sequential"))
        for method in ("parallel", "blelloch"):
            par = np.asarray(scan.linear_recurrence(a, b, method=method))
            assert par.dtype == dtype
            err = np.max(np.abs(par - seq)) / np.max(np.abs(seq))
            assert err < bound, (method, err)


@pytest.mark.parametrize("method", ["parallel", "blelloch"])
def test_gradient_equals_central_differences(x64, method):
    a, b = random_problem((20, 2), 5)
    w = np.random.default_rng(6).standard_normal((20, 2))

    def loss(a, b):
        return jnp.sum(w * scan.linear_recurrence(a, b, method=method))

    loss = jax.jit(loss)
    ga, gb = jax.grad(loss, argnums=(0, 1))(a, b)
    eps = 1e-6
    for (i, j) in [(0, 0), (7, 1), (19, 0)]:
        for arr, grad, which in ((a, ga, 0), (b, gb, 1)):
            plus, minus = arr.copy(), arr.copy()
            plus[i, j] += eps
            minus[i, j] -= eps
            args_p = (plus, b) if which == 0 else (a, plus)
            args_m = (minus, b) if which == 0 else (a, minus)
            fd = (float(loss(*args_p)) - float(loss(*args_m))) / (2 * eps)
            # central differences: error ~ eps^2 + 1e-16 / eps (measured 9.7e-10)
            assert abs(fd - float(grad[i, j])) < 1e-7 * max(1.0, abs(fd))


def test_jit_and_vmap():
    a, b = random_problem((33, 4), 7)
    a, b = a.astype(np.float32), b.astype(np.float32)
    f = jax.jit(lambda a, b: scan.linear_recurrence(a, b, method="blelloch"))
    g = jax.vmap(lambda a, b: scan.linear_recurrence(a, b), in_axes=1, out_axes=1)
    seq = scan.linear_recurrence(a, b, method="sequential")
    # float32 rounding only (measured 2.4e-7)
    np.testing.assert_allclose(f(a, b), seq, rtol=0, atol=1e-5)
    np.testing.assert_allclose(g(a, b), seq, rtol=0, atol=1e-5)


@pytest.mark.parametrize("kwargs, name, error", [
    (dict(a=np.ones(3), b=np.ones(3), method="fast"), "method", ValueError),
    (dict(a=np.ones(3), b=np.ones(3), method=1), "method", TypeError),
    (dict(a=np.ones(4), b=np.ones(3)), "'a'", ValueError),
    (dict(a=np.ones((3, 2)), b=np.ones((3, 4))), "'a'", ValueError),
    (dict(a=1.0, b=2.0), "'b'", ValueError),
    (dict(a="x", b=np.ones(3)), "'a'", TypeError),
    (dict(a=np.ones(3), b=np.ones(3), axis=1), "'axis'", ValueError),
    (dict(a=np.ones(3), b=np.ones(3), axis=0.0), "'axis'", TypeError),
    (dict(a=np.ones((3, 2)), b=np.ones((3, 2)), x0=np.ones(3)), "'x0'", ValueError),
    (dict(a=np.ones(3), b=np.array([1.0, np.nan, 2.0])), "'b'", ValueError),
])
def test_bad_arguments_name_the_argument(kwargs, name, error):
    with pytest.raises(error, match=name):
        scan.linear_recurrence(**kwargs)
