#!/usr/bin/env bash
# The GPU benchmarks of chapters 10, 11 and 13, in steps of a few minutes each:
#   1. perf: the kernels at every L, the LegS float32 error, the parts of the layer at
#      16k, the RNN step and the cost of one loop iteration, the kernel's parts;
#   2. bench_after's SSD part (chunk sizes and matrix-product precisions, the scan);
#   3. perf, every other method and size;
#   4. perf: the Pallas configurations at 16k, then dplr_fast and the layer at 16k with
#      the fastest (the compilations of this step are the least predictable: last);
#   5. bench_after's diagonal part (sequential, parallel scan, kernel + FFT).
# On an H200 the compilations alone take minutes (each layer row about 5 s): steps 1, 3
# and 4 took 1.5, 3 and 0.7 minutes, and the limits of steps 2 and 5 add at most 3 more,
# so one call of 10 minutes may just hold them all. STEPS picks some (default
# "1 2 3 4 5"); KEEP names earlier result files to merge after the new ones (a row
# measured again replaces them):
#   STEPS="1 4" KEEP=book/data/bench_h200.json bash scripts/bench_gpu.sh
# Each step has a time limit and rewrites its JSON after every row, so a step cut short
# keeps what it measured; the merges at the end write
#   $OUT/bench_h200.json and $OUT/bench_after_h200.json (and the logs beside them).
# TOY=1 runs the same steps at toy sizes (a CPU rehearsal).
#   bash scripts/bench_gpu.sh          (run from the repository root; OUT defaults to gpu_out)
set -uo pipefail
OUT=${OUT:-gpu_out}; mkdir -p "$OUT"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
PY=${PY:-python3}
start=$(date +%s)
elapsed() { echo $(( $(date +%s) - start )); }

if [ "${TOY:-0}" = 1 ]; then
  SIZE="--H 4 --N 8 --batch 2 --repeats 2 --rnn-steps 16 --check-channels 1"
  S_ALL=128,256; S_ONE=256; S_REST=128,256; VS=256
  LIM=(300 300 300 300 300); BUD=(280 280); QUICK="--quick"
  DIAG="--diag-sizes 128,256 --diag-batches 1,2"
else
  SIZE="--repeats 20"
  S_ALL=1024,4096,16384,65536; S_ONE=16384; S_REST=1024,4096,16384,65536; VS=16384
  LIM=(230 110 200 120 70); BUD=(210 180); QUICK=""
  DIAG="--diag-sizes 1024,4096,16384,65536 --diag-batches 1,16"
fi

STEPS=${STEPS:-1 2 3 4 5}
want() { case " $STEPS " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

{ nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>&1; $PY -m s4_minimal; } \
  > "$OUT/environment.txt" 2>&1
echo "[$(elapsed) s] environment done"

if want 1; then  # the kernels and the parts of the layer (the default Pallas configuration)
  timeout -k 5 "${LIM[0]}" $PY -m s4_minimal.perf $SIZE --no-progress --budget-s "${BUD[0]}" \
    --sizes "$S_ALL" --layer-sizes "$S_ONE" \
    --methods dplr_fast,legs_error,layer_kernel,layer_conv,layer_conv_hl,rnn_step,rnn_loop,cauchy_pallas,cauchy_xla,irfft,dplr_fast_xla \
    --out "$OUT/perf_a.json" > "$OUT/perf_a.log" 2>&1
  echo "[$(elapsed) s] perf part a: rc $?"
fi
if want 2; then  # the SSD against the scan, in every variant
  timeout -k 5 "${LIM[1]}" $PY -m s4_minimal.bench_after $QUICK --parts ssd --no-progress \
    --out "$OUT/after_ssd.json" > "$OUT/after_ssd.log" 2>&1
  echo "[$(elapsed) s] bench_after ssd: rc $?"
fi
if want 3; then  # every other method and size (the layer last: seconds of compilation per row)
  timeout -k 5 "${LIM[2]}" $PY -m s4_minimal.perf $SIZE --repeats 10 --no-progress \
    --budget-s "${BUD[1]}" --sizes "$S_REST" --layer-sizes "$S_REST" \
    --methods dplr_ref,diag_fast,diag_ref,fft_conv,scan,naive,dense_gf,layer_fast,layer_ref \
    --out "$OUT/perf_b.json" > "$OUT/perf_b.log" 2>&1
  echo "[$(elapsed) s] perf part b: rc $?"
fi
if want 4; then  # the Pallas configurations (each logged as it starts), then the fastest
  timeout -k 5 "${LIM[3]}" $PY -m s4_minimal.perf $SIZE --no-progress --sizes "$S_ONE" \
    --variant-sizes "$VS" --layer-sizes "$S_ONE" --pick-pallas "${VS%%,*}" \
    --methods dplr_variant,dplr_fast,layer_fast --out "$OUT/perf_c.json" > "$OUT/perf_c.log" 2>&1
  echo "[$(elapsed) s] perf part c: rc $?"
fi
if want 5; then  # the diagonal SSM three ways
  timeout -k 5 "${LIM[4]}" $PY -m s4_minimal.bench_after $QUICK $DIAG --parts diag --no-progress \
    --out "$OUT/after_diag.json" > "$OUT/after_diag.log" 2>&1
  echo "[$(elapsed) s] bench_after diag: rc $?"
fi

# the merged records (a missing file is skipped with a note; a row measured twice is
# kept from the first file named, so new results come before the KEEP files)
JAX_PLATFORMS=cpu $PY -m s4_minimal.perf --merge "$OUT"/perf_a.json "$OUT"/perf_b.json \
  "$OUT"/perf_c.json ${KEEP:-} --out "$OUT/bench_h200.json" > "$OUT/bench_h200.txt" 2>&1
JAX_PLATFORMS=cpu $PY -m s4_minimal.bench_after --merge "$OUT/after_ssd.json" \
  "$OUT/after_diag.json" ${KEEP_AFTER:-} --out "$OUT/bench_after_h200.json" \
  > "$OUT/bench_after_h200.txt" 2>&1
echo "[$(elapsed) s] merged"
cat "$OUT/bench_h200.txt" "$OUT/bench_after_h200.txt"
