"""Selection: Mamba's selective state space (S6), the Mamba block, selective copying.

Serves chapter 12 (Selection: Mamba). ``python -m s4_minimal.selective --help``
trains S6 against time-invariant state spaces on selective copying.

The selective SSM (S6)
----------------------
E channels, each with a diagonal real state of size N. What S4 learns once, S6
computes at every step from the input u_k (a vector of E features)::

    dt_k = softplus(W_dt (W_r u_k) + b_dt)    (E,)   one step size per channel  (12.2)
    B_k  = W_B u_k,  C_k = W_C u_k            (N,)   shared by the channels

then discretizes per step and runs the recurrence, channel h, state n::

    Ab_k = exp(dt_k A),   Bb_k = dt_k B_k                                       (12.3)
    x_k = Ab_k * x_{k-1} + Bb_k u_k                                              (12.4)
    y_k = C_k . x_k + D u_k                                                      (12.5)

with A = -exp(A_log) (negative, so every |Ab_k| < 1) initialized "S4D-Real",
A[h, n] = -(n + 1). ``Bb = dt B`` is the first-order (Euler) form of the ZOH
input matrix ``(dt A)^-1 (exp(dt A) - 1) dt B``, as in the Mamba paper's code.
Because Ab_k changes with k there is no single kernel ``K[k] = C Ab^k Bb``: the
recurrence is computed as a scan of the affine maps ``x -> a_k x + b_k``
(:func:`s4_minimal.scan.linear_recurrence`), in parallel or step by step.

The Mamba block (Gu & Dao 2023), for x of shape (..., L, d_model)::

    (v, z) = x W_in                       two streams of E = expand * d_model
    v = SiLU(causal_conv1d(v))            depthwise, d_conv taps
    y = S6(v) * SiLU(z)                   the gate
    out = y W_out

The model: a linear encoder, ``n_layers`` residual blocks ``x + Block(RMSNorm(x))``,
a final RMSNorm and a linear decoder. ``layer="lti"`` replaces S6 by the same
state space with dt, B and C learned constants (one per channel: S4D-Real with
the same discretization), a time-invariant system inside the same block.

Everything is a pure function of a parameter pytree (dicts of real arrays) and a
frozen configuration, as in :mod:`s4_minimal.layers`.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

from . import scan
from ._precision import full_precision
from ._validate import (check_array, check_choice, check_int, check_scalar, fail, is_traced,
                        set_fields)

__all__ = [
    "discretize_selective",
    "selective_scan",
    "selective_step",
    "MambaConfig",
    "init_mamba",
    "apply_mamba",
    "init_mamba_cache",
    "step_mamba",
    "step_cost",
    "mamba_param_labels",
    "selective_copying_batch",
    "copying_accuracy",
    "train_copying",
    "PUBLISHED_SELECTIVE_COPYING",
    "main",
]

LAYERS = ("s6", "lti")
METHODS = ("parallel", "sequential")

# Mamba paper (Gu & Dao 2023), Table 1: accuracy (%) on selective copying,
# sequences of length 4096, 16 tokens to memorize, a vocabulary of 16 (noise
# token included), 2-layer models of width 64, 400K steps. Keys: (architecture, layer).
PUBLISHED_SELECTIVE_COPYING = {
    ("no gate", "S4"): 18.3,
    ("no gate", "S6"): 97.0,
    ("H3", "S4"): 57.0,
    ("H3", "Hyena"): 30.1,
    ("H3", "S6"): 99.7,
    ("Mamba", "S4"): 56.4,
    ("Mamba", "Hyena"): 28.4,
    ("Mamba", "S6"): 99.8,
}


# --------------------------------------------------------------------------------------
# the selective scan
# --------------------------------------------------------------------------------------

def _discretize(A, dt, B):
    """Eq. (12.3): Ab_k = exp(dt_k A), Bb_k = dt_k B_k, both (..., L, E, N)."""
    Ab = jnp.exp(dt[..., None] * A)
    Bb = dt[..., None] * B
    return Ab, Bb


def _selective_scan(A, dt, B, C, u, x0, method):
    """Eqs. (12.3)-(12.5) without the skip term; returns y (..., L, E) and all states.

    ``B`` and ``C`` broadcast to (..., L, E, N): (..., L, 1, N) for S6 (shared by
    the channels), (E, N) for a time-invariant system.
    """
    Ab, Bb = _discretize(A, dt, B)
    x = scan.linear_recurrence(Ab, Bb * u[..., None], x0, axis=-3, method=method)
    y = jnp.sum(C * x, axis=-1)                                   # C_k . x_k
    return y, x


@full_precision
def discretize_selective(A, dt, B):
    """Per-step discretization, eq. (12.3): ``(Ab, Bb)``, each (..., L, E, N).

    Arguments:
        A  (float): state matrix, diagonal, one row per channel (E, N), entries < 0
        dt (float): step sizes (..., L, E), > 0
        B  (float): input vectors (..., L, N), shared by the E channels
    """
    func = "discretize_selective"
    A, dt, B, _, _ = _check_selective(func, A, dt, B, B, None)
    return _discretize(A, dt, B[..., None, :])


def _check_selective(func, A, dt, B, C, u):
    A = check_array(func, "A", A, ndim=2)
    D, N = A.shape
    if not is_traced(A) and np.any(np.asarray(A) >= 0):
        fail(func, "A", "entries < 0 (a stable diagonal state matrix)", A)
    dt = check_array(func, "dt", dt)
    if dt.ndim < 2 or dt.shape[-1] != D:
        fail(func, "dt", f"shape (..., L, E) with E = {D} (the rows of A)", dt)
    if not is_traced(dt) and np.any(np.asarray(dt) <= 0):
        fail(func, "dt", "step sizes > 0", dt)
    want = dt.shape[:-1] + (N,)
    B = check_array(func, "B", B)
    if B.shape != want:
        fail(func, "B", f"shape {want} (dt's (..., L) and N = {N})", B)
    C = check_array(func, "C", C)
    if C.shape != want:
        fail(func, "C", f"shape {want} (dt's (..., L) and N = {N})", C)
    if u is not None:
        u = check_array(func, "u", u)
        if u.shape != dt.shape:
            fail(func, "u", f"the shape of dt, {dt.shape}", u)
    return A, dt, B, C, u


@full_precision
def selective_scan(u, dt, A, B, C, D=None, x0=None, *, method: str = "parallel",
                   return_state: bool = False):
    """The selective SSM over a sequence, eqs. (12.3)-(12.5).

    Arguments (real):
        u  (..., L, E): inputs, one per channel and step
        dt (..., L, E): step sizes, > 0
        A  (E, N):      diagonal state matrix per channel, entries < 0
        B  (..., L, N): input vectors; C (..., L, N): output vectors
        D  (E,):        skip term (zero when omitted)
        x0 (..., E, N): state before the first step (zero when omitted)
        method: ``"parallel"`` (associative scan) or ``"sequential"`` (lax.scan)

    Returns y (..., L, E), and the last state (..., E, N) with ``return_state``.
    """
    func = "selective_scan"
    method = check_choice(func, "method", method, METHODS)
    A, dt, B, C, u = _check_selective(func, A, dt, B, C, u)
    Dn, N = A.shape
    if D is not None:
        D = check_array(func, "D", D, shape=(Dn,))
    if x0 is not None:
        x0 = check_array(func, "x0", x0)
        if x0.shape != dt.shape[:-2] + (Dn, N):
            fail(func, "x0", f"shape {dt.shape[:-2] + (Dn, N)} (batch, E, N)", x0)
    y, x = _selective_scan(A, dt, B[..., None, :], C[..., None, :], u, x0, method)
    if D is not None:
        y = y + D * u
    return (y, x[..., -1, :, :]) if return_state else y


def _selective_step(A, dt_k, B_k, C_k, u_k, x):
    """One step of eqs. (12.3)-(12.5): x (..., E, N) -> (x, y_k)."""
    x = jnp.exp(dt_k[..., None] * A) * x + (dt_k * u_k)[..., None] * B_k
    return x, jnp.sum(C_k * x, axis=-1)


@full_precision
def selective_step(x, u_k, dt_k, A, B_k, C_k, D=None):
    """One RNN step of the selective SSM: ``(x, y_k)``.

    x (..., E, N) the state; u_k, dt_k (..., E); A (E, N); B_k, C_k (..., N).
    """
    func = "selective_step"
    A = check_array(func, "A", A, ndim=2)
    Dn, N = A.shape
    x = check_array(func, "x", x)
    if x.ndim < 2 or x.shape[-2:] != (Dn, N):
        fail(func, "x", f"shape (..., E, N) = (..., {Dn}, {N})", x)
    batch = x.shape[:-2]
    u_k = check_array(func, "u_k", u_k, shape=batch + (Dn,) if batch else (Dn,))
    dt_k = check_array(func, "dt_k", dt_k, shape=u_k.shape)
    B_k = check_array(func, "B_k", B_k, shape=batch + (N,))
    C_k = check_array(func, "C_k", C_k, shape=batch + (N,))
    x, y = _selective_step(A, dt_k, B_k[..., None, :], C_k[..., None, :], u_k, x)
    if D is not None:
        y = y + check_array(func, "D", D, shape=(Dn,)) * u_k
    return x, y


# --------------------------------------------------------------------------------------
# the Mamba model
# --------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class MambaConfig:
    """A stack of Mamba blocks with a linear encoder and decoder.

    ``d_model`` features between blocks; inside a block ``E = expand * d_model``
    channels, each with ``N`` states; ``d_conv`` taps of the causal convolution;
    ``dt_rank`` the width of the low-rank map to dt (default ceil(d_model / 16));
    ``layer``: ``"s6"`` (selective) or ``"lti"`` (dt, B, C constant per channel);
    dt initialized log-uniformly in [dt_min, dt_max]. Frozen, hence hashable.
    """

    d_input: int
    d_output: int
    d_model: int = 64
    n_layers: int = 2
    N: int = 16
    expand: int = 2
    d_conv: int = 4
    dt_rank: int | None = None
    layer: str = "s6"
    dt_min: float = 1e-3
    dt_max: float = 1e-1

    def __post_init__(self):
        func = "MambaConfig"
        ints = {name: check_int(func, name, getattr(self, name), minimum=1)
                for name in ("d_input", "d_output", "d_model", "n_layers", "N", "expand",
                             "d_conv")}
        lo = float(check_scalar(func, "dt_min", self.dt_min, positive=True))
        hi = float(check_scalar(func, "dt_max", self.dt_max, positive=True))
        if hi < lo:
            fail(func, "dt_max", f"a number >= dt_min = {lo}", self.dt_max)
        set_fields(self, **ints, layer=check_choice(func, "layer", self.layer, LAYERS),
                   dt_rank=None if self.dt_rank is None else check_int(
                       func, "dt_rank", self.dt_rank, minimum=1),
                   dt_min=lo, dt_max=hi)

    @property
    def R(self) -> int:
        """Width of the low-rank map to dt: ``dt_rank``, or ceil(d_model / 16) when None.

        Derived, not stored, so that ``dataclasses.replace(cfg, d_model=...)`` moves it.
        """
        return math.ceil(self.d_model / 16) if self.dt_rank is None else self.dt_rank

    @property
    def E(self) -> int:
        """Channels inside a block: expand * d_model."""
        return self.expand * self.d_model


def _linear_init(key, d_in, d_out, dtype, bias=True):
    bound = 1.0 / math.sqrt(d_in)
    p = {"W": jax.random.uniform(key, (d_in, d_out), dtype, -bound, bound)}
    if bias:
        p["b"] = jnp.zeros((d_out,), dtype)
    return p


def _init_ssm(key, cfg, dtype):
    """S6 (or its time-invariant twin): A_log (S4D-Real), the maps to dt, B, C, and D."""
    E, N, R = cfg.E, cfg.N, cfg.R
    k_x, k_dt, k_w, k_b, k_c = jax.random.split(key, 5)
    # dt starts log-uniform in [dt_min, dt_max]; the bias is softplus^-1(dt).
    dt = jnp.exp(jax.random.uniform(k_dt, (E,), dtype, math.log(cfg.dt_min),
                                    math.log(cfg.dt_max)))
    dt_bias = dt + jnp.log(-jnp.expm1(-dt))
    p = {"A_log": jnp.log(jnp.broadcast_to(jnp.arange(1, N + 1, dtype=dtype), (E, N))),
         "D": jnp.ones((E,), dtype)}
    if cfg.layer == "s6":
        p["x_proj"] = _linear_init(k_x, E, R + 2 * N, dtype, bias=False)
        p["dt_proj"] = {"W": jax.random.uniform(k_w, (R, E), dtype, -R ** -0.5, R ** -0.5),
                        "b": dt_bias}
    else:
        p["dt_bias"] = dt_bias
        p["B"] = jax.random.normal(k_b, (E, N), dtype)
        p["C"] = jax.random.normal(k_c, (E, N), dtype) / math.sqrt(N)
    return p


def _check_dtype(func, dtype):
    if dtype is None:
        return jnp.dtype(jnp.result_type(float))
    dtype = jnp.dtype(dtype)
    if dtype not in (jnp.float32, jnp.float64):
        fail(func, "dtype", "float32 or float64", dtype)
    if dtype == jnp.float64 and not jax.config.jax_enable_x64:
        fail(func, "dtype", "float32 (float64 needs jax_enable_x64)", dtype)
    return dtype


def init_mamba(key, cfg: MambaConfig, dtype=None):
    """Parameters: ``{"encoder", "layers": [...], "norm", "decoder"}``.

    Each layer: ``{"norm", "in_proj", "conv": {"w": (d_conv, E), "b"}, "ssm", "out_proj"}``.
    """
    func = "init_mamba"
    if not isinstance(cfg, MambaConfig):
        fail(func, "cfg", "a MambaConfig", cfg, TypeError)
    dtype = _check_dtype(func, dtype)
    if not (isinstance(key, jax.Array) and key.shape in ((2,), ())):
        fail(func, "key", "a jax.random key", key, TypeError)
    keys = jax.random.split(key, 2 + 4 * cfg.n_layers)
    E, dm = cfg.E, cfg.d_model
    layers = []
    for i in range(cfg.n_layers):
        k = keys[2 + 4 * i: 6 + 4 * i]
        bound = 1.0 / math.sqrt(cfg.d_conv)
        layers.append({
            "norm": jnp.ones((dm,), dtype),
            "in_proj": _linear_init(k[0], dm, 2 * E, dtype, bias=False),
            "conv": {"w": jax.random.uniform(k[1], (cfg.d_conv, E), dtype, -bound, bound),
                     "b": jnp.zeros((E,), dtype)},
            "ssm": _init_ssm(k[2], cfg, dtype),
            "out_proj": _linear_init(k[3], E, dm, dtype, bias=False),
        })
    return {"encoder": _linear_init(keys[0], cfg.d_input, dm, dtype),
            "layers": layers,
            "norm": jnp.ones((dm,), dtype),
            "decoder": _linear_init(keys[1], dm, cfg.d_output, dtype)}


def _rms_norm(scale, x, eps=1e-5):
    return x * jax.lax.rsqrt(jnp.mean(x * x, axis=-1, keepdims=True) + eps) * scale


def _linear(p, x):
    y = x @ p["W"]
    return y + p["b"] if "b" in p else y


def _selection(p, v):
    """Eq. (12.2): dt (..., L, E), B and C (..., L, N) computed from the input v."""
    N = p["A_log"].shape[1]
    R = p["dt_proj"]["W"].shape[0]
    dt_low, B, C = jnp.split(v @ p["x_proj"]["W"], [R, R + N], axis=-1)
    dt = jax.nn.softplus(dt_low @ p["dt_proj"]["W"] + p["dt_proj"]["b"])
    return dt, B[..., None, :], C[..., None, :]


def _ssm_arrays(p, v):
    """(A, dt, B, C) of a layer for the inputs v: selected (S6) or constant (LTI)."""
    A = -jnp.exp(p["A_log"])
    if "x_proj" in p:
        return (A, *_selection(p, v))
    dt = jnp.broadcast_to(jax.nn.softplus(p["dt_bias"]), v.shape)
    return A, dt, p["B"], p["C"]


def _causal_conv1d(conv, v):
    """Depthwise causal convolution along time: out_k = b + sum_j w[j] v_{k-K+1+j}."""
    K = conv["w"].shape[0]
    pad = jnp.pad(v, [(0, 0)] * (v.ndim - 2) + [(K - 1, 0), (0, 0)])
    L = v.shape[-2]
    return conv["b"] + sum(conv["w"][j] * pad[..., j:j + L, :] for j in range(K))


def _block(p, x, method):
    """One Mamba block on x (..., L, d_model), before the residual sum."""
    v, z = jnp.split(_linear(p["in_proj"], x), 2, axis=-1)
    v = jax.nn.silu(_causal_conv1d(p["conv"], v))
    A, dt, B, C = _ssm_arrays(p["ssm"], v)
    y, _ = _selective_scan(A, dt, B, C, v, None, method)
    y = (y + p["ssm"]["D"] * v) * jax.nn.silu(z)                 # skip term, then gate
    return _linear(p["out_proj"], y)


def _apply_mamba(params, u, method):
    x = _linear(params["encoder"], u)
    for p in params["layers"]:
        x = x + _block(p, _rms_norm(p["norm"], x), method)
    return _linear(params["decoder"], _rms_norm(params["norm"], x))


def _check_config(func, cfg):
    if not isinstance(cfg, MambaConfig):
        fail(func, "cfg", "a MambaConfig", cfg, TypeError)
    return cfg


def _check_params(func, params, cfg):
    if not isinstance(params, dict) or set(params) != {"encoder", "layers", "norm", "decoder"}:
        fail(func, "params", "the dict returned by init_mamba", params, TypeError)
    if len(params["layers"]) != cfg.n_layers:
        fail(func, "params", f"{cfg.n_layers} layers (cfg.n_layers)", params["layers"])
    check_array(func, "params['encoder']['W']", params["encoder"]["W"],
                shape=(cfg.d_input, cfg.d_model))
    for i, p in enumerate(params["layers"]):
        ssm = p["ssm"]
        if ("x_proj" in ssm) != (cfg.layer == "s6"):
            fail(func, "params", f"layers of kind '{cfg.layer}' (cfg.layer)", sorted(ssm),
                 TypeError)
        check_array(func, f"params['layers'][{i}]['ssm']['A_log']", ssm["A_log"],
                    shape=(cfg.E, cfg.N))
    return params


@full_precision
def apply_mamba(params, cfg: MambaConfig, u, *, method: str = "parallel"):
    """The model on u (B, L, d_input) -> (B, L, d_output), all steps at once."""
    func = "apply_mamba"
    cfg = _check_config(func, cfg)
    params = _check_params(func, params, cfg)
    method = check_choice(func, "method", method, METHODS)
    u = check_array(func, "u", u, ndim=3)
    if u.shape[-1] != cfg.d_input:
        fail(func, "u", f"shape (B, L, d_input) with d_input = {cfg.d_input}", u)
    dtype = params["encoder"]["W"].dtype
    return _apply_mamba(params, u.astype(jnp.result_type(u, dtype)), method)


@full_precision
def init_mamba_cache(params, cfg: MambaConfig, batch: int):
    """The RNN-mode cache of every layer: the last d_conv - 1 inputs of the
    convolution (batch, d_conv - 1, E) and the state (batch, E, N), all zero."""
    func = "init_mamba_cache"
    cfg = _check_config(func, cfg)
    params = _check_params(func, params, cfg)
    batch = check_int(func, "batch", batch, minimum=1)
    dtype = params["encoder"]["W"].dtype
    return [{"conv": jnp.zeros((batch, cfg.d_conv - 1, cfg.E), dtype),
             "x": jnp.zeros((batch, cfg.E, cfg.N), dtype)} for _ in range(cfg.n_layers)]


def _block_step(p, c, x):
    """One Mamba block for one step: x (batch, d_model) -> (cache, out)."""
    v, z = jnp.split(_linear(p["in_proj"], x), 2, axis=-1)
    window = jnp.concatenate([c["conv"], v[:, None, :]], axis=1)    # last d_conv inputs
    v = jax.nn.silu(p["conv"]["b"] + jnp.sum(p["conv"]["w"] * window, axis=1))
    A, dt, B, C = _ssm_arrays(p["ssm"], v)
    state, y = _selective_step(A, dt, B, C, v, c["x"])
    y = (y + p["ssm"]["D"] * v) * jax.nn.silu(z)
    return {"conv": window[:, 1:], "x": state}, _linear(p["out_proj"], y)


def _step_mamba(params, cache, u_k):
    x = _linear(params["encoder"], u_k)
    new = []
    for p, c in zip(params["layers"], cache):
        c, out = _block_step(p, c, _rms_norm(p["norm"], x))
        x = x + out
        new.append(c)
    return new, _linear(params["decoder"], _rms_norm(params["norm"], x))


@full_precision
def step_mamba(params, cfg: MambaConfig, cache, u_k):
    """One step of the model in RNN mode: u_k (batch, d_input) -> ``(cache, y_k)``.

    Stepping through u[:, k] reproduces :func:`apply_mamba` (both modes compute
    eqs. (12.2)-(12.5); the parallel one groups the products differently).
    """
    func = "step_mamba"
    cfg = _check_config(func, cfg)
    params = _check_params(func, params, cfg)
    if not isinstance(cache, list) or len(cache) != cfg.n_layers:
        fail(func, "cache", "the list returned by init_mamba_cache", cache, TypeError)
    batch = cache[0]["x"].shape[0]
    u_k = check_array(func, "u_k", u_k, shape=(batch, cfg.d_input))
    dtype = params["encoder"]["W"].dtype
    return _step_mamba(params, cache, u_k.astype(jnp.result_type(u_k, dtype)))


def step_cost(cfg: MambaConfig) -> dict:
    """Multiply-adds of one RNN step of one block, by part (independent of L).

    in_proj 2 d E; conv d_conv E; selection E (R + 2N) + R E (S6 only);
    state update and readout 3 E N (plus E N exponentials); out_proj E d.
    """
    cfg = _check_config("step_cost", cfg)
    E, N, R, d = cfg.E, cfg.N, cfg.R, cfg.d_model
    cost = {"in_proj": 2 * d * E, "conv": cfg.d_conv * E,
            "selection": E * (R + 2 * N) + R * E if cfg.layer == "s6" else 0,
            "state": 3 * E * N, "out_proj": E * d}
    cost["total"] = sum(cost.values())
    return cost


def mamba_param_labels(params):
    """``"ssm"`` for A_log and D (no weight decay, as in Mamba), ``"other"`` elsewhere."""
    if not isinstance(params, dict):
        fail("mamba_param_labels", "params", "a pytree of parameters (dict)", params, TypeError)

    def label(path, _):
        names = {getattr(k, "key", None) for k in path}
        return "ssm" if names & {"A_log", "D"} else "other"

    return jax.tree_util.tree_map_with_path(label, params)


# --------------------------------------------------------------------------------------
# the selective-copying task
# --------------------------------------------------------------------------------------

def _copying(rng, batch, L, n_memorize, n_tokens):
    """The readable core of :func:`selective_copying_batch`."""
    context = L - n_memorize
    tokens = np.zeros((batch, L), np.int64)                       # 0: noise everywhere
    data = rng.integers(1, n_tokens - 1, size=(batch, n_memorize))
    where = np.sort(np.argsort(rng.random((batch, context)), axis=1)[:, :n_memorize], axis=1)
    rows = np.arange(batch)[:, None]
    tokens[rows, where] = data                                   # the tokens to remember
    tokens[:, context:] = n_tokens - 1                           # then the "go" markers
    return tokens, data, where


def selective_copying_batch(seed: int, index: int, batch: int, L: int,
                            n_memorize: int = 4, n_tokens: int = 6, *,
                            eval_set: bool = False, with_positions: bool = False):
    """Batch ``index`` of selective copying: ``(inputs, targets)`` (and positions).

    A sequence has L tokens of a vocabulary of ``n_tokens``: token 0 is noise,
    ``n_tokens - 1`` is the marker, the others are data. The first
    ``L - n_memorize`` steps are noise except for ``n_memorize`` data tokens at
    random distinct positions; the last ``n_memorize`` steps are markers, at which
    the model must output the data tokens in their order of appearance.
    ``inputs`` float32 one-hot (batch, L, n_tokens); ``targets`` int32
    (batch, n_memorize); positions int32 (batch, n_memorize), increasing.
    Batches are a function of ``(seed, index, eval_set)`` alone.
    """
    func = "selective_copying_batch"
    seed = check_int(func, "seed", seed, minimum=0)
    index = check_int(func, "index", index, minimum=0)
    batch = check_int(func, "batch", batch, minimum=1)
    n_memorize = check_int(func, "n_memorize", n_memorize, minimum=1)
    n_tokens = check_int(func, "n_tokens", n_tokens, minimum=3)
    L = check_int(func, "L", L, minimum=2 * n_memorize)
    rng = np.random.default_rng(np.random.SeedSequence([seed, int(eval_set), index]))
    tokens, data, where = _copying(rng, batch, L, n_memorize, n_tokens)
    inputs = np.eye(n_tokens, dtype=np.float32)[tokens]
    out = (inputs, data.astype(np.int32))
    return out + (where.astype(np.int32),) if with_positions else out


def copying_accuracy(logits, targets):
    """Fraction of the tokens reproduced: argmax of the last n_memorize outputs vs targets."""
    logits = check_array("copying_accuracy", "logits", logits, ndim=3)
    targets = np.asarray(targets)
    M = targets.shape[-1]
    return float(np.mean(np.asarray(jnp.argmax(logits[:, -M:], axis=-1)) == targets))


# --------------------------------------------------------------------------------------
# training: S6 against time-invariant layers, same budget, same optimizer
# --------------------------------------------------------------------------------------

MODELS = ("s6", "lti", "s4", "s4d")


def _build(model, d_tokens, d_model, n_layers, N, dt_min, dt_max, method="parallel"):
    """``(init(key), apply(params, u), labels(params), cfg)`` for one of MODELS."""
    if model in ("s6", "lti"):
        cfg = MambaConfig(d_input=d_tokens, d_output=d_tokens, d_model=d_model,
                          n_layers=n_layers, N=N, layer=model, dt_min=dt_min, dt_max=dt_max)
        return (lambda k: init_mamba(k, cfg, jnp.float32),
                lambda p, u: _apply_mamba(p, u, method),
                mamba_param_labels, cfg)
    from . import layers  # the S4 (DPLR) and S4D stacks of chapter 8
    cfg = layers.ModelConfig(d_input=d_tokens, d_output=d_tokens, H=d_model, N=N,
                             n_layers=n_layers, kernel="dplr" if model == "s4" else "diag",
                             dt_min=dt_min, dt_max=dt_max)
    return (lambda k: layers.init_model(k, cfg, jnp.float32),
            lambda p, u: layers.apply_model(p, cfg, u), layers.ssm_param_labels, cfg)


def train_copying(model: str = "s6", *, L: int = 64, n_memorize: int = 4,
                  n_tokens: int = 6, d_model: int = 32, n_layers: int = 2, N: int = 16,
                  steps: int = 300, batch_size: int = 32, lr: float = 3e-3,
                  weight_decay: float = 0.01, dt_min: float = 1e-3, dt_max: float = 1e-1,
                  seed: int = 0, n_eval: int = 256, micro_batch: int | None = None,
                  method: str = "parallel", progress: bool = False) -> dict:
    """Train ``model`` (one of MODELS) on selective copying; return the results.

    Parameters are float32 (whatever the x64 setting). Every model gets the same
    optimizer (AdamW with warm-up and cosine decay, gradients clipped at norm 1;
    no weight decay on the state-space leaves) and the same batches. With
    ``micro_batch`` (a divisor of ``batch_size``) each batch's gradient is the mean
    of the gradients of its chunks of ``micro_batch`` sequences: the same update up
    to rounding, with smaller arrays in flight (faster on a CPU whose cache holds a
    chunk but not a batch). ``method`` runs the recurrence of the Mamba models
    (``"parallel"`` scan or ``"sequential"`` loop, as in :func:`selective_scan`;
    S4 and S4D use their convolution). Returns
    ``{"model", "accuracy", "losses", "n_params", "wall_s", "params", "cfg"}``;
    accuracy is over ``n_eval`` held-out sequences.
    """
    func = "train_copying"
    model = check_choice(func, "model", model, MODELS)
    method = check_choice(func, "method", method, ("parallel", "sequential"))
    for name, value in (("steps", steps), ("batch_size", batch_size), ("n_eval", n_eval),
                        ("d_model", d_model), ("n_layers", n_layers), ("N", N)):
        check_int(func, name, value, minimum=1)
    seed = check_int(func, "seed", seed, minimum=0)
    check_scalar(func, "lr", lr, positive=True)
    if micro_batch is not None:
        micro_batch = check_int(func, "micro_batch", micro_batch, minimum=1)
        if batch_size % micro_batch:
            fail(func, "micro_batch", f"a divisor of batch_size = {batch_size}", micro_batch)
    selective_copying_batch(seed, 0, 1, L, n_memorize, n_tokens)     # checks the task
    import optax

    from .train import make_optimizer

    init, apply, labels, cfg = _build(model, n_tokens, d_model, n_layers, N, dt_min, dt_max,
                                      method)
    params = init(jax.random.PRNGKey(seed))
    tx = make_optimizer(lr, lr, weight_decay, steps, max(1, steps // 10), labels(params))
    opt_state = tx.init(params)

    def loss_fn(p, u, y):
        logits = apply(p, u)[:, -n_memorize:]
        return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

    chunks = 1 if micro_batch is None else batch_size // micro_batch

    def mean_grad(p, u, y):           # loss and gradient of the batch mean, chunk by chunk
        if chunks == 1:
            return jax.value_and_grad(loss_fn)(p, u, y)

        def add(total, uy):
            part = jax.value_and_grad(loss_fn)(p, *uy)
            return jax.tree_util.tree_map(jnp.add, total, part), None

        split = (x.reshape(chunks, -1, *x.shape[1:]) for x in (u, y))
        zero = jax.tree_util.tree_map(jnp.zeros_like, (jnp.zeros((), jnp.float32), p))
        total, _ = jax.lax.scan(add, zero, tuple(split))
        return jax.tree_util.tree_map(lambda x: x / chunks, total)

    @jax.jit
    def train_step(p, s, u, y):
        with jax.default_matmul_precision("highest"):
            loss, grads = mean_grad(p, u, y)
            updates, s = tx.update(grads, s, p)
        return optax.apply_updates(p, updates), s, loss

    logits_fn = jax.jit(lambda p, u: apply(p, u)[:, -n_memorize:])
    bar = _progress(steps, f"{model} L={L}") if progress else None
    losses = []
    t0 = time.perf_counter()
    for step in range(steps):
        u, y = selective_copying_batch(seed, step, batch_size, L, n_memorize, n_tokens)
        params, opt_state, loss = train_step(params, opt_state, u, y)
        losses.append(loss)
        if bar is not None:
            bar.update(1)
            if step % 20 == 0:
                bar.set_postfix(loss=f"{float(loss):.3f}")
    losses = [float(x) for x in losses]
    wall = time.perf_counter() - t0
    if bar is not None:
        bar.close()
    correct = 0.0
    for i in range(0, n_eval, 256):
        u, y = selective_copying_batch(seed, i // 256, min(256, n_eval - i), L, n_memorize,
                                       n_tokens, eval_set=True)
        correct += copying_accuracy(logits_fn(params, u), y) * len(y)
    n_params = int(sum(np.size(x) for x in jax.tree_util.tree_leaves(params)))
    return {"model": model, "accuracy": correct / n_eval, "losses": losses,
            "n_params": n_params, "wall_s": wall, "params": params, "cfg": cfg}


def _progress(total, desc):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, mininterval=2.0)


# --------------------------------------------------------------------------------------
# the command line
# --------------------------------------------------------------------------------------

def _parser():
    p = argparse.ArgumentParser(
        prog="python -m s4_minimal.selective",
        description="Selective copying: S6 (Mamba) against time-invariant state spaces, "
                    "same budget and optimizer; writes a JSON record.")
    p.add_argument("--out", required=True, help="directory for the JSON record")
    p.add_argument("--name", default="selective.json", help="file name of the record")
    p.add_argument("--quick", action="store_true", help="a CPU-sized run (under a minute)")
    p.add_argument("--models", default="s6,lti,s4d", help="comma-separated, from " +
                   ", ".join(MODELS))
    p.add_argument("--L", type=int, default=1024, help="sequence length")
    p.add_argument("--n-memorize", type=int, default=8, help="tokens to copy")
    p.add_argument("--n-tokens", type=int, default=10, help="vocabulary, noise and marker "
                   "included")
    p.add_argument("--d-model", type=int, default=64)
    p.add_argument("--n-layers", type=int, default=2)
    p.add_argument("--N", type=int, default=16)
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--n-eval", type=int, default=512)
    return p


def main(argv=None) -> int:
    """Entry point of ``python -m s4_minimal.selective``."""
    import os
    parser = _parser()
    args = parser.parse_args(argv)
    if args.quick:
        args.L, args.n_memorize, args.n_tokens, args.d_model, args.N = 32, 2, 5, 16, 8
        args.steps, args.batch_size, args.lr, args.n_eval = 150, 32, 1e-2, 256
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    try:
        for m in models:
            check_choice("main", "models", m, MODELS)
    except ValueError as err:
        parser.error(str(err))
    from . import environment
    os.makedirs(args.out, exist_ok=True)
    record = {"task": "selective copying", "L": args.L, "n_memorize": args.n_memorize,
              "n_tokens": args.n_tokens, "d_model": args.d_model, "n_layers": args.n_layers,
              "N": args.N, "steps": args.steps, "batch_size": args.batch_size, "lr": args.lr,
              "seed": args.seed, "n_eval": args.n_eval, "environment": environment(),
              "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()), "runs": {}}
    try:
        import optax
        record["environment"]["optax"] = optax.__version__
    except ImportError:  # pragma: no cover
        pass
    t_all = time.perf_counter()
    for m in models:
        res = train_copying(m, L=args.L, n_memorize=args.n_memorize, n_tokens=args.n_tokens,
                            d_model=args.d_model, n_layers=args.n_layers, N=args.N,
                            steps=args.steps, batch_size=args.batch_size, lr=args.lr,
                            seed=args.seed, n_eval=args.n_eval, progress=True)
        record["runs"][m] = {"accuracy": res["accuracy"], "n_params": res["n_params"],
                             "wall_s": res["wall_s"], "losses": res["losses"][::10]}
        print(f"{m}: accuracy {res['accuracy']:.1%}, {res['n_params']:,} parameters, "
              f"{res['wall_s']:.0f} s", flush=True)
        record["wall_s"] = time.perf_counter() - t_all
        path = os.path.join(args.out, args.name)
        with open(path, "w") as f:           # after every model: a partial run is kept
            json.dump(record, f, indent=1)
    print(f"wrote {path} ({record['wall_s']:.0f} s in all)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
