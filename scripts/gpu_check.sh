#!/usr/bin/env bash
# Runs on the lent GPU machine, over binaries from scripts/build_gpu_bins.sh (in .gpu-bin/):
#   scripts/gpu_check.sh tests            the GPU correctness suite (gtest)
#   scripts/gpu_check.sh sanitize         compute-sanitizer memcheck + racecheck on representative cases
#   scripts/gpu_check.sh python           the Python package's CUDA tests (pytest -m cuda)
#   scripts/gpu_check.sh portable         the GPU suites, racecheck and the Python CUDA tests with the
#                                         portable algorithms forced (FFC_CUDA_PATH=portable)
#   scripts/gpu_check.sh bench [args...]  the benchmark (JSON lines)
#   scripts/gpu_check.sh all              all three
# Results and logs go to $OUT (default /tmp/ffc-out); a short summary is printed last.
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.gpu-bin}
OUT=${OUT:-/tmp/ffc-out}
mkdir -p "$OUT"
# build_gpu_bins.sh compresses the binaries (xz; older sets gzip); unpack them next to the output.
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
# The compiled torch operators need the library under its soname next to them.
[ -f "$BIN/libflashfftconv_torch.so" ] && [ ! -e "$BIN/libflashfftconv.so.0" ] && cp "$BIN/libflashfftconv.so" "$BIN/libflashfftconv.so.0"
# cuFFT (benchmark baseline) from the toolkit or from a pip wheel.
for d in /usr/local/cuda/lib64 $(python3 -c 'import nvidia, os; print(" ".join(os.path.join(p, "cufft", "lib") for p in nvidia.__path__))' 2>/dev/null); do
  [ -d "$d" ] && export LD_LIBRARY_PATH="$d:${LD_LIBRARY_PATH:-}"
done
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,clocks.mem,temperature.gpu,power.draw --format=csv > "$OUT/gpu.txt" 2>&1
cat "$OUT/gpu.txt"
what=${1:-all}; shift || true
status=0
if [ "$what" = tests ] || [ "$what" = all ]; then
  for t in test_cuda test_magnitudes test_nonfinite; do
    "$BIN/$t" --gtest_output=json:"$OUT/$t.json" > "$OUT/$t.log" 2>&1 || status=1
    grep -E "^\[  (FAILED|PASSED|SKIPPED) |Failure|Expected|Which is|^\[==========\]" "$OUT/$t.log" | head -60
  done
fi
if [ "$what" = sanitize ] || [ "$what" = all ]; then
  filter='Sizes/CudaEverySize.MatchesFloat64Oracle/N256:Sizes/CudaEverySize.MatchesFloat64Oracle/N2048:Sizes/CudaEverySize.MatchesFloat64Oracle/N4096:Sizes/CudaEverySize.MatchesFloat64Oracle/N32768:CudaExecution.NonDefault*:Sizes/CudaBackwardEverySize.MatchesFloat64Reference/N1024:Sizes/CudaBackwardEverySize.MatchesFloat64Reference/N8192:CudaBackward.*'
  compute-sanitizer --tool memcheck --error-exitcode 9 "$BIN/test_cuda" --gtest_filter="$filter" > "$OUT/memcheck.log" 2>&1 || status=1
  tail -3 "$OUT/memcheck.log"
  compute-sanitizer --tool memcheck --error-exitcode 9 "$BIN/test_magnitudes" --gtest_filter='Cuda/*N256:Cuda/*N16384' > "$OUT/memcheck_magnitudes.log" 2>&1 || status=1
  tail -3 "$OUT/memcheck_magnitudes.log"
  compute-sanitizer --tool memcheck --error-exitcode 9 "$BIN/test_nonfinite" --gtest_filter='Cuda/*N4096:Cuda/*N32768' > "$OUT/memcheck_nonfinite.log" 2>&1 || status=1
  tail -3 "$OUT/memcheck_nonfinite.log"
  compute-sanitizer --tool racecheck --error-exitcode 9 "$BIN/test_cuda" --gtest_filter='Sizes/CudaEverySize.MatchesFloat64Oracle/N512:Sizes/CudaEverySize.MatchesFloat64Oracle/N8192:Sizes/CudaEverySize.MatchesFloat64Oracle/N32768:Sizes/CudaBackwardEverySize.MatchesFloat64Reference/N256:Sizes/CudaBackwardEverySize.MatchesFloat64Reference/N2048:Sizes/CudaBackwardEverySize.MatchesFloat64Reference/N4096:Sizes/CudaBackwardEverySize.MatchesFloat64Reference/N16384' > "$OUT/racecheck.log" 2>&1 || status=1
  tail -3 "$OUT/racecheck.log"
fi
if [ "$what" = python ] || [ "$what" = all ]; then
  # The Python package's CUDA tests against the library in $BIN (torch is in the device image).
  # Both kernel sets: the compiled operators (when built) and the Python ones.
  for kernels in auto python; do
    FLASHFFTCONV_TORCH_OPS=$kernels PYTHONPATH=python FLASHFFTCONV_LIBRARY="$BIN/libflashfftconv.so" \
      python3 -m pytest -q -m cuda python/tests > "$OUT/pytest_cuda_$kernels.log" 2>&1 || status=1
    tail -5 "$OUT/pytest_cuda_$kernels.log"
  done
fi
if [ "$what" = portable ]; then
  for t in test_cuda test_magnitudes test_nonfinite; do
    filter='Cuda*:Sizes/*'; [ $t = test_cuda ] && filter='*'
    FFC_CUDA_PATH=portable "$BIN/$t" --gtest_filter="$filter" > "$OUT/portable_$t.log" 2>&1 || status=1
    grep -E "^\[  (FAILED|PASSED|SKIPPED) |Failure|^\[==========\]" "$OUT/portable_$t.log" | head -20
  done
  filter='Sizes/CudaEverySize.MatchesFloat64Oracle/N256:Sizes/CudaEverySize.MatchesFloat64Oracle/N1024:Sizes/CudaEverySize.MatchesFloat64Oracle/N8192:Sizes/CudaBackwardEverySize.MatchesFloat64Reference/N512:Sizes/CudaBackwardEverySize.MatchesFloat64Reference/N2048:Sizes/CudaBackwardEverySize.MatchesFloat64Reference/N16384'
  FFC_CUDA_PATH=portable compute-sanitizer --tool memcheck --error-exitcode 9 "$BIN/test_cuda" --gtest_filter="$filter" > "$OUT/memcheck_portable.log" 2>&1 || status=1
  tail -2 "$OUT/memcheck_portable.log"
  FFC_CUDA_PATH=portable compute-sanitizer --tool racecheck --error-exitcode 9 "$BIN/test_cuda" --gtest_filter="$filter" > "$OUT/racecheck_portable.log" 2>&1 || status=1
  tail -2 "$OUT/racecheck_portable.log"
  FFC_CUDA_PATH=portable PYTHONPATH=python FLASHFFTCONV_LIBRARY="$BIN/libflashfftconv.so" python3 -m pytest -q -m cuda \
    python/tests > "$OUT/pytest_portable.log" 2>&1 || status=1
  tail -3 "$OUT/pytest_portable.log"
fi
if [ "$what" = bench ] || [ "$what" = all ]; then
  "$BIN/bench_conv" --out "$OUT/bench.jsonl" "$@" > "$OUT/bench.log" 2>&1 || status=1
  python3 - "$OUT/bench.jsonl" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])] if len(sys.argv) > 1 else []
print(f"{'op':8} {'dtype':5} {'mode':13} {'N':>6} {'ms':>8} {'floor':>8} {'x':>5} {'w/filt':>8} {'cufft':>8} {'err':>8}")
for r in rows:
    print(f"{r['op']:8} {r['dtype']:5} {r['mode']:13} {r['fft_size']:6d} {r['time_ms']:8.3f} {r['floor_ms']:8.3f} {r['ratio']:5.2f} {r.get('time_with_filter_ms', -1):8.3f} {r['cufft_ms']:8.3f} {r['rel_err']:8.1e}")
PY
  tail -2 "$OUT/bench.log"
fi
exit $status
