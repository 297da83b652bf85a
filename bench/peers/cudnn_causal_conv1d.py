"""NVIDIA cuDNN's causal depthwise conv1d (cudnn_subquadratic_ops.h, cuDNN >= 9.22, in
libcudnn_ext.so.9) through ctypes, as a peer of bench/bench_conv1d.py.

  cudnnCausalConv1dForward(stream, x, weight, bias, y, batch, dim, seqLen, kernelSize, dataType, act)
    x, y (batch, dim, seqLen); weight (dim, K); y[t] = act(bias + sum_j x[t - j] weight[K - 1 - j]),
    which is this project's causal correlation with the weight as given. K in 2..8, 16, 32, 64, 128,
    256. One dataType for x, weight, bias, y; bias must not be NULL.
  cudnnCausalConv1dNwhForward: the same with x, y (batch, seqLen, dim) and weight (K, dim).
  cudnnCausalConv1dBackward / NwhBackward(stream, x, weight, bias, dy, dx, dweight, dbias, batch, dim,
    seqLen, K, dataType, dwDataType, act): dweight and dbias (f32) are accumulated with atomics, so the
    caller zeroes them first (timed here as part of the backward).

The library is found as bench/peers/cudnn_fft_conv.py finds it (--lib, $CUDNN_EXT_LIB, a pip
nvidia-cudnn install, .gpu-bin-base/cudnn/libcudnn_ext.so.9[.xz]).
"""
import ctypes
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cudnn_fft_conv import CUDNN_DATA, load_library, status_text  # noqa: E402

SUPPORTED_K = set(range(2, 9)) | {16, 32, 64, 128, 256}


class CudnnCausalConv1d:
    def __init__(self, torch, lib_path=None):
        lib, path, errors = load_library(lib_path)
        if lib is None:
            raise RuntimeError("libcudnn_ext.so.9 not loadable: " + "; ".join(errors))
        for name in ("cudnnCausalConv1dForward", "cudnnCausalConv1dNwhForward", "cudnnCausalConv1dBackward",
                     "cudnnCausalConv1dNwhBackward"):
            if not hasattr(lib, name):
                raise RuntimeError(f"{path}: no {name} (cuDNN >= 9.22 needed)")
        vp, ci = ctypes.c_void_p, ctypes.c_int
        for name in ("cudnnCausalConv1dForward", "cudnnCausalConv1dNwhForward"):
            f = getattr(lib, name)
            f.restype = ci
            f.argtypes = [vp, vp, vp, vp, vp, ci, ci, ci, ci, ci, ci]
        for name in ("cudnnCausalConv1dBackward", "cudnnCausalConv1dNwhBackward"):
            f = getattr(lib, name)
            f.restype = ci
            f.argtypes = [vp, vp, vp, vp, vp, vp, vp, vp, ci, ci, ci, ci, ci, ci, ci]
        self.torch, self.lib, self.path = torch, lib, path

    def _code(self, dtype):
        t = self.torch
        return CUDNN_DATA[{t.float32: "f32", t.float16: "f16", t.bfloat16: "bf16"}[dtype]]

    def forward(self, x, weight, bias, y, blh):
        """x, y: (B, H, L) or (B, L, H) when blh; weight (H, K) (transposed here for NWH once per call
        by the caller: pass it already as (K, H) when blh); bias (H,) in x's dtype."""
        B, L, H = (x.shape[0], x.shape[1], x.shape[2]) if blh else (x.shape[0], x.shape[2], x.shape[1])
        K = weight.shape[0] if blh else weight.shape[1]
        fn = "cudnnCausalConv1dNwhForward" if blh else "cudnnCausalConv1dForward"
        st = getattr(self.lib, fn)(ctypes.c_void_p(self.torch.cuda.current_stream().cuda_stream), x.data_ptr(),
                                   weight.data_ptr(), bias.data_ptr(), y.data_ptr(), B, H, L, K, self._code(x.dtype), 0)
        if st != 0:
            raise RuntimeError(status_text(fn, st))

    def backward(self, x, weight, bias, dy, dx, dweight, dbias, blh):
        B, L, H = (x.shape[0], x.shape[1], x.shape[2]) if blh else (x.shape[0], x.shape[2], x.shape[1])
        K = weight.shape[0] if blh else weight.shape[1]
        dweight.zero_()
        dbias.zero_()
        fn = "cudnnCausalConv1dNwhBackward" if blh else "cudnnCausalConv1dBackward"
        st = getattr(self.lib, fn)(ctypes.c_void_p(self.torch.cuda.current_stream().cuda_stream), x.data_ptr(),
                                   weight.data_ptr(), bias.data_ptr(), dy.data_ptr(), dx.data_ptr(),
                                   dweight.data_ptr(), dbias.data_ptr(), B, H, L, K, self._code(x.dtype),
                                   CUDNN_DATA["f32"], 0)
        if st != 0:
            raise RuntimeError(status_text(fn, st))
