#!/usr/bin/env bash
# Builds the GPU test and benchmark binaries here (no GPU needed) for sm_90a, with static
# libstdc++/FFTW, and collects them xz-compressed in .gpu-bin/ (git-ignored) to be carried to the lent GPU.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build-gpu -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90a \
  -DFFC_PORTABLE_BINARIES=ON >/dev/null
cmake --build build-gpu -j"$(nproc)" --target test_cuda test_magnitudes test_nonfinite bench_conv flashfftconv \
  test_cuda_conv1d test_conv1d flashfftconv_cli
# The compiled torch operators (when this python3 has torch >= 2.10); they load next to the library.
cmake --build build-gpu -j"$(nproc)" --target flashfftconv_torch 2>/dev/null || true
mkdir -p .gpu-bin
rm -f .gpu-bin/*
cp build-gpu/tests/test_cuda build-gpu/tests/test_magnitudes build-gpu/tests/test_nonfinite build-gpu/bench_conv .gpu-bin/
# conv1d (scripts/gpu_conv1d.sh): its GPU and CPU suites and the program.
cp build-gpu/tests/test_cuda_conv1d build-gpu/tests/test_conv1d build-gpu/flashfftconv .gpu-bin/
cp build-gpu/libflashfftconv.so.0.1.0 .gpu-bin/libflashfftconv.so
[ -f build-gpu/libflashfftconv_torch.so ] && cp build-gpu/libflashfftconv_torch.so .gpu-bin/
# Compressed: the device tool carries at most 64 MiB (gpu_check.sh unpacks them).
strip .gpu-bin/* && xz -9 -T"$(nproc)" -f .gpu-bin/* && ls -la .gpu-bin
