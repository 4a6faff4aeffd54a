"""Shared fixtures for the unit tests, and a compilation cache for the session.

Most of the unit tests' time is XLA compilation, and many tests compile the same
computation again: ``train.train`` jits fresh closures on every call, and a test
that re-creates ``jax.jit(lambda ...)`` does too. A persistent compilation cache
in a temporary directory made for this run (and removed after it) lets the second
compilation of an identical program load the first one's executable. It changes
no result (a hit is the executable XLA built for the same program on this
machine) and is never shared between runs or machines. Set
JAX_COMPILATION_CACHE_DIR to keep a cache of your own instead; with pytest-xdist
the workers share the controller's directory.
"""

import os
import shutil
import tempfile

import jax
import pytest

_CACHE_ENV = "JAX_COMPILATION_CACHE_DIR"


def pytest_configure(config):
    if _CACHE_ENV not in os.environ:       # the controller (or a run without xdist)
        path = tempfile.mkdtemp(prefix="s4_minimal-jax-cache-")
        os.environ[_CACHE_ENV] = path      # inherited by xdist workers
        config._s4_cache_to_remove = path
    jax.config.update("jax_compilation_cache_dir", os.environ[_CACHE_ENV])
    # Cache compilations of 0.1 s or more: below that, writing costs about what it saves.
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.1)


def pytest_unconfigure(config):
    path = getattr(config, "_s4_cache_to_remove", None)
    if path:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def x64():
    """Run one test with float64 enabled, restoring the caller's setting afterwards."""
    old = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    try:
        yield
    finally:
        jax.config.update("jax_enable_x64", old)
