"""Training a model that remembers (chapter 9): ``python -m s4_minimal.train``.

One file, read top to bottom:

1. **Models.** The S4 stack of :mod:`s4_minimal.layers` (``"s4"``: DPLR kernel,
   HiPPO-LegS initialization; ``"s4d"``: diagonal kernel) and a baseline without
   long memory, a GRU written in plain JAX (:func:`gru_init`, :func:`gru_apply`,
   checked against a float64 NumPy loop in the tests).
2. **The optimizer.** AdamW from optax for the ordinary weights; plain Adam with a
   smaller learning rate and *no weight decay* for the SSM parameters (Lambda, P,
   B, log dt): they define a continuous-time system whose HiPPO initialization is
   the point, weight decay would pull Lambda's real part and log dt towards 0
   (no decay, dt = 1) and a large step would throw dt and A out of their
   well-conditioned range. ``optax.multi_transform`` routes each leaf by the label
   the layer gives it.
3. **Data parallelism.** One ``jax.sharding.Mesh`` over every device, axis
   ``"batch"``; the batch is split over it with ``NamedSharding(mesh, P("batch"))``
   and the parameters are replicated (``P()``); ``jax.jit`` inserts the gradient
   all-reduce. One device is the same code with a mesh of one. Each process
   hands in only its own rows of the global batch
   (``jax.make_array_from_process_local_data``), so several hosts need only
   ``jax.distributed.initialize()`` first (``--distributed``), no other code.
4. **The loop.** Seeded batches (:mod:`s4_minimal.data`), a tqdm progress bar
   with loss and throughput, a JSON-lines metrics log, periodic evaluation, and
   checkpoints that a run resumes from: batch ``s`` and the dropout key of step
   ``s`` depend on ``(seed, s)`` only, so a resumed run repeats an uninterrupted
   one bit for bit on the same device.
5. **Generation.** :func:`generate` continues a sequence in RNN mode, one step
   at a time from the layer's state cache.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import sys
import time
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from ._validate import check_choice, check_int, check_scalar, fail
from .data import TASKS, Task, make_task

__all__ = ["MODELS", "TrainConfig", "Model", "build_model", "gru_init", "gru_apply",
           "make_optimizer", "data_mesh", "train", "evaluate", "generate",
           "load_checkpoint", "read_log", "main"]

MODELS = ("s4", "s4d", "gru")


# --------------------------------------------------------------------------
# 1. Models
# --------------------------------------------------------------------------

class Model(NamedTuple):
    """A model as three functions: ``init(key) -> params``,
    ``apply(params, u, train, key) -> (B, L, d_output)`` and
    ``labels(params) -> pytree of "ssm" / "other"``; ``cfg`` is the layer's config
    (``None`` for the GRU)."""

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
        return Model("gru",
                     lambda key: gru_init(key, task.d_input, task.d_output, H, n_layers),
                     lambda params, u, train=False, key=None: gru_apply(params, u),
                     lambda params: jax.tree_util.tree_map(lambda _: "other", params),
                     None)
    from . import layers
    extra = {}
    if dt_min is not None:
        extra["dt_min"] = dt_min
    if dt_max is not None:
        extra["dt_max"] = dt_max
    cfg = layers.ModelConfig(d_input=task.d_input, d_output=task.d_output, H=H, N=N,
                             n_layers=n_layers, kernel="dplr" if model == "s4" else "diag",
                             dropout=dropout, **extra)
    return Model(model,
                 lambda key: layers.init_model(key, cfg),
                 lambda params, u, train=False, key=None: layers.apply_model(
                     params, cfg, u, train=train, key=key),
                 layers.ssm_param_labels,
                 cfg)


def count_params(params) -> int:
    """Number of real numbers in a parameter pytree (a complex entry counts 2)."""
    return int(sum(np.size(x) * (2 if jnp.iscomplexobj(x) else 1)
                   for x in jax.tree_util.tree_leaves(params)))


# --------------------------------------------------------------------------
# 2. Optimizer
# --------------------------------------------------------------------------

def _schedule(lr: float, steps: int, warmup: int):
    """Linear warm-up to ``lr`` over ``warmup`` steps, then cosine decay to 0 at ``steps``."""
    if warmup == 0:
        return optax.cosine_decay_schedule(lr, max(steps, 1))
    return optax.warmup_cosine_decay_schedule(0.0, lr, warmup, max(steps, warmup + 1),
                                              end_value=0.0)


def make_optimizer(lr: float, ssm_lr: float, weight_decay: float, steps: int,
                   warmup: int, labels, grad_clip: float = 1.0):
    """optax: AdamW(lr, weight_decay) on "other" leaves, Adam(ssm_lr), no decay, on "ssm".

    Gradients are clipped to global norm ``grad_clip`` first (0 turns it off).
    """
    other = optax.adamw(_schedule(lr, steps, warmup), weight_decay=weight_decay)
    ssm = optax.adam(_schedule(ssm_lr, steps, warmup))
    tx = optax.multi_transform({"other": other, "ssm": ssm}, labels)
    return optax.chain(optax.clip_by_global_norm(grad_clip), tx) if grad_clip > 0 else tx


# --------------------------------------------------------------------------
# 3. Data parallelism
# --------------------------------------------------------------------------

def data_mesh(devices=None) -> Mesh:
    """A one-axis mesh named ``"batch"`` over ``devices`` (default: all, on all hosts)."""
    devices = jax.devices() if devices is None else list(devices)
    return Mesh(np.array(devices), ("batch",))


def _shard_batch(mesh: Mesh, array: np.ndarray):
    """Place a global batch on the mesh, split along axis 0; each process gives its rows."""
    sharding = NamedSharding(mesh, PartitionSpec("batch"))
    n_proc, pid = jax.process_count(), jax.process_index()
    rows = array.shape[0] // n_proc
    local = array[pid * rows:(pid + 1) * rows]
    return jax.make_array_from_process_local_data(sharding, local, array.shape)


def _replicate(mesh: Mesh, tree):
    return jax.device_put(tree, NamedSharding(mesh, PartitionSpec()))


def _to_numpy(x):
    """A replicated (or host) array as NumPy, on any number of hosts."""
    if isinstance(x, jax.Array) and not x.is_fully_addressable:
        x = x.addressable_data(0)
    return np.asarray(x)


# --------------------------------------------------------------------------
# 4. Loss, steps, evaluation
# --------------------------------------------------------------------------

def _predictions(task: Task, out):
    """Logits ``(B, classes)`` (classification) or per-step outputs (next sample)."""
    if task.kind == "next":
        return out
    return out[:, -1] if task.readout == "last" else out.mean(axis=1)


def _loss_and_metric(task: Task, out, targets):
    """Per-example loss and metric: cross-entropy and correctness, or MSE twice."""
    pred = _predictions(task, out)
    if task.kind == "next":
        err = jnp.mean((pred - targets) ** 2, axis=(1, 2))
        return err, err
    loss = optax.softmax_cross_entropy_with_integer_labels(pred, targets)
    return loss, (jnp.argmax(pred, axis=-1) == targets).astype(jnp.float32)


def _global_norm(tree):
    """The gradient's global norm (``optax.tree.norm``, ``optax.global_norm`` before 0.2.5)."""
    tree_utils = getattr(optax, "tree", None)
    return tree_utils.norm(tree) if hasattr(tree_utils, "norm") else optax.global_norm(tree)


def _make_steps(model: Model, task: Task, tx, mesh: Mesh):
    """The jitted training step and evaluation step on ``mesh``."""
    replicated = NamedSharding(mesh, PartitionSpec())

    def loss_fn(params, x, y, key):
        out = model.apply(params, x, train=True, key=key)
        loss, metric = _loss_and_metric(task, out, y)
        return loss.mean(), metric.mean()

    def train_step(params, opt_state, x, y, key):
        with jax.default_matmul_precision("highest"):
            (loss, metric), grads = jax.value_and_grad(loss_fn, has_aux=True)(params, x, y, key)
            updates, opt_state = tx.update(grads, opt_state, params)
            params = optax.apply_updates(params, updates)
        return params, opt_state, {"loss": loss, "metric": metric,
                                   "grad_norm": _global_norm(grads)}

    def eval_step(params, x, y, weight):
        with jax.default_matmul_precision("highest"):
            out = model.apply(params, x, train=False)
            loss, metric = _loss_and_metric(task, out, y)
        return jnp.sum(loss * weight), jnp.sum(metric * weight)

    donate = (0, 1) if jax.default_backend() != "cpu" else ()
    train_step = jax.jit(train_step, donate_argnums=donate,
                         out_shardings=(replicated, replicated, replicated))
    eval_step = jax.jit(eval_step, out_shardings=(replicated, replicated))
    return train_step, eval_step


def evaluate(eval_step, mesh: Mesh, params, batches, n_eval: int) -> dict:
    """Mean loss and metric over the held-out set, each example counted once.

    The batch is split over the devices, except on the CPU backend: there XLA's
    FFT rejects the layout of a partitioned forward pass (an internal RET_CHECK
    in its FFT thunk, seen with jaxlib 0.10.2 and two forced host devices), so
    each CPU device evaluates the whole (small) batch.
    """
    if jax.default_backend() == "cpu" and mesh.size > 1:
        place = lambda a: _replicate(mesh, a)  # noqa: E731
    else:
        place = lambda a: _shard_batch(mesh, a)  # noqa: E731
    total_loss = total_metric = 0.0
    seen = 0
    for x, y in batches:
        weight = (np.arange(seen, seen + len(x)) < n_eval).astype(np.float32)
        seen += len(x)
        loss, metric = eval_step(params, place(x), place(y), place(weight))
        total_loss += float(_to_numpy(loss))
        total_metric += float(_to_numpy(metric))
    return {"eval_loss": total_loss / n_eval, "eval_metric": total_metric / n_eval}


# --------------------------------------------------------------------------
# 5. Configuration, checkpoints, the loop
# --------------------------------------------------------------------------

@dataclasses.dataclass
class TrainConfig:
    """Every option of a run (the CLI's flags, same names). ``metric`` in the logs is
    accuracy for classification and mean squared error for next-sample prediction."""

    task: str = "recall"
    L: int | None = None              # recall length (default 1,024); MNIST-1D: 40
    n_classes: int = 8                # recall: cue classes (chance = 1 / n_classes)
    n_noise: int = 8                  # recall: noise symbols (0: silence between)
    num_samples: int = 5000           # MNIST-1D: signals generated (5,000: the benchmark)
    model: str = "s4"
    H: int = 64
    N: int = 64
    n_layers: int = 4
    dropout: float = 0.0
    dt_min: float | None = None       # None: the layer's default range
    dt_max: float | None = None
    steps: int = 500
    batch_size: int = 32
    lr: float = 4e-3
    ssm_lr: float = 1e-3
    weight_decay: float = 0.01
    warmup: int | None = None         # None: 5% of the steps
    grad_clip: float = 1.0
    seed: int = 0
    eval_every: int = 100
    n_eval: int | None = None         # recall: 512 sequences; MNIST-1D: the 1,000 test signals
    log_every: int = 10
    ckpt_every: int = 100
    out: str | None = None
    progress: bool = True

    def checked(self) -> "TrainConfig":
        """A validated copy: each bad option raises ValueError/TypeError naming it."""
        func = "TrainConfig"
        c = dataclasses.replace(self)
        c.task = check_choice(func, "task", c.task, TASKS)
        c.model = check_choice(func, "model", c.model, MODELS)
        for name in ("H", "N", "n_layers", "steps", "batch_size", "log_every",
                     "eval_every", "ckpt_every"):
            setattr(c, name, check_int(func, name, getattr(c, name), minimum=1))
        c.seed = check_int(func, "seed", c.seed, minimum=0)
        for name in ("lr", "ssm_lr"):
            check_scalar(func, name, getattr(c, name), positive=True)
        for name in ("weight_decay", "grad_clip", "dropout"):
            value = check_scalar(func, name, getattr(c, name))
            if value < 0:
                fail(func, name, "a number >= 0", value)
        if c.dropout >= 1:
            fail(func, "dropout", "a number in [0, 1)", c.dropout)
        for name in ("dt_min", "dt_max"):
            if getattr(c, name) is not None:
                check_scalar(func, name, getattr(c, name), positive=True)
        if c.dt_min is not None and c.dt_max is not None and c.dt_min >= c.dt_max:
            fail(func, "dt_min", f"a number < dt_max = {c.dt_max}", c.dt_min)
        if c.warmup is None:
            c.warmup = max(1, c.steps // 20)
        c.warmup = check_int(func, "warmup", c.warmup, minimum=0)
        if c.n_eval is not None:
            c.n_eval = check_int(func, "n_eval", c.n_eval, minimum=1)
        n_dev = jax.device_count()
        if c.batch_size % n_dev:
            fail(func, "batch_size", f"a multiple of the device count ({n_dev})", c.batch_size)
        make_task(c.task, c.L, c.n_classes, c.n_noise, c.num_samples)  # checks these
        return c


_CKPT = "checkpoint.npz"
_META = "checkpoint.json"
_LOG = "metrics.jsonl"
_RUN = "run.json"
_RESUME_KEYS = ("task", "L", "n_classes", "n_noise", "num_samples", "model", "H", "N",
                "n_layers", "dropout", "dt_min", "dt_max",
                "steps", "batch_size", "lr", "ssm_lr", "weight_decay", "warmup",
                "grad_clip", "seed")


def _save_checkpoint(out: str, step: int, params, opt_state, cfg: TrainConfig) -> None:
    if jax.process_index() != 0:
        return
    leaves = jax.tree_util.tree_leaves((params, opt_state))
    arrays = {f"leaf{i:05d}": _to_numpy(x) for i, x in enumerate(leaves)}
    tmp = os.path.join(out, _CKPT + ".tmp.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, os.path.join(out, _CKPT))
    with open(os.path.join(out, _META), "w") as f:
        json.dump({"step": step, "config": dataclasses.asdict(cfg)}, f, indent=1)


def load_checkpoint(out: str, like):
    """``(step, tree)`` from ``out``, with ``like`` (a pytree of the same structure)
    giving the structure; the saved values replace its leaves."""
    with open(os.path.join(out, _META)) as f:
        meta = json.load(f)
    with np.load(os.path.join(out, _CKPT)) as data:
        leaves = [data[f"leaf{i:05d}"] for i in range(len(data.files))]
    treedef = jax.tree_util.tree_structure(like)
    if treedef.num_leaves != len(leaves):
        fail("load_checkpoint", "out", f"a checkpoint with {treedef.num_leaves} arrays",
             f"{len(leaves)} arrays in {out}")
    return meta["step"], jax.tree_util.tree_unflatten(treedef, leaves), meta["config"]


def read_log(path: str) -> list[dict]:
    """The records of a metrics log (JSON lines) as a list of dicts."""
    if os.path.isdir(path):
        path = os.path.join(path, _LOG)
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def _log(out, record):
    if out is not None and jax.process_index() == 0:
        with open(os.path.join(out, _LOG), "a") as f:
            f.write(json.dumps(record) + "\n")


def _check_out(cfg: TrainConfig, resume: bool) -> None:
    """Refuse to overwrite a checkpointed run, or to resume one that is not there."""
    if cfg.out is None:
        if resume:
            fail("train", "resume", "an output directory (out=...) to resume from", resume)
        return
    has_ckpt = os.path.exists(os.path.join(cfg.out, _META))
    if resume and not has_ckpt:
        fail("train", "resume", f"a checkpoint in out={cfg.out!r}", "none there")
    if has_ckpt and not resume:
        fail("train", "out", "a directory without a checkpoint (or pass resume=True / "
             "--resume to continue it)", cfg.out)


def train(cfg: TrainConfig | None = None, resume: bool = False, stop_after: int | None = None,
          **options) -> dict:
    """Train the model ``cfg`` describes; returns the final metrics and the parameters.

    ``options`` override fields of ``cfg`` (``train(task="recall", steps=100)``).
    With ``cfg.out`` set, writes ``metrics.jsonl`` (one JSON record per logged
    step and per evaluation), ``run.json`` (configuration, devices, versions,
    wall time, final metrics) and a checkpoint every ``ckpt_every`` steps;
    ``resume=True`` continues from that checkpoint (same options required).
    ``stop_after=s`` stops after step s with a checkpoint, as an interrupted run
    would (a job with a time limit, say); resuming it later finishes the run.
    Returns a dict with ``params``, ``history`` (the logged records), the final
    ``eval_loss`` / ``eval_metric``, ``wall_s`` and ``steps_per_s``.
    """
    cfg = dataclasses.replace(cfg or TrainConfig(), **options).checked()
    end = cfg.steps
    if stop_after is not None:
        end = check_int("train", "stop_after", stop_after, minimum=1, maximum=cfg.steps)
    task = make_task(cfg.task, cfg.L, cfg.n_classes, cfg.n_noise, cfg.num_samples)
    model = build_model(cfg.model, task, cfg.H, cfg.N, cfg.n_layers, cfg.dropout,
                        cfg.dt_min, cfg.dt_max)
    mesh = data_mesh()
    key = jax.random.PRNGKey(cfg.seed)
    init_key, dropout_key = jax.random.split(key)
    params = model.init(init_key)
    tx = make_optimizer(cfg.lr, cfg.ssm_lr, cfg.weight_decay, cfg.steps, cfg.warmup,
                        model.labels(params), cfg.grad_clip)
    opt_state = tx.init(params)
    start, history = 0, []

    _check_out(cfg, resume)
    if cfg.out is not None:
        os.makedirs(cfg.out, exist_ok=True)
        if not resume and os.path.exists(os.path.join(cfg.out, _LOG)):
            os.remove(os.path.join(cfg.out, _LOG))
    if resume:
        start, (params, opt_state), saved = load_checkpoint(cfg.out, (params, opt_state))
        mine = dataclasses.asdict(cfg)
        for name in _RESUME_KEYS:
            if saved[name] != mine[name]:
                fail("train", name, f"{saved[name]!r}, the value of the checkpointed run",
                     mine[name])
        history = [r for r in read_log(cfg.out) if r["step"] <= start]
        with open(os.path.join(cfg.out, _LOG), "w") as f:
            f.writelines(json.dumps(r) + "\n" for r in history)

    params, opt_state = _replicate(mesh, (params, opt_state))
    train_step, eval_step = _make_steps(model, task, tx, mesh)
    eval_batches, n_eval = task.eval_batches(cfg.seed, cfg.batch_size, cfg.n_eval)
    n_params = count_params(params)

    from tqdm import tqdm
    bar = tqdm(total=cfg.steps, initial=start, disable=not cfg.progress or jax.process_index(),
               desc=f"{cfg.model} on {cfg.task}", unit="step", dynamic_ncols=True)
    t_start = t_mark = time.perf_counter()
    mark_step = start
    pending = []
    result = {}
    for step in range(start, end):
        x, y = task.train_batch(cfg.seed, step, cfg.batch_size)
        params, opt_state, metrics = train_step(
            params, opt_state, _shard_batch(mesh, x), _shard_batch(mesh, y),
            jax.random.fold_in(dropout_key, step))
        pending.append((step + 1, metrics))
        done = step + 1
        if done % cfg.log_every == 0 or done == end:
            jax.block_until_ready(metrics)
            now = time.perf_counter()
            rate = (done - mark_step) / (now - t_mark)
            t_mark, mark_step = now, done
            for s, m in pending:
                rec = {"step": s, "loss": float(_to_numpy(m["loss"])),
                       "metric": float(_to_numpy(m["metric"])),
                       "grad_norm": float(_to_numpy(m["grad_norm"]))}
                if s == done:
                    rec.update(steps_per_s=rate, seq_per_s=rate * cfg.batch_size,
                               wall_s=now - t_start)
                history.append(rec)
                _log(cfg.out, rec)
            pending = []
            bar.set_postfix(loss=f"{history[-1]['loss']:.3f}",
                            seq_s=f"{rate * cfg.batch_size:.0f}")
        if done % cfg.eval_every == 0 or done == end:
            result = evaluate(eval_step, mesh, params, eval_batches, n_eval)
            rec = {"step": done, **result}
            history.append(rec)
            _log(cfg.out, rec)
        if cfg.out is not None and (done % cfg.ckpt_every == 0 or done == end):
            _save_checkpoint(cfg.out, done, params, opt_state, cfg)
        bar.update(1)
    bar.close()
    wall = time.perf_counter() - t_start
    if not result:   # resumed at the last step: evaluate the loaded parameters
        result = evaluate(eval_step, mesh, params, eval_batches, n_eval)
    rates = [r["steps_per_s"] for r in history if "steps_per_s" in r]
    summary = {"config": dataclasses.asdict(cfg), "n_params": n_params,
               "n_devices": jax.device_count(), "wall_s": wall,
               "steps_per_s": rates[-1] if rates else float("nan"), **result}
    if cfg.out is not None and jax.process_index() == 0:
        from . import environment
        record = {**summary, "environment": environment(),
                  "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())}
        with open(os.path.join(cfg.out, _RUN), "w") as f:
            json.dump(record, f, indent=1)
    return {**summary, "params": jax.tree_util.tree_map(_to_numpy, params),
            "history": history, "model": model, "task": task}


# --------------------------------------------------------------------------
# 6. Generation in RNN mode
# --------------------------------------------------------------------------

def generate(params, model: Model, prompt, n_new: int):
    """Continue ``prompt`` (B, P, 1) by ``n_new`` samples, one RNN step at a time.

    The model reads the prompt step by step (its state cache filled in O(N) per
    step and channel), then feeds each prediction back as the next input.
    Returns ``(sequence, outputs)``: the prompt followed by the ``n_new`` new
    samples (B, P + n_new, 1) and the model's output at every step read
    (B, P + n_new - 1, 1), which CNN mode on ``sequence[:, :-1]`` must reproduce.
    """
    func = "generate"
    n_new = check_int(func, "n_new", n_new, minimum=1)
    if model.cfg is None:
        fail(func, "model", "an S4 model (the GRU baseline has no state cache here)",
             model.name)
    from . import layers
    prompt = jnp.asarray(prompt, jnp.float32)
    if prompt.ndim != 3 or prompt.shape[-1] != 1 or prompt.shape[1] < 1:
        fail(func, "prompt", "shape (B, P, 1) with P >= 1", prompt)
    B, P, _ = prompt.shape
    total = P + n_new - 1
    cache = layers.init_cache(params, model.cfg, B, total)
    step = jax.jit(lambda c, u: layers.step_model(params, model.cfg, c, u))
    outputs = []
    for k in range(P):
        cache, y = step(cache, prompt[:, k])
        outputs.append(y)
    seq = [prompt[:, k] for k in range(P)]
    for _ in range(n_new - 1):
        seq.append(outputs[-1])
        cache, y = step(cache, outputs[-1])
        outputs.append(y)
    seq.append(outputs[-1])
    return jnp.stack(seq, axis=1), jnp.stack(outputs, axis=1)


# --------------------------------------------------------------------------
# 7. The command line
# --------------------------------------------------------------------------

def _parser() -> argparse.ArgumentParser:
    d = TrainConfig()
    p = argparse.ArgumentParser(
        prog="python -m s4_minimal.train",
        description="Train an S4 model (or the GRU baseline) on a task of chapter 9.")
    p.add_argument("--task", default=d.task, choices=TASKS)
    p.add_argument("--L", type=int, default=None, help="recall length (default 1024)")
    p.add_argument("--n-classes", type=int, default=d.n_classes, help="recall: cue classes")
    p.add_argument("--n-noise", type=int, default=d.n_noise,
                   help="recall: noise symbols between (0: silence)")
    p.add_argument("--num-samples", type=int, default=d.num_samples,
                   help="MNIST-1D: signals to generate (5000: the benchmark)")
    p.add_argument("--model", default=d.model, choices=MODELS)
    p.add_argument("--H", type=int, default=d.H, help="channels")
    p.add_argument("--N", type=int, default=d.N, help="state size")
    p.add_argument("--n-layers", type=int, default=d.n_layers)
    p.add_argument("--dropout", type=float, default=d.dropout)
    p.add_argument("--dt-min", type=float, default=None)
    p.add_argument("--dt-max", type=float, default=None)
    p.add_argument("--steps", type=int, default=d.steps)
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--lr", type=float, default=d.lr, help="learning rate of other weights")
    p.add_argument("--ssm-lr", type=float, default=d.ssm_lr,
                   help="learning rate of the SSM parameters (no weight decay)")
    p.add_argument("--weight-decay", type=float, default=d.weight_decay)
    p.add_argument("--warmup", type=int, default=None)
    p.add_argument("--grad-clip", type=float, default=d.grad_clip)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--eval-every", type=int, default=d.eval_every)
    p.add_argument("--n-eval", type=int, default=None)
    p.add_argument("--log-every", type=int, default=d.log_every)
    p.add_argument("--ckpt-every", type=int, default=d.ckpt_every)
    p.add_argument("--out", default=None, help="directory for log, checkpoint and run.json")
    p.add_argument("--resume", action="store_true", help="continue the checkpoint in --out")
    p.add_argument("--stop-after", type=int, default=None,
                   help="stop after this step with a checkpoint (resume later)")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--distributed", action="store_true",
                   help="call jax.distributed.initialize() first (several hosts)")
    return p


def main(argv=None) -> int:
    """Entry point of ``python -m s4_minimal.train``; returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.distributed:
        jax.distributed.initialize()
    options = {k: v for k, v in vars(args).items()
               if k not in ("resume", "no_progress", "distributed", "stop_after")}
    options["progress"] = not args.no_progress
    try:
        cfg = TrainConfig(**options).checked()
        _check_out(cfg, args.resume)
    except (ValueError, TypeError) as err:
        parser.error(str(err))          # exit status 2 and the message, no traceback
    result = train(cfg, resume=args.resume, stop_after=args.stop_after)
    what = "accuracy" if make_task(args.task, args.L).kind == "classify" else "MSE"
    print(f"{args.model} on {args.task}: eval {what} {result['eval_metric']:.4f}, "
          f"{result['wall_s']:.1f} s on {result['n_devices']} device(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
