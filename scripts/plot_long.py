#!/usr/bin/env python3
"""Plots time / HBM floor against N for the long sizes: this project (bench_conv JSON lines), cuDNN's
long FFT causal convolution (bench/peers/cudnn_fft_conv.py JSON lines, same run), cuFFT (the f32
pipeline in bench_conv's rows) and the original FlashFFTConv (shared/research/h100_measured.md,
another run on an H100, bf16, scaled to B x H = 64 x 768), and prints the markdown table of
docs/benchmarks.md's long-sequence section.

usage: scripts/plot_long.py bench_long.jsonl [cudnn.jsonl] --svg docs/long_sequences.svg
"""
import argparse
import json

# The original on an H100 (shared/research/h100_measured.md, bf16): (mode, N) -> (ms, floor ms) at
# B x H = 64 x 768; the ratio is what the plot compares.
ORIGINAL = {
    ("gated_causal", 65536): (90.733, 4.287), ("gated_causal", 262144): (396.498, 17.150),
    ("gated_causal", 1048576): (2052.915, 68.599), ("gated_causal", 4194304): (9926.136, 274.397),
    ("conv_causal", 65536): (90.290, 2.144), ("conv_causal", 262144): (385.978, 8.575),
    ("conv_causal", 1048576): (2009.068, 34.300), ("conv_causal", 4194304): (9611.883, 137.199),
    ("gated", 65536): (93.639, 8.575), ("gated", 262144): (454.297, 34.300),
    ("gated", 1048576): (2271.416, 137.199), ("gated", 4194304): (15861.437, 548.794),
}
# cuDNN 9.26 fft_causal_conv1d (gates in torch) in the same earlier run (h100_measured.md), used
# where no cuDNN row of the plotted run exists: (mode, N) -> (ms, floor ms).
CUDNN_OTHER_RUN = {
    ("gated_causal", 65536): (39.128, 4.287), ("gated_causal", 262144): (157.708, 17.150),
    ("gated_causal", 1048576): (645.620, 68.599), ("gated_causal", 4194304): (2997.412, 274.397),
    ("conv_causal", 65536): (32.312, 2.144), ("conv_causal", 262144): (127.457, 8.575),
    ("conv_causal", 1048576): (558.744, 34.300), ("conv_causal", 4194304): (2614.174, 137.199),
}


def load(path):
    return [json.loads(line) for line in open(path) if line.strip()] if path else []


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("ours")
    ap.add_argument("cudnn", nargs="?")
    ap.add_argument("--svg")
    a = ap.parse_args()
    rows = load(a.ours)
    cudnn = {(r["mode"], r["fft_size"]): r for r in load(a.cudnn) if r.get("cudnn_ms")}
    print("| op | mode | N | L | B x H | ms | floor ms | x floor | cuFFT ms | cuDNN ms | cuDNN / ours | err |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        c = cudnn.get((r["mode"], r["fft_size"])) if r["op"] == "forward" else None
        cd = c["cudnn_ms"] if c and c["B"] == r["B"] and c["H"] == r["H"] else None
        print(f"| {r['op']} | {r['mode']} | {r['fft_size']} | {r['L']} | {r['B']} x {r['H']} | {r['time_ms']:.3f} | "
              f"{r['floor_ms']:.3f} | {r['ratio']:.2f} | {r['cufft_ms']:.3f} | {cd if cd else '–'} | "
              f"{(cd / r['time_ms']) if cd else float('nan'):.2f} | {r['rel_err']:.1e} |")
    if not a.svg:
        return
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, mode in zip(axes, ("gated_causal", "conv_causal")):
        fwd = sorted((r for r in rows if r["op"] == "forward" and r["mode"] == mode), key=lambda r: r["fft_size"])
        bwd = sorted((r for r in rows if r["op"] == "backward" and r["mode"] == mode), key=lambda r: r["fft_size"])
        ns = [r["fft_size"] for r in fwd]
        ax.plot(ns, [r["ratio"] for r in fwd], "o-", label="ours, forward")
        ax.plot([r["fft_size"] for r in bwd], [r["ratio"] for r in bwd], "s-", label="ours, backward")
        ax.plot(ns, [r["cufft_ms"] / r["floor_ms"] for r in fwd], "^--", label="cuFFT f32 pipeline, forward")
        cd = [(r["fft_size"], cudnn[(mode, r["fft_size"])]["cudnn_ms"] / r["floor_ms"]) for r in fwd
              if (mode, r["fft_size"]) in cudnn]
        if cd:
            ax.plot(*zip(*cd), "v--", label="cuDNN fft_causal_conv1d (gates in torch)")
        else:
            other = sorted((n, t / f) for (m, n), (t, f) in CUDNN_OTHER_RUN.items() if m == mode)
            ax.plot(*zip(*other), "v:", label="cuDNN fft_causal_conv1d, gates in torch (other run)")
        orig = sorted((n, t / f) for (m, n), (t, f) in ORIGINAL.items() if m == mode)
        ax.plot(*zip(*orig), "x:", label="original FlashFFTConv (other run)")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("FFT size N (L = N / 2)")
        ax.set_ylabel("time / HBM floor")
        ax.set_title(f"{mode}, bf16, {rows[0]['gpu'] if rows else ''}")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(a.svg)


if __name__ == "__main__":
    main()
