"""Tests of s4_minimal.train and s4_minimal.models: the GRU baseline, learning, resuming,
devices, options."""

import json
import os
import socket
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from s4_minimal import models
from s4_minimal import train as tr

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# A tiny run: recall of one of 2 classes over 64 steps, silence between cue and readout.
TINY = dict(task="recall", L=64, n_classes=2, n_noise=0, model="s4", H=16, N=8, n_layers=1,
            batch_size=8, lr=2e-2, ssm_lr=2e-3, eval_every=1000, n_eval=32, log_every=1,
            progress=False)
# The short runs below share these options, so they compile one program (the session's
# compilation cache, tests/conftest.py, serves the later runs); train.train bakes the
# step count into the learning-rate schedule and the shapes into the program.
SHORT = dict(TINY, steps=6, dropout=0.1, n_eval=8)


def _gru_numpy(params, u):
    """The GRU in float64 NumPy, one sequence and one step at a time (the reference).

    The equations of torch.nn.GRU's documentation, gates stacked (r, z, n).
    """
    p = jax.tree_util.tree_map(lambda a: np.asarray(a, np.float64), params)
    sig = lambda a: 1 / (1 + np.exp(-a))  # noqa: E731
    out = np.zeros(u.shape[:2] + (p["decoder"]["W"].shape[1],))
    for b in range(u.shape[0]):
        xs = [u[b, k] @ p["encoder"]["W"] + p["encoder"]["b"] for k in range(u.shape[1])]
        for layer in p["gru"]:
            H = layer["Wh"].shape[0]
            Wi = {g: layer["Wi"][:, i * H:(i + 1) * H] for i, g in enumerate("rzn")}
            bi = {g: layer["bi"][i * H:(i + 1) * H] for i, g in enumerate("rzn")}
            Wh = {g: layer["Wh"][:, i * H:(i + 1) * H] for i, g in enumerate("rzn")}
            bh = {g: layer["bh"][i * H:(i + 1) * H] for i, g in enumerate("rzn")}
            h, new = np.zeros(H), []
            for x in xs:
                r = sig(x @ Wi["r"] + bi["r"] + h @ Wh["r"] + bh["r"])
                z = sig(x @ Wi["z"] + bi["z"] + h @ Wh["z"] + bh["z"])
                n = np.tanh(x @ Wi["n"] + bi["n"] + r * (h @ Wh["n"] + bh["n"]))
                h = (1 - z) * n + z * h
                new.append(h)
            xs = new
        out[b] = np.stack(xs) @ p["decoder"]["W"] + p["decoder"]["b"]
    return out


def test_gru_equals_a_float64_numpy_loop(x64):
    params = models.gru_init(jax.random.PRNGKey(0), 3, 2, H=5, n_layers=2)
    params = jax.tree_util.tree_map(lambda a: a.astype(jnp.float64) * 3, params)
    u = np.random.default_rng(0).normal(size=(2, 11, 3))
    got = np.asarray(models.gru_apply(params, jnp.asarray(u)))
    np.testing.assert_allclose(got, _gru_numpy(params, u), rtol=1e-12, atol=1e-12)


def test_gru_follows_the_pytorch_equations_worked_by_hand():
    """Two steps of a one-unit GRU whose values are worked out on paper.

    The NumPy loop above restates the equations; this pins the conventions it and
    torch.nn.GRU's documentation share, each of which a GRU variant changes: gates
    stacked (r, z, n); r multiplies the hidden projection *with* its bias bh_n;
    h' = (1 - z) n + z h (not z n + (1 - z) h). Encoder and decoder are identity.
    Step 1 (u = 1, h = 0): r = sigmoid(ln 3) = 3/4, z = sigmoid(0) = 1/2,
    n = tanh(atanh(0.6) - 0.3 + r * 0.4) = 0.6, h = (1 - z) n = 0.3.
    Step 2 (u = 0, h = 0.3): r = sigmoid(0) = 1/2, z = sigmoid(-ln 3) = 1/4,
    n = tanh(r (0.3 v + 0.4)) = 0.2 for v = (2 atanh(0.2) - 0.4) / 0.3,
    h = (3/4)(0.2) + (1/4)(0.3) = 0.225. (Swapping z's roles would give 0.275;
    putting bh_n outside r would give tanh(atanh(0.6) + 0.1) at step 1.)
    """
    params = models.gru_init(jax.random.PRNGKey(0), 1, 1, H=1)
    v = (2 * np.arctanh(0.2) - 0.4) / 0.3

    def f32(*x):
        return jnp.asarray(x, jnp.float32)

    params["encoder"] = {"W": f32([1.0]), "b": f32(0.0)}
    params["decoder"] = {"W": f32([1.0]), "b": f32(0.0)}
    params["gru"] = [{"Wi": f32([np.log(3), 0.0, np.arctanh(0.6) - 0.3]),
                      "bi": f32(0.0, 0.0, 0.0),
                      "Wh": f32([0.0, -np.log(3) / 0.3, v]),
                      "bh": f32(0.0, 0.0, 0.4)}]
    y = models.gru_apply(params, f32([[1.0], [0.0]]))
    # float32 rounding: measured error 3e-8, bound 1e-6
    np.testing.assert_allclose(np.asarray(y)[0, :, 0], [0.3, 0.225], rtol=0, atol=1e-6)


# Learning. Batches of 32 and 60 steps: measured over seeds 0-4 (seed 0 is the
# test's), eval loss 2e-4 .. 3e-3 and last-5 / first-5 training loss 3e-4 .. 5e-3,
# accuracy 1.0 in every seed, against the bars 0.9 log 2 = 0.62 and 0.95. (With
# batches of 8 and 30 steps the eval loss spread over 0.005 .. 0.68 across seeds:
# a bar in that range depends on the seed and the processor's rounding.)
LEARN = dict(TINY, batch_size=32, steps=60)


def test_a_few_steps_lower_the_loss():
    result = tr.train(**LEARN)
    losses = [r["loss"] for r in result["history"] if "loss" in r]
    assert np.mean(losses[-5:]) < 0.95 * np.mean(losses[:5])   # measured <= 5e-3
    assert result["eval_loss"] < 0.9 * np.log(2)   # chance: log(2) = 0.69; measured <= 3e-3
    assert result["eval_metric"] == 1.0            # every held-out cue recalled (5 of 5 seeds)


def test_ssm_parameters_get_their_own_learning_rate_and_no_decay():
    """After one step from zero gradients plus decay, only "other" leaves shrink."""
    params = {"layers": [{"ssm": {"B": jnp.ones(3), "log_dt": jnp.ones(2)},
                          "out": {"W": jnp.ones(3)}}]}
    labels = {"layers": [{"ssm": {"B": "ssm", "log_dt": "ssm"}, "out": {"W": "other"}}]}
    tx = tr.make_optimizer(1.0, 0.1, 0.5, steps=10, warmup=0, labels=labels, grad_clip=0)
    zero = jax.tree_util.tree_map(jnp.zeros_like, params)
    updates, _ = tx.update(zero, tx.init(params), params)
    np.testing.assert_array_equal(updates["layers"][0]["ssm"]["B"], 0.0)
    np.testing.assert_allclose(updates["layers"][0]["out"]["W"], -0.5)   # -lr * wd * w
    ones = jax.tree_util.tree_map(jnp.ones_like, params)
    updates, _ = tx.update(ones, tx.init(params), params)
    np.testing.assert_allclose(updates["layers"][0]["ssm"]["log_dt"], -0.1, rtol=1e-5)


def test_resumed_run_equals_uninterrupted_run_bit_for_bit(tmp_path):
    opts = dict(SHORT, ckpt_every=2, eval_every=3)
    full = tr.train(out=str(tmp_path / "full"), **opts)
    part = tr.train(out=str(tmp_path / "part"), stop_after=3, **opts)
    assert part["history"][-1]["step"] == 3
    rest = tr.train(out=str(tmp_path / "part"), resume=True, **opts)
    for a, b in zip(jax.tree_util.tree_leaves(full["params"]),
                    jax.tree_util.tree_leaves(rest["params"])):
        np.testing.assert_array_equal(a, b)
    keep = ("step", "loss", "metric", "grad_norm", "eval_loss", "eval_metric")
    strip = lambda log: [{k: r[k] for k in keep if k in r} for r in log]  # noqa: E731
    assert strip(tr.read_log(str(tmp_path / "part"))) == strip(tr.read_log(str(tmp_path / "full")))
    run = json.loads((tmp_path / "full" / "run.json").read_text())
    assert run["config"]["steps"] == 6 and "jax" in run["environment"]


def test_resume_refuses_changed_options_and_overwrites(tmp_path):
    opts = dict(SHORT, out=str(tmp_path))
    tr.train(stop_after=1, **opts)
    with pytest.raises(ValueError, match="'out'.*resume"):
        tr.train(**opts)
    with pytest.raises(ValueError, match="'lr'"):
        tr.train(resume=True, **{**opts, "lr": 0.5})
    with pytest.raises(ValueError, match="'resume'"):
        tr.train(resume=True, **{**opts, "out": str(tmp_path / "empty")})


_TWO_DEVICES = textwrap.dedent("""
    import json, sys
    import jax
    from s4_minimal import train as tr
    assert jax.device_count() == 2, jax.devices()
    opts = json.loads(sys.argv[1])
    try:
        tr.train(**{**opts, "batch_size": 3})
    except ValueError as err:
        bad = str(err)
    result = tr.train(**opts)
    losses = [r["loss"] for r in result["history"] if "loss" in r]
    print(json.dumps({"losses": losses, "eval": result["eval_loss"], "bad": bad,
                      "leaf": [float(x.sum()) for x in jax.tree_util.tree_leaves(result["params"])]}))
""")


def test_two_forced_cpu_devices_give_the_loss_of_one():
    opts = SHORT
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2",
               JAX_PLATFORMS="cpu", PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-c", _TWO_DEVICES, json.dumps(opts)], env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    two = json.loads(proc.stdout.strip().splitlines()[-1])
    one = tr.train(**opts)
    losses = [r["loss"] for r in one["history"] if "loss" in r]
    np.testing.assert_allclose(two["losses"], losses, rtol=1e-5)
    np.testing.assert_allclose(two["eval"], one["eval_loss"], rtol=1e-5)
    leaves = [float(x.sum()) for x in jax.tree_util.tree_leaves(one["params"])]
    np.testing.assert_allclose(two["leaf"], leaves, rtol=1e-4, atol=1e-5)
    assert "'batch_size'" in two["bad"] and "device count (2)" in two["bad"]


# One process of a two-process run on localhost: JAX's CPU collectives (gloo) over a
# coordinator on 127.0.0.1, one CPU device per process, each process handing in its own
# rows of every global batch (train._shard_batch).
_ONE_OF_TWO_PROCESSES = textwrap.dedent("""
    import json, sys
    import jax
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    port, pid, opts = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3])
    jax.distributed.initialize(coordinator_address="127.0.0.1:" + port, num_processes=2,
                               process_id=pid)
    assert jax.process_count() == 2 and jax.device_count() == 2, jax.devices()
    from s4_minimal import train as tr
    result = tr.train(**opts)
    losses = [r["loss"] for r in result["history"] if "loss" in r]
    print(json.dumps({"losses": losses, "eval": result["eval_loss"]}))
""")


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return str(s.getsockname()[1])


def test_two_processes_on_localhost_give_the_losses_of_one():
    env = dict(os.environ, JAX_PLATFORMS="cpu",
               PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.pop("XLA_FLAGS", None)                     # one CPU device per process
    port = _free_port()
    procs = [subprocess.Popen([sys.executable, "-c", _ONE_OF_TWO_PROCESSES, port, str(pid),
                               json.dumps(SHORT)], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for pid in (0, 1)]
    outs = [p.communicate(timeout=600) for p in procs]
    for p, (_, err) in zip(procs, outs):
        assert p.returncode == 0, err[-3000:]
    runs = [json.loads(out.strip().splitlines()[-1]) for out, _ in outs]
    one = tr.train(**SHORT)
    losses = [r["loss"] for r in one["history"] if "loss" in r]
    # The same global batch and dropout masks, the gradient summed across the processes:
    # measured relative differences to one process 1e-7 (losses) and 0 (eval), bound 1e-5.
    for run in runs:
        np.testing.assert_allclose(run["losses"], losses, rtol=1e-5)
        np.testing.assert_allclose(run["eval"], one["eval_loss"], rtol=1e-5)


@pytest.mark.parametrize("argv, words", [
    (["--steps", "0"], "'steps' expected an integer >= 1"),
    (["--lr", "-1"], "'lr' expected a number > 0"),
    (["--task", "imagenet"], "invalid choice: 'imagenet'"),
    (["--task", "mnist1d", "--L", "100"], "'L' expected None or 40"),
    (["--dropout", "1.5"], "'dropout' expected a number in [0, 1)"),
    (["--dt-min", "0.1", "--dt-max", "0.01"], "'dt_min' expected a number < dt_max"),
    (["--resume"], "'resume' expected an output directory"),
    (["--task", "mnist1d", "--batches", "device"], "'batches' expected 'host' for MNIST-1D"),
    (["--batches", "disk"], "invalid choice: 'disk'"),
])
def test_bad_options_exit_with_a_message_naming_them(argv, words, capsys):
    with pytest.raises(SystemExit) as exit_info:
        tr.main(argv)
    assert exit_info.value.code == 2
    assert words in capsys.readouterr().err


def test_command_line_writes_log_checkpoint_and_summary(tmp_path, capsys):
    argv = ["--task", "recall", "--L", "64", "--n-classes", "2", "--n-noise", "0",
            "--H", "16", "--N", "8", "--n-layers", "1", "--steps", "6", "--batch-size", "8",
            "--lr", "0.02", "--ssm-lr", "0.002", "--dropout", "0.1", "--n-eval", "8",
            "--log-every", "1", "--no-progress", "--out", str(tmp_path)]   # SHORT's options
    assert tr.main(argv) == 0
    assert "s4 on recall: eval accuracy" in capsys.readouterr().out
    assert {"metrics.jsonl", "run.json", "checkpoint.npz", "checkpoint.json"} <= set(os.listdir(tmp_path))
    log = tr.read_log(str(tmp_path))
    assert [r["step"] for r in log if "loss" in r] == [1, 2, 3, 4, 5, 6]


# --- batches as tokens or made on the device, host and device time, the copying task ---

def test_token_batches_give_the_losses_of_one_hot_batches():
    host = tr.train(**SHORT)
    tokens = tr.train(**SHORT, batches="tokens")
    loss = lambda r: [x["loss"] for x in r["history"] if "loss" in x]  # noqa: E731
    # the same inputs reach the model (one-hot made on the device): measured equal
    np.testing.assert_allclose(loss(tokens), loss(host), rtol=1e-6)


def test_device_batches_train_and_the_log_has_host_and_device_time(tmp_path):
    result = tr.train(**{**SHORT, "log_every": 3}, batches="device", profile=True,
                      out=str(tmp_path), save_params=True)
    timed = [r for r in result["history"] if "steps_per_s" in r]
    assert [r["step"] for r in timed] == [3, 6]
    assert all(r["host_ms"] >= 0 and r["device_ms"] > 0 for r in timed)
    like = jax.tree_util.tree_map(np.zeros_like, result["params"])
    back = tr.load_params(str(tmp_path / "params.npz"), like)
    for a, b in zip(jax.tree_util.tree_leaves(back), jax.tree_util.tree_leaves(result["params"])):
        np.testing.assert_array_equal(a, b)
    free = tr.train(**SHORT, batches="device")
    assert all("device_ms" not in r for r in free["history"])


def test_a_tiny_copying_model_learns_to_repeat_in_order():
    # Two symbols of two kinds, repeated after a marker, L = 12: per-symbol chance 1/2.
    # Measured over seeds 0-3 (seed 0 is the test's): held-out accuracy 0.87 .. 1.0,
    # loss 0.08 .. 0.31, against the bars 0.8 and 0.6 log 2 = 0.42 (chance: 0.5, log 2).
    result = tr.train(task="copy", L=12, n_copy=2, n_classes=2, model="s4", H=16, N=8,
                      n_layers=1, batch_size=32, steps=100, lr=2e-2, ssm_lr=5e-3,
                      eval_every=1000, n_eval=64, log_every=10, progress=False,
                      batches="device", seed=0)
    assert result["eval_metric"] >= 0.8
    assert result["eval_loss"] < 0.6 * np.log(2)


def test_constant_schedule_keeps_the_rate():
    params, labels = {"w": jnp.ones(2)}, {"w": "other"}
    tx = tr.make_optimizer(0.1, 0.1, 0.0, steps=4, warmup=0, labels=labels, grad_clip=0,
                           schedule="constant")
    state, ones = tx.init(params), {"w": jnp.ones(2)}
    for _ in range(6):          # Adam's first steps on a constant gradient move by lr
        upd, state = tx.update(ones, state, params)
        # float32 bias correction: measured 6.6e-6 relative, bound 1e-4 (a cosine
        # schedule over 4 steps would be at 0 by now)
        np.testing.assert_allclose(upd["w"], -0.1, rtol=1e-4)
