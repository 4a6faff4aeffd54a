"""Training a model that remembers (chapter 9): ``python -m s4_minimal.train``.

One file, read top to bottom (the models are in :mod:`s4_minimal.models`):

1. **The optimizer.** AdamW from optax for the ordinary weights; plain Adam with a
   smaller learning rate and *no weight decay* for the SSM parameters (Lambda, P,
   B, log dt): they define a continuous-time system whose HiPPO initialization is
   the point, weight decay would pull Lambda's real part and log dt towards 0
   (no decay, dt = 1) and its imaginary part, every frequency, towards 0, and a
   large step would throw dt and A out of their well-conditioned range.
   ``optax.multi_transform`` routes each leaf by the label the model gives it.
2. **Data parallelism.** One ``jax.sharding.Mesh`` over every device, axis
   ``"batch"``; the batch is split over it with ``NamedSharding(mesh, P("batch"))``
   and the parameters are replicated (``P()``); ``jax.jit`` inserts the gradient
   all-reduce. One device is the same code with a mesh of one. Each process
   hands in only its own rows of the global batch
   (``jax.make_array_from_process_local_data``), so several hosts need only
   ``jax.distributed.initialize()`` first (``--distributed``), no other code.
3. **Loss, steps, evaluation.**
4. **The loop.** :class:`TrainConfig` holds every option (the command line is
   built from its fields); seeded batches (:mod:`s4_minimal.data`), a tqdm
   progress bar with loss and throughput, a JSON-lines metrics log, periodic
   evaluation, and checkpoints that a run resumes from: batch ``s`` and the
   dropout key of step ``s`` depend on ``(seed, s)`` only, so a resumed run
   repeats an uninterrupted one bit for bit on the same device.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from ._validate import check_bool, check_choice, check_int, check_scalar, fail, set_fields
from .data import TASKS, Task, make_task
from .models import MODELS, Model, build_model, count_params

__all__ = ["TrainConfig", "make_optimizer", "data_mesh", "train", "evaluate",
           "load_checkpoint", "save_params", "load_params", "read_log", "main"]


# --------------------------------------------------------------------------
# 1. Optimizer
# --------------------------------------------------------------------------

def _schedule(lr: float, steps: int, warmup: int, kind: str = "cosine"):
    """Linear warm-up to ``lr`` over ``warmup`` steps, then cosine decay to 0 at ``steps``
    (``kind="cosine"``), or ``lr`` throughout (``kind="constant"``, warm-up ignored)."""
    if kind == "constant":
        return optax.constant_schedule(lr)
    if warmup == 0:
        return optax.cosine_decay_schedule(lr, max(steps, 1))
    return optax.warmup_cosine_decay_schedule(0.0, lr, warmup, max(steps, warmup + 1),
                                              end_value=0.0)


def make_optimizer(lr: float, ssm_lr: float, weight_decay: float, steps: int,
                   warmup: int, labels, grad_clip: float = 1.0, schedule: str = "cosine"):
    """optax: AdamW(lr, weight_decay) on "other" leaves, Adam(ssm_lr), no decay, on "ssm".

    Gradients are clipped to global norm ``grad_clip`` first (0 turns it off); the
    rates follow ``schedule`` (warm-up and cosine decay, or constant).
    """
    other = optax.adamw(_schedule(lr, steps, warmup, schedule), weight_decay=weight_decay)
    ssm = optax.adam(_schedule(ssm_lr, steps, warmup, schedule))
    tx = optax.multi_transform({"other": other, "ssm": ssm}, labels)
    return optax.chain(optax.clip_by_global_norm(grad_clip), tx) if grad_clip > 0 else tx


# --------------------------------------------------------------------------
# 2. Data parallelism
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
# 3. Loss, steps, evaluation
# --------------------------------------------------------------------------

def _predictions(task: Task, out):
    """Logits ``(B, classes)``, ``(B, n_copy, classes)`` (copy), or per-step outputs."""
    if task.kind == "next":
        return out
    if task.readout == "copy":
        return out[:, -task.n_copy:]
    return out[:, -1] if task.readout == "last" else out.mean(axis=1)


def _loss_and_metric(task: Task, out, targets):
    """Per-example loss and metric: cross-entropy and the fraction right, or MSE twice."""
    pred = _predictions(task, out)
    if task.kind == "next":
        err = jnp.mean((pred - targets) ** 2, axis=(1, 2))
        return err, err
    loss = optax.softmax_cross_entropy_with_integer_labels(pred, targets)
    right = (jnp.argmax(pred, axis=-1) == targets).astype(jnp.float32)
    if task.readout == "copy":                    # mean over the n_copy symbols
        return loss.mean(axis=1), right.mean(axis=1)
    return loss, right


def _global_norm(tree):
    """The gradient's global norm (``optax.tree.norm``, ``optax.global_norm`` before 0.2.5)."""
    tree_utils = getattr(optax, "tree", None)
    return tree_utils.norm(tree) if hasattr(tree_utils, "norm") else optax.global_norm(tree)


def _make_steps(model: Model, task: Task, tx, mesh: Mesh, batches: str = "host",
                seed: int = 0, batch_size: int = 0):
    """The jitted training step and evaluation step on ``mesh``.

    ``batches="host"``: the step takes one-hot inputs and targets;
    ``"tokens"``: integer tokens, one-hot encoded inside the step;
    ``"device"``: only the step number, the batch is generated inside the step
    from ``(seed, step)`` by :meth:`Task.device_tokens` and split over the mesh.
    """
    replicated = NamedSharding(mesh, PartitionSpec())
    split = NamedSharding(mesh, PartitionSpec("batch"))

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

    if batches == "tokens":
        host_step = train_step

        def train_step(params, opt_state, tokens, y, key):
            return host_step(params, opt_state, task.embed(tokens), y, key)
    elif batches == "device":
        host_step = train_step
        data_key = jax.random.fold_in(jax.random.PRNGKey(seed), 1)

        def train_step(params, opt_state, step, key):
            tokens, y = task.device_tokens(jax.random.fold_in(data_key, step), batch_size)
            tokens = jax.lax.with_sharding_constraint(tokens, split)
            y = jax.lax.with_sharding_constraint(y, split)
            return host_step(params, opt_state, task.embed(tokens), y, key)

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
        place = lambda a: _replicate(mesh, a)
    else:
        place = lambda a: _shard_batch(mesh, a)
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
# 4. Configuration, checkpoints, the loop
# --------------------------------------------------------------------------

def _option(default, help, resume=True, **argparse_options):
    """A field of :class:`TrainConfig`: its default, its ``--help`` text, and whether a
    resumed run must repeat it (``resume=False``: bookkeeping a resumed run may change)."""
    return dataclasses.field(default=default,
                             metadata={"help": help, "resume": resume, **argparse_options})


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Every option of a run; the command line has one flag per field (``--batch-size``
    for ``batch_size``). Checked on creation: a bad option raises ValueError/TypeError
    naming it. ``metric`` in the logs is accuracy for classification and mean squared
    error for next-sample prediction."""

    task: str = _option("recall", "the task", choices=TASKS)
    L: int | None = _option(None, "reach/copy length (default 1024); MNIST-1D: 40",
                            type=int)
    n_classes: int = _option(8, "reach: cue classes; copy: symbols (chance 1 / n_classes)")
    n_noise: int = _option(8, "reach: noise symbols between (0: silence)")
    n_copy: int = _option(8, "copy: symbols to reproduce")
    num_samples: int = _option(5000, "MNIST-1D: signals to generate (5000: the benchmark)")
    model: str = _option("s4", "the model", choices=MODELS)
    H: int = _option(64, "channels")
    N: int = _option(64, "state size")
    n_layers: int = _option(4, "blocks (GRU: layers)")
    dropout: float = _option(0.0, "dropout rate")
    dt_min: float | None = _option(None, "smallest initial step (default: the layer's)",
                                   type=float)
    dt_max: float | None = _option(None, "largest initial step (default: the layer's)",
                                   type=float)
    steps: int = _option(500, "training steps")
    batch_size: int = _option(32, "global batch size")
    lr: float = _option(4e-3, "learning rate of the other weights")
    ssm_lr: float = _option(1e-3, "learning rate of the SSM parameters (no weight decay)")
    weight_decay: float = _option(0.01, "AdamW weight decay of the other weights")
    warmup: int | None = _option(None, "warm-up steps (default: 5%% of the steps)", type=int)
    grad_clip: float = _option(1.0, "clip the gradient's global norm (0: off)")
    schedule: str = _option("cosine", "learning rates: warm-up and cosine decay, or "
                                      "constant", choices=("cosine", "constant"))
    batches: str = _option("host", "reach/copy batches: one-hot from NumPy (host), "
                                   "integer tokens from NumPy (tokens), or generated "
                                   "on the device (device)",
                           choices=("host", "tokens", "device"))
    seed: int = _option(0, "seed of the data, initialization and dropout")
    eval_every: int = _option(100, "evaluate every this many steps", resume=False)
    n_eval: int | None = _option(None, "held-out examples (recall: 512; MNIST-1D: the "
                                       "1,000 test signals)", resume=False, type=int)
    log_every: int = _option(10, "log every this many steps", resume=False)
    ckpt_every: int = _option(100, "checkpoint every this many steps", resume=False)
    out: str | None = _option(None, "directory for log, checkpoint and run.json",
                              resume=False, type=str)
    progress: bool = _option(True, "show a progress bar", resume=False)
    profile: bool = _option(False, "wait for every step to time the host and the device "
                                   "apart (slower)", resume=False)
    save_params: bool = _option(False, "write the final parameters to params.npz in out",
                                resume=False)

    def __post_init__(self):
        func = "TrainConfig"
        ints = {name: check_int(func, name, getattr(self, name), minimum=1)
                for name in ("H", "N", "n_layers", "steps", "batch_size", "log_every",
                             "eval_every", "ckpt_every")}
        for name in ("lr", "ssm_lr"):
            check_scalar(func, name, getattr(self, name), positive=True)
        for name in ("weight_decay", "grad_clip", "dropout"):
            if check_scalar(func, name, getattr(self, name)) < 0:
                fail(func, name, "a number >= 0", getattr(self, name))
        if self.dropout >= 1:
            fail(func, "dropout", "a number in [0, 1)", self.dropout)
        for name in ("dt_min", "dt_max"):
            if getattr(self, name) is not None:
                check_scalar(func, name, getattr(self, name), positive=True)
        if self.dt_min is not None and self.dt_max is not None and self.dt_min >= self.dt_max:
            fail(func, "dt_min", f"a number < dt_max = {self.dt_max}", self.dt_min)
        n_dev = jax.device_count()
        if ints["batch_size"] % n_dev:
            fail(func, "batch_size", f"a multiple of the device count ({n_dev})",
                 self.batch_size)
        task = make_task(self.task, self.L, self.n_classes, self.n_noise, self.num_samples,
                         self.n_copy)
        batches = check_choice(func, "batches", self.batches, ("host", "tokens", "device"))
        if batches != "host" and not task.synthetic:
            fail(func, "batches", "'host' for MNIST-1D (tokens and device batches are "
                 "for the reach and copy tasks)", batches)
        set_fields(self, **ints, task=check_choice(func, "task", self.task, TASKS),
                   model=check_choice(func, "model", self.model, MODELS),
                   seed=check_int(func, "seed", self.seed, minimum=0),
                   warmup=None if self.warmup is None else check_int(
                       func, "warmup", self.warmup, minimum=0),
                   n_eval=None if self.n_eval is None else check_int(
                       func, "n_eval", self.n_eval, minimum=1),
                   progress=check_bool(func, "progress", self.progress),
                   profile=check_bool(func, "profile", self.profile),
                   save_params=check_bool(func, "save_params", self.save_params),
                   schedule=check_choice(func, "schedule", self.schedule,
                                         ("cosine", "constant")),
                   batches=batches)


    @property
    def warmup_steps(self) -> int:
        """The warm-up length: ``warmup``, or 5% of the steps (at least 1) when None.

        Derived, not stored, so that ``dataclasses.replace(cfg, steps=...)`` moves it.
        """
        return max(1, self.steps // 20) if self.warmup is None else self.warmup


#: Options a resumed run must share with the checkpointed one.
_RESUME_KEYS = tuple(f.name for f in dataclasses.fields(TrainConfig) if f.metadata["resume"])
_CKPT = "checkpoint.npz"
_META = "checkpoint.json"
_LOG = "metrics.jsonl"
_RUN = "run.json"


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
    """``(step, tree, config)`` from ``out``, with ``like`` (a pytree of the same
    structure) giving the structure; the saved values replace its leaves."""
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


def _start(cfg: TrainConfig, resume: bool, params, opt_state):
    """Prepare the output directory; on resume, the checkpoint's step, state and log.

    Returns ``(step, params, opt_state, history)``; a resumed run must have the
    checkpointed run's options (:data:`_RESUME_KEYS`), and its log is cut back to the
    checkpoint's step.
    """
    _check_out(cfg, resume)
    if cfg.out is None:
        return 0, params, opt_state, []
    os.makedirs(cfg.out, exist_ok=True)
    log = os.path.join(cfg.out, _LOG)
    if not resume:
        if os.path.exists(log):
            os.remove(log)
        return 0, params, opt_state, []
    step, (params, opt_state), saved = load_checkpoint(cfg.out, (params, opt_state))
    mine = dataclasses.asdict(cfg)
    for name in _RESUME_KEYS:
        if saved[name] != mine[name]:
            fail("train", name, f"{saved[name]!r}, the value of the checkpointed run", mine[name])
    history = [r for r in read_log(cfg.out) if r["step"] <= step]
    with open(log, "w") as f:
        f.writelines(json.dumps(r) + "\n" for r in history)
    return step, params, opt_state, history


def _write_summary(cfg: TrainConfig, summary: dict) -> None:
    """``run.json``: the run's summary with the environment and the date."""
    if cfg.out is None or jax.process_index() != 0:
        return
    from . import environment
    record = {**summary, "environment": environment(),
              "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())}
    with open(os.path.join(cfg.out, _RUN), "w") as f:
        json.dump(record, f, indent=1)


class _Logger:
    """Collects the step metrics and writes them every ``log_every`` steps.

    Reading a metric waits for the device, so the records wait in ``pending`` and are
    read together at each logging step, which also measures the throughput. Each
    step also reports ``host_s``, the time the host spent building and sending its
    batch, and (when profiling, which waits for every step) ``device_s``, the time
    from handing the step over to its end; their means since the last record are
    logged as ``host_ms`` and ``device_ms``.
    """

    def __init__(self, cfg: TrainConfig, start: int, history: list):
        self.cfg, self.history, self.pending = cfg, history, []
        self.t_start = self.t_mark = time.perf_counter()
        self.mark_step = start
        self.host_s, self.device_s = [], []

    def add(self, step: int, metrics, host_s: float = 0.0, device_s: float | None = None) -> None:
        self.pending.append((step, metrics))
        self.host_s.append(host_s)
        if device_s is not None:
            self.device_s.append(device_s)

    def flush(self, done: int) -> float:
        """Write the pending records; returns the steps per second since the last flush."""
        jax.block_until_ready(self.pending[-1][1])
        now = time.perf_counter()
        rate = (done - self.mark_step) / (now - self.t_mark)
        self.t_mark, self.mark_step = now, done
        for s, m in self.pending:
            rec = {k: float(_to_numpy(m[k])) for k in ("loss", "metric", "grad_norm")}
            rec = {"step": s, **rec}
            if s == done:
                rec.update(steps_per_s=rate, seq_per_s=rate * self.cfg.batch_size,
                           wall_s=now - self.t_start,
                           host_ms=1e3 * float(np.mean(self.host_s)))
                if self.device_s:
                    rec["device_ms"] = 1e3 * float(np.mean(self.device_s))
            self.record(rec)
        self.pending, self.host_s, self.device_s = [], [], []
        return rate

    def record(self, rec: dict) -> None:
        self.history.append(rec)
        _log(self.cfg.out, rec)


def _batch(cfg: TrainConfig, task: Task, mesh: Mesh, step: int) -> tuple:
    """The arguments of the training step that carry batch ``step``, on the devices."""
    if cfg.batches == "device":
        return (jnp.int32(step),)
    if cfg.batches == "tokens":
        x, y = task.train_tokens(cfg.seed, step, cfg.batch_size)
    else:
        x, y = task.train_batch(cfg.seed, step, cfg.batch_size)
    return _shard_batch(mesh, x), _shard_batch(mesh, y)


def save_params(path: str, params) -> None:
    """Write a parameter pytree to ``path`` (.npz), one array per leaf, named by its path."""
    flat = jax.tree_util.tree_flatten_with_path(params)[0]
    np.savez(path, **{jax.tree_util.keystr(k): _to_numpy(v) for k, v in flat})


def load_params(path: str, like):
    """The parameters :func:`save_params` wrote, in the structure of ``like``."""
    flat, treedef = jax.tree_util.tree_flatten_with_path(like)
    with np.load(path) as data:
        leaves = [data[jax.tree_util.keystr(k)] for k, _ in flat]
    return jax.tree_util.tree_unflatten(treedef, leaves)


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
    ``eval_loss`` / ``eval_metric``, ``wall_s``, ``steps_per_s``, ``model`` and ``task``.
    """
    cfg = dataclasses.replace(cfg or TrainConfig(), **options)
    end = cfg.steps if stop_after is None else check_int(
        "train", "stop_after", stop_after, minimum=1, maximum=cfg.steps)
    task = make_task(cfg.task, cfg.L, cfg.n_classes, cfg.n_noise, cfg.num_samples, cfg.n_copy)
    model = build_model(cfg.model, task, cfg.H, cfg.N, cfg.n_layers, cfg.dropout,
                        cfg.dt_min, cfg.dt_max)
    init_key, dropout_key = jax.random.split(jax.random.PRNGKey(cfg.seed))
    params = model.init(init_key)
    tx = make_optimizer(cfg.lr, cfg.ssm_lr, cfg.weight_decay, cfg.steps, cfg.warmup_steps,
                        model.labels(params), cfg.grad_clip, cfg.schedule)
    start, params, opt_state, history = _start(cfg, resume, params, tx.init(params))

    mesh = data_mesh()
    params, opt_state = _replicate(mesh, (params, opt_state))
    train_step, eval_step = _make_steps(model, task, tx, mesh, cfg.batches, cfg.seed,
                                        cfg.batch_size)
    eval_batches, n_eval = task.eval_batches(cfg.seed, cfg.batch_size, cfg.n_eval)

    from tqdm import tqdm
    bar = tqdm(total=cfg.steps, initial=start, disable=not cfg.progress or jax.process_index(),
               desc=f"{cfg.model} on {cfg.task}", unit="step", dynamic_ncols=True)
    logger = _Logger(cfg, start, history)
    result = {}
    for step in range(start, end):
        t0 = time.perf_counter()
        batch = _batch(cfg, task, mesh, step)          # host work: build and send
        if cfg.profile:
            jax.block_until_ready(batch)
        t1 = time.perf_counter()
        params, opt_state, metrics = train_step(params, opt_state, *batch,
                                                jax.random.fold_in(dropout_key, step))
        if cfg.profile:
            jax.block_until_ready(metrics)
        done = step + 1
        logger.add(done, metrics, t1 - t0,
                   time.perf_counter() - t1 if cfg.profile else None)
        if done % cfg.log_every == 0 or done == end:
            rate = logger.flush(done)
            bar.set_postfix(loss=f"{history[-1]['loss']:.3f}",
                            seq_s=f"{rate * cfg.batch_size:.0f}")
        if done % cfg.eval_every == 0 or done == end:
            result = evaluate(eval_step, mesh, params, eval_batches, n_eval)
            logger.record({"step": done, **result})
        if cfg.out is not None and (done % cfg.ckpt_every == 0 or done == end):
            _save_checkpoint(cfg.out, done, params, opt_state, cfg)
        bar.update(1)
    bar.close()
    if not result:   # resumed at the last step: evaluate the loaded parameters
        result = evaluate(eval_step, mesh, params, eval_batches, n_eval)
    if cfg.save_params and cfg.out is not None and jax.process_index() == 0:
        save_params(os.path.join(cfg.out, "params.npz"), params)
    rates = [r["steps_per_s"] for r in history if "steps_per_s" in r]
    summary = {"config": dataclasses.asdict(cfg), "n_params": count_params(params),
               "n_devices": jax.device_count(), "wall_s": time.perf_counter() - logger.t_start,
               "steps_per_s": rates[-1] if rates else float("nan"), **result}
    _write_summary(cfg, summary)
    return {**summary, "params": jax.tree_util.tree_map(_to_numpy, params),
            "history": history, "model": model, "task": task}


# --------------------------------------------------------------------------
# 5. The command line
# --------------------------------------------------------------------------

def _parser() -> argparse.ArgumentParser:
    """One flag per field of :class:`TrainConfig`, and the flags of the run itself."""
    p = argparse.ArgumentParser(
        prog="python -m s4_minimal.train",
        description="Train an S4 model (or the GRU baseline) on a task of chapter 9.")
    for f in dataclasses.fields(TrainConfig):
        if f.name in ("progress", "profile", "save_params"):
            continue
        meta = dict(f.metadata)
        help_text, _ = meta.pop("help"), meta.pop("resume")
        meta.setdefault("type", type(f.default))
        p.add_argument("--" + f.name.replace("_", "-"), default=f.default, help=help_text,
                       **meta)
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--profile", action="store_true", help=TrainConfig.__dataclass_fields__[
        "profile"].metadata["help"])
    p.add_argument("--save-params", action="store_true",
                   help="write the final parameters to params.npz in --out")
    p.add_argument("--resume", action="store_true", help="continue the checkpoint in --out")
    p.add_argument("--stop-after", type=int, default=None,
                   help="stop after this step with a checkpoint (resume later)")
    p.add_argument("--distributed", action="store_true",
                   help="call jax.distributed.initialize() first (several hosts)")
    return p


def main(argv=None) -> int:
    """Entry point of ``python -m s4_minimal.train``; returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.distributed:
        # CPU processes exchange gradients through gloo (GPUs use NCCL regardless);
        # tests/test_train.py runs two such processes on localhost.
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
        jax.distributed.initialize()
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    options = {k: v for k, v in vars(args).items()
               if k in names and k not in ("profile", "save_params")}
    try:
        cfg = TrainConfig(**options, progress=not args.no_progress, profile=args.profile,
                          save_params=args.save_params)
        _check_out(cfg, args.resume)
    except (ValueError, TypeError) as err:
        parser.error(str(err))          # exit status 2 and the message, no traceback
    result = train(cfg, resume=args.resume, stop_after=args.stop_after)
    what = "accuracy" if result["task"].kind == "classify" else "MSE"
    print(f"{cfg.model} on {cfg.task}: eval {what} {result['eval_metric']:.4f}, "
          f"{result['wall_s']:.1f} s on {result['n_devices']} device(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
