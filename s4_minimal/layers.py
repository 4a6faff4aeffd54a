"""The S4 layer and a stack of S4 blocks, as plain JAX functions on dicts of arrays.

Serves chapter 8 (the S4 layer). Everything here is a pure function of a parameter
pytree (nested dicts of real arrays) and a frozen configuration dataclass, so it
works with ``jax.jit`` (configuration as a static argument), ``jax.grad``,
``jax.vmap`` and any optax optimizer. No framework: a layer is four functions.

The layer: H independent SSMs (one per channel)
-----------------------------------------------
``LayerConfig(H, N, kernel="dplr"|"diag", init=..., dt_min, dt_max, diag_method,
kernel_impl="fast"|"reference")``.
Each channel h is a continuous SSM ``x' = A x + B u``, ``y = C x + D u`` with N real
states, kept as N/2 complex numbers: the states of a real system in a complex basis
come in conjugate pairs, and only one of each pair is stored ("conjugate halving").
The kernel of a channel is then ``2 Re`` of the sum over the kept half.

``init_ssm(key, cfg, dtype=None) -> params`` (dict; n = N // 2; all arrays real):

* ``Lambda``: ``{"log_neg_re": (H, n), "im": (H, n)}`` with
  ``Lambda = -exp(log_neg_re) + i im``: the real part is negative for every value
  of the parameters, so no gradient step can make a channel unstable;
* ``P`` (DPLR only): (H, n, 2), the low-rank vector, ``A = diag(Lambda) - P P^*``
  over the full conjugate-paired state;
* ``B``: (H, n, 2); ``Ct`` (DPLR): (H, n, 2), the learned ``C~ = C (I - Ab^L)``;
  ``C`` (diagonal): (H, n, 2);
* ``log_dt``: (H,), initialized uniformly in ``[log dt_min, log dt_max]``;
* ``D``: (H,), the skip term.

Complex vectors are stored as a trailing axis (real, imaginary): an optimizer then
sees only real numbers (``jax.grad`` of a real loss with respect to a complex array
returns the *conjugate* of the steepest-ascent direction, and an optimizer that is
not told would step the imaginary parts the wrong way). :func:`ssm_arrays` turns
the parameters into the complex arrays of the formulas.

CNN mode (training): ``ssm_kernel(params, cfg, L) -> (H, L)`` and
``ssm_apply(params, cfg, u)`` with u of shape (..., L, H): the causal convolution
with the kernel (by FFT) plus ``D u``. Which code computes the kernels is a field of
the configuration, ``cfg.kernel_impl``: ``"fast"`` (the default) runs the kernels of
:mod:`s4_minimal.fast` (chapter 10), ``"reference"`` the readable ones this chapter shows
(``"dplr"``: :func:`s4_minimal.kernels.kernel_dplr` over the full conjugate-paired system;
``"diag"``: ``2 *`` :func:`s4_minimal.kernels.kernel_diag` over the kept half, one
vmapped channel at a time). Both compute the same kernels (``tests/test_layers.py``).

RNN mode (inference): ``ssm_rnn_params(params, cfg, L)`` computes the discrete
system once: for DPLR the bilinear step ``x_k = M^-1 ((I + dt/2 A) x_{k-1} + dt B u_k)``
with ``M = I - dt/2 A`` inverted by Woodbury (O(N) per step, Ab never formed) and the
output vector ``C = C~ (I - Ab^L)^-1`` recovered from the learned ``C~`` (dense, once);
for the diagonal system the elementwise step. ``ssm_step(rnn_params, state, u_k) ->
(state, y_k)`` with u_k of shape (..., H), and
``ssm_scan(rnn_params, u)`` over a whole sequence (..., L, H). For k < L the RNN and
the CNN give the same outputs (to rounding); the RNN may run past L (generation),
where it continues the same system.

The model: a stack of S4 blocks
-------------------------------
``ModelConfig(d_input, d_output, H, N, n_layers, kernel, init, dropout, prenorm,
glu, pool, ...)``; ``init_model(key, cfg) -> params``;
``apply_model(params, cfg, u, *, train=False, key=None)``: u (B, L, d_input) ->
(B, L, d_output) (``pool=None``, per-step outputs), or (B, d_output) with
``pool="mean"`` (mean over time before the decoder) or ``pool="last"``.
A block maps x (B, L, H) to

    x + Dropout(GLU(W GELU(SSM(Norm(x)))))        (pre-norm, the default)
    Norm(x + Dropout(GLU(W GELU(SSM(x)))))        (post-norm)

with ``W`` a linear map H -> 2H and ``GLU(a, b) = a * sigmoid(b)`` (with ``glu=False``,
``W`` maps H -> H and there is no gate). An encoder (linear d_input -> H) comes
first; a final LayerNorm (pre-norm only) and a decoder (linear H -> d_output) last.
``init_cache(params, cfg, batch, L)`` and ``step_model(params, cfg, cache, u_k) ->
(cache, y_k)`` run the same model one step at a time in RNN mode (u_k: (batch,
d_input), y_k: (batch, d_output), no pooling); ``generate`` reads a prompt that way
and continues it, feeding each output back as the next input.

Training: ``ssm_param_labels(params)`` labels every leaf ``"ssm"`` (Lambda, P, B,
log_dt) or ``"other"``, for ``optax.multi_transform``. S4 trains the "ssm" leaves
with a smaller learning rate and no weight decay: they set the time scales and the
memory of the state space (a large step can move dt or the eigenvalues far and
wreck what the state remembers), and weight decay would pull them towards zero,
that is towards ``dt = 1``, ``Re Lambda = -1`` and ``P = B = 0``, values with no
special meaning, instead of towards a "simpler" model.

Compilation: every function is pure; compile with the configuration (and ``L``)
static, e.g. ``jax.jit(apply_model, static_argnums=1)`` or
``jax.jit(ssm_kernel, static_argnums=(1, 2))`` (configurations are frozen, hence
hashable). Called without ``jit`` they run op by op, which is slow.

Precision: the layer keeps the dtype of its parameters (:func:`init_ssm` and
:func:`init_model` take ``dtype``; float64 needs ``jax_enable_x64``); matrix
products run in full float32 precision (no TF32) as everywhere in the package.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np

from . import discretize as _discretize
from . import fast, hippo, kernels, s4d, ssm
from .s4d import conjugate_pairs
from ._precision import full_precision
from ._validate import (check_array, check_bool, check_choice, check_int, check_scalar,
                        check_tree, fail, set_fields)

__all__ = [
    "LayerConfig",
    "KERNELS",
    "SSM_KEYS",
    "init_ssm",
    "ssm_arrays",
    "dense_ssm",
    "ssm_kernel",
    "ssm_apply",
    "ssm_rnn_params",
    "ssm_step",
    "ssm_scan",
    "ModelConfig",
    "init_model",
    "apply_model",
    "init_cache",
    "step_model",
    "generate",
    "ssm_param_labels",
    "dplr_legs_half",
]

KERNEL_KINDS = ("dplr", "diag")
KERNEL_IMPLS = ("fast", "reference")
INITS = {"dplr": ("legs",), "diag": ("legs", "lin", "inv")}
POOLS = (None, "mean", "last")

#: Parameters that set the dynamics of the state space: smaller learning rate, no weight decay.
SSM_KEYS = ("Lambda", "P", "B", "log_dt")


# --------------------------------------------------------------------------------------
# configuration
# --------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class LayerConfig:
    """Hyperparameters of one S4 layer (H channels, each an SSM with N real states).

    ``kernel``: ``"dplr"`` (S4: diagonal plus rank one, bilinear) or ``"diag"`` (S4D);
    ``init``: ``"legs"`` for DPLR; ``"legs"``, ``"lin"`` or ``"inv"`` for the diagonal
    kernel (S4D-LegS, -Lin, -Inv); ``dt_min``, ``dt_max``: range of the log-uniform
    initial step; ``diag_method``: discretization of the diagonal kernel (``"zoh"`` or
    ``"bilinear"``; DPLR is always bilinear); ``kernel_impl``: the code that computes
    the kernels, ``"fast"`` (:mod:`s4_minimal.fast`) or ``"reference"`` (the readable
    kernels of :mod:`s4_minimal.kernels`), same results. N must be even (conjugate
    pairs). Frozen, hence hashable: pass it to ``jax.jit`` as a static argument.
    """

    H: int
    N: int = 64
    kernel: str = "dplr"
    init: str = "legs"
    dt_min: float = 1e-3
    dt_max: float = 1e-1
    diag_method: str = "zoh"
    kernel_impl: str = "fast"

    def __post_init__(self):
        func = "LayerConfig"
        N = check_int(func, "N", self.N, minimum=2)
        if N % 2:
            fail(func, "N", "an even number (N // 2 conjugate pairs)", self.N)
        kernel = check_choice(func, "kernel", self.kernel, KERNEL_KINDS)
        lo = float(check_scalar(func, "dt_min", self.dt_min, positive=True))
        hi = float(check_scalar(func, "dt_max", self.dt_max, positive=True))
        if hi < lo:
            fail(func, "dt_max", f"a number >= dt_min = {lo}", self.dt_max)
        set_fields(self, H=check_int(func, "H", self.H, minimum=1), N=N, kernel=kernel,
                   init=check_choice(func, "init", self.init, INITS[kernel]),
                   dt_min=lo, dt_max=hi,
                   diag_method=check_choice(func, "diag_method", self.diag_method,
                                            kernels.DIAG_METHODS),
                   kernel_impl=check_choice(func, "kernel_impl", self.kernel_impl,
                                            KERNEL_IMPLS))

    @property
    def n(self) -> int:
        """Complex numbers stored per channel: one of each conjugate pair, N // 2."""
        return self.N // 2


# --------------------------------------------------------------------------------------
# initialization
# --------------------------------------------------------------------------------------

def dplr_legs_half(N: int):
    """LegS in DPLR form, one of each conjugate pair: ``(Lambda, P, B, V_h)``.

    :func:`s4_minimal.hippo.legs_dplr` gives ``A_legs = V (diag(Lambda) - P P^*) V^*``.
    Its eigenvalues ``-1/2 + i omega`` come in pairs ``omega, -omega`` and, since
    ``A_legs`` and ``P0`` are real, the eigenvector of ``-omega`` can be taken as the
    conjugate of that of ``omega``. Keep the half with ``omega > 0``: Lambda, P, B of
    shape (N // 2,) and the columns ``V_h`` (N, N // 2). With the full basis
    ``V = [V_h, conj(V_h)]`` (unitary) and the full arrays ``[x, conj(x)]``,
    ``V (diag(Lambda) - P P^*) V^* == A_legs`` and ``V B == B_legs``. Complex128 NumPy.
    """
    N = check_int("dplr_legs_half", "N", N, minimum=2)
    if N % 2:
        fail("dplr_legs_half", "N", "an even number", N)
    _, B_legs = hippo.transition("legs", N)
    Lambda, _, _, V = hippo.legs_dplr(N)
    keep = np.argsort(-Lambda.imag)[: N // 2]        # the N/2 largest Im: all > 0
    keep = np.sort(keep)
    V_h = V[:, keep]
    P0 = np.sqrt(np.arange(N) + 0.5)
    return Lambda[keep], V_h.conj().T @ P0, V_h.conj().T @ B_legs, V_h


def _as_pair(z, dtype):
    """A complex array as a real array with a trailing (real, imaginary) axis."""
    z = np.asarray(z)
    return jnp.asarray(np.stack([z.real, z.imag], axis=-1), dtype)


def _complex(pair):
    """Inverse of :func:`_as_pair`."""
    return jax.lax.complex(pair[..., 0], pair[..., 1])


def init_ssm(key, cfg: LayerConfig, dtype=None):
    """Parameters of H independent SSMs (see the module docstring for the dict).

    Lambda, P, B start at the chosen initialization in every channel (the same
    matrices), ``C~`` (DPLR) or ``C`` (diagonal) as complex normals with
    ``E|C_n|^2 = 1``, ``D`` standard normal, and ``log dt`` uniform in
    ``[log dt_min, log dt_max]`` (one step size per channel).
    """
    cfg = _check_layer_config("init_ssm", cfg)
    dtype = _check_dtype("init_ssm", dtype)
    key = _check_key("init_ssm", key, required=True)
    return _init_ssm(key, cfg, dtype)


def _init_ssm(key, cfg, dtype):
    H, n = cfg.H, cfg.n
    if cfg.kernel == "dplr":
        Lambda, P, B, _ = dplr_legs_half(cfg.N)
    else:
        Lambda, B = s4d.init(cfg.init, cfg.N)   # S4D-LegS, -Lin, -Inv (chapter 7)
    k_c, k_d, k_dt = jax.random.split(key, 3)
    tile = lambda x: jnp.broadcast_to(_as_pair(x, dtype), (H, n, 2))
    log_neg_re = np.log(-np.real(Lambda))
    params = {
        "Lambda": {"log_neg_re": jnp.broadcast_to(jnp.asarray(log_neg_re, dtype), (H, n)),
                   "im": jnp.broadcast_to(jnp.asarray(np.imag(Lambda), dtype), (H, n))},
        "B": tile(B),
    }
    if cfg.kernel == "dplr":
        params["P"] = tile(P)
    c_name = "Ct" if cfg.kernel == "dplr" else "C"
    params[c_name] = jax.random.normal(k_c, (H, n, 2), dtype) * math.sqrt(0.5)
    params["log_dt"] = jax.random.uniform(k_dt, (H,), dtype, minval=math.log(cfg.dt_min),
                                          maxval=math.log(cfg.dt_max))
    params["D"] = jax.random.normal(k_d, (H,), dtype)
    return params


# --------------------------------------------------------------------------------------
# the complex arrays of the formulas
# --------------------------------------------------------------------------------------

def _ssm_arrays(params):
    """The complex arrays of the formulas (kept half of each conjugate pair)."""
    lam = params["Lambda"]
    out = {"Lambda": jax.lax.complex(-jnp.exp(lam["log_neg_re"]), lam["im"]),
           "B": _complex(params["B"]),
           "dt": jnp.exp(params["log_dt"]),
           "D": params["D"]}
    for name in ("P", "Ct", "C"):
        if name in params:
            out[name] = _complex(params[name])
    return out


def ssm_arrays(params, cfg: LayerConfig):
    """``{"Lambda", "P", "B", "Ct" or "C"}`` complex (H, N // 2), ``"dt"``, ``"D"`` (H,)."""
    cfg = _check_layer_config("ssm_arrays", cfg)
    return _ssm_arrays(_check_ssm_params("ssm_arrays", params, cfg))


def dense_ssm(params, cfg: LayerConfig, h: int = 0):
    """Channel h as a dense complex system: ``(A, B, C_out, dt, D)`` over all N states.

    ``A = diag(Lambda) - P P^*`` (DPLR) or ``diag(Lambda)`` (diagonal) on the full
    conjugate-paired state, ``B`` (N,), and ``C_out`` the learned output vector
    (``C~`` for DPLR, ``C`` for the diagonal kernel). For checks against the dense
    references of :mod:`s4_minimal.discretize` and :mod:`s4_minimal.ssm`; the real
    output is ``Re(C x)`` of the complex system.
    """
    cfg = _check_layer_config("dense_ssm", cfg)
    h = check_int("dense_ssm", "h", h, minimum=0, maximum=cfg.H - 1)
    a = _ssm_arrays(_check_ssm_params("dense_ssm", params, cfg))
    A = jnp.diag(conjugate_pairs(a["Lambda"][h]))
    if "P" in a:
        P = conjugate_pairs(a["P"][h])
        A = A - jnp.outer(P, jnp.conj(P))
    C_out = conjugate_pairs((a["Ct"] if "Ct" in a else a["C"])[h])
    return A, conjugate_pairs(a["B"][h]), C_out, a["dt"][h], a["D"][h]


# --------------------------------------------------------------------------------------
# CNN mode: the kernel and the convolution
# --------------------------------------------------------------------------------------

def _dplr_channel(Lambda, P, B, Ct, dt, L):
    """One channel's DPLR kernel over the full conjugate-paired system (a real system)."""
    Lambda, P, B, Ct = (conjugate_pairs(x) for x in (Lambda, P, B, Ct))
    return kernels.kernel_dplr(Lambda, P, P, B, Ct, dt, L, real_system=True)


def _diag_channel(Lambda, B, C, dt, L, method):
    """One channel's diagonal kernel: twice the real part of the kept half's sum."""
    return 2.0 * kernels.kernel_diag(Lambda, B, C, dt, L, method)


def _dplr_kernels(params, cfg, L):
    a = _ssm_arrays(params)
    return jax.vmap(_dplr_channel, in_axes=(0, 0, 0, 0, 0, None))(
        a["Lambda"], a["P"], a["B"], a["Ct"], a["dt"], L)


def _diag_kernels(params, cfg, L):
    a = _ssm_arrays(params)
    return jax.vmap(_diag_channel, in_axes=(0, 0, 0, 0, None, None))(
        a["Lambda"], a["B"], a["C"], a["dt"], L, cfg.diag_method)


def _dplr_kernels_fast(params, cfg, L):
    """The same H kernels by :func:`s4_minimal.fast.kernel_dplr_fast`, all channels at once."""
    a = _ssm_arrays(params)
    Lambda, P, B, Ct = (conjugate_pairs(a[k]) for k in ("Lambda", "P", "B", "Ct"))
    return fast.kernel_dplr_fast(Lambda, P, P, B, Ct, a["dt"], L, real_system=True)


def _diag_kernels_fast(params, cfg, L):
    """The same H kernels by :func:`s4_minimal.fast.kernel_diag_fast`: twice the kept half."""
    a = _ssm_arrays(params)
    return 2.0 * fast.kernel_diag_fast(a["Lambda"], a["B"], a["C"], a["dt"], L,
                                       cfg.diag_method)


#: How the H kernels are computed, ``KERNELS[cfg.kernel_impl][cfg.kernel]``, each
#: ``(params, cfg, L) -> (H, L)``: the readable kernels, one vmapped channel at a time
#: (what chapter 8 shows), or the fast ones of chapter 10, which the layer runs by default.
KERNELS = {"reference": {"dplr": _dplr_kernels, "diag": _diag_kernels},
           "fast": {"dplr": _dplr_kernels_fast, "diag": _diag_kernels_fast}}


@full_precision
def ssm_kernel(params, cfg: LayerConfig, L: int):
    """The H convolution kernels, shape (H, L): ``K[h, k] = C_h Ab_h^k Bb_h`` (real part)."""
    cfg = _check_layer_config("ssm_kernel", cfg)
    params = _check_ssm_params("ssm_kernel", params, cfg)
    L = check_int("ssm_kernel", "L", L, minimum=1)
    return _ssm_kernel(params, cfg, L)


def _ssm_kernel(params, cfg, L):
    return KERNELS[cfg.kernel_impl][cfg.kernel](params, cfg, L)


def _ssm_apply(params, cfg, u):
    """CNN mode: y = K * u (causal, by FFT, per channel) + D u, for u of shape (..., L, H)."""
    K = _ssm_kernel(params, cfg, u.shape[-2])                        # (H, L)
    conv = jax.vmap(ssm.causal_conv, in_axes=(-1, 0), out_axes=-1)   # over channels
    for _ in range(u.ndim - 2):                                      # over batch axes
        conv = jax.vmap(conv, in_axes=(0, None))
    return conv(u, K) + params["D"] * u


@full_precision
def ssm_apply(params, cfg: LayerConfig, u):
    """The layer in CNN mode: u (..., L, H) -> y (..., L, H), ``y = K * u + D u``."""
    cfg = _check_layer_config("ssm_apply", cfg)
    params = _check_ssm_params("ssm_apply", params, cfg)
    u = _check_signal("ssm_apply", "u", u, cfg, params)
    return _ssm_apply(params, cfg, u)


# --------------------------------------------------------------------------------------
# RNN mode
# --------------------------------------------------------------------------------------

def _re2(a, b):
    """``a . b`` summed over the FULL conjugate-paired state, given the kept halves.

    With ``a_full = [a, conj a]`` and ``b_full = [b, conj b]``:
    ``sum a_full b_full = sum a b + conj(sum a b) = 2 Re(sum a b)``, a real number.
    """
    return 2.0 * jnp.real(jnp.sum(a * b, axis=-1, keepdims=True))


def _dplr_rnn_params(params, cfg, L):
    """The bilinear DPLR step in O(N) and C-bar recovered from the learned C~.

    With ``A = diag(Lambda) - P P^*`` and ``M = I - dt/2 A = diag(1/d) + dt/2 P P^*``,
    ``d = 1 / (1 - dt/2 Lambda)``, the bilinear step is

        x_k = M^-1 ((I + dt/2 A) x_{k-1} + dt B u_k),
        M^-1 v = d v - gamma (d P) (P^* d v),   gamma = (dt/2) / (1 + dt/2 P^* d P),

    (Woodbury), and ``(I + dt/2 A) x = (1 + dt/2 Lambda) x - dt/2 P (P^* x)``: two
    inner products and elementwise products, O(N). The output vector solves
    ``C (I - Ab^L) = C~``; that needs ``Ab^L`` once, densely (O(N^3 log L)).
    """
    a = _ssm_arrays(params)
    Lam, P, B, Ct, dt = a["Lambda"], a["P"], a["B"], a["Ct"], a["dt"][:, None]
    d = 1.0 / (1.0 - dt / 2 * Lam)
    gamma = (dt / 2) / (1.0 + dt / 2 * _re2(jnp.conj(P), d * P))

    def c_bar(Lam, P, B, Ct, dt):            # one channel, full conjugate-paired arrays
        Pf = conjugate_pairs(P)
        A = jnp.diag(conjugate_pairs(Lam)) - jnp.outer(Pf, jnp.conj(Pf))
        Ab, _ = _discretize.discretize(A, conjugate_pairs(B), dt, "bilinear")
        eye = jnp.eye(A.shape[0], dtype=A.dtype)
        C = jnp.linalg.solve((eye - jnp.linalg.matrix_power(Ab, L)).T, conjugate_pairs(Ct))
        return C[: Lam.shape[0]]             # the kept half (C is conjugate-paired too)

    C = jax.vmap(c_bar)(Lam, P, B, Ct, a["dt"])
    return {"a0": 1.0 + dt / 2 * Lam, "P": P, "half_dt": dt / 2, "d": d, "dP": d * P,
            "gamma": gamma, "dtB": dt * B, "C": C, "D": a["D"]}


def _diag_rnn_params(params, cfg, L):
    """The diagonal step: ``x_k = Ab x_{k-1} + Bb u_k`` elementwise (ZOH or bilinear)."""
    a = _ssm_arrays(params)
    log_Ab, Bb = kernels._discretize_diag(a["Lambda"], a["B"], a["dt"][:, None],
                                          cfg.diag_method)
    return {"Ab": jnp.exp(log_Ab), "Bb": Bb, "C": a["C"], "D": a["D"]}


def _ssm_rnn_params(params, cfg, L):
    return (_dplr_rnn_params if cfg.kernel == "dplr" else _diag_rnn_params)(params, cfg, L)


@full_precision
def ssm_rnn_params(params, cfg: LayerConfig, L: int):
    """The discrete system for RNN mode (a dict of complex/real arrays, leading axis H).

    ``L`` is the length the kernel is computed for in CNN mode: for DPLR the learned
    ``C~`` depends on it, ``C = C~ (I - Ab^L)^-1``.
    """
    cfg = _check_layer_config("ssm_rnn_params", cfg)
    params = _check_ssm_params("ssm_rnn_params", params, cfg)
    L = check_int("ssm_rnn_params", "L", L, minimum=1)
    return _ssm_rnn_params(params, cfg, L)


def _dplr_step(rp, x, u):
    """One bilinear DPLR step on the kept half of the state, O(N); x (..., H, n), u (..., H)."""
    u = u[..., None]
    v = rp["a0"] * x - rp["half_dt"] * rp["P"] * _re2(jnp.conj(rp["P"]), x) + rp["dtB"] * u
    w = rp["d"] * v                                                  # diagonal part of M^-1
    x = w - rp["gamma"] * rp["dP"] * _re2(jnp.conj(rp["P"]), w)      # rank-one correction
    y = _re2(rp["C"], x)[..., 0] + rp["D"] * u[..., 0]
    return x, y


def _diag_step(rp, x, u):
    """One diagonal step: x (..., H, n), u (..., H); y = 2 Re(C x) + D u."""
    x = rp["Ab"] * x + rp["Bb"] * u[..., None]
    y = _re2(rp["C"], x)[..., 0] + rp["D"] * u
    return x, y


def _ssm_step(rp, x, u):
    return (_dplr_step if "P" in rp else _diag_step)(rp, x, u)


@full_precision
def ssm_step(rnn_params, state, u_k):
    """One RNN step: ``(state, y_k)`` for u_k of shape (..., H), state (..., H, N // 2)."""
    rp = _check_rnn_params("ssm_step", rnn_params)
    H = rp["C"].shape[0]
    u_k = check_array("ssm_step", "u_k", u_k)
    if u_k.ndim < 1 or u_k.shape[-1] != H:
        fail("ssm_step", "u_k", f"shape (..., H) with H = {H}", u_k)
    state = _check_state("ssm_step", "state", state, rp, u_k.shape[:-1])
    return _ssm_step(rp, state, u_k)


def _ssm_scan(rp, u, x0, unroll):
    def step(x, u_k):
        return _ssm_step(rp, x, u_k)

    x_last, y = jax.lax.scan(step, x0, jnp.moveaxis(u, -2, 0), unroll=unroll)
    return jnp.moveaxis(y, 0, -2), x_last


#: Steps per iteration of the compiled loop in :func:`ssm_scan`: on a GPU each loop
#: iteration has a fixed cost of several microseconds, which unrolling shares among
#: the steps (chapter 10 measures it); the result is the same.
SCAN_UNROLL = 8


@full_precision
def ssm_scan(rnn_params, u, state=None, return_state: bool = False,
             unroll: int = SCAN_UNROLL):
    """RNN mode over a sequence: u (..., L, H) -> y (..., L, H) (and the last state).

    ``state``: the state before the first step (default zero), shape (..., H, N // 2).
    ``unroll``: steps per iteration of the compiled loop (the same recurrence).
    """
    rp = _check_rnn_params("ssm_scan", rnn_params)
    H, n = rp["C"].shape
    u = check_array("ssm_scan", "u", u)
    if u.ndim < 2 or u.shape[-1] != H:
        fail("ssm_scan", "u", f"shape (..., L, H) with H = {H}", u)
    return_state = check_bool("ssm_scan", "return_state", return_state)
    unroll = check_int("ssm_scan", "unroll", unroll, minimum=1)
    batch = u.shape[:-2]
    if state is None:
        state = jnp.zeros(batch + (H, n), rp["C"].dtype)
    state = _check_state("ssm_scan", "state", state, rp, batch)
    u = u.astype(jnp.result_type(u, rp["D"]))
    y, x_last = _ssm_scan(rp, u, state, unroll)
    return (y, x_last) if return_state else y


# --------------------------------------------------------------------------------------
# the block and the model
# --------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """A stack of S4 blocks with an encoder and a decoder.

    ``d_input`` -> encoder -> ``n_layers`` blocks of width ``H`` (state size ``N``,
    ``kernel``, ``init``, ``dt_min``, ``dt_max``, ``diag_method`` as in
    :class:`LayerConfig`) -> decoder -> ``d_output``. ``dropout``: rate in [0, 1)
    (training only); ``prenorm``: LayerNorm before the SSM (else after the residual);
    ``glu``: gated output map (H -> 2H, GLU) or a plain H -> H map; ``pool``: ``None``
    (per-step outputs), ``"mean"`` or ``"last"`` (one output per sequence);
    ``kernel_impl`` as in :class:`LayerConfig`.
    """

    d_input: int
    d_output: int
    H: int = 64
    N: int = 64
    n_layers: int = 4
    kernel: str = "dplr"
    init: str = "legs"
    dropout: float = 0.0
    prenorm: bool = True
    glu: bool = True
    pool: Optional[str] = None
    dt_min: float = 1e-3
    dt_max: float = 1e-1
    diag_method: str = "zoh"
    kernel_impl: str = "fast"

    def __post_init__(self):
        func = "ModelConfig"
        rate = float(check_scalar(func, "dropout", self.dropout))
        if not 0.0 <= rate < 1.0:
            fail(func, "dropout", "a rate in [0, 1)", self.dropout)
        pool = self.pool
        if pool is not None:
            pool = check_choice(func, "pool", pool, POOLS[1:])
        layer = self.layer  # checks H, N, kernel, init, the dt range, diag_method, kernel_impl
        set_fields(self, d_input=check_int(func, "d_input", self.d_input, minimum=1),
                   d_output=check_int(func, "d_output", self.d_output, minimum=1),
                   n_layers=check_int(func, "n_layers", self.n_layers, minimum=1),
                   dropout=rate, prenorm=check_bool(func, "prenorm", self.prenorm),
                   glu=check_bool(func, "glu", self.glu), pool=pool,
                   **{name: getattr(layer, name) for name in _LAYER_FIELDS})

    @property
    def layer(self) -> LayerConfig:
        """The configuration of every S4 layer of the stack."""
        return LayerConfig(**{name: getattr(self, name) for name in _LAYER_FIELDS})


_LAYER_FIELDS = tuple(f.name for f in dataclasses.fields(LayerConfig))


def _init_linear(key, d_in, d_out, dtype):
    """``x @ W + b`` with W uniform in +-1/sqrt(d_in) (as PyTorch's Linear), b zero."""
    bound = 1.0 / math.sqrt(d_in)
    W = jax.random.uniform(key, (d_in, d_out), dtype, minval=-bound, maxval=bound)
    return {"W": W, "b": jnp.zeros((d_out,), dtype)}


def _init_norm(H, dtype):
    return {"scale": jnp.ones((H,), dtype), "bias": jnp.zeros((H,), dtype)}


def init_model(key, cfg: ModelConfig, dtype=None):
    """Parameters of the stack: ``{"encoder", "layers": [...], "norm"?, "decoder"}``.

    Each layer is ``{"ssm": init_ssm(...), "norm": LayerNorm, "out": linear map}``;
    the final ``"norm"`` exists with pre-norm only.
    """
    cfg = _check_model_config("init_model", cfg)
    dtype = _check_dtype("init_model", dtype)
    key = _check_key("init_model", key, required=True)
    return _init_model(key, cfg, dtype)


def _init_model(key, cfg, dtype):
    keys = jax.random.split(key, 2 * cfg.n_layers + 2)
    H = cfg.H
    width = 2 * H if cfg.glu else H
    params = {
        "encoder": _init_linear(keys[0], cfg.d_input, H, dtype),
        "layers": [{"ssm": _init_ssm(keys[2 + 2 * i], cfg.layer, dtype),
                    "norm": _init_norm(H, dtype),
                    "out": _init_linear(keys[3 + 2 * i], H, width, dtype)}
                   for i in range(cfg.n_layers)],
        "decoder": _init_linear(keys[1], H, cfg.d_output, dtype),
    }
    if cfg.prenorm:
        params["norm"] = _init_norm(H, dtype)
    return params


def _linear(p, x):
    return x @ p["W"] + p["b"]


def _layer_norm(p, x, eps=1e-5):
    """Normalize each time step over its H features, then scale and shift."""
    mean = jnp.mean(x, axis=-1, keepdims=True)
    var = jnp.var(x, axis=-1, keepdims=True)
    return (x - mean) * jax.lax.rsqrt(var + eps) * p["scale"] + p["bias"]


def _dropout(x, rate, key):
    if key is None or rate == 0.0:
        return x
    keep = jax.random.bernoulli(key, 1.0 - rate, x.shape)
    return jnp.where(keep, x / (1.0 - rate), 0.0)


def _block(p, cfg, x, ssm_fn, key=None):
    """One S4 block on x (..., H); ``ssm_fn`` is the SSM in CNN or RNN mode.

    Returns the new x and whatever ``ssm_fn`` returns beside its output (the RNN state).
    """
    z = _layer_norm(p["norm"], x) if cfg.prenorm else x
    z, extra = ssm_fn(p["ssm"], z)
    z = _linear(p["out"], jax.nn.gelu(z))
    if cfg.glu:
        z = jax.nn.glu(z, axis=-1)               # first half * sigmoid(second half)
    x = x + _dropout(z, cfg.dropout, key)
    if not cfg.prenorm:
        x = _layer_norm(p["norm"], x)
    return x, extra


def _apply_model(params, cfg, u, key=None):
    x = _linear(params["encoder"], u)                                # (B, L, H)
    keys = [None] * cfg.n_layers if key is None else jax.random.split(key, cfg.n_layers)
    cnn = lambda p, z: (_ssm_apply(p, cfg.layer, z), None)
    for p, k in zip(params["layers"], keys):
        x, _ = _block(p, cfg, x, cnn, k)
    if cfg.prenorm:
        x = _layer_norm(params["norm"], x)
    if cfg.pool == "mean":
        x = jnp.mean(x, axis=-2)
    elif cfg.pool == "last":
        x = x[..., -1, :]
    return _linear(params["decoder"], x)


@full_precision
def apply_model(params, cfg: ModelConfig, u, *, train: bool = False, key=None):
    """The model in CNN mode: u (B, L, d_input) -> (B, L, d_output), or (B, d_output) pooled.

    ``train=True`` applies dropout (needs ``key`` when ``cfg.dropout > 0``).
    """
    cfg = _check_model_config("apply_model", cfg)
    params = _check_model_params("apply_model", params, cfg)
    train = check_bool("apply_model", "train", train)
    if train and cfg.dropout > 0 and key is None:
        fail("apply_model", "key", "a jax.random key (train=True with dropout > 0)", key,
             TypeError)
    key = _check_key("apply_model", key, required=False)
    u = check_array("apply_model", "u", u)
    if u.ndim != 3 or u.shape[-1] != cfg.d_input:
        fail("apply_model", "u", f"shape (B, L, d_input) with d_input = {cfg.d_input}", u)
    dtype = params["encoder"]["W"].dtype
    u = u.astype(jnp.result_type(u, dtype))
    return _apply_model(params, cfg, u, key if train else None)


@full_precision
def init_cache(params, cfg: ModelConfig, batch: int, L: int):
    """The RNN-mode cache: discrete systems of every layer and zero states.

    ``{"rnn": [ssm_rnn_params per layer], "state": [(batch, H, N // 2) per layer]}``.
    ``L`` is the length the model runs on in CNN mode (C~ depends on it).
    """
    cfg = _check_model_config("init_cache", cfg)
    params = _check_model_params("init_cache", params, cfg)
    batch = check_int("init_cache", "batch", batch, minimum=1)
    L = check_int("init_cache", "L", L, minimum=1)
    return _init_cache(params, cfg, batch, L)


def _init_cache(params, cfg, batch, L):
    dtype = params["encoder"]["W"].dtype
    return {"rnn": [_ssm_rnn_params(p["ssm"], cfg.layer, L) for p in params["layers"]],
            "state": [jnp.zeros((batch, cfg.H, cfg.N // 2), jnp.result_type(dtype, jnp.complex64))
                      for _ in range(cfg.n_layers)]}


def _step_model(params, cfg, cache, u_k):
    x = _linear(params["encoder"], u_k)                              # (batch, H)
    states = []
    for p, rp, s in zip(params["layers"], cache["rnn"], cache["state"]):
        rnn = lambda p_ssm, z, rp=rp, s=s: _ssm_step(rp, s, z)[::-1]
        x, s = _block(p, cfg, x, rnn)
        states.append(s)
    if cfg.prenorm:
        x = _layer_norm(params["norm"], x)
    return {"rnn": cache["rnn"], "state": states}, _linear(params["decoder"], x)


@full_precision
def step_model(params, cfg: ModelConfig, cache, u_k):
    """One step of the model in RNN mode: u_k (batch, d_input) -> ``(cache, y_k)``.

    ``y_k`` (batch, d_output) is the per-step output (no pooling, no dropout):
    stepping through u[:, k] for k < L reproduces ``apply_model`` with ``pool=None``.
    """
    cfg = _check_model_config("step_model", cfg)
    params = _check_model_params("step_model", params, cfg)
    if not isinstance(cache, dict) or set(cache) != {"rnn", "state"}:
        fail("step_model", "cache", "the dict returned by init_cache", cache, TypeError)
    batch = cache["state"][0].shape[0]
    u_k = check_array("step_model", "u_k", u_k)
    if u_k.shape != (batch, cfg.d_input):
        fail("step_model", "u_k", f"shape (batch, d_input) = {(batch, cfg.d_input)}", u_k)
    dtype = params["encoder"]["W"].dtype
    return _step_model(params, cfg, cache, u_k.astype(jnp.result_type(u_k, dtype)))


def _generate(params, cfg, cache, prompt, n_new):
    P = prompt.shape[1]
    inputs = jnp.pad(jnp.swapaxes(prompt, 0, 1), ((0, n_new - 1), (0, 0), (0, 0)))

    def step(carry, k_and_u):
        cache, y_prev = carry
        k, u_k = k_and_u
        u_k = jnp.where(k < P, u_k, y_prev)          # the prompt, then its own outputs
        cache, y_k = _step_model(params, cfg, cache, u_k)
        return (cache, y_k), y_k

    steps = jnp.arange(P + n_new - 1)
    (cache, _), outputs = jax.lax.scan(step, (cache, prompt[:, 0]), (steps, inputs))
    return cache, jnp.swapaxes(outputs, 0, 1)


def generate(params, cfg: ModelConfig, cache, prompt, n_new: int):
    """Read ``prompt`` in RNN mode, then continue it, each output fed back as the next input.

    ``prompt`` (batch, P, d_input) is read one step at a time from ``cache`` (from
    :func:`init_cache`); the output at the prompt's last step is the first new sample,
    and each new sample is read in turn, all in one ``lax.scan``. Needs ``d_output ==
    d_input``. Returns ``(cache, outputs)``, ``outputs`` (batch, P + n_new - 1,
    d_output) the output at every step read: ``outputs[:, P - 1:]`` are the ``n_new``
    new samples, and ``apply_model`` on the prompt followed by all but the last new
    sample gives the same outputs (causal CNN mode). Jit it with ``cfg`` and ``n_new``
    static.
    """
    cfg = _check_model_config("generate", cfg)
    params = _check_model_params("generate", params, cfg)
    n_new = check_int("generate", "n_new", n_new, minimum=1)
    if cfg.d_output != cfg.d_input:
        fail("generate", "cfg", "d_output == d_input (outputs are fed back as inputs)", cfg)
    batch = cache["state"][0].shape[0]
    prompt = check_array("generate", "prompt", prompt)
    if prompt.ndim != 3 or prompt.shape[0] != batch or prompt.shape[2] != cfg.d_input:
        fail("generate", "prompt", f"shape (batch, P, d_input) = ({batch}, P, {cfg.d_input})",
             prompt)
    dtype = params["encoder"]["W"].dtype
    return _generate(params, cfg, cache, prompt.astype(jnp.result_type(prompt, dtype)), n_new)


# --------------------------------------------------------------------------------------
# labels for the optimizer
# --------------------------------------------------------------------------------------

def ssm_param_labels(params):
    """The pytree of ``params`` with each leaf replaced by ``"ssm"`` or ``"other"``.

    ``"ssm"``: leaves under a key in :data:`SSM_KEYS` (Lambda, P, B, log_dt), to train
    with a smaller learning rate and without weight decay, e.g.
    ``optax.multi_transform({"ssm": optax.adam(1e-3), "other": optax.adamw(4e-3,
    weight_decay=0.01)}, ssm_param_labels(params))``. Works for :func:`init_ssm` and
    :func:`init_model` parameters.
    """
    if not isinstance(params, (dict, list, tuple)):
        fail("ssm_param_labels", "params", "a pytree of parameters (dict)", params, TypeError)

    def label(path, _):
        names = {getattr(k, "key", None) for k in path}
        return "ssm" if names & set(SSM_KEYS) else "other"

    return jax.tree_util.tree_map_with_path(label, params)


# --------------------------------------------------------------------------------------
# argument checks
# --------------------------------------------------------------------------------------

def _check_layer_config(func, cfg):
    if not isinstance(cfg, LayerConfig):
        fail(func, "cfg", "a LayerConfig", cfg, TypeError)
    return cfg


def _check_dtype(func, dtype):
    """The real parameter dtype: the JAX default float when None; float64 needs x64."""
    if dtype is None:
        return jnp.dtype(jnp.result_type(float))
    try:
        dtype = jnp.dtype(dtype)
    except TypeError:
        fail(func, "dtype", "float32 or float64", dtype, TypeError)
    if dtype not in (jnp.float32, jnp.float64):
        fail(func, "dtype", "float32 or float64", dtype)
    if dtype == jnp.float64 and not jax.config.jax_enable_x64:
        fail(func, "dtype", "float32 (float64 needs jax_enable_x64)", dtype)
    return dtype


def _check_key(func, key, required):
    """A ``jax.random.key`` (or legacy uint32 PRNGKey); ``None`` allowed unless required."""
    if key is None:
        if required:
            fail(func, "key", "a jax.random key", key, TypeError)
        return None
    if not (isinstance(key, jax.Array) and key.shape in ((2,), ())):
        fail(func, "key", "a jax.random key", key, TypeError)
    return key


@functools.lru_cache(maxsize=None)
def _param_shapes(init, cfg, dtype):
    """The shapes ``init(key, cfg, dtype)`` gives, without computing anything (cached)."""
    return jax.eval_shape(lambda key: init(key, cfg, dtype), jax.random.PRNGKey(0))


def _params_dtype(func, params):
    """The float dtype the parameters will have as JAX arrays (for their expected layout)."""
    leaves = jax.tree_util.tree_leaves(params)
    if not isinstance(params, dict) or not leaves:
        fail(func, "params", "a dict of arrays (from init_ssm or init_model)", params,
             TypeError)
    dtype = jnp.result_type(leaves[0])
    return dtype if jnp.issubdtype(dtype, jnp.floating) else jnp.dtype(jnp.result_type(float))


def _check_ssm_params(func, params, cfg):
    """``params`` must have the layout :func:`init_ssm` gives for ``cfg``."""
    like = _param_shapes(_init_ssm, cfg, _params_dtype(func, params))
    return check_tree(func, "params", params, like,
                      f"a dict with keys {tuple(like)} (from init_ssm with the same cfg)")


def _check_signal(func, name, u, cfg, params):
    u = check_array(func, name, u)
    if u.ndim < 2 or u.shape[-1] != cfg.H:
        fail(func, name, f"shape (..., L, H) with H = {cfg.H}", u)
    dtype = jax.tree_util.tree_leaves(params)[0].dtype
    return u.astype(jnp.result_type(u, dtype))


def _check_rnn_params(func, rp):
    keys_dplr = {"a0", "P", "half_dt", "d", "dP", "gamma", "dtB", "C", "D"}
    keys_diag = {"Ab", "Bb", "C", "D"}
    if not isinstance(rp, dict) or set(rp) not in (keys_dplr, keys_diag):
        fail(func, "rnn_params", "the dict returned by ssm_rnn_params", rp, TypeError)
    return rp


def _check_state(func, name, x, rp, batch):
    H, n = rp["C"].shape
    x = check_array(func, name, x, complex_ok=True)
    if x.shape != tuple(batch) + (H, n):
        fail(func, name, f"shape {tuple(batch) + (H, n)} (batch shape + (H, N // 2))", x)
    return x.astype(rp["C"].dtype)


def _check_model_config(func, cfg):
    if not isinstance(cfg, ModelConfig):
        fail(func, "cfg", "a ModelConfig", cfg, TypeError)
    return cfg


def _check_model_params(func, params, cfg):
    """``params`` must have the layout :func:`init_model` gives for ``cfg``."""
    like = _param_shapes(_init_model, cfg, _params_dtype(func, params))
    return check_tree(func, "params", params, like,
                      f"a dict with keys {tuple(like)} (from init_model with the same cfg)")
