"""A torch.fft reference of the convolution, in float64 by default (for tests and users)."""

from typing import Optional

import torch


def fftconv_ref(u: torch.Tensor, k: torch.Tensor, fft_size: int, pregate: Optional[torch.Tensor] = None,
                postgate: Optional[torch.Tensor] = None, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """postgate * irfft(rfft(pregate * u, n=N) * rfft(k, n=N), n=N)[..., :L], computed in `dtype`.

    Differentiable through torch.fft. Unlike the library it does not reject L > N or Lk > N (rfft
    truncates them).
    """
    n = int(fft_size)
    length = u.shape[-1]
    x = u.to(dtype)
    if pregate is not None:
        x = x * pregate.to(dtype)
    y = torch.fft.irfft(torch.fft.rfft(x, n=n) * torch.fft.rfft(k.to(dtype), n=n), n=n)[..., :length]
    if postgate is not None:
        y = y * postgate.to(dtype)
    return y
