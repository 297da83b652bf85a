#!/usr/bin/env python3
"""Forward benchmark of NVIDIA cuDNN's subquadratic FFT causal convolution (libcudnn_ext.so.9,
cuDNN >= 9.26), for comparison with bench/bench_conv.cu.

What cuDNN computes (cudnn_subquadratic_ops.h, cuDNN 9.26.0):

  cudnnLongFFTCausalConv1dForward(stream, x, weight, y, batch, dim, seqLen, kernelSize, dataType,
                                  workspace, workspaceBytes, reserveSpace, reserveSpaceBytes)
    x, y: (batch, dim, seqLen) contiguous; weight: (dim, kernelSize) contiguous, shared over batch;
    y[b,h,t] = sum_{j=0}^{kernelSize-1} x[b,h,t-j] * weight[h,j]   (x[t-j] = 0 for t < j)
    i.e. exactly irfft(rfft(x, 2L) * rfft(k, 2L))[:L] (no filter flip). Requires
    kernelSize == seqLen, a power of two in [4096, 16777216] (16M needs sm_90+). It zero-pads to
    FFT length 2*seqLen. Workspace / reserve-space sizes come from
    cudnnLongFFTCausalConv1dGetBufferSizes(batch, dim, seqLen, kernelSize, dataType, &ws, &rs)
    (host-only); the forward writes the signal/filter spectra into reserveSpace (for backward).

  cudnnFFTCausalConv1dForward(stream, x, weight, y, batch, dim, seqLen, kernelSize, dataType)
    ("medium" path) same formula, kernelSize a power of two in [128, 16384] (16384 needs sm_90+),
    seqLen a multiple of kernelSize, no workspace.

So for an FFT size N of the project (causal mode: input length L = N/2, filter length L) this
script passes seqLen = kernelSize = L = N/2 and cuDNN's internal FFT length is 2L = N.
--api auto uses the long path when 4096 <= L <= 16M and the medium path when 128 <= L <= 16384
otherwise. The filter k is in the I/O dtype (cuDNN takes x, weight, y in one dataType), whereas
bench_conv.cu keeps k in f32; the float64 reference uses the rounded k, u, gates.

No cuDNN handle is needed: the functions take a cudaStream_t (we pass
torch.cuda.current_stream().cuda_stream). libcudnn_ext.so.9 links no CUDA library (static cudart);
at run time it dlopens libcuda.so.1 and libnvrtc.so.<cudart major> (its RUNPATH, CUDA_HOME /
CUDA_PATH / CUDA_ROOT, or the loader path) and JIT-compiles its kernels with NVRTC (>= 12.4) against
CUDA toolkit headers (cooperative_groups.h, cuda/std/..., found via CUDA_HOME / CUDA_PATH /
CUDA_ROOT, then /usr/local/cuda, /opt/cuda, /usr/local/cuda-*). The first call per shape therefore
includes JIT compilation: it is reported separately as first_call_ms and is excluded by warm-up.

Timing: CUDA events on the current stream around each call, 2 warm-up calls, median of --repeat.
  conv_causal : y = causal_conv(u, k)                          (one cuDNN call)
  gated_causal: y = post * causal_conv(pre * u, k)             (torch.mul, cuDNN call, torch.mul;
                                                                preallocated outputs)
rel_err: relative L2 error over --rows sampled (b, h) rows against torch.fft in float64 computed
from the same (rounded) inputs (gated: float64 post * conv(pre * u, k), so the bf16 rounding of the
intermediate pre*u and of the conv output is part of the error, as in a torch-glued pipeline).

One JSON line per (N, mode). A size or library cuDNN rejects gives cudnn_ms null and a "reason".

  python3 bench/peers/cudnn_fft_conv.py --lib /path/libcudnn_ext.so.9 \
      [--sizes 65536,262144,1048576,4194304] [--batch 4] [--heads 32] [--dtype bf16|f16|f32]
      [--repeat 10] [--rows 3] [--api auto|long|medium] [--cuda-home DIR] [--out file.jsonl]
"""
import argparse
import atexit
import ctypes
import glob
import json
import lzma
import os
import shutil
import statistics
import sys
import tempfile

CUDNN_DATA = {"f32": 0, "f64": 1, "f16": 2, "bf16": 9}

STATUS_NAMES = {
    0: "CUDNN_STATUS_SUCCESS",
    1001: "CUDNN_STATUS_NOT_INITIALIZED",
    1002: "CUDNN_STATUS_SUBLIBRARY_VERSION_MISMATCH",
    1003: "CUDNN_STATUS_SERIALIZATION_VERSION_MISMATCH",
    1004: "CUDNN_STATUS_DEPRECATED",
    1005: "CUDNN_STATUS_LICENSE_ERROR",
    1006: "CUDNN_STATUS_RUNTIME_IN_PROGRESS",
    1007: "CUDNN_STATUS_RUNTIME_FP_OVERFLOW",
    1008: "CUDNN_STATUS_SUBLIBRARY_LOADING_FAILED",
    2000: "CUDNN_STATUS_BAD_PARAM",
    2001: "CUDNN_STATUS_INVALID_VALUE",
    2002: "CUDNN_STATUS_BAD_PARAM_NULL_POINTER",
    2003: "CUDNN_STATUS_BAD_PARAM_MISALIGNED_POINTER",
    2004: "CUDNN_STATUS_BAD_PARAM_NOT_FINALIZED",
    2005: "CUDNN_STATUS_BAD_PARAM_OUT_OF_BOUND",
    2006: "CUDNN_STATUS_BAD_PARAM_SIZE_INSUFFICIENT",
    2007: "CUDNN_STATUS_BAD_PARAM_STREAM_MISMATCH",
    2008: "CUDNN_STATUS_BAD_PARAM_SHAPE_MISMATCH",
    2009: "CUDNN_STATUS_BAD_PARAM_DUPLICATED_ENTRIES",
    2010: "CUDNN_STATUS_BAD_PARAM_ATTRIBUTE_TYPE",
    2011: "CUDNN_STATUS_BAD_PARAM_CUDA_GRAPH_MISMATCH",
    2012: "CUDNN_STATUS_BAD_PARAM_DESCRIPTOR_TYPE",
    3000: "CUDNN_STATUS_NOT_SUPPORTED",
    3001: "CUDNN_STATUS_NOT_SUPPORTED_GRAPH_PATTERN",
    3002: "CUDNN_STATUS_NOT_SUPPORTED_SHAPE",
    3003: "CUDNN_STATUS_NOT_SUPPORTED_DATA_TYPE",
    3004: "CUDNN_STATUS_NOT_SUPPORTED_LAYOUT",
    3005: "CUDNN_STATUS_NOT_SUPPORTED_INCOMPATIBLE_CUDA_DRIVER",
    3006: "CUDNN_STATUS_NOT_SUPPORTED_INCOMPATIBLE_CUDART",
    3007: "CUDNN_STATUS_NOT_SUPPORTED_ARCH_MISMATCH",
    3008: "CUDNN_STATUS_NOT_SUPPORTED_RUNTIME_PREREQUISITE_MISSING",
    3009: "CUDNN_STATUS_NOT_SUPPORTED_SUBLIBRARY_UNAVAILABLE",
    3010: "CUDNN_STATUS_NOT_SUPPORTED_SHARED_MEMORY_INSUFFICIENT",
    3011: "CUDNN_STATUS_NOT_SUPPORTED_PADDING",
    3012: "CUDNN_STATUS_NOT_SUPPORTED_BAD_LAUNCH_PARAM",
    3013: "CUDNN_STATUS_NOT_SUPPORTED_CUDA_GRAPH_NATIVE_API",
    3014: "CUDNN_STATUS_NOT_SUPPORTED_INVALID_DYNAMIC_SHAPE",
    4000: "CUDNN_STATUS_INTERNAL_ERROR",
    4001: "CUDNN_STATUS_INTERNAL_ERROR_COMPILATION_FAILED",
    4002: "CUDNN_STATUS_INTERNAL_ERROR_UNEXPECTED_VALUE",
    4003: "CUDNN_STATUS_INTERNAL_ERROR_HOST_ALLOCATION_FAILED",
    4004: "CUDNN_STATUS_INTERNAL_ERROR_DEVICE_ALLOCATION_FAILED",
    4005: "CUDNN_STATUS_INTERNAL_ERROR_BAD_LAUNCH_PARAM",
    4006: "CUDNN_STATUS_INTERNAL_ERROR_TEXTURE_CREATION_FAILED",
    5000: "CUDNN_STATUS_EXECUTION_FAILED",
    5001: "CUDNN_STATUS_EXECUTION_FAILED_CUDA_DRIVER",
    5002: "CUDNN_STATUS_EXECUTION_FAILED_CUBLAS",
    5003: "CUDNN_STATUS_EXECUTION_FAILED_CUDART",
    5004: "CUDNN_STATUS_EXECUTION_FAILED_CURAND",
}

LONG_MIN, LONG_MAX = 4096, 1 << 24
MEDIUM_MIN, MEDIUM_MAX = 128, 16384

_OUT = None


def emit(obj):
    line = json.dumps(obj)
    print(line, flush=True)
    if _OUT is not None:
        with open(_OUT, "a") as f:
            f.write(line + "\n")


class CudnnError(RuntimeError):
    pass


def status_text(fn, code):
    return "%s returned %d (%s)" % (fn, code, STATUS_NAMES.get(code, "unknown status"))


def repo_root():
    return os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))


def candidate_libs(explicit):
    """--lib, then $CUDNN_EXT_LIB, then a pip nvidia-cudnn-cu1x install, then the repo's
    .gpu-bin-base/cudnn/libcudnn_ext.so.9[.xz]."""
    if explicit:
        return [explicit]
    out = []
    if os.environ.get("CUDNN_EXT_LIB"):
        out.append(os.environ["CUDNN_EXT_LIB"])
    for p in sys.path:
        f = os.path.join(p, "nvidia", "cudnn", "lib", "libcudnn_ext.so.9")
        if os.path.isfile(f):
            out.append(f)
    base = os.path.join(repo_root(), ".gpu-bin-base", "cudnn")
    out += [os.path.join(base, "libcudnn_ext.so.9"), os.path.join(base, "libcudnn_ext.so.9.xz")]
    return out


def load_library(explicit):
    errors = []
    for path in candidate_libs(explicit):
        if not os.path.isfile(path):
            errors.append("%s: not found" % path)
            continue
        real = path
        if path.endswith(".xz"):
            try:
                d = tempfile.mkdtemp(prefix="cudnn_ext_")
                atexit.register(shutil.rmtree, d, True)
                real = os.path.join(d, "libcudnn_ext.so.9")
                with lzma.open(path) as src, open(real, "wb") as dst:
                    dst.write(src.read())
            except Exception as e:  # noqa: BLE001
                errors.append("%s: decompress failed: %s" % (path, e))
                continue
        try:
            lib = ctypes.CDLL(real, mode=ctypes.RTLD_GLOBAL)
        except OSError as e:
            errors.append("%s: dlopen failed: %s" % (path, e))
            continue
        missing = [s for s in ("cudnnLongFFTCausalConv1dGetBufferSizes", "cudnnLongFFTCausalConv1dForward",
                               "cudnnFFTCausalConv1dForward") if not hasattr(lib, s)]
        if missing:
            errors.append("%s: missing symbols %s (cuDNN >= 9.26 needed)" % (path, ",".join(missing)))
            continue
        return lib, path, errors
    return None, None, errors


def bind(lib):
    c_int, c_size, vp = ctypes.c_int, ctypes.c_size_t, ctypes.c_void_p
    f = lib.cudnnLongFFTCausalConv1dGetBufferSizes
    f.restype = c_int
    f.argtypes = [c_int, c_int, c_int, c_int, c_int, ctypes.POINTER(c_size), ctypes.POINTER(c_size)]
    f = lib.cudnnLongFFTCausalConv1dForward
    f.restype = c_int
    f.argtypes = [vp, vp, vp, vp, c_int, c_int, c_int, c_int, c_int, vp, c_size, vp, c_size]
    f = lib.cudnnFFTCausalConv1dForward
    f.restype = c_int
    f.argtypes = [vp, vp, vp, vp, c_int, c_int, c_int, c_int, c_int]
    if hasattr(lib, "cudnnSubquadraticOpsVersionCheck"):
        lib.cudnnSubquadraticOpsVersionCheck.restype = c_int
        lib.cudnnSubquadraticOpsVersionCheck.argtypes = []


def pick_api(api, L):
    if api == "long" or (api == "auto" and LONG_MIN <= L <= LONG_MAX):
        return "long"
    if api == "medium" or (api == "auto" and MEDIUM_MIN <= L <= MEDIUM_MAX):
        return "medium"
    return "long"  # out of both ranges: let cuDNN reject it (reported as reason)


class CudnnConv:
    """Causal conv of x (B, H, L) with k (H, L) through one cuDNN entry point."""

    def __init__(self, torch, lib, api, B, H, L, dtype_code):
        self.torch, self.lib, self.api = torch, lib, api
        self.B, self.H, self.L, self.code = B, H, L, dtype_code
        self.ws = self.rs = None
        self.ws_bytes = self.rs_bytes = 0
        if api == "long":
            ws, rs = ctypes.c_size_t(0), ctypes.c_size_t(0)
            st = lib.cudnnLongFFTCausalConv1dGetBufferSizes(B, H, L, L, dtype_code, ctypes.byref(ws), ctypes.byref(rs))
            if st != 0:
                raise CudnnError(status_text("cudnnLongFFTCausalConv1dGetBufferSizes", st))
            self.ws_bytes, self.rs_bytes = ws.value, rs.value
            # torch allocations are >= 256-byte aligned (cuDNN needs 16).
            self.ws = torch.empty(max(self.ws_bytes, 16), dtype=torch.uint8, device="cuda")
            self.rs = torch.empty(max(self.rs_bytes, 16), dtype=torch.uint8, device="cuda")

    def __call__(self, x, k, y):
        stream = ctypes.c_void_p(self.torch.cuda.current_stream().cuda_stream)
        if self.api == "long":
            st = self.lib.cudnnLongFFTCausalConv1dForward(
                stream, ctypes.c_void_p(x.data_ptr()), ctypes.c_void_p(k.data_ptr()), ctypes.c_void_p(y.data_ptr()),
                self.B, self.H, self.L, self.L, self.code,
                ctypes.c_void_p(self.ws.data_ptr()), ctypes.c_size_t(self.ws_bytes),
                ctypes.c_void_p(self.rs.data_ptr()), ctypes.c_size_t(self.rs_bytes))
            if st != 0:
                raise CudnnError(status_text("cudnnLongFFTCausalConv1dForward", st))
        else:
            st = self.lib.cudnnFFTCausalConv1dForward(
                stream, ctypes.c_void_p(x.data_ptr()), ctypes.c_void_p(k.data_ptr()), ctypes.c_void_p(y.data_ptr()),
                self.B, self.H, self.L, self.L, self.code)
            if st != 0:
                raise CudnnError(status_text("cudnnFFTCausalConv1dForward", st))


def time_ms(torch, fn, repeat, warmup=2):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeat):
        a = torch.cuda.Event(enable_timing=True)
        b = torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        b.synchronize()
        times.append(a.elapsed_time(b))
    return statistics.median(times)


def sample_rows(B, H, count):
    rows = [(0, 0), (B - 1, H - 1), (B // 2, H // 2), (0, H - 1), (B - 1, 0)]
    seen, out = set(), []
    for r in rows:
        if r not in seen:
            seen.add(r)
            out.append(r)
    return out[:max(1, count)]


def rel_err(torch, y, u, k, pre, post, rows):
    """max over rows of ||y - ref|| / ||ref||, ref in float64 via torch.fft (FFT length 2L)."""
    L = u.shape[-1]
    worst = 0.0
    for b, h in rows:
        x = u[b, h].double()
        if pre is not None:
            x = x * pre[b, h].double()
        ref = torch.fft.irfft(torch.fft.rfft(x, n=2 * L) * torch.fft.rfft(k[h].double(), n=2 * L), n=2 * L)[:L]
        if post is not None:
            ref = ref * post[b, h].double()
        got = y[b, h].double()
        if not torch.isfinite(got).all():
            return float("nan")
        e = (torch.linalg.vector_norm(got - ref) / torch.linalg.vector_norm(ref)).item()
        worst = max(worst, e)
    return worst


def main():
    global _OUT
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lib", default=None, help="path to libcudnn_ext.so.9 (or .xz); default $CUDNN_EXT_LIB, "
                    "then pip nvidia/cudnn/lib, then .gpu-bin-base/cudnn/")
    ap.add_argument("--sizes", default="65536,262144,1048576,4194304", help="FFT sizes N (L = N/2)")
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--heads", type=int, default=32)
    ap.add_argument("--dtype", default="bf16", choices=["bf16", "f16", "f32"])
    ap.add_argument("--repeat", type=int, default=10)
    ap.add_argument("--rows", type=int, default=3, help="sampled (b, h) rows for rel_err")
    ap.add_argument("--modes", default="conv_causal,gated_causal")
    ap.add_argument("--api", default="auto", choices=["auto", "long", "medium"])
    ap.add_argument("--cuda-home", default=None, help="sets CUDA_HOME (NVRTC headers / libnvrtc) before loading")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None, help="also append the JSON lines to this file")
    args = ap.parse_args()
    _OUT = args.out
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    B, H = args.batch, args.heads

    def base(n, mode):
        return {"op": "forward", "mode": mode, "dtype": args.dtype, "gated": mode == "gated_causal",
                "fft_size": n, "L": n // 2, "B": B, "H": H, "peer": "cudnn"}

    def fail_all(reason, gpu=None):
        for n in sizes:
            for mode in modes:
                emit(dict(base(n, mode), cudnn_ms=None, rel_err=None, gpu=gpu, reason=reason))

    if args.cuda_home:
        os.environ["CUDA_HOME"] = args.cuda_home  # read by libcudnn_ext via getenv at JIT time

    try:
        import torch
    except Exception as e:  # noqa: BLE001
        fail_all("torch import failed: %s" % e)
        return 0
    gpu = None
    if not torch.cuda.is_available():
        fail_all("no CUDA device visible to torch")
        return 0
    gpu = torch.cuda.get_device_name()
    torch.cuda.init()

    lib, lib_path, load_errors = load_library(args.lib)
    if lib is None:
        fail_all("cannot load libcudnn_ext.so.9: " + "; ".join(load_errors), gpu)
        return 0
    try:
        bind(lib)
    except Exception as e:  # noqa: BLE001
        fail_all("binding failed: %s" % e, gpu)
        return 0
    version_status = None
    if hasattr(lib, "cudnnSubquadraticOpsVersionCheck"):
        version_status = lib.cudnnSubquadraticOpsVersionCheck()
    cuda_home = next((os.environ[v] for v in ("CUDA_HOME", "CUDA_PATH", "CUDA_ROOT") if os.environ.get(v)), None)
    if cuda_home is None:
        found = [d for d in ["/usr/local/cuda", "/opt/cuda"] + sorted(glob.glob("/usr/local/cuda-*")) if os.path.isdir(d)]
        cuda_home = ("(default) " + found[0]) if found else "(none found: NVRTC headers may be missing)"
    common = {"gpu": gpu, "lib": lib_path, "version_check": version_status, "cuda_home": cuda_home}

    dt = {"bf16": torch.bfloat16, "f16": torch.float16, "f32": torch.float32}[args.dtype]
    code = CUDNN_DATA[args.dtype]
    gen = torch.Generator(device="cuda")
    for n in sizes:
        L = n // 2
        api = pick_api(args.api, L)
        tensors = None
        conv = None
        setup_reason = None
        try:
            if n % 2 or L <= 0:
                raise CudnnError("fft_size must be even and positive")
            gen.manual_seed(args.seed + n)
            u = torch.randn((B, H, L), generator=gen, device="cuda", dtype=torch.float32).to(dt)
            k = (torch.randn((H, L), generator=gen, device="cuda", dtype=torch.float32) / (L ** 0.5)).to(dt)
            y = torch.empty_like(u)
            tensors = (u, k, y)
            conv = CudnnConv(torch, lib, api, B, H, L, code)
        except CudnnError as e:
            setup_reason = str(e)
        except torch.cuda.OutOfMemoryError as e:
            setup_reason = "out of memory: %s" % str(e).split("\n")[0]
        except Exception as e:  # noqa: BLE001
            setup_reason = "%s: %s" % (type(e).__name__, str(e).split("\n")[0])
        for mode in modes:
            row = dict(base(n, mode), api=api, **common)
            if conv is not None:
                row["workspace_bytes"] = conv.ws_bytes
                row["reserve_bytes"] = conv.rs_bytes
            if setup_reason is not None:
                emit(dict(row, cudnn_ms=None, rel_err=None, reason=setup_reason))
                continue
            u, k, y = tensors
            pre = post = tmp = None
            try:
                if mode == "gated_causal":
                    pre = torch.randn((B, H, L), generator=gen, device="cuda", dtype=torch.float32).to(dt)
                    post = torch.randn((B, H, L), generator=gen, device="cuda", dtype=torch.float32).to(dt)
                    tmp = torch.empty_like(u)
                    out = torch.empty_like(u)

                    def fn():
                        torch.mul(pre, u, out=tmp)
                        conv(tmp, k, y)
                        torch.mul(post, y, out=out)
                elif mode == "conv_causal":
                    out = y

                    def fn():
                        conv(u, k, y)
                else:
                    raise CudnnError("unknown mode %s" % mode)
                # First call (includes the NVRTC JIT compile of this shape's kernels).
                torch.cuda.synchronize()
                a = torch.cuda.Event(enable_timing=True)
                b = torch.cuda.Event(enable_timing=True)
                a.record()
                fn()
                b.record()
                torch.cuda.synchronize()
                first = a.elapsed_time(b)
                ms = time_ms(torch, fn, args.repeat)
                fn()
                torch.cuda.synchronize()
                err = rel_err(torch, out, u, k, pre, post, sample_rows(B, H, args.rows))
                emit(dict(row, cudnn_ms=round(ms, 4), first_call_ms=round(first, 3),
                          rel_err=(None if err != err else float("%.3e" % err)),
                          **({} if err == err else {"reason": "non-finite output"})))
            except CudnnError as e:
                emit(dict(row, cudnn_ms=None, rel_err=None, reason=str(e)))
            except torch.cuda.OutOfMemoryError as e:
                emit(dict(row, cudnn_ms=None, rel_err=None, reason="out of memory: %s" % str(e).split("\n")[0]))
            except Exception as e:  # noqa: BLE001  (e.g. an asynchronous CUDA error surfacing in torch)
                emit(dict(row, cudnn_ms=None, rel_err=None, reason="%s: %s" % (type(e).__name__, str(e).split("\n")[0])))
            finally:
                pre = post = tmp = out = None
        tensors = conv = u = k = y = None
        try:
            torch.cuda.empty_cache()
        except Exception:  # noqa: BLE001
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
