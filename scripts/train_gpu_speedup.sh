#!/bin/bash
# Data-parallel speed-up of chapter 9 (one call on the two-GPU machine):
# the same S4 run on GPU 0 alone and on GPUs 0 and 1. Usage: bash scripts/train_gpu_speedup.sh OUTDIR [tiny]
set -u
OUT=${1:?out dir}; SCALE=${2:-full}
PY=${PYTHON:-python3}
mkdir -p "$OUT/speed"
nvidia-smi --query-gpu=name,driver_version --format=csv > "$OUT/speed_environment.txt" 2>&1
if [ "$SCALE" = tiny ]; then SIZE="--L 256 --H 8 --N 8 --n-layers 1 --steps 6"; else
  SIZE="--L 16384 --H 64 --N 64 --n-layers 2 --steps 60 --dt-min 1e-4"; fi
for B in 32 128; do for DEV in 0 0,1; do
  name=speed_b${B}_gpus${DEV/,/}
  CUDA_VISIBLE_DEVICES=$DEV $PY -m s4_minimal.train --no-progress --task recall --model s4 $SIZE \
    --batch-size $B --log-every 10 --eval-every 100000 --n-eval $B --ckpt-every 100000 \
    --out "$OUT/speed/$name" 2>&1 | tail -1
done; done
rm -f "$OUT"/speed/*/checkpoint.npz
$PY - "$OUT/speed" <<'PY'
import json, os, sys
root = sys.argv[1]; out = {}
for name in sorted(os.listdir(root)):
    recs = [json.loads(l) for l in open(os.path.join(root, name, "metrics.jsonl"))]
    run = json.load(open(os.path.join(root, name, "run.json")))
    rates = [r["steps_per_s"] for r in recs if "steps_per_s" in r][1:]   # skip the compile
    out[name] = {"n_devices": run["n_devices"], "batch_size": run["config"]["batch_size"],
                 "steps_per_s": rates, "losses": [r["loss"] for r in recs if "loss" in r],
                 "environment": run["environment"], "date": run["date"], "wall_s": run["wall_s"]}
json.dump(out, open(os.path.join(os.path.dirname(root), "train_speedup.json"), "w"), indent=1)
for k, v in out.items():
    print(k, v["n_devices"], "steps/s", ["%.2f" % r for r in v["steps_per_s"]])
PY
