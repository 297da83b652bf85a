"""FlashFFTConv: a drop-in for the original's module (HazyResearch/flash-fft-conv, conv.py).

    conv = FlashFFTConv(seqlen, dtype=torch.bfloat16)   # seqlen is the FFT size N
    y = conv(u, k)                                       # u (B, H, L), k (H, Lk)
    y = conv(u, k, pregate, postgate)                    # y = postgate * conv(pregate * u, k)

Differences from the original, all of them relaxations:

* ``dtype`` is recorded (``self.dtype``) but does not change the computation: the library computes in
  fp32 and reads / writes u's dtype (fp16, bf16 or fp32), so y always has u's dtype. The original
  stored its twiddles and the filter spectrum in ``dtype`` and silently returned garbage when u had
  another 16-bit dtype; here any supported u works.
* The module holds no tensors: nothing in ``state_dict``, no ``.to(device)`` needed; native plans
  are cached per (N, device). Buffers that checkpoints of the original hold under this module
  (twiddle factors, DFT matrices) are ignored when such a checkpoint is loaded.
* Odd L, any H, either gate alone, fp32 u, CPU tensors and backward in eval mode all work.
* ``use_32_butterfly`` is accepted and ignored.
"""

from typing import Optional

import torch

from . import _native
from .functional import fftconv

_MODULE_DTYPES = (torch.float16, torch.bfloat16, torch.float32)


class FlashFFTConv(torch.nn.Module):
    def __init__(self, seqlen: int, dtype: torch.dtype = torch.float16, use_32_butterfly: bool = True):
        super().__init__()
        if isinstance(seqlen, bool) or not isinstance(seqlen, int) or seqlen < 1:
            raise ValueError(f"seqlen: {seqlen!r} (rule: the FFT size N, a positive int)")
        if dtype not in _MODULE_DTYPES:
            raise ValueError(f"dtype: {dtype} (rule: torch.float16, torch.bfloat16 or torch.float32)")
        if _native.available() and not _native.fft_size_supported(seqlen):
            cpu = _native.supported_fft_sizes()
            raise NotImplementedError(
                f"seqlen: FFT size {seqlen} is not supported (CPU sizes: {cpu[0]} ... {cpu[-1]}, "
                "powers of two)" if cpu else f"seqlen: FFT size {seqlen} is not supported")
        self.seqlen = seqlen
        self.dtype = dtype
        self.use_32_butterfly = use_32_butterfly

    def forward(self, u: torch.Tensor, k: torch.Tensor, pregate: Optional[torch.Tensor] = None,
                postgate: Optional[torch.Tensor] = None) -> torch.Tensor:
        return fftconv(u, k, self.seqlen, pregate, postgate)

    def extra_repr(self) -> str:
        return f"seqlen={self.seqlen}, dtype={self.dtype}"

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,
                              unexpected_keys, error_msgs):
        # The module has no state; entries under its prefix are the original's constant buffers.
        for key in [key for key in state_dict if key.startswith(prefix)]:
            del state_dict[key]
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys,
                                      unexpected_keys, error_msgs)
