#!/usr/bin/env python3
"""The convolution through the module API that models call (FlashFFTConv(N, dtype)(u, k, pre, post)),
next to torch.fft and, when importable, the original flashfftconv and cuDNN's FFT causal conv.

Two kinds of JSON lines (one per row, appended to --out):

  op "host_overhead": per-call wall time of tiny calls (B = 1, H = 8, N = 256, L = N / 2, Lk = L,
     gated), where the GPU work is negligible and the host path is what is measured: 500 calls after
     50 warm-up calls, synchronized before and after, us_per_call = wall / 500. pass "forward" (no
     grad) or "fwdbwd" (autograd: y = conv(...), y.backward(dy), every input requiring grad).
     Fields: impl (ours, original; torch_mul, one elementwise torch op, and torch_fft, the fp32
     torch.fft conv, as the machine's floor), kernels (ours: compiled or python), pass,
     us_per_call, fft_size, dtype, gpu.

  op "module_forward" / "module_fwdbwd": CUDA-event time (median of --repeat after 2 warm-ups) of
     one call (forward; or forward + backward of all inputs) at B x H (default 64 x 768), for impl
     ours, torch (fp32 torch.fft: y = post * irfft(rfft(pre * u) rfft(k))[:L], cast back) and the
     original when importable (as flashfftconv_original; a row with its reason when not). cuDNN's
     causal forward is measured by bench/peers/cudnn_fft_conv.py in the same run. mode causal (L = N / 2, Lk = L)
     or circular (L = Lk = N); gated or plain. floor_ms: the bytes that must move over the copy rate
     measured in this run (forward: u, the gates and y, 2 bytes each; forward + backward: the
     forward's plus the backward's reads of dy, u, the gates and writes of du, dgates), rel_err: of
     ours against float64 torch.fft over sampled rows (forward output).

  python3 bench/bench_module.py [--sizes 256,1024,4096,32768] [--dtypes bf16,f16] [--batch 64]
      [--heads 768] [--repeat 10] [--host-only] [--no-torch] [--out bench/results/x.jsonl]

Run it from a checkout with PYTHONPATH=python FLASHFFTCONV_LIBRARY=build/libflashfftconv.so, or
with the installed package. FLASHFFTCONV_TORCH_OPS=python measures the Python kernels instead of the
compiled ones.
"""
import argparse
import json
import statistics
import sys
import time

import torch

import flashfftconv
from flashfftconv import FlashFFTConv

DTYPES = {"bf16": torch.bfloat16, "f16": torch.float16}


def emit(out, row):
    line = json.dumps(row)
    print(line, flush=True)
    if out:
        with open(out, "a") as f:
            f.write(line + "\n")


def gpu_name():
    return torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu"


def copy_rate_tbs():
    """Device-to-device copy rate (read + write bytes per second), TB/s."""
    n = 1 << 29
    a = torch.empty(n, dtype=torch.uint8, device="cuda")
    b = torch.empty_like(a)
    t = time_ms(lambda: b.copy_(a), repeat=10)
    return 2 * n / (t * 1e-3) / 1e12


def time_ms(fn, repeat, warmup=2):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeat):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times)


def original_module():
    """The original's FlashFFTConv class when its package (with the monarch_cuda extension) imports."""
    try:
        import importlib
        mod = importlib.import_module("flashfftconv_original")
        return mod.FlashFFTConv, None
    except Exception as e:  # noqa: BLE001 (any import failure means "not present")
        return None, f"not importable ({type(e).__name__}: {e})"


def inputs(B, H, L, Lk, dtype, grad=False, seed=0):
    g = torch.Generator(device="cuda").manual_seed(seed)
    u = torch.randn(B, H, L, device="cuda", generator=g).to(dtype)
    k = (torch.randn(H, Lk, device="cuda", generator=g) * torch.exp(-torch.arange(Lk, device="cuda") / (Lk / 8))) / 4
    pre = torch.randn(B, H, L, device="cuda", generator=g).to(dtype)
    post = torch.randn(B, H, L, device="cuda", generator=g).to(dtype)
    for t in (u, k, pre, post):
        t.requires_grad_(grad)
    return u, k, pre, post


# ---- host overhead -------------------------------------------------------------------------------
def host_overhead(out, dtype_name, calls=500):
    dtype = DTYPES[dtype_name]
    N, B, H = 256, 1, 8
    L = N // 2
    rows = []
    impls = [("ours", FlashFFTConv)]
    original, _ = original_module()
    if original is not None:
        impls.append(("original", original))
    # The machine's floor for context: one elementwise torch op, and torch.fft's fp32 conv (5 ops).
    impls += [("torch_mul", lambda n, dtype: (lambda u, k, pre, post: u * pre)),
              ("torch_fft", lambda n, dtype: (lambda u, k, pre, post: torch_fft_conv(u, k, n, pre, post)))]
    for impl, cls in impls:
        conv = cls(N, dtype=dtype).cuda() if impl == "original" else cls(N, dtype=dtype)
        for pass_ in ("forward", "fwdbwd"):
            u, k, pre, post = inputs(B, H, L, L, dtype, grad=pass_ == "fwdbwd")
            dy = torch.randn(B, H, L, device="cuda").to(dtype)

            def call():
                if pass_ == "forward":
                    with torch.no_grad():
                        conv(u, k, pre, post)
                else:
                    conv(u, k, pre, post).backward(dy)

            for _ in range(50):
                call()
            torch.cuda.synchronize()
            start = time.perf_counter()
            for _ in range(calls):
                call()
            torch.cuda.synchronize()
            us = (time.perf_counter() - start) / calls * 1e6
            row = {"op": "host_overhead", "impl": impl, "pass": pass_, "us_per_call": round(us, 2),
                   "fft_size": N, "B": B, "H": H, "dtype": dtype_name, "gated": True, "gpu": gpu_name()}
            if impl == "ours":
                row["kernels"] = flashfftconv.ops.kernels()[0]
            emit(out, row)
            rows.append(row)
    return rows


# ---- the module rows -----------------------------------------------------------------------------
def torch_fft_conv(u, k, N, pre, post):
    L = u.shape[-1]
    x = u.float() if pre is None else u.float() * pre.float()
    y = torch.fft.irfft(torch.fft.rfft(x, n=N) * torch.fft.rfft(k.float(), n=N), n=N)[..., :L]
    if post is not None:
        y = y * post.float()
    return y.to(u.dtype)


def rel_err(y, u, k, N, pre, post, count=4):
    B, H, _ = u.shape
    rows = {(0, 0), (B - 1, H - 1), (B // 2, H // 2), (0, H - 1)}
    worst = 0.0
    for b, h in list(rows)[:count]:
        args = [t[b:b + 1, h:h + 1].detach() if t is not None else None for t in (u, pre, post)]
        ref = flashfftconv.reference.fftconv_ref(args[0], k[h:h + 1].detach(), N, args[1], args[2])
        got = y[b:b + 1, h:h + 1].detach().double()
        if not torch.isfinite(got).all():
            return float("nan")
        worst = max(worst, (torch.linalg.vector_norm(got - ref) / torch.linalg.vector_norm(ref)).item())
    return worst


def module_rows(out, sizes, dtype_name, B, H, repeat, with_torch, rate):
    dtype = DTYPES[dtype_name]
    original, original_reason = original_module()
    for N in sizes:
        for mode in ("causal", "circular"):
            L = N // 2 if mode == "causal" else N
            for gated in (True, False):
                for pass_ in ("forward", "fwdbwd"):
                    grad = pass_ == "fwdbwd"
                    u, k, pre, post = inputs(B, H, L, L, dtype, grad=grad)
                    if not gated:
                        pre = post = None
                    dy = torch.randn(B, H, L, device="cuda").to(dtype)
                    elems = B * H * L
                    fwd_bytes = elems * 2 * (4 if gated else 2)
                    bwd_bytes = elems * 2 * (7 if gated else 3)  # dy, u, gates, y-side reads; du, dgates
                    floor = (fwd_bytes + (bwd_bytes if grad else 0)) / (rate * 1e12) * 1e3
                    base = {"op": "module_" + pass_, "mode": mode, "dtype": dtype_name, "gated": gated,
                            "fft_size": N, "L": L, "B": B, "H": H, "floor_ms": round(floor, 4),
                            "copy_rate_tbs": round(rate, 3), "gpu": gpu_name()}
                    impls = [("ours", FlashFFTConv(N, dtype=dtype))]
                    if with_torch:
                        impls.append(("torch", None))
                    if original is not None:
                        impls.append(("original", original(N, dtype=dtype).cuda()))
                    for impl, conv in impls:
                        def run():
                            y = torch_fft_conv(u, k, N, pre, post) if conv is None else conv(u, k, pre, post)
                            if grad:
                                y.backward(dy)
                            return y
                        row = dict(base, impl=impl)
                        try:
                            with torch.set_grad_enabled(grad):
                                row["time_ms"] = round(time_ms(run, repeat), 4)
                                if impl == "ours":
                                    row["kernels"] = flashfftconv.ops.kernels()[0]
                                    with torch.no_grad():
                                        row["rel_err"] = float("%.3e" % rel_err(conv(u, k, pre, post), u, k, N, pre, post))
                            row["ratio"] = round(row["time_ms"] / floor, 3)
                        except torch.OutOfMemoryError:
                            row["time_ms"], row["reason"] = None, "out of memory"
                            torch.cuda.empty_cache()
                        emit(out, row)
                        for t in (u, k, pre, post):
                            if t is not None:
                                t.grad = None
                    del u, k, pre, post, dy
                    torch.cuda.empty_cache()
    if original is None:
        emit(out, {"op": "module_forward", "impl": "original", "time_ms": None, "reason": original_reason,
                   "gpu": gpu_name()})


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="256,512,1024,2048,4096,8192,16384,32768")
    ap.add_argument("--dtypes", default="bf16,f16")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--heads", type=int, default=768)
    ap.add_argument("--repeat", type=int, default=10)
    ap.add_argument("--host-only", action="store_true", help="only the host_overhead rows")
    ap.add_argument("--no-torch", action="store_true", help="leave out the torch.fft rows")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    if not torch.cuda.is_available():
        sys.exit("bench_module: needs a CUDA device")
    for name in args.dtypes.split(","):
        host_overhead(args.out, name)
    if args.host_only:
        return
    rate = copy_rate_tbs()
    sizes = [int(s) for s in args.sizes.split(",")]
    for name in args.dtypes.split(","):
        module_rows(args.out, sizes, name, args.batch, args.heads, args.repeat, not args.no_torch, rate)


if __name__ == "__main__":
    main()
