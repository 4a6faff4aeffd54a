"""Draws book/figures/payoff.png, the figure of the book's first page, from the package and data.

Top: a band-limited signal of 16,000 samples (32 cycles per record) read by the time-varying
LegS recurrence of chapter 4 (float32, N = 128), and the whole history rebuilt from its last
state alone. Middle: the error of that rebuilt history, sample by sample. Bottom: the training
record of the two-layer S4 model of chapter 9 on the delayed-recall task with L = 16,384
(book/data/train_recall16k_s4.json, run on a GPU).

Run from the repository root: python book/figures/make_payoff.py
"""

import json
from pathlib import Path

import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np

from s4_minimal import memory

BOOK = Path(__file__).resolve().parents[1]
plt.style.use(str(BOOK / "matplotlibrc"))

L, N, CYCLES = 16000, 128, 32
u = memory.signal("bandlimited", L, bandwidth=CYCLES, seed=0)
state = np.asarray(memory.legs_recurrence(jnp.asarray(u, jnp.float32), N), np.float64)
rebuilt = memory.history_basis(N, L) @ state
rel = float(np.sqrt(np.sum((u - rebuilt) ** 2) / np.sum(u**2)))

run = json.loads((BOOK / "data" / "train_recall16k_s4.json").read_text())
cfg = run["config"]
train = [m for m in run["metrics"] if "metric" in m]
evals = [m for m in run["metrics"] if "eval_metric" in m]

fig, (ax1, ax2, ax3) = plt.subplots(
    3, 1, figsize=(8.6, 8.2), dpi=80, gridspec_kw={"height_ratios": [1.1, 1, 1.1]})
k = np.arange(L)
ax1.plot(k, u, color="0.6", lw=2.2, label="the 16,000 samples read")
ax1.plot(k, rebuilt, color="tab:blue", lw=0.9, label=f"rebuilt from the last {N} numbers")
ax1.set(xlabel="sample k", ylabel="signal", xlim=(0, L), ylim=(-4.2, 5.6),
        title=f"16,000 samples in, {N} numbers kept: relative error {rel:.1e}")
ax1.legend(loc="upper center", ncol=2)
err = np.abs(u - rebuilt)
ax2.semilogy(k, np.maximum(err, 1e-9), color="tab:blue", lw=0.6)
ax2.set(xlabel="sample k (0 = the oldest)", ylabel="|error|", xlim=(0, L), ylim=(1e-7, 1e-1),
        title="The error, sample by sample: the oldest samples are kept as well as the newest")
ax3.plot([m["step"] for m in train], [100 * m["metric"] for m in train], color="0.6", lw=1,
         label="training batch")
ax3.plot([m["step"] for m in evals], [100 * m["eval_metric"] for m in evals], "o-",
         color="tab:orange", label=f"{cfg['n_eval']} held-out sequences")
ax3.axhline(100 / cfg["n_classes"], color="k", lw=0.8, ls=":")
ax3.text(cfg["steps"], 100 / cfg["n_classes"] + 4, "chance", ha="right")
ax3.set(xlabel="training step", ylabel="accuracy (%)", ylim=(0, 112),
        title=f"S4 ({cfg['n_layers']} layers, {run['n_params']:,} parameters) recalling a cue "
              f"at least {cfg['L'] - cfg['L'] // 8:,} steps back")
ax3.legend(loc="center right")
fig.tight_layout()
fig.savefig(BOOK / "figures" / "payoff.png", dpi=80)
print(f"relative error {rel:.2e}; final held-out accuracy {evals[-1]['eval_metric']:.3f}")
