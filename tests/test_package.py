"""The package as a whole: import side effects, the environment report, argument checks."""

import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import s4_minimal
from s4_minimal import _validate as v
from s4_minimal.display import show_source


def test_import_changes_no_global_jax_setting():
    # A fresh interpreter: importing s4_minimal must leave x64 off and pick no device.
    code = ("import jax; before = (jax.config.jax_enable_x64, jax.config.jax_default_device);"
            "import s4_minimal;"
            "after = (jax.config.jax_enable_x64, jax.config.jax_default_device);"
            "print(before == after, after[0])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "False"]


def test_python_m_s4_minimal_reports_versions_backend_and_devices():
    out = subprocess.run([sys.executable, "-m", "s4_minimal"], capture_output=True, text=True,
                         check=True).stdout
    keys = [line.split()[0] for line in out.strip().splitlines()]
    assert keys == list(s4_minimal.environment())
    assert keys == ["s4_minimal", "python", "jax", "jaxlib", "numpy", "backend", "backend_version",
                    "platform", "device", "device_count", "devices", "x64"]
    assert s4_minimal.__version__ in out and jax.__version__ in out
    assert jax.default_backend() in out


def test_show_source_renders_the_real_function_as_a_code_block():
    pytest.importorskip("IPython")  # a book dependency, not the package's
    from s4_minimal.ssm import causal_conv

    md = show_source(causal_conv)
    assert md.data.startswith("```python\ndef causal_conv(u, K):")
    assert md.data.endswith("```")
    with pytest.raises(TypeError, match="function, class or module"):
        show_source(42)


class TestArgumentChecks:
    """The shared checks name the function, the argument, the value and what was expected."""

    def test_check_int(self):
        assert v.check_int("f", "N", np.int64(3), minimum=1) == 3
        with pytest.raises(TypeError, match=r"f: argument 'N' expected an integer, got 2.5"):
            v.check_int("f", "N", 2.5)
        with pytest.raises(TypeError, match="'N'"):
            v.check_int("f", "N", True)
        with pytest.raises(ValueError, match=r"'N' expected an integer >= 1, got 0"):
            v.check_int("f", "N", 0, minimum=1)

    def test_check_scalar(self):
        assert v.check_scalar("f", "dt", 0.5, positive=True) == 0.5
        with pytest.raises(ValueError, match=r"'dt' expected a number > 0, got -1"):
            v.check_scalar("f", "dt", -1, positive=True)
        with pytest.raises(ValueError, match="'dt' expected a finite number"):
            v.check_scalar("f", "dt", float("nan"))
        with pytest.raises(TypeError, match="'dt' expected a real scalar"):
            v.check_scalar("f", "dt", "0.1")
        with pytest.raises(TypeError, match="'dt' expected a real scalar"):
            v.check_scalar("f", "dt", np.ones(2))

    def test_check_scalar_lets_traced_values_through(self):
        grad = jax.grad(lambda dt: v.check_scalar("f", "dt", dt, positive=True) ** 2)(3.0)
        assert float(grad) == pytest.approx(6.0)

    def test_check_choice(self):
        assert v.check_choice("f", "method", "ZOH", ("zoh", "euler")) == "zoh"
        with pytest.raises(ValueError, match=r"'method' expected one of \('zoh', 'euler'\), got 'rk4'"):
            v.check_choice("f", "method", "rk4", ("zoh", "euler"))
        with pytest.raises(TypeError, match="'method' expected a string"):
            v.check_choice("f", "method", 3, ("zoh",))

    def test_check_array(self):
        out = v.check_array("f", "u", [1, 2, 3], ndim=1)
        assert out.dtype == jnp.zeros(1).dtype  # integers promoted to the default float
        with pytest.raises(ValueError, match=r"'u' expected an array with 1 dimension\(s\), got array of shape \(2, 2\)"):
            v.check_array("f", "u", np.ones((2, 2)), ndim=1)
        with pytest.raises(ValueError, match=r"'B' expected shape \(4\)"):
            v.check_array("f", "B", np.ones(3), shape=(4,))
        with pytest.raises(ValueError, match="'u' expected finite values"):
            v.check_array("f", "u", [1.0, np.nan])
        with pytest.raises(TypeError, match="'u' expected a real array"):
            v.check_array("f", "u", [1j])
        with pytest.raises(TypeError, match="'u' expected an array of numbers"):
            v.check_array("f", "u", "abc")
        assert v.check_array("f", "u", [1j], complex_ok=True).dtype.kind == "c"

    def test_check_array_skips_value_checks_under_jit(self):
        f = jax.jit(lambda u: v.check_array("f", "u", u, ndim=1) * 2)
        assert bool(jnp.isnan(f(jnp.array([jnp.nan]))[0]))  # no concrete values to check
        with pytest.raises(ValueError, match="'u' expected an array with 1"):
            f(jnp.ones((2, 2)))  # shapes are still checked while tracing


def test_show_source_unwraps_jitted_functions():
    pytest.importorskip("IPython")
    def double(x):
        return 2 * x

    md = show_source(jax.jit(double))
    assert "def double(x):" in md.data


def test_checks_work_inside_jit_with_captured_concrete_arrays():
    # Arrays captured by a jitted closure are concrete, but jnp operations on them are
    # staged; the value checks must use their known values, not raise while tracing.
    from s4_minimal import ssm
    from s4_minimal.legendre import legendre

    Ab, Bb, C = 0.5 * jnp.eye(2), jnp.ones(2), jnp.ones(2)
    y = jax.jit(lambda u: ssm.scan_ssm(Ab, Bb, C, u)[1])(jnp.ones(3))
    assert np.allclose(y, [2.0, 3.0, 3.5])
    x = jnp.linspace(-1, 1, 5)
    assert jax.jit(lambda s: legendre(3, x) * s)(2.0).shape == (5, 3)
    C_bad = jnp.array([1.0, jnp.nan])  # captured, so its values are known while tracing
    with pytest.raises(ValueError, match="'C' expected finite values"):
        jax.jit(lambda u: ssm.scan_ssm(Ab, Bb, C_bad, u))(jnp.ones(3))


def _dot_precisions(fn, *args):
    """(number of matrix products, number of them in full precision) in fn's jaxpr."""
    text = str(jax.make_jaxpr(fn)(*args))
    return text.count("dot_general"), text.count("precision=(Precision.HIGHEST, Precision.HIGHEST)")


def test_matrix_products_run_in_full_float32_precision():
    # On GPUs, XLA's default float32 matmul is TF32 (about 1e-3 relative error); an H100 run
    # of test_kernels measured 4.6e-3 for kernel_dplr before this. Every matrix product the
    # package traces must carry Precision.HIGHEST, and the caller's setting must be untouched.
    from s4_minimal import discretize, hippo, kernels, legendre, ssm

    A, B = hippo.transition("legs", 8)
    Ab, Bb = discretize.discretize(A, B, 0.1)
    C = jnp.ones(8)
    Lam, P, Bv, _ = hippo.legs_dplr(8)
    Lam, P, Bv = (jnp.asarray(a, jnp.complex64) for a in (Lam, P, Bv))
    cases = [
        (lambda u: ssm.scan_ssm(Ab, Bb, C, u)[1], jnp.ones(16)),
        (lambda c: ssm.conv_kernel(Ab, Bb, c, 16), C),
        (lambda a: discretize.discretize(a, B, 0.1, "zoh")[0], jnp.asarray(A)),
        (lambda a: discretize.discretize(a, B, 0.1, "bilinear")[0], jnp.asarray(A)),
        (lambda ct: kernels.kernel_dplr(Lam, P, P, Bv, ct, 0.01, 16), Bv),
        (lambda c: legendre.reconstruct(c, jnp.linspace(-1, 1, 5)), C),
    ]
    for fn, arg in cases:
        total, full = _dot_precisions(fn, arg)
        assert total > 0 and full == total, (fn, total, full)
    assert jax.config.jax_default_matmul_precision is None
