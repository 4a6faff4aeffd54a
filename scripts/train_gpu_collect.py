"""Collect the outputs of scripts/train_gpu_runs.sh into book/data/ (chapter 9).

Usage: python scripts/train_gpu_collect.py OUTDIR

Writes book/data/train_runs.json and book/data/train_profile.json (each with the
machine's description, versions, date and the script's wall time) and copies the
saved parameters chapter 9 reads: the S4 models of the copying task at
L = 1,024 and 16,384 and the next-sample S4 model.
"""

import json
import os
import shutil
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "book", "data")
PARAMS = {"copy_s4_L1024": "train_copy_s4_L1024.npz",
          "copy_s4_L16384": "train_copy_s4_L16384.npz",
          "mnist1d-next_s4": "train_next_s4.npz"}


def machine(out: str) -> dict:
    """Device, driver, CUDA, versions and date from environment.txt and wall.txt."""
    lines = open(os.path.join(out, "environment.txt")).read().splitlines()
    wall = open(os.path.join(out, "wall.txt")).read().split()
    gpu = next((l for l in lines if "H200" in l or "H100" in l or "NVIDIA" in l), "")
    info = {"started": lines[0], "gpu": gpu.strip(),
            "cuda": next((l for l in lines if l.startswith("CUDA Version")), ""),
            "versions": next((l for l in lines if l.startswith("python ")), ""),
            "cpu": next((l for l in lines if l.startswith("model name")), "").split(":")[-1].strip(),
            "script": "scripts/train_gpu_runs.sh", "script_wall_s": int(wall[3])}
    return info


def n_params(run: str, runs: dict):
    """The parameter count of a run stopped before its summary: a GRU's does not depend
    on L, so a finished run of the same task and model at another L gives it."""
    task, model, _ = run.split("_")
    same = [r["n_params"] for name, r in runs.items()
            if name.startswith(f"{task}_{model}_L") and r.get("n_params")]
    return same[0] if same else None


def main(out: str) -> None:
    info = machine(out)
    for name in ("train_runs.json", "train_profile.json"):
        runs = json.load(open(os.path.join(out, name)))
        for run, rec in runs.items():
            if rec.get("config"):
                rec["config"].pop("out", None)
            elif name == "train_runs.json" and run.count("_") == 2:
                rec["n_params"] = n_params(run, runs)
        with open(os.path.join(DATA, name), "w") as f:
            json.dump({"machine": info, "runs": runs}, f, indent=0)
    for run, target in PARAMS.items():
        src = os.path.join(out, "runs", run, "params.npz")
        if os.path.exists(src):
            shutil.copy(src, os.path.join(DATA, target))
    print(json.dumps(info, indent=1))


if __name__ == "__main__":
    main(sys.argv[1])
