#!/usr/bin/env python3
"""Renders bench/results/*.jsonl (bench_conv output) as the markdown tables of docs/benchmarks.md.

usage: scripts/render_bench.py bench/results/h100_2026-11-25.jsonl > docs/benchmarks.md
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
    print("element plus the f32 filter; backward 2 bytes x 7 tensors (dy, u, gates read; du, dpregate,")
    print("dpostgate written) plus the filter and dk. Times are CUDA-event medians after warm-up, with the")
    print("filter spectrum computed once (`w/ filter`: the call with the time-domain filter, transform")
    print("included). cuFFT: the same convolution in f32 through cuFFT R2C / multiply / C2R (backward: the")
    print("four gradients through cuFFT), filter spectrum cached. Error: relative L2 against float64 (FFTW)")
    print("on sampled rows. `original`: the original FlashFFTConv on an H100 of this workplace, from")
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


if __name__ == "__main__":
    main(sys.argv[1])
