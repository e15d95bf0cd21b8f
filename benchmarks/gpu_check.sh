#!/usr/bin/env bash
# The GPU check, in one call of at most 10 minutes on a machine with an NVIDIA GPU and CuPy:
#   1. `pytest -m gpu` on real CuPy (FUNCGRAD_CUPY=real: the same tests CI runs on the stand-in,
#      every result compared with the CPU's), then the NVRTC compile test;
#   2. `benchmarks/gpu.py --quick` (20-op chain vs CuPy eager and a device copy; the MLP step vs
#      JAX and PyTorch where they see the GPU).
# MNIST is not needed: the one test that trains on it skips without the IDX files (set
# $FUNCGRAD_MNIST to a folder holding them to include it).
# Results go to $OUT (or ./gpu_check_out): pytest.txt, bench.txt, nvidia-smi.txt, summary.txt.
# Usage, from the repository root:  bash benchmarks/gpu_check.sh
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-$PWD/gpu_check_out}"
mkdir -p "$OUT"
PY="${PYTHON:-python3}"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" FUNCGRAD_CUPY=real
{ nvidia-smi || true; "$PY" -c "import cupy; print('cupy', cupy.__version__)" || true; } \
    > "$OUT/nvidia-smi.txt" 2>&1
timeout 420 "$PY" -m pytest -q -m gpu -p no:cacheprovider tests/test_gpu.py tests/test_examples.py \
    tests/test_nvrtc.py -rfEsx > "$OUT/pytest.txt" 2>&1
rc_tests=$?
timeout 150 "$PY" benchmarks/gpu.py --quick > "$OUT/bench.txt" 2>&1
rc_bench=$?
{ echo "pytest -m gpu (real CuPy): rc=$rc_tests: $(tail -n 1 "$OUT/pytest.txt")"
  echo "benchmarks/gpu.py --quick: rc=$rc_bench"; cat "$OUT/bench.txt"; } > "$OUT/summary.txt"
cat "$OUT/summary.txt"
exit $(( rc_tests || rc_bench ))
