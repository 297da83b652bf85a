#!/usr/bin/env bash
# The short depthwise convolution (conv1d) on the lent GPU, over binaries from
# scripts/build_gpu_bins.sh (.gpu-bin/: test_cuda_conv1d, test_conv1d, flashfftconv,
# libflashfftconv.so[, libflashfftconv_torch.so], xz-compressed or not):
#   1. the GPU gtest suite (test_cuda_conv1d) and the CPU suite (test_conv1d) on that machine;
#   2. compute-sanitizer memcheck and racecheck on a few shapes (gtest cases and the program);
#   3. the Python package's conv1d tests on CUDA (pytest python/tests/test_conv1d.py);
#   4. the benchmark (bench/bench_conv1d.py: conv1d_forward / conv1d_backward rows, floor, peers).
# Usage: OUT=/some/dir BIN=.gpu-bin scripts/gpu_conv1d.sh [tests|sanitize|python|bench|all]
# Results and logs go to $OUT (default /tmp/ffc-conv1d-out); the exit status is 0 when all passed.
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.gpu-bin}
OUT=${OUT:-/tmp/ffc-conv1d-out}
mkdir -p "$OUT"
if compgen -G "$BIN/*.[gx]z" > /dev/null; then
  unpacked=$(mktemp -d)
  for f in "$BIN"/*.[gx]z; do
    name=$(basename "${f%.*}")
    case "$f" in
      *.xz) xz -dc "$f" 2>/dev/null || python3 -c 'import lzma, sys; sys.stdout.buffer.write(lzma.open(sys.argv[1]).read())' "$f" ;;
      *) gunzip -c "$f" ;;
    esac > "$unpacked/$name"
    chmod +x "$unpacked/$name"
  done
  BIN=$unpacked
fi
BIN=$(cd "$BIN" && pwd)
[ -f "$BIN/libflashfftconv_torch.so" ] && [ ! -e "$BIN/libflashfftconv.so.0" ] && cp "$BIN/libflashfftconv.so" "$BIN/libflashfftconv.so.0"
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,clocks.mem --format=csv > "$OUT/gpu.txt" 2>&1
cat "$OUT/gpu.txt"
what=${1:-all}
status=0
summary() { grep -E "^\[  (FAILED|PASSED|SKIPPED) |Failure|beyond their bound|^\[==========\]" "$1" | head -40; }

if [ "$what" = tests ] || [ "$what" = all ]; then
  for t in test_cuda_conv1d test_conv1d; do
    "$BIN/$t" --gtest_output=json:"$OUT/$t.json" > "$OUT/$t.log" 2>&1 || status=1
    summary "$OUT/$t.log"
  done
fi

if [ "$what" = sanitize ] || [ "$what" = all ]; then
  # Sweep indices (conv1d_sweep(true)): K = 1 causal (0, 1), K = 3 symmetric (10, 11), K = 7 (30),
  # K = 128 (94, 95), K = 1024 (104, 105), padding beyond K - 1 (125, 127), both layouts.
  cases=""
  for i in 0 1 10 11 30 94 95 104 105 125 127; do cases="$cases:Cases/Conv1dCudaSweep.MatchesFloat64Reference/$i"; done
  cases=${cases#:}
  cases="$cases:Conv1dCuda.BackwardIsBitIdentical"
  for tool in memcheck racecheck; do
    compute-sanitizer --tool $tool --error-exitcode 9 "$BIN/test_cuda_conv1d" --gtest_filter="$cases" \
      > "$OUT/${tool}_tests.log" 2>&1 || status=1
    tail -3 "$OUT/${tool}_tests.log"
    # The program: unaligned BLH with a partial channel tile, large K with symmetric padding, SiLU.
    for shape in "--layout blh --channels 40 --length 1001 --kernel-size 7 --bias --silu" \
                 "--layout bhl --channels 6 --length 4173 --kernel-size 1024 --padding 700 --bias" \
                 "--layout bhl --channels 8 --length 4096 --kernel-size 4 --dtype f32 --weight-dtype bf16 --silu" \
                 "--layout blh --channels 64 --length 300 --kernel-size 128 --groups 4 --dtype f16"; do
      # shellcheck disable=SC2086
      compute-sanitizer --tool $tool --error-exitcode 9 "$BIN/flashfftconv" conv1d --backend cuda --batch 2 \
        --repeat 1 --backward $shape >> "$OUT/${tool}_cli.log" 2>&1 || status=1
    done
    tail -3 "$OUT/${tool}_cli.log"
  done
fi

if [ "$what" = python ] || [ "$what" = all ]; then
  for kernels in auto python; do
    FLASHFFTCONV_TORCH_OPS=$kernels PYTHONPATH=python FLASHFFTCONV_LIBRARY="$BIN/libflashfftconv.so" \
      python3 -m pytest -q python/tests/test_conv1d.py > "$OUT/pytest_conv1d_$kernels.log" 2>&1 || status=1
    tail -3 "$OUT/pytest_conv1d_$kernels.log"
  done
fi

if [ "$what" = bench ] || [ "$what" = all ]; then
  PYTHONPATH=python FLASHFFTCONV_LIBRARY="$BIN/libflashfftconv.so" python3 bench/bench_conv1d.py \
    --out "$OUT/bench_conv1d.jsonl" > "$OUT/bench_conv1d.log" 2>&1 || status=1
  python3 - "$OUT/bench_conv1d.jsonl" <<'PY'
import json, sys
try:
    rows = [json.loads(l) for l in open(sys.argv[1])]
except OSError as e:
    sys.exit(f"no benchmark rows: {e}")
print(f"{'op':16} {'impl':22} {'K':>4} {'lay':3} {'G':>5} {'ms':>8} {'floor':>8} {'x':>5} {'err':>8}")
for r in rows:
    if "unavailable" in r:
        print(f"{r['op']:16} {r['impl']:22} {r['kernel_size']:4d} {r['layout']:3} {r['groups']:5d} unavailable: {r['unavailable'][:70]}")
        continue
    err = f"{r['rel_err']:8.1e}" if r.get("rel_err") is not None else "       -"
    print(f"{r['op']:16} {r['impl']:22} {r['kernel_size']:4d} {r['layout']:3} {r['groups']:5d} {r['time_ms']:8.3f} "
          f"{r['floor_ms']:8.3f} {r['time_ms'] / r['floor_ms']:5.2f} {err}")
PY
  tail -2 "$OUT/bench_conv1d.log"
fi
exit $status
