"""The models chapter 9 trains: the S4 stack and a GRU baseline, each as three functions.

Serves chapter 9 (a model that remembers). A :class:`Model` bundles
``init(key) -> params``, ``apply(params, u, train=False, key=None) -> (B, L, d_output)``
and ``labels(params)`` (each leaf ``"ssm"`` or ``"other"``, for the optimizer of
:mod:`s4_minimal.train`). The S4 models are the stack of :mod:`s4_minimal.layers`
(``"s4"``: DPLR kernel, HiPPO-LegS initialization; ``"s4d"``: diagonal kernel); the
baseline is a GRU written in plain JAX (:func:`gru_init`, :func:`gru_apply`), checked
against a float64 NumPy loop in the tests.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from . import layers
from ._validate import check_choice, check_int, fail
from .data import Task

__all__ = ["MODELS", "Model", "build_model", "gru_init", "gru_apply", "count_params"]

MODELS = ("s4", "s4d", "gru")


@dataclasses.dataclass(frozen=True)
class Model:
    """A model as three functions: ``init(key) -> params``,
    ``apply(params, u, train, key) -> (B, L, d_output)`` and
    ``labels(params) -> pytree of "ssm" / "other"``; ``cfg`` is the stack's
    :class:`s4_minimal.layers.ModelConfig` (``None`` for the GRU)."""

    name: str
    init: Callable
    apply: Callable
    labels: Callable
    cfg: Any


def _uniform(key, shape, bound):
    return jax.random.uniform(key, shape, jnp.float32, -bound, bound)


def gru_init(key, d_input: int, d_output: int, H: int, n_layers: int = 1) -> dict:
    """Parameters of an encoder, ``n_layers`` GRUs of width H, and a decoder.

    Every weight and bias is uniform in ``[-1/sqrt(fan_in), 1/sqrt(fan_in)]``
    (``fan_in = H`` inside the GRU), the usual GRU initialization.
    """
    func = "gru_init"
    d_input = check_int(func, "d_input", d_input, minimum=1)
    d_output = check_int(func, "d_output", d_output, minimum=1)
    H = check_int(func, "H", H, minimum=1)
    n_layers = check_int(func, "n_layers", n_layers, minimum=1)
    keys = jax.random.split(key, 4 + 4 * n_layers)
    b_in, b_h = 1 / math.sqrt(d_input), 1 / math.sqrt(H)
    params = {"encoder": {"W": _uniform(keys[0], (d_input, H), b_in),
                          "b": _uniform(keys[1], (H,), b_in)},
              "decoder": {"W": _uniform(keys[2], (H, d_output), b_h),
                          "b": _uniform(keys[3], (d_output,), b_h)},
              "gru": []}
    for i in range(n_layers):
        k = keys[4 + 4 * i: 8 + 4 * i]
        # Gates stacked in the order (r, z, n): reset, update, candidate.
        params["gru"].append({"Wi": _uniform(k[0], (H, 3 * H), b_h),
                              "bi": _uniform(k[1], (3 * H,), b_h),
                              "Wh": _uniform(k[2], (H, 3 * H), b_h),
                              "bh": _uniform(k[3], (3 * H,), b_h)})
    return params


def _gru_layer(p, x):
    """One GRU over time, x (B, L, H) -> all hidden states (B, L, H).

    r = sigmoid(Wi_r x + bi_r + Wh_r h + bh_r),  z = sigmoid(... same with z ...)
    n = tanh(Wi_n x + bi_n + r * (Wh_n h + bh_n)),  h' = (1 - z) n + z h,  h_{-1} = 0.
    """
    H = p["Wh"].shape[0]
    xi = x @ p["Wi"] + p["bi"]                     # input projections, all steps at once

    def step(h, xi_k):
        hh = h @ p["Wh"] + p["bh"]
        r = jax.nn.sigmoid(xi_k[:, :H] + hh[:, :H])
        z = jax.nn.sigmoid(xi_k[:, H:2 * H] + hh[:, H:2 * H])
        n = jnp.tanh(xi_k[:, 2 * H:] + r * hh[:, 2 * H:])
        h = (1 - z) * n + z * h
        return h, h

    h0 = jnp.zeros((x.shape[0], H), x.dtype)
    _, hs = jax.lax.scan(step, h0, jnp.swapaxes(xi, 0, 1), unroll=8)
    return jnp.swapaxes(hs, 0, 1)


def gru_apply(params: dict, u) -> jax.Array:
    """Per-step outputs ``(B, L, d_output)`` of the GRU baseline for inputs ``u (B, L, d_input)``."""
    d_input = params["encoder"]["W"].shape[0]
    if u.ndim != 3 or u.shape[-1] != d_input:
        fail("gru_apply", "u", f"shape (B, L, {d_input})", u)
    x = u @ params["encoder"]["W"] + params["encoder"]["b"]
    for p in params["gru"]:
        x = _gru_layer(p, x)
    return x @ params["decoder"]["W"] + params["decoder"]["b"]


def build_model(model: str, task: Task, H: int, N: int, n_layers: int,
                dropout: float = 0.0, dt_min: float | None = None,
                dt_max: float | None = None) -> Model:
    """The model ``model`` (one of :data:`MODELS`) sized for ``task``."""
    func = "build_model"
    model = check_choice(func, "model", model, MODELS)
    if model == "gru":
        return Model(name="gru",
                     init=lambda key: gru_init(key, task.d_input, task.d_output, H, n_layers),
                     apply=lambda params, u, train=False, key=None: gru_apply(params, u),
                     labels=lambda params: jax.tree_util.tree_map(lambda _: "other", params),
                     cfg=None)
    extra = {}
    if dt_min is not None:
        extra["dt_min"] = dt_min
    if dt_max is not None:
        extra["dt_max"] = dt_max
    cfg = layers.ModelConfig(d_input=task.d_input, d_output=task.d_output, H=H, N=N,
                             n_layers=n_layers, kernel="dplr" if model == "s4" else "diag",
                             dropout=dropout, **extra)
    return Model(name=model,
                 init=lambda key: layers.init_model(key, cfg),
                 apply=lambda params, u, train=False, key=None: layers.apply_model(
                     params, cfg, u, train=train, key=key),
                 labels=layers.ssm_param_labels,
                 cfg=cfg)


def count_params(params) -> int:
    """Number of real numbers in a parameter pytree (a complex entry counts 2)."""
    return int(sum(np.size(x) * (2 if jnp.iscomplexobj(x) else 1)
                   for x in jax.tree_util.tree_leaves(params)))
