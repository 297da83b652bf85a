"""flashfftconv: fast depthwise long convolutions through FFTs, for PyTorch.

    from flashfftconv import FlashFFTConv, fftconv, transform_filter

    conv = FlashFFTConv(4096, dtype=torch.bfloat16)   # the original's module: seqlen = FFT size
    y = conv(u, k)                                     # u (B, H, L), k (H, Lk)
    y = fftconv(u, k)                                  # N chosen for a causal convolution
    k_f = transform_filter(k, 4096)                    # once per filter
    y = fftconv(u, k_spectrum=k_f, fft_size=4096)      # any number of times

    from flashfftconv import FlashDepthWiseConv1d, causal_conv1d
    y = causal_conv1d(x, w, b, activation="silu")      # x (B, D, L), w (D, K): short convolution

A pure-Python package over the C ABI of libflashfftconv.so (ctypes). Importing it needs neither
torch nor a GPU nor the native library; the torch API (FlashFFTConv, fftconv, transform_filter,
reference) is present when torch >= 2.4 is importable. The native library is loaded with the torch
API (for its FFT size tables; a missing one is reported by the first call that needs it) or on first
use (see ``flashfftconv._native`` for where it is looked for).
"""

from ._version import __version__
from ._native import (
    CudaError,
    FlashFFTConvError,
    InternalError,
    InvalidArgumentError,
    LibraryError,
    NoDeviceError,
    NotSupportedError,
    OutOfMemoryError,
    abi_version,
    available as library_available,
    cuda_device_count,
    has_backward,
    has_conv1d,
    library_path,
    version as library_version,
)

_TORCH_NAMES = ("FlashFFTConv", "fftconv", "transform_filter", "choose_fft_size",
                "supported_fft_sizes", "reference", "ops", "functional", "conv",
                "FlashDepthWiseConv1d", "causal_conv1d", "depthwise_conv1d", "depthwise")
_MIN_TORCH = (2, 4)


def _torch_status():
    """None when torch can be used, else the reason it cannot."""
    try:
        import torch
    except (ImportError, OSError) as e:  # OSError: a torch whose native libraries fail to load
        return f"PyTorch is not importable ({type(e).__name__}: {e})"
    try:
        version = tuple(int(p) for p in torch.__version__.split(".")[:2])
    except ValueError:
        return None
    if version < _MIN_TORCH:
        return f"PyTorch {torch.__version__} is older than {_MIN_TORCH[0]}.{_MIN_TORCH[1]}"
    return None


_torch_missing = _torch_status()

if _torch_missing is None:
    from . import conv, depthwise, functional, ops, reference
    from .conv import FlashFFTConv
    from .depthwise import FlashDepthWiseConv1d, causal_conv1d, depthwise_conv1d
    from .functional import choose_fft_size, fftconv, supported_fft_sizes, transform_filter
else:

    def __getattr__(name):
        if name in _TORCH_NAMES:
            raise ImportError(f"flashfftconv.{name} needs PyTorch >= "
                              f"{_MIN_TORCH[0]}.{_MIN_TORCH[1]}: {_torch_missing}")
        raise AttributeError(f"module 'flashfftconv' has no attribute {name!r}")


__all__ = [
    "__version__", "FlashFFTConv", "fftconv", "transform_filter", "choose_fft_size",
    "FlashDepthWiseConv1d", "causal_conv1d", "depthwise_conv1d", "has_conv1d",
    "supported_fft_sizes", "reference", "library_available", "library_path", "library_version",
    "abi_version", "cuda_device_count", "has_backward", "FlashFFTConvError", "InvalidArgumentError",
    "NotSupportedError", "NoDeviceError", "CudaError", "OutOfMemoryError", "InternalError",
    "LibraryError",
]
