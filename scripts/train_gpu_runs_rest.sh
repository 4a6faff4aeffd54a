#!/bin/bash
# The second GPU call of chapter 9 (one H200, at most 5 minutes): what the first call of
# scripts/train_gpu_runs.sh skipped for lack of time or lost, with the same options:
# S4 at L = 16,384 on both tasks and at L = 1,024 on the copying task (parameters kept),
# the chrono GRU at L = 1,024, the GRU at L = 1,024 on copying, the chrono GRU at
# L = 16,384 on the reach task with the GPU less shared, the MNIST-1D runs, the
# next-sample model, and the profile of integer-token batches (their host time now
# without a one-hot array built and thrown away).
# Usage: bash scripts/train_gpu_runs_rest.sh OUTDIR [tiny]. Everything ends in OUTDIR/ch9.tgz.
set -u
OUT=${1:?out dir}; SCALE=${2:-full}
PY=${PYTHON:-python3}
mkdir -p "$OUT/runs" "$OUT/profile"
T0=$(date +%s)
export XLA_PYTHON_CLIENT_PREALLOCATE=false     # the lanes share one GPU
trap 'echo "all done in $(( $(date +%s) - T0 )) s" > "$OUT/wall.txt"; date -u >> "$OUT/wall.txt";
      find "$OUT" -name checkpoint.npz -delete;
      tar czf /tmp/ch9_rest.tgz -C "$OUT" . && mv /tmp/ch9_rest.tgz "$OUT/ch9.tgz"' EXIT
source "$(dirname "$0")/train_gpu_lib.sh"
record_environment

if [ "$SCALE" = tiny ]; then
  LBIG=96; S4="--H 8 --N 8 --n-layers 1"; GRU="--H 8 --n-layers 1"; LMID=80
  STEPS=4; STEPS_COPY=6; EVAL="--eval-every 2 --n-eval 8"; B=4; PB="4 8"; PSTEPS=10
  MSTEPS=20; M_S4="--H 8 --N 8 --n-layers 1"; GEN="--H 8 --N 8 --n-layers 1 --steps 20"
  LIM=300; LIM_BIG=300; LIM_M=300; PLIM=300; DEADLINE=$(( T0 + 3000 ))
else
  LBIG=16384; LMID=1024; S4="--H 64 --N 64 --n-layers 2 --dt-min 1e-4"; GRU="--H 90 --n-layers 1"
  STEPS=300; STEPS_COPY=1000; EVAL="--eval-every 50 --n-eval 256"; B=16; PB="16 128"; PSTEPS=25
  MSTEPS=6000; M_S4="--H 21 --N 16 --n-layers 2"
  GEN="--H 64 --N 32 --n-layers 2 --steps 3000 --batch-size 64 --lr 4e-3 --weight-decay 0.05"
  LIM=90; LIM_BIG=240; LIM_M=100; PLIM=40; DEADLINE=$(( T0 + 285 ))
fi
# The profile of token batches, alone on the GPU.
for b in $PB; do prof b${b}_tokens_profile $b tokens --profile; done
prof b${PB##* }_tokens_free ${PB##* } tokens

lane_long() { run reach_gru-chrono_L$LBIG $LIM_BIG --task reach --L $LBIG --model gru-chrono $GRU \
                --batches device --steps $STEPS --batch-size $B $EVAL --lr 5e-3; }
lane_s4() {
  run reach_s4_L$LBIG $LIM --task reach --L $LBIG --model s4 $S4 --batches device \
    --steps $STEPS --batch-size $B $EVAL --lr 5e-3 --ssm-lr 1e-3
  for L in $LBIG $LMID; do
    run copy_s4_L$L $LIM --task copy --L $L --model s4 $S4 --batches device \
      --steps $STEPS_COPY --batch-size $B $EVAL --lr 5e-3 --ssm-lr 1e-3 --save-params
  done
  run mnist1d-next_s4 $LIM_M --task mnist1d-next --model s4 $GEN --eval-every 500 \
    --log-every 100 --save-params
}
lane_gru() {
  run reach_gru-chrono_L$LMID $LIM --task reach --L $LMID --model gru-chrono $GRU --batches device \
    --steps $STEPS --batch-size $B $EVAL --lr 5e-3
  for m in gru-chrono gru; do
    run copy_${m}_L$LMID $LIM --task copy --L $LMID --model $m $GRU --batches device \
      --steps $STEPS_COPY --batch-size $B $EVAL --lr 5e-3
  done
}
lane_mnist() {  # lane_mnist TASK: the published recipe, Adam 1e-2, constant, no decay, no clipping
  PUB="--steps $MSTEPS --batch-size 100 --lr 1e-2 --weight-decay 0 \
       --grad-clip 0 --schedule constant --eval-every 500 --log-every 100"
  run $1_gru-mnist1d $LIM_M --task $1 --model gru-mnist1d $PUB
  run $1_cnn-mnist1d $LIM_M --task $1 --model cnn-mnist1d $PUB
  run $1_s4 $LIM_M --task $1 --model s4 $M_S4 $PUB --ssm-lr 1e-3
}
lane_long & lane_s4 & lane_gru & lane_mnist mnist1d & lane_mnist mnist1d-shuffle & wait

summarize
