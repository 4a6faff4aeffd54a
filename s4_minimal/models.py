"""The models chapter 9 trains: the S4 stack and its baselines, each as three functions.

Serves chapter 9 (a model that remembers). A :class:`Model` bundles
``init(key) -> params``, ``apply(params, u, train=False, key=None) -> (B, L, d_output)``
and ``labels(params)`` (each leaf ``"ssm"`` or ``"other"``, for the optimizer of
:mod:`s4_minimal.train`). The models (:data:`MODELS`):

* ``"s4"`` and ``"s4d"``: the stack of :mod:`s4_minimal.layers` (DPLR kernel with
  HiPPO-LegS initialization; diagonal kernel);
* ``"gru"``: an encoder, GRU layers and a decoder in plain JAX (:func:`gru_init`,
  :func:`gru_apply`), every weight uniform in +-1/sqrt(fan-in) as usual;
* ``"gru-chrono"``: the same GRU with *chrono initialization* (Tallec & Ollivier
  2018): the update gate's bias of each unit is ``log u``, u uniform in
  ``[1, T_max - 1]`` with ``T_max`` the sequence length, so that the units keep
  their state over times spread from 2 to ``T_max`` steps at initialization;
* ``"gru-mnist1d"`` and ``"cnn-mnist1d"``: the published MNIST-1D baselines
  (Greydanus & Kobak 2020), a bidirectional GRU of 6 units reading all hidden
  states through a linear layer (5,134 parameters) and a three-layer CNN (5,210).

The GRUs are checked against a float64 NumPy loop in the tests.
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

__all__ = ["MODELS", "Model", "build_model", "gru_init", "gru_apply", "chrono_bias",
           "bigru_init", "bigru_apply", "cnn_init", "cnn_apply", "count_params"]

MODELS = ("s4", "s4d", "gru", "gru-chrono", "gru-mnist1d", "cnn-mnist1d")


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


def chrono_bias(key, H: int, T_max: int) -> jax.Array:
    """Chrono initialization of an update gate: ``b_z = log u``, ``u ~ U[1, T_max - 1]``.

    With ``h' = (1 - z) n + z h`` and ``z = sigmoid(b_z)`` at a quiet input, a unit
    keeps ``z`` of its state per step, so it forgets over ``1 / (1 - z) = 1 + u``
    steps: the H units start with memories spread uniformly from 2 to ``T_max`` steps.
    """
    H = check_int("chrono_bias", "H", H, minimum=1)
    T_max = check_int("chrono_bias", "T_max", T_max, minimum=3)
    return jnp.log(jax.random.uniform(key, (H,), jnp.float32, 1.0, T_max - 1.0))


def gru_init(key, d_input: int, d_output: int, H: int, n_layers: int = 1,
             chrono: int | None = None) -> dict:
    """Parameters of an encoder, ``n_layers`` GRUs of width H, and a decoder.

    Every weight and bias is uniform in ``[-1/sqrt(fan_in), 1/sqrt(fan_in)]``
    (``fan_in = H`` inside the GRU), the usual GRU initialization. With
    ``chrono=T_max`` the update gate's input bias of every layer is
    :func:`chrono_bias` instead and its hidden bias 0.
    """
    func = "gru_init"
    d_input = check_int(func, "d_input", d_input, minimum=1)
    d_output = check_int(func, "d_output", d_output, minimum=1)
    H = check_int(func, "H", H, minimum=1)
    n_layers = check_int(func, "n_layers", n_layers, minimum=1)
    if chrono is not None:
        chrono = check_int(func, "chrono", chrono, minimum=3)
    keys = jax.random.split(key, 4 + 5 * n_layers)
    b_in, b_h = 1 / math.sqrt(d_input), 1 / math.sqrt(H)
    params = {"encoder": {"W": _uniform(keys[0], (d_input, H), b_in),
                          "b": _uniform(keys[1], (H,), b_in)},
              "decoder": {"W": _uniform(keys[2], (H, d_output), b_h),
                          "b": _uniform(keys[3], (d_output,), b_h)},
              "gru": []}
    for i in range(n_layers):
        k = keys[4 + 5 * i: 9 + 5 * i]
        layer = _gru_layer_init(k[:4], H, H)
        if chrono is not None:
            layer["bi"] = layer["bi"].at[H:2 * H].set(chrono_bias(k[4], H, chrono))
            layer["bh"] = layer["bh"].at[H:2 * H].set(0.0)
        params["gru"].append(layer)
    return params


def _gru_layer_init(k, d_in, H):
    """One GRU's weights, gates stacked in the order (r, z, n): reset, update, candidate."""
    b_h = 1 / math.sqrt(H)
    return {"Wi": _uniform(k[0], (d_in, 3 * H), b_h), "bi": _uniform(k[1], (3 * H,), b_h),
            "Wh": _uniform(k[2], (H, 3 * H), b_h), "bh": _uniform(k[3], (3 * H,), b_h)}


def _gru_layer(p, x):
    """One GRU over time, x (B, L, d_in) -> all hidden states (B, L, H).

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


def _bigru(params, u):
    """The published MNIST-1D GRU: both directions read u, a linear map reads every state."""
    forward = _gru_layer(params["fwd"], u)                        # (B, L, H)
    backward = _gru_layer(params["bwd"], u[:, ::-1])[:, ::-1]     # (B, L, H)
    states = jnp.concatenate([forward, backward], axis=-1)        # (B, L, 2H)
    return states.reshape(u.shape[0], -1) @ params["linear"]["W"] + params["linear"]["b"]


def bigru_init(key, d_input: int = 1, d_output: int = 10, H: int = 6, L: int = 40) -> dict:
    """The published MNIST-1D GRU: ``fwd``/``bwd`` GRUs of H units, ``linear`` 2HL -> d_output.

    As PyTorch initializes ``nn.GRU`` and ``nn.Linear``: uniform in +-1/sqrt(H)
    inside the GRUs and +-1/sqrt(fan_in) in the linear map. 5,134 parameters at
    the defaults.
    """
    func = "bigru_init"
    d_input = check_int(func, "d_input", d_input, minimum=1)
    d_output = check_int(func, "d_output", d_output, minimum=1)
    H = check_int(func, "H", H, minimum=1)
    L = check_int(func, "L", L, minimum=1)
    k = jax.random.split(key, 10)
    bound = 1 / math.sqrt(2 * H * L)
    return {"fwd": _gru_layer_init(k[0:4], d_input, H), "bwd": _gru_layer_init(k[4:8], d_input, H),
            "linear": {"W": _uniform(k[8], (2 * H * L, d_output), bound),
                       "b": _uniform(k[9], (d_output,), bound)}}


def bigru_apply(params: dict, u) -> jax.Array:
    """Logits ``(B, 1, d_output)`` of the published MNIST-1D GRU for ``u (B, L, d_input)``."""
    L = params["linear"]["W"].shape[0] // (2 * params["fwd"]["Wh"].shape[0])
    if u.ndim != 3 or u.shape[1] != L or u.shape[2] != params["fwd"]["Wi"].shape[0]:
        fail("bigru_apply", "u", f"shape (B, {L}, {params['fwd']['Wi'].shape[0]})", u)
    return _bigru(params, u)[:, None, :]


# The published CNN: (kernel, stride) of its three convolutions, padding 1 each.
_CNN_LAYERS = ((5, 2), (3, 2), (3, 2))


def _cnn(params, u):
    """Three strided convolutions with ReLU, flattened, then a linear map."""
    x = u                                                          # (B, L, 1): "NWC"
    for p, (_, stride) in zip(params["conv"], _CNN_LAYERS):
        x = jax.lax.conv_general_dilated(x, p["W"], (stride,), [(1, 1)],
                                         dimension_numbers=("NWC", "WIO", "NWC"))
        x = jax.nn.relu(x + p["b"])
    return x.reshape(x.shape[0], -1) @ params["linear"]["W"] + params["linear"]["b"]


def cnn_init(key, d_input: int = 1, d_output: int = 10, channels: int = 25, L: int = 40) -> dict:
    """The published MNIST-1D CNN (5,210 parameters at the defaults), PyTorch's initialization.

    Convolutions ``d_input -> channels`` (kernel 5, stride 2), then ``channels ->
    channels`` twice (kernel 3, stride 2), padding 1, ReLU; a linear map from the
    flattened features to ``d_output``. Weights and biases uniform in +-1/sqrt(fan_in).
    """
    func = "cnn_init"
    d_input = check_int(func, "d_input", d_input, minimum=1)
    d_output = check_int(func, "d_output", d_output, minimum=1)
    channels = check_int(func, "channels", channels, minimum=1)
    L = check_int(func, "L", L, minimum=8)
    keys = jax.random.split(key, 8)
    conv, c_in, length = [], d_input, L
    for i, (width, stride) in enumerate(_CNN_LAYERS):
        bound = 1 / math.sqrt(c_in * width)
        conv.append({"W": _uniform(keys[2 * i], (width, c_in, channels), bound),
                     "b": _uniform(keys[2 * i + 1], (channels,), bound)})
        c_in, length = channels, (length + 2 - width) // stride + 1
    bound = 1 / math.sqrt(channels * length)
    return {"conv": conv, "linear": {"W": _uniform(keys[6], (channels * length, d_output), bound),
                                     "b": _uniform(keys[7], (d_output,), bound)}}


def cnn_apply(params: dict, u) -> jax.Array:
    """Logits ``(B, 1, d_output)`` of the published MNIST-1D CNN for ``u (B, L, d_input)``."""
    if u.ndim != 3 or u.shape[2] != params["conv"][0]["W"].shape[1]:
        fail("cnn_apply", "u", f"shape (B, L, {params['conv'][0]['W'].shape[1]})", u)
    return _cnn(params, u)[:, None, :]


def _all_other(params):
    return jax.tree_util.tree_map(lambda _: "other", params)


def build_model(model: str, task: Task, H: int, N: int, n_layers: int,
                dropout: float = 0.0, dt_min: float | None = None,
                dt_max: float | None = None) -> Model:
    """The model ``model`` (one of :data:`MODELS`) sized for ``task``.

    ``H``, ``N``, ``n_layers``, ``dropout`` and the dt range size the S4 stacks;
    the GRUs use ``H`` and ``n_layers``; the published MNIST-1D models have their
    published sizes and ignore the others.
    """
    func = "build_model"
    model = check_choice(func, "model", model, MODELS)
    if model in ("gru", "gru-chrono"):
        chrono = task.L if model == "gru-chrono" else None
        return Model(name=model,
                     init=lambda key: gru_init(key, task.d_input, task.d_output, H, n_layers,
                                               chrono=chrono),
                     apply=lambda params, u, train=False, key=None: gru_apply(params, u),
                     labels=_all_other, cfg=None)
    if model == "gru-mnist1d":
        return Model(name=model,
                     init=lambda key: bigru_init(key, task.d_input, task.d_output, 6, task.L),
                     apply=lambda params, u, train=False, key=None: bigru_apply(params, u),
                     labels=_all_other, cfg=None)
    if model == "cnn-mnist1d":
        return Model(name=model,
                     init=lambda key: cnn_init(key, task.d_input, task.d_output, 25, task.L),
                     apply=lambda params, u, train=False, key=None: cnn_apply(params, u),
                     labels=_all_other, cfg=None)
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
