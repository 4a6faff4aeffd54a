#!/bin/bash
# The GPU runs of chapter 9, one call on one GPU (about 6.5 minutes on an H200; the
# runs its time limits skipped were made by scripts/train_gpu_runs_rest.sh).
# Usage: bash scripts/train_gpu_runs.sh OUTDIR [tiny]     (tiny: a CPU rehearsal)
#
# 1. the profile of one training step of S4 on the reach task at L = 16,384:
#    host time (build and send the batch) against device time, batches built
#    on the host (one-hot), sent as integer tokens, or generated on the device;
# 2. the sweep over L = 64, 1,024, 16,384 on the reach and the copying task:
#    S4, the GRU at its default initialization and with chrono initialization,
#    at matched parameter counts (reach 300 steps, copy 1,000; the GRUs at
#    L = 16,384 read step by step and stop at their time limit); four lanes
#    run side by side on the GPU;
# 3. MNIST-1D (plain and shuffled): the published GRU and CNN as published,
#    S4 at the same parameter count and budget; next-sample S4 for generation.
# Every run has a time limit and keeps its partial log. The summaries land in
# OUTDIR/train_runs.json and OUTDIR/train_profile.json.
set -u
OUT=${1:?out dir}; SCALE=${2:-full}
PY=${PYTHON:-python3}
mkdir -p "$OUT/runs" "$OUT/profile"
T0=$(date +%s)
export XLA_PYTHON_CLIENT_PREALLOCATE=false     # the lanes share one GPU
# One archive of everything at the end, even when the call is cut short.
trap 'find "$OUT" -name checkpoint.npz -delete;
      tar czf /tmp/ch9_runs.tgz -C "$OUT" . && mv /tmp/ch9_runs.tgz "$OUT/ch9.tgz"' EXIT
source "$(dirname "$0")/train_gpu_lib.sh"
record_environment

if [ "$SCALE" = tiny ]; then
  LS="64 80 96"; LBIG=96; S4="--H 8 --N 8 --n-layers 1"; GRU="--H 8 --n-layers 1"
  STEPS=4; STEPS_BIG=4; STEPS_COPY=6; EVAL="--eval-every 2 --n-eval 8"; B=4; PB="4 8"; PSTEPS=10
  MSTEPS=20; M_S4="--H 8 --N 8 --n-layers 1"; GEN="--H 8 --N 8 --n-layers 1 --steps 20"
  LIM=300; LIM_BIG=300; LIM_M=300; PLIM=300; DEADLINE=$(( T0 + 3000 ))
else
  LS="64 1024 16384"; LBIG=16384; S4="--H 64 --N 64 --n-layers 2 --dt-min 1e-4"
  GRU="--H 90 --n-layers 1"   # 51,398 parameters on reach, S4 51,656
  STEPS=300; STEPS_BIG=300; STEPS_COPY=1000; EVAL="--eval-every 50 --n-eval 256"; B=16; PB="16 128"; PSTEPS=25
  MSTEPS=6000; M_S4="--H 21 --N 16 --n-layers 2"   # 5,008 parameters, published 5,134 / 5,210
  GEN="--H 64 --N 32 --n-layers 2 --steps 3000 --batch-size 64 --lr 4e-3 --weight-decay 0.05"
  LIM=90; LIM_BIG=180; LIM_M=150; PLIM=60; DEADLINE=$(( T0 + 395 ))
fi
# 1. The profile, alone on the GPU: with --profile every step is waited for, so
#    host and device time come apart; without it (free) the host may run ahead.
if [ -z "${SKIP_PROFILE:-}" ]; then   # (SKIP_PROFILE=1: the lanes alone, for a rehearsal)
  for b in $PB; do for mode in host tokens device; do prof b${b}_${mode}_profile $b $mode --profile; done; done
  for mode in host device; do prof b${PB##* }_${mode}_free ${PB##* } $mode; done
fi

# 2. and 3. Three lanes side by side.
lane_long() {   # the GRUs that read 16,384 steps one by one: the longest runs
  for task in reach copy; do for m in gru-chrono gru; do
    run ${task}_${m}_L${LBIG} $LIM_BIG --task $task --L $LBIG --model $m $GRU --batches device \
      --steps $STEPS_BIG --batch-size $B $EVAL --lr 5e-3 &
  done; done; wait
}
lane_sweep() {  # lane_sweep TASK STEPS: S4 at every L, the GRUs at the shorter ones
  task=$1; steps=$2
  for L in $LS; do
    extra=""; [ "$task" = copy ] && [ "$L" != 64 ] && extra="--save-params"
    run ${task}_s4_L$L $LIM --task $task --L $L --model s4 $S4 --batches device \
      --steps $steps --batch-size $B $EVAL --lr 5e-3 --ssm-lr 1e-3 $extra
    if [ "$L" != "$LBIG" ]; then for m in gru gru-chrono; do
      run ${task}_${m}_L$L $LIM --task $task --L $L --model $m $GRU --batches device \
        --steps $steps --batch-size $B $EVAL --lr 5e-3
    done; fi
  done
}
lane_mnist() {  # the published recipe: Adam 1e-2, constant, no decay, no clipping
  PUB="--steps $MSTEPS --batch-size 100 --lr 1e-2 --weight-decay 0 \
       --grad-clip 0 --schedule constant --eval-every 500 --log-every 100"
  for task in mnist1d mnist1d-shuffle; do
    run ${task}_gru-mnist1d $LIM_M --task $task --model gru-mnist1d $PUB
    run ${task}_cnn-mnist1d $LIM_M --task $task --model cnn-mnist1d $PUB
    run ${task}_s4 $LIM_M --task $task --model s4 $M_S4 $PUB --ssm-lr 1e-3
  done
  run mnist1d-next_s4 $LIM_M --task mnist1d-next --model s4 $GEN --eval-every 500 \
    --log-every 100 --save-params
}
lane_long & lane_sweep reach $STEPS & lane_sweep copy $STEPS_COPY & lane_mnist & wait

summarize
echo "all done in $(( $(date +%s) - T0 )) s" | tee "$OUT/wall.txt"
date -u >> "$OUT/wall.txt"
