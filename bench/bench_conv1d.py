"""Benchmark of the short depthwise convolution on a CUDA GPU (JSON lines, one per measurement).

    PYTHONPATH=python FLASHFFTCONV_LIBRARY=<lib> python3 bench/bench_conv1d.py --out rows.jsonl

Rows: op conv1d_forward / conv1d_backward, impl (ours, or a peer: torch F.conv1d with groups =
cuDNN's grouped convolution, the causal-conv1d package, the original FlashFFTConv's conv1d
(monarch_cuda) when importable, NVIDIA cuDNN's cudnnCausalConv1dForward / Backward through
bench/peers/cudnn_causal_conv1d.py when libcudnn_ext.so.9 loads), kernel_size, layout, groups, dtype, B, H, L, time_ms (median of
CUDA-event timings), floor_ms (the compulsory HBM traffic at the bandwidth of a device copy measured
in the same run: forward reads x, writes y; backward reads x and dy, writes dx), rel_err (relative
L2 against float64 on the first two batch rows), gpu. A peer that cannot be imported or run gets one
row with "unavailable" and the reason.
"""

import argparse
import json
import os
import sys

import torch
import torch.nn.functional as F

from flashfftconv import depthwise_conv1d

from bench_module import time_ms  # CUDA-event median, the module benchmark's timer

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "peers"))


def copy_bandwidth(repeat):
    """Bytes per ms of a device-to-device copy (read + write) of 1 GiB."""
    a = torch.empty(1 << 29, dtype=torch.float16, device="cuda")
    b = torch.empty_like(a)
    ms = time_ms(lambda: b.copy_(a), repeat)
    return 2 * a.numel() * a.element_size() / ms


def reference(x, w, blh, causal):
    xb = (x.transpose(1, 2) if blh else x)[:2].double()
    H, K = xb.shape[1], w.shape[1]
    wf = w.double().repeat_interleave(H // w.shape[0], dim=0).unsqueeze(1)
    y = F.conv1d(F.pad(xb, (K - 1, 0)) if causal else xb, wf, None, padding=0 if causal else K // 2, groups=H)
    return y.transpose(1, 2) if blh else y


def rel_err(y, ref):
    y = y[:2].double()
    return float((y - ref).norm() / ref.norm())


def peers(x, w, blh, K):
    """(name, callable or the reason it is unavailable) for each peer of the causal forward."""
    H = x.shape[2] if blh else x.shape[1]
    wf = w.repeat_interleave(H // w.shape[0], dim=0).to(x.dtype)
    out = []
    if not blh:
        out.append(("torch_conv1d_cudnn", lambda: F.conv1d(x, wf.unsqueeze(1), None, padding=K - 1, groups=H)[..., :x.shape[2]]))
    try:
        from causal_conv1d import causal_conv1d_fn

        xi = x.transpose(1, 2) if blh else x  # a (B, D, L) view either way (channels-last when blh)
        out.append(("causal_conv1d", lambda: causal_conv1d_fn(xi, wf, None)))
    except Exception as e:  # noqa: BLE001 -- any failure to import is reported, not raised
        out.append(("causal_conv1d", f"not importable ({type(e).__name__}: {e})"))
    try:
        import monarch_cuda  # the original FlashFFTConv's extension

        out.append(("original_flashfftconv", lambda: monarch_cuda.conv1d_forward(x, wf, torch.zeros(H, device=x.device, dtype=wf.dtype), K - 1, not blh)))
    except Exception as e:  # noqa: BLE001
        out.append(("original_flashfftconv", f"not importable ({type(e).__name__}: {e})"))
    out.append(("cudnn_causal_conv1d", cudnn_forward(x, wf, blh, K)))
    return out


_CUDNN = None


def cudnn_peer():
    """The cuDNN causal conv1d binding, or the reason it is unavailable (loaded once)."""
    global _CUDNN
    if _CUDNN is None:
        try:
            from cudnn_causal_conv1d import CudnnCausalConv1d

            _CUDNN = CudnnCausalConv1d(torch, os.environ.get("CUDNN_EXT_LIB"))
        except Exception as e:  # noqa: BLE001 -- reported as the peer's reason
            _CUDNN = f"not loadable ({type(e).__name__}: {e})"
    return _CUDNN


def cudnn_args(x, wf, blh, K):
    """(cudnn, weight in cuDNN's layout, zero bias) or the reason cuDNN cannot run this case."""
    from cudnn_causal_conv1d import SUPPORTED_K

    c = cudnn_peer()
    if isinstance(c, str):
        return c
    if K not in SUPPORTED_K:
        return f"K = {K} is not among cuDNN's kernel sizes (2..8, 16, 32, 64, 128, 256)"
    w = (wf.t() if blh else wf).contiguous()
    return c, w, torch.zeros(wf.shape[0], device=x.device, dtype=x.dtype)


def cudnn_forward(x, wf, blh, K):
    a = cudnn_args(x, wf, blh, K)
    if isinstance(a, str):
        return a
    c, w, bias = a
    y = torch.empty_like(x)

    def run():
        c.forward(x, w, bias, y, blh)
        return y

    return run


def cudnn_backward(x, wf, dy, blh, K):
    a = cudnn_args(x, wf, blh, K)
    if isinstance(a, str):
        return a
    c, w, bias = a
    dx = torch.empty_like(x)
    dw = torch.empty(w.shape, device=x.device, dtype=torch.float32)
    db = torch.empty(bias.shape, device=x.device, dtype=torch.float32)
    return lambda: c.backward(x, w, bias, dy, dx, dw, db, blh)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--out", required=True)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--channels", type=int, default=2048)
    p.add_argument("--length", type=int, default=8192)
    p.add_argument("--kernel-sizes", default="2,3,4,7,16,128")
    p.add_argument("--dtype", default="bf16")
    p.add_argument("--repeat", type=int, default=30)
    p.add_argument("--no-peers", action="store_true", help="time only this package (an A/B of two builds)")
    args = p.parse_args()
    dtype = {"bf16": torch.bfloat16, "f16": torch.float16, "f32": torch.float32}[args.dtype]
    gpu = torch.cuda.get_device_name()
    bandwidth = copy_bandwidth(args.repeat)
    B, H, L = args.batch, args.channels, args.length
    elem = torch.tensor([], dtype=dtype).element_size()
    rows = []

    def emit(**row):
        row.update(dtype=args.dtype, B=B, H=H, L=L, gpu=gpu)
        rows.append(row)
        print(json.dumps(row), flush=True)

    for K in (int(k) for k in args.kernel_sizes.split(",")):
        for blh in (False, True):
            for G in sorted({H, max(1, H // 16)}, reverse=True):
                layout = "blh" if blh else "bhl"
                g = torch.Generator(device="cuda").manual_seed(K)
                shape = (B, L, H) if blh else (B, H, L)
                x = torch.randn(shape, device="cuda", generator=g).to(dtype)
                w = torch.randn(G, K, device="cuda", generator=g) / K ** 0.5
                dy = torch.randn(shape, device="cuda", generator=g).to(dtype)
                fwd = lambda: depthwise_conv1d(x, w, causal=True, is_bhl=not blh)  # noqa: E731
                err = rel_err(fwd(), reference(x, w, blh, True))
                floor = 2 * x.numel() * elem / bandwidth
                common = dict(kernel_size=K, layout=layout, groups=G)
                emit(op="conv1d_forward", impl="ours", time_ms=time_ms(fwd, args.repeat), floor_ms=floor, rel_err=err, **common)

                xg, wg = x.detach().requires_grad_(), w.detach().requires_grad_()
                y = depthwise_conv1d(xg, wg, causal=True, is_bhl=not blh)
                bwd = lambda: torch.autograd.grad(y, (xg, wg), dy, retain_graph=True)  # noqa: E731
                emit(op="conv1d_backward", impl="ours", time_ms=time_ms(bwd, args.repeat),
                     floor_ms=3 * x.numel() * elem / bandwidth, rel_err=None, **common)

                if G != H or args.no_peers:
                    continue
                bpeer = cudnn_backward(x, w.to(dtype), dy, blh, K)
                if isinstance(bpeer, str):
                    emit(op="conv1d_backward", impl="cudnn_causal_conv1d", unavailable=bpeer, **common)
                else:
                    try:
                        emit(op="conv1d_backward", impl="cudnn_causal_conv1d", time_ms=time_ms(bpeer, args.repeat),
                             floor_ms=3 * x.numel() * elem / bandwidth, rel_err=None, **common)
                    except Exception as e:  # noqa: BLE001
                        emit(op="conv1d_backward", impl="cudnn_causal_conv1d", unavailable=f"failed ({type(e).__name__}: {e})", **common)
                for name, peer in peers(x, w, blh, K):
                    if isinstance(peer, str):
                        emit(op="conv1d_forward", impl=name, unavailable=peer, **common)
                        continue
                    try:
                        emit(op="conv1d_forward", impl=name, time_ms=time_ms(peer, args.repeat), floor_ms=floor,
                             rel_err=rel_err(peer(), reference(x, w, blh, True)), **common)
                    except Exception as e:  # noqa: BLE001
                        emit(op="conv1d_forward", impl=name, unavailable=f"failed ({type(e).__name__}: {e})", **common)
                del x, dy, xg, wg, y
                torch.cuda.empty_cache()
    with open(args.out, "w") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")


if __name__ == "__main__":
    main()
