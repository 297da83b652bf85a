"""The functional API: fftconv, transform_filter, choose_fft_size.

    y = postgate * irfft(rfft(pregate * u, n=N) * rfft(k, n=N), n=N)[..., :L]

u, pregate, postgate, y: (B, H, L), float32 / float16 / bfloat16 (y has u's dtype); k: (H, Lk),
Lk <= N. With L + Lk - 1 <= N the convolution is causal (linear), with L == N circular.
"""

import operator
from typing import Optional, Tuple, Union

import torch

from . import _capi, _native, _spectrum_cache
from . import ops as _ops  # registers the torch.library operators

_FILTER_DTYPES = (torch.float32, torch.float16, torch.bfloat16)


def _backend_of(device):
    return _capi.BACKEND_CUDA if device.type == "cuda" else _capi.BACKEND_CPU


def _preload_size_tables():
    # The tables are read at call time by choose_fft_size; filling them here (at import) keeps that
    # path free of native calls, which torch.compile could not trace.
    try:
        for backend in (_capi.BACKEND_CPU, _capi.BACKEND_CUDA):
            _native.supported_fft_sizes(backend)
    except _native.LibraryError:
        pass  # reported, with the places looked at, by the first call that needs the library


_preload_size_tables()


def supported_fft_sizes(device: Union[str, torch.device] = "cpu") -> Tuple[int, ...]:
    """The FFT sizes N the backend of `device` ('cpu', 'cuda', a torch.device) runs, ascending."""
    return _native.supported_fft_sizes(_backend_of(torch.device(device)))


def choose_fft_size(length: int, filter_length: Optional[int] = None,
                    device: Union[str, torch.device] = "cpu") -> int:
    """The smallest FFT size the backend of `device` runs with N >= length + filter_length - 1 (a
    causal convolution), or N >= length when filter_length is None."""
    need = length if filter_length is None else length + filter_length - 1
    sizes = _native.supported_fft_sizes(_backend_of(torch.device(device)))
    for n in sizes:
        if n >= need:
            return n
    where = torch.device(device).type
    raise _native.NotSupportedError(
        f"fft_size: a causal convolution of L = {length} with Lk = {filter_length} needs N >= {need}, "
        f"above the largest FFT size of the {where} backend "
        f"({sizes[-1] if sizes else 'none in this build'}) (rule: L + Lk - 1 <= N)",
        status=_capi.NOT_SUPPORTED)


def _as_fft_size(value):
    """N as an int: Python and NumPy integers (and 0-d integer tensors) only, so that 256.7 or "256"
    fail instead of being truncated."""
    if isinstance(value, bool):
        raise TypeError(f"fft_size: {value!r} (rule: an int, the FFT size N)")
    if isinstance(value, torch.Tensor):
        if value.dim() == 0 and not value.is_floating_point() and not value.is_complex():
            return int(value)
        raise TypeError(f"fft_size: a tensor of shape {tuple(value.shape)} and dtype {value.dtype} "
                        "(rule: an int, the FFT size N)")
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(f"fft_size: {value!r} of type {type(value).__name__} (rule: an int, the FFT "
                        "size N; floats and strings are not converted)") from None


def _as_filter(name, k):
    if not isinstance(k, torch.Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor, got {type(k).__name__}")
    if k.dtype in _FILTER_DTYPES:
        return k
    if k.is_floating_point():
        return k.float()  # float64 filters: the library takes f32 (as the original's rfft in fp32)
    raise _native.InvalidArgumentError(
        f"{name}: dtype {k.dtype} is not a floating-point dtype (rule: float32, float16, bfloat16 "
        "or float64, converted to float32)", status=_capi.INVALID_ARGUMENT)


def _as_gate(name, g, u):
    if g is None:
        return None
    if not isinstance(g, torch.Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor or None, got {type(g).__name__}")
    return g if g.dtype == u.dtype else g.to(u.dtype)


def transform_filter(k: torch.Tensor, fft_size: int) -> torch.Tensor:
    """The spectrum of filter k (H, Lk) for FFT size N on k's device, to pass as ``k_spectrum`` to
    :func:`fftconv` (with the same fft_size) for any number of calls.

    The spectrum is a float32 tensor (H, columns) in the backend's own layout, valid only for this
    N and this device's backend. It carries no gradient to k: for training pass k itself.
    """
    k = _as_filter("k", k)
    if k.requires_grad and torch.is_grad_enabled():
        raise _native.InvalidArgumentError(
            "k: requires grad, but a spectrum carries no gradient back to k (rule: pass k to "
            "fftconv for training, or transform under torch.no_grad() / with k.detach())",
            status=_capi.INVALID_ARGUMENT)
    return _ops.call(_ops.TRANSFORM_FILTER, k, _as_fft_size(fft_size))


def fftconv(u: torch.Tensor, k: Optional[torch.Tensor] = None, fft_size: Optional[int] = None,
            pregate: Optional[torch.Tensor] = None, postgate: Optional[torch.Tensor] = None, *,
            k_spectrum: Optional[torch.Tensor] = None) -> torch.Tensor:
    """y = postgate * conv_N(pregate * u, k)[..., :L] through the native library.

    Args:
        u: (B, H, L) float32 / float16 / bfloat16, on the CPU or a CUDA device.
        k: (H, Lk) filter (float32; float16 / bfloat16 taken as they are, float64 converted).
        fft_size: N. Default: the smallest supported N >= L + Lk - 1 (a causal convolution).
            Required with k_spectrum.
        pregate, postgate: optional (B, H, L) gates, either alone or both (converted to u's dtype).
        k_spectrum: instead of k, a spectrum from :func:`transform_filter` for the same N and device.

    Returns y, (B, H, L) in u's dtype. Differentiable in u, k and the gates (not in k_spectrum).
    """
    if not isinstance(u, torch.Tensor):
        raise TypeError(f"u: expected a torch.Tensor, got {type(u).__name__}")
    pregate = _as_gate("pregate", pregate, u)
    postgate = _as_gate("postgate", postgate, u)
    if k_spectrum is not None:
        if k is not None:
            raise _native.InvalidArgumentError(
                "k and k_spectrum: both given (rule: exactly one filter form)",
                status=_capi.INVALID_ARGUMENT)
        if fft_size is None:
            raise _native.InvalidArgumentError(
                "fft_size: required with k_spectrum (rule: the N given to transform_filter)",
                status=_capi.INVALID_ARGUMENT)
        if not isinstance(k_spectrum, torch.Tensor):
            raise TypeError(f"k_spectrum: expected a torch.Tensor, got {type(k_spectrum).__name__}")
        return _ops.convolve(_ops.FFTCONV_SPECTRUM, u, k_spectrum, _as_fft_size(fft_size), pregate,
                             postgate)
    if k is None:
        raise _native.InvalidArgumentError("k and k_spectrum: neither given (rule: one filter form)",
                                           status=_capi.INVALID_ARGUMENT)
    k = _as_filter("k", k)
    if fft_size is None:
        if u.dim() != 3 or k.dim() != 2:
            raise _native.InvalidArgumentError(
                f"u, k: shapes {tuple(u.shape)} and {tuple(k.shape)} (rule: u (B, H, L), k (H, Lk))",
                status=_capi.INVALID_ARGUMENT)
        fft_size = choose_fft_size(u.shape[-1], k.shape[-1], u.device)
    fft_size = _as_fft_size(fft_size)
    if _spectrum_cache_applies(u, k):
        # No gradient flows to k: its spectrum is reused while k is unchanged (_spectrum_cache.py).
        spectrum = _spectrum_cache.cache.get(k, fft_size, _transform)
        return _ops.convolve(_ops.FFTCONV_SPECTRUM, u, spectrum, fft_size, pregate, postgate)
    return _ops.convolve(_ops.FFTCONV, u, k, fft_size, pregate, postgate)


def _spectrum_cache_applies(u, k):
    # usable() before the shape checks: it turns away every call that trains k.
    cache = _spectrum_cache.cache
    return (not torch.compiler.is_compiling() and cache.budget_bytes > 0 and cache.usable(k)
            and k.dim() == 2 and u.dim() == 3 and k.shape[0] == u.shape[1] and u.numel() > 0
            and k.numel() > 0 and k.device == u.device)


def _transform(k, fft_size):
    return _ops.call(_ops.TRANSFORM_FILTER, k, fft_size)
