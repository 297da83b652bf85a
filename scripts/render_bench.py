#!/usr/bin/env python3
"""Renders bench/results/*.jsonl (bench_conv output) as the markdown tables of docs/benchmarks.md.

usage: scripts/render_bench.py bench/results/h100_2026-11-25c.jsonl > docs/benchmarks.md
"""
import json
import sys

# The original FlashFFTConv on one H100 (shared/research/h100_measured.md, B=64, H=768): forward
# time in ms by (mode, dtype, N), and the gated backward (f16).
ORIGINAL = {
    ("gated", "f16"): {256: 0.245, 1024: 0.355, 4096: 1.440, 8192: 3.705, 16384: 12.657, 32768: 27.095},
    ("conv", "f16"): {256: 0.178, 1024: 0.320, 4096: 1.467, 8192: 3.309, 16384: 9.431, 32768: 22.199},
    ("gated_causal", "f16"): {256: 0.184, 1024: 0.343, 4096: 1.424, 8192: 3.490, 16384: 10.918, 32768: 25.327},
    ("gated", "bf16"): {256: 0.242, 1024: 0.608, 4096: 1.575, 16384: 17.712, 32768: 40.839},
    ("conv", "bf16"): {256: 0.148, 1024: 0.439, 4096: 1.519, 16384: 17.244, 32768: 37.767},
}
ORIGINAL_BACKWARD = {("gated", "f16"): {256: 0.452, 1024: 1.080, 4096: 4.612, 16384: 33.719, 32768: 105.951}}


def main(path):
    rows = [json.loads(line) for line in open(path) if line.strip()]
    gpu = rows[0]["gpu"] if rows else "?"
    rate = rows[0].get("copy_rate_tbs", 0) if rows else 0
    print("# Benchmarks\n")
    print(f"Measured on one {gpu} with `scripts/gpu_check.sh bench` (bench/bench_conv.cu), B = 64, H = 768.")
    print(f"Device-to-device copy in the same run: {rate:.2f} TB/s (bytes read + written); the floor is the")
    print("compulsory HBM traffic over that rate: forward 2 bytes x (u, y) or x (u, pregate, postgate, y) per")
    print("element plus the f32 filter; backward 2 bytes x 7 tensors when gated (dy, u, gates read; du,")
    print("dpregate, dpostgate written) or x 3 when plain (dy, u; du), plus the filter and dk. Times are")
    print("CUDA-event medians after warm-up, with the filter spectrum computed once (`w/ filter`: the call")
    print("with the time-domain filter, transform included). cuFFT: the same convolution in f32 through")
    print("cuFFT R2C / multiply / C2R (backward: the same gradients through cuFFT), filter spectrum cached.")
    print("Error: relative L2 against float64 (FFTW) on sampled rows; for the backward, du and the gate")
    print("gradients together and dk separately. `original`: the original FlashFFTConv on an H100 of this workplace, from")
    print("shared/research/h100_measured.md (another run; its times include its per-call filter FFT).")
    print(f"Raw data: `{path}`.\n")
    print("mode: `gated` = pregate and postgate, L = N (circular); `conv` = no gates, L = N; `_causal`: L = N/2.\n")
    for op in ("forward", "backward"):
        print(f"## {op.capitalize()}\n")
        print("| dtype | mode | N | time ms | floor ms | x floor | w/ filter ms | cuFFT ms | original ms | rel. error |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        for r in rows:
            if r["op"] != op:
                continue
            table = ORIGINAL if op == "forward" else ORIGINAL_BACKWARD
            orig = table.get((r["mode"], r["dtype"]), {}).get(r["fft_size"])
            wf = r.get("time_with_filter_ms")
            err = f"{r['rel_err']:.1e}"
            if "dk_rel_err" in r:
                err += f" (dk {r['dk_rel_err']:.1e})"
            print(f"| {r['dtype']} | {r['mode']} | {r['fft_size']} | {r['time_ms']:.3f} | {r['floor_ms']:.3f} | "
                  f"{r['ratio']:.2f} | {f'{wf:.3f}' if wf else '-'} | {r['cufft_ms']:.3f} | "
                  f"{f'{orig:.3f}' if orig else '-'} | {err} |")
        print()
    print(ANALYSIS)


# What limits each regime (profiled with Nsight Compute on the same H100; docs/design.md has the kernels).
ANALYSIS = """## What limits the figures

- **N <= 4096, forward** (one CTA per pair of rows): instruction issue, not HBM. About 17K warp
  instructions per pair against about 7K for the tensor-core and twiddle work itself; issue
  active about 46 %, 12-16 warps per SM (128 registers, up to 64 KB shared memory with both gates),
  stalls on long/short scoreboard. Gated calls come closest to the floor (1.9-2.2x) because the gates'
  traffic grows the floor while the transform work stays the same; plain and causal calls sit at
  3-9x for the same reason in reverse.
- **8K-32K, forward** (a cluster of 2-8 CTAs per pair, exchanging through distributed shared
  memory): about 1.2x the instructions per element of N = 4096 but lower IPC: four cluster
  barriers per pair (membar stalls), DSMEM latency, 12 warps per SM. The persistent grid is sized
  by the driver's cluster occupancy: sized as blocks per SM x SMs it overstated what fits in the
  GPCs for 4- and 8-CTA clusters, the surplus clusters waited for a whole resident one, and 16K /
  32K took 1.7x / 1.6x longer (10.9 / 23.3 ms gated bf16). DSMEM through 32-bit `mapa`
  addresses instead of cooperative_groups' generic pointers removed the register spills at 16K and
  32K (f16 gated 32K 15.1 -> 13.2 ms).
- **Backward** (one fused pass, `bwd_kernel.cuh` / `bwd_cluster_kernel.cuh`): twice the forward's
  transform work per pair (Z and W forward, Z K and W conj(K) inverse) over 7 tensors of traffic.
  Gated bf16: 1.9-2.0x the floor at 1024-4096, 2.4-2.7x at 8K-32K; plain 2.8-4.4x. The limiter is
  instruction issue and latency with 16 warps per SM (128 registers; the f32 dk accumulators, 32
  per thread at 4096 and in the cluster kernels, live across the loop): issue slots about 45 %
  busy, stalls on long scoreboard (table loads, spill reloads), barriers and shared memory. At
  4096 gated, per pair of rows, in warp instructions: the tensor-core stages P3 about 9.9K (1024
  HMMA, about 5K f32 twiddle, filter and dk operations), the outputs P4 about 5K, the radix /
  scale pass 3.5K, the outer stage 2.3K, the maxima 2K, the copy-out 1.9K, the staging 1.2K.
  Measured bounds: without the dk accumulation (registers and work) the kernel would be 11 %
  faster at 4096 gated and 2-7 % at 8K-32K; the staging wait is about 7 % of the 4096 kernel's
  stall samples.
  - Earlier (session 3 of 2026-11-25): 40K -> 27K instructions per pair at 4096 (staging planned
    once per iteration, one warp per row, bulk TMA copies below 4096, whole-row zero-fill cp.async
    at 4096; compile-time output modes; packed maxima; G's B fragments from its A fragments;
    spills 136-216 -> 40-56 bytes): 4096 gated 2.68 -> 1.76 ms, 32K 36.1 -> 22.3 ms.
  - Session 4 of 2026-11-25, each change measured against the previous in interleaved runs: P2 handles both
    slots' tiles per column tile with one twiddle load (half the table reads and exposed
    latencies: 3-7 % at 4096-32K); the cluster kernel's DSMEM pull issues all slot-z loads before
    the first store waits (about 1 %); the radix-RS twiddles multiply the f = 0 term by the real
    scale alone (IEEE keeps products with a zero imaginary part: 1024 gated -2 %, 32K -1 %); N =
    2048 with both gates runs an 8-warp CTA with double-buffered staging (0.97 -> 0.94 ms; plain
    launches keep four 4-warp CTAs per SM, which the 8-warp form slowed by 8 %); dk accumulates
    Z s W with four FMAs per slot (s = 1 / (s_z s_w), the separate form kept outside [2^-60,
    2^60]; spills 72 -> 44 bytes at 4096); the cluster P4 folds the output scale into its
    twiddles and derives the swizzled gate offsets per block with one XOR (32K -1-2.5 %).
    Gated bf16 8K 4.79 -> 4.49 ms, 16K 10.28 -> 9.57, 32K 22.3 -> 20.5; plain 4096 1.23 -> 1.16.
  - Tried and dropped (measured): `prefetch.global.L1` of the P2 / P3 tables one phase ahead (up
    to 10 % slower at 2048-4096); the large tables loaded through L2 only (4-6 % slower: their L1
    hits matter); the inner twiddles loaded before P2 (within noise); at 4096 the next iteration's
    post rows staged as soon as pass B frees them, to land during P2-P4 (-0.7 %, within noise);
    the dk accumulators out of registers, summed per pair into the partial spectrum with
    `red.global.add.v4.f32` (deterministic: each address is one thread's, in program order; zero
    spills, all tests and sanitizers clean) was slower: 1-2 % at 2048-4096, 4-9 % at 8K-32K;
    at 4096 a 16-warp CTA per SM with double-buffered staging (1.97 against 1.75 ms).
  Against the cuFFT f32 backward: 0.22-0.38 of its time. Against the original's gated f16
  backward: 256 0.16 vs 0.45 ms, 1024 0.57 vs 1.08, 4096 2.14 vs 4.61 (2.01-2.03 in an
  interleaved A/B run; this full run's f16 4096 figure is its noisiest), 16K 10.5 vs 33.7, 32K
  22.2 vs 106. dk comes from the tensor-core spectra (error 2.6e-5 .. 5.3e-4 against float64).
"""


if __name__ == "__main__":
    main(sys.argv[1])
