#!/bin/bash
# The GPU runs of chapter 9 (one H100 call). Usage: bash scripts/train_gpu_runs.sh OUTDIR [scale]
# scale=tiny: a quick CPU rehearsal with the same commands at toy sizes.
# Afterwards: rm OUTDIR/runs/*/checkpoint.npz; tar the logs (the caller does, even after a timeout).
set -u
OUT=${1:?out dir}; SCALE=${2:-full}
mkdir -p "$OUT/runs"
PY=${PYTHON:-python3}
T0=$(date +%s)
{
  date -u; nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>/dev/null
  nvidia-smi 2>/dev/null | grep -o "CUDA Version: [0-9.]*"
  $PY -c "import jax, jaxlib, numpy, optax; print('jax', jax.__version__, 'jaxlib', jaxlib.__version__, 'numpy', numpy.__version__, 'optax', optax.__version__); print(jax.devices())"
  $PY -m pip list 2>/dev/null | grep -i -E "^jax|nvidia-cuda-runtime|nvidia-cudnn|cuda"
} > "$OUT/environment.txt" 2>&1
if [ "$SCALE" = tiny ]; then
  R16="--L 256 --steps 6 --H 8 --N 8 --n-layers 1 --batch-size 4 --eval-every 3 --n-eval 8"
  RG="--L 256 --steps 4 --H 8 --n-layers 1 --batch-size 4 --eval-every 2 --n-eval 8"
  M="--steps 6 --H 8 --N 8 --n-layers 1 --batch-size 8 --eval-every 3"
  MG="--steps 6 --H 8 --n-layers 1 --batch-size 8 --eval-every 3"
  GRU_LIMIT=120
else
  R16="--L 16384 --steps 300 --H 64 --N 64 --n-layers 2 --batch-size 16 --eval-every 50 --n-eval 256 --dt-min 1e-4"
  RG="--L 16384 --steps 300 --H 64 --n-layers 1 --batch-size 16 --eval-every 50 --n-eval 256"
  M="--steps 3000 --H 64 --N 64 --n-layers 4 --batch-size 64 --eval-every 250 --dropout 0.1 --weight-decay 0.05"
  MG="--steps 3000 --H 128 --n-layers 1 --batch-size 64 --eval-every 250 --weight-decay 0.05"
  GRU_LIMIT=170
fi
C="-m s4_minimal.train --no-progress --log-every 10 --ckpt-every 100000 --seed 0"
run() { name=$1; shift; echo "== $name: $*"; s=$(date +%s)
        $PY $C --out "$OUT/runs/$name" "$@" 2>&1 | tail -3
        echo "-- $name took $(( $(date +%s) - s )) s (total $(( $(date +%s) - T0 )) s)"; }
run train_recall16k_s4 --task recall --model s4 $R16 --lr 5e-3 --ssm-lr 1e-3
run train_mnist1d_s4 --task mnist1d --model s4 $M --lr 4e-3 --ssm-lr 1e-3
run train_mnist1d_gru --task mnist1d --model gru $MG --lr 4e-3
run train_mnist1d-shuffle_s4 --task mnist1d-shuffle --model s4 $M --lr 4e-3 --ssm-lr 1e-3
run train_mnist1d-shuffle_gru --task mnist1d-shuffle --model gru $MG --lr 4e-3
# The GRU reads 16,384 steps one after another: give it a wall-clock limit and keep its log.
echo "== train_recall16k_gru (limit ${GRU_LIMIT} s)"
timeout $GRU_LIMIT $PY $C --out "$OUT/runs/train_recall16k_gru" --task recall --model gru $RG --lr 5e-3 2>&1 | tail -3
echo "-- all done in $(( $(date +%s) - T0 )) s"
