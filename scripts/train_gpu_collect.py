"""Collect the outputs of chapter 9's GPU calls into book/data/.

Usage: python scripts/train_gpu_collect.py OUT1 OUT2

OUT1 holds the outputs of scripts/train_gpu_runs.sh, OUT2 those of
scripts/train_gpu_runs_rest.sh (unpacked), which made the runs the first call's
time limits skipped. A run of the second call replaces the run of the same name of
the first. Writes book/data/train_runs.json and book/data/train_profile.json, each
with the machine of both calls (device, CUDA, versions, date, the script's wall
time) and, per run, the call that made it; copies the saved parameters chapter 9
reads (S4 on the copying task at L = 1,024 and 16,384, the next-sample S4).
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
SCRIPTS = ("scripts/train_gpu_runs.sh", "scripts/train_gpu_runs_rest.sh")


def machine(out: str, script: str) -> dict:
    """Device, driver, CUDA, versions and date from environment.txt and wall.txt."""
    lines = open(os.path.join(out, "environment.txt")).read().splitlines()
    wall = open(os.path.join(out, "wall.txt")).read().split()
    return {"started": lines[0],
            "gpu": next((l for l in lines if l.startswith("NVIDIA")), "").strip(),
            "cuda": next((l for l in lines if l.startswith("CUDA Version")), ""),
            "versions": next((l for l in lines if l.startswith("python ")), ""),
            "cpu": next((l for l in lines if l.startswith("model name")), "")
            .split(":")[-1].strip(),
            "script": script, "script_wall_s": int(wall[3])}


def n_params(run: str, runs: dict):
    """The parameter count of a run stopped before its summary: a GRU's does not depend
    on L, so a finished run of the same task and model at another L gives it."""
    task, model, _ = run.split("_")
    same = [r["n_params"] for name, r in runs.items()
            if name.startswith(f"{task}_{model}_L") and r.get("n_params")]
    return same[0] if same else None


def main(outs) -> None:
    machines = {f"call{i + 1}": machine(out, SCRIPTS[i]) for i, out in enumerate(outs)}
    for name in ("train_runs.json", "train_profile.json"):
        runs = {}
        for i, out in enumerate(outs):
            for run, rec in json.load(open(os.path.join(out, name))).items():
                if rec.get("log") or rec.get("evals") or run not in runs:
                    runs[run] = {**rec, "call": f"call{i + 1}"}
        for run, rec in runs.items():
            if rec.get("config"):
                rec["config"].pop("out", None)
            elif name == "train_runs.json" and run.count("_") == 2:
                rec["n_params"] = n_params(run, runs)
        with open(os.path.join(DATA, name), "w") as f:
            json.dump({"machines": machines, "runs": dict(sorted(runs.items()))}, f, indent=0)
    for run, target in PARAMS.items():
        for out in outs[::-1]:
            src = os.path.join(out, "runs", run, "params.npz")
            if os.path.exists(src):
                shutil.copy(src, os.path.join(DATA, target))
                break
    print(json.dumps(machines, indent=1))


if __name__ == "__main__":
    main(sys.argv[1:])
