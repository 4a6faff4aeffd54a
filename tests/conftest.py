"""Shared fixtures for the unit tests."""

import jax
import pytest


@pytest.fixture
def x64():
    """Run one test with float64 enabled, restoring the caller's setting afterwards."""
    old = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    try:
        yield
    finally:
        jax.config.update("jax_enable_x64", old)
