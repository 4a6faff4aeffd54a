#!/usr/bin/env bash
# What a session runs on a lent GPU machine (the device tool; see README's GPU section).
# The machine has JAX with CUDA but none of the notebook tooling: the wheels in .whl/
# (Python 3.12, fetched with `pip download` as CONTRIBUTING.md says) are installed first.
#   bash scripts/gpu_session.sh nbval [NOTEBOOK ...]  strict nbval on the GPU (default: book/)
#   bash scripts/gpu_session.sh unit                  unit tests on the machine's CPU (JAX_PLATFORMS=cpu)
# Logs go to $OUT (or ./gpu_out).
set -uo pipefail
OUT=${OUT:-gpu_out}; mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH="$PWD:/tmp/site" PYTHONUNBUFFERED=1
{ nvidia-smi --query-gpu=name,driver_version --format=csv; python3 -m s4_minimal; } > "$OUT/environment.txt" 2>&1
what=${1:-nbval}; shift || true
case "$what" in
  nbval)
    python3 -m ipykernel install --user --name python3 > /dev/null 2>&1
    targets=${*:-book/}
    python3 -m pytest --nbval --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg \
        -p no:cacheprovider -q --durations=15 $targets 2>&1 | tee "$OUT/nbval.log" ;;
  unit)
    JAX_PLATFORMS=cpu python3 -m pytest tests/ --ignore=tests/browser -p no:cacheprovider -q \
        -n 8 --durations=15 2>&1 | tee "$OUT/unit_cpu.log" ;;
  *) echo "unknown: $what" >&2; exit 2 ;;
esac
