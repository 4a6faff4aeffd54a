"""Tests of s4_minimal.train and s4_minimal.models: the GRU baseline, learning, resuming,
devices, options."""

import json
import os
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


def _gru_numpy(params, u):
    """The GRU in float64 NumPy, one sequence and one step at a time (the reference)."""
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


def test_gru_equals_flax_gru_cell():
    linen = pytest.importorskip("flax.linen")
    H, d = 4, 3
    params = models.gru_init(jax.random.PRNGKey(1), d, 2, H=H)
    g = params["gru"][0]
    cell = linen.GRUCell(features=H)
    fp = cell.init(jax.random.PRNGKey(0), jnp.zeros((1, H)), jnp.zeros((1, H)))["params"]
    # Flax sums the input and hidden projections of r and z, so they carry one bias
    # (on whichever side its version puts it); n keeps a bias on each side, as ours.
    s = {g_: slice(i * H, (i + 1) * H) for i, g_ in enumerate("rzn")}
    fp = jax.tree_util.tree_map(lambda a: a, dict(fp))
    for gate in "rzn":
        fp[f"i{gate}"] = dict(fp[f"i{gate}"], kernel=g["Wi"][:, s[gate]])
        fp[f"h{gate}"] = dict(fp[f"h{gate}"], kernel=g["Wh"][:, s[gate]])
    for gate in "rz":
        side = "i" if "bias" in fp[f"i{gate}"] else "h"
        fp[f"{side}{gate}"]["bias"] = g["bi"][s[gate]] + g["bh"][s[gate]]
    fp["in"]["bias"] = g["bi"][s["n"]]
    fp["hn"]["bias"] = g["bh"][s["n"]]
    u = jax.random.normal(jax.random.PRNGKey(2), (1, 6, d))
    x = u @ params["encoder"]["W"] + params["encoder"]["b"]
    h, hs = jnp.zeros((1, H)), []
    for k in range(6):
        h, _ = cell.apply({"params": fp}, h, x[:, k])
        hs.append(h)
    want = jnp.stack(hs, 1) @ params["decoder"]["W"] + params["decoder"]["b"]
    np.testing.assert_allclose(models.gru_apply(params, u), want, atol=1e-5)


def test_a_few_steps_lower_the_loss():
    result = tr.train(steps=30, **TINY)
    losses = [r["loss"] for r in result["history"] if "loss" in r]
    assert np.mean(losses[-5:]) < 0.95 * np.mean(losses[:5])
    assert result["eval_loss"] < 0.9 * np.log(2)           # chance: log(2) = 0.69


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
    opts = dict(TINY, steps=6, dropout=0.1, ckpt_every=2, eval_every=3, n_eval=8)
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
    opts = dict(TINY, steps=2, n_eval=8, out=str(tmp_path))
    tr.train(**opts)
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
    opts = dict(TINY, steps=4, n_eval=8)
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


@pytest.mark.parametrize("argv, words", [
    (["--steps", "0"], "'steps' expected an integer >= 1"),
    (["--lr", "-1"], "'lr' expected a number > 0"),
    (["--task", "imagenet"], "invalid choice: 'imagenet'"),
    (["--task", "mnist1d", "--L", "100"], "'L' expected None or 40"),
    (["--dropout", "1.5"], "'dropout' expected a number in [0, 1)"),
    (["--dt-min", "0.1", "--dt-max", "0.01"], "'dt_min' expected a number < dt_max"),
    (["--resume"], "'resume' expected an output directory"),
])
def test_bad_options_exit_with_a_message_naming_them(argv, words, capsys):
    with pytest.raises(SystemExit) as exit_info:
        tr.main(argv)
    assert exit_info.value.code == 2
    assert words in capsys.readouterr().err


def test_command_line_writes_log_checkpoint_and_summary(tmp_path, capsys):
    argv = ["--task", "recall", "--L", "64", "--n-noise", "0", "--H", "8", "--N", "8",
            "--n-layers", "1", "--steps", "3", "--batch-size", "4", "--n-eval", "4",
            "--no-progress", "--out", str(tmp_path)]
    assert tr.main(argv) == 0
    assert "s4 on recall: eval accuracy" in capsys.readouterr().out
    assert {"metrics.jsonl", "run.json", "checkpoint.npz", "checkpoint.json"} <= set(os.listdir(tmp_path))
    log = tr.read_log(str(tmp_path))
    assert [r["step"] for r in log if "loss" in r] == [1, 2, 3]
