"""s4_minimal: the code of the book *S4 from first principles*.

One module per step of the road:

* :mod:`s4_minimal.legendre`: orthogonal polynomials and quadrature (chapter 1);
* :mod:`s4_minimal.online`: coefficients of a revealed history under a measure (chapter 2);
* :mod:`s4_minimal.hippo`: HiPPO transition matrices and the DPLR form of LegS (chapters 3, 6);
* :mod:`s4_minimal.ode`: an accurate reference solver for the HiPPO ODEs (chapter 3);
* :mod:`s4_minimal.discretize`: from the ODE to a recurrence (chapter 4);
* :mod:`s4_minimal.memory`: the 16,000-sample memory experiment, a command line
  (``python -m s4_minimal.memory``), imported on its own as ``import s4_minimal.memory``;
* :mod:`s4_minimal.ssm`: the recurrence as an RNN and as a convolution (chapters 4, 5);
* :mod:`s4_minimal.kernels`: fast, stable convolution kernels (chapters 6, 7);
* :mod:`s4_minimal.s4d`: diagonal state matrices and their initializations (chapter 7);
* :mod:`s4_minimal.layers`: the S4 layer (CNN and RNN mode) and a stack of S4 blocks (chapter 8);
* :mod:`s4_minimal.fast`: the kernels of chapters 6-7 made fast, which the layer runs (chapter 10);
* :mod:`s4_minimal.data`, :mod:`s4_minimal.models`, :mod:`s4_minimal.train`: tasks, the
  models trained on them (the S4 stack and a GRU baseline) and training, a command line
  (``python -m s4_minimal.train``), imported on their own (chapter 9);
* :mod:`s4_minimal.bench`: the relative errors and timings the chapters report;
* :mod:`s4_minimal.perf`: the benchmark of chapter 10 (``python -m s4_minimal.perf``),
  imported on its own;
* after S4, imported on their own: :mod:`s4_minimal.scan` (the recurrence as a parallel
  scan, chapter 11), :mod:`s4_minimal.selective` (S6 and the Mamba block, chapter 12,
  with ``python -m s4_minimal.selective``), :mod:`s4_minimal.ssd` (the matrix view,
  chapter 13) and their benchmark :mod:`s4_minimal.bench_after`
  (``python -m s4_minimal.bench_after``).

Importing the package changes no global JAX setting: call
``jax.config.update("jax_enable_x64", True)`` yourself for float64.
"""

__version__ = "0.1.0"

from . import (bench, discretize, fast, hippo, kernels, layers, legendre, ode,  # noqa: E402,F401
               online, s4d, ssm)

__all__ = ["__version__", "environment", "bench", "discretize", "fast", "hippo", "kernels",
           "layers", "legendre", "ode", "online", "s4d", "ssm"]


def environment() -> dict:
    """Versions and devices, as a dict: what ``python -m s4_minimal`` prints.

    Training runs and benchmarks record it beside their results (adding the date).
    """
    import platform

    import jax
    import jaxlib
    import numpy

    first = jax.devices()[0]
    try:
        backend_version = first.client.platform_version    # e.g. "cuda 13000" on a GPU
    except AttributeError:
        backend_version = None
    return {
        "s4_minimal": __version__,
        "python": platform.python_version(),
        "jax": jax.__version__,
        "jaxlib": jaxlib.__version__,
        "numpy": numpy.__version__,
        "backend": jax.default_backend(),
        "backend_version": backend_version,
        "platform": first.platform,
        "device": first.device_kind,
        "device_count": jax.device_count(),
        "devices": ", ".join(f"{d.platform}:{d.id} ({d.device_kind})" for d in jax.devices()),
        "x64": str(bool(jax.config.jax_enable_x64)),
    }
