# The pieces shared by chapter 9's GPU calls (scripts/train_gpu_runs.sh and
# scripts/train_gpu_runs_rest.sh), sourced by both. The caller sets OUT, PY, T0,
# DEADLINE, and for prof LBIG, S4, PSTEPS and PLIM.
C="-m s4_minimal.train --no-progress --log-every 10 --ckpt-every 1000000 --seed 0"

record_environment() {   # device, driver, CUDA, versions and CPU into OUT/environment.txt
  {
    date -u; nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>/dev/null
    nvidia-smi 2>/dev/null | grep -o "CUDA Version: [0-9.]*"
    $PY -c "import jax, jaxlib, numpy, optax, sys; print('python', sys.version.split()[0], 'jax', jax.__version__, 'jaxlib', jaxlib.__version__, 'numpy', numpy.__version__, 'optax', optax.__version__); print(jax.devices())"
    $PY -m pip list 2>/dev/null | grep -i -E "^jax|nvidia-cuda-runtime|nvidia-cudnn"
    nproc; grep -m1 "model name" /proc/cpuinfo
  } > "$OUT/environment.txt" 2>&1
}

run() {   # run NAME LIMIT ARGS...: one training run with a wall-clock limit
  name=$1; limit=$2; shift 2; s=$(date +%s); left=$(( DEADLINE - s ))
  [ $left -lt $limit ] && limit=$left
  if [ $limit -lt 15 ]; then echo "$name: skipped, no time left" | tee -a "$OUT/runs/lanes.txt"; return; fi
  timeout "$limit" $PY $C --out "$OUT/runs/$name" "$@" > "$OUT/runs/$name.txt" 2>&1
  echo "$name: rc $? after $(( $(date +%s) - s )) s (t = $(( $(date +%s) - T0 )) s)" \
    | tee -a "$OUT/runs/lanes.txt"
}

prof() {  # prof NAME BATCH MODE [--profile]: one profile of S4 on the reach task at LBIG
  name=$1; b=$2; mode=$3; shift 3
  timeout $PLIM $PY $C --out "$OUT/profile/$name" --task reach --L $LBIG --model s4 $S4 \
    --batch-size $b --steps $PSTEPS --warmup 1 --eval-every 1000000 --n-eval $b \
    --batches $mode --log-every 5 "$@" > "$OUT/profile/$name.txt" 2>&1
  echo "$name rc $? (t = $(( $(date +%s) - T0 )) s)"
}

summarize() {   # every run's configuration, size, time, evaluations and environment
  $PY - "$OUT" <<'PY'
import json, os, sys
out = sys.argv[1]
def read(d):
    recs = [json.loads(l) for l in open(os.path.join(d, "metrics.jsonl"))] \
        if os.path.exists(os.path.join(d, "metrics.jsonl")) else []
    run = json.load(open(os.path.join(d, "run.json"))) \
        if os.path.exists(os.path.join(d, "run.json")) else {}
    return recs, run
for group, fname in (("runs", "train_runs.json"), ("profile", "train_profile.json")):
    root, summary = os.path.join(out, group), {}
    for name in sorted(os.listdir(root)):
        d = os.path.join(root, name)
        if not os.path.isdir(d):
            continue
        recs, run = read(d)
        summary[name] = {
            "finished": bool(run), "config": run.get("config"),
            "n_params": run.get("n_params"), "wall_s": run.get("wall_s"),
            "eval_metric": run.get("eval_metric"), "environment": run.get("environment"),
            "date": run.get("date"),
            "evals": [[r["step"], r["eval_metric"]] for r in recs if "eval_metric" in r],
            "log": [{k: r[k] for k in ("step", "loss", "metric", "steps_per_s", "wall_s",
                                       "host_ms", "device_ms") if k in r}
                    for r in recs if "loss" in r and "steps_per_s" in r],
        }
    json.dump(summary, open(os.path.join(out, fname), "w"), indent=0)
    print(fname, len(summary), "runs")
PY
}
