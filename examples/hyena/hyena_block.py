"""A Hyena-style block on this package, trained for a few steps (CPU, or CUDA when present).

    python examples/hyena/hyena_block.py [--steps 30] [--device cpu|cuda]

The operator (Poli et al., "Hyena Hierarchy", 2023, order 2): the input is projected to three
streams (v, x1, x2), each through a short depthwise causal conv; a long causal convolution of x1 * v
with a learned implicit filter h, gated by x2, is projected back:

    y = out_proj( x2 * conv(x1 * v, h) )        conv: flashfftconv.fftconv(v, h, N, pregate=x1, postgate=x2)

h (H, L) is produced by a small MLP over sinusoidal position features, times an exponential decay
per channel (the "implicit filter"), so the filter has O(1) parameters in L. The task: at every
position t >= lag, predict the token seen `lag` steps earlier (a long-range copy that the short
convs cannot do; the long filter must learn a peak at t = lag). The loss falls from ln(vocab)
towards 0; the script prints it and returns the losses.
"""

import argparse
import math

import torch
from torch import nn

import flashfftconv


class ImplicitFilter(nn.Module):
    """h[c, t] = MLP(pos_features(t))[c] * exp(-decay[c] t / L)."""

    def __init__(self, channels, features=16, hidden=32):
        super().__init__()
        self.features = features
        self.mlp = nn.Sequential(nn.Linear(2 * features + 1, hidden), nn.SiLU(), nn.Linear(hidden, channels))
        self.decay = nn.Parameter(torch.linspace(0.5, 4.0, channels))

    def forward(self, length, device):
        t = torch.arange(length, device=device, dtype=torch.float32)[:, None] / length
        bands = torch.arange(1, self.features + 1, device=device, dtype=torch.float32)[None, :]
        z = torch.cat([t, torch.sin(math.pi * bands * t), torch.cos(math.pi * bands * t)], dim=-1)
        h = self.mlp(z).transpose(0, 1)  # (C, L)
        return h * torch.exp(-self.decay.abs()[:, None] * t.transpose(0, 1) * 4.0) / length ** 0.5


class HyenaBlock(nn.Module):
    def __init__(self, width, length):
        super().__init__()
        self.length = length
        self.fft_size = flashfftconv.choose_fft_size(length, length)  # causal: N >= 2L - 1
        self.in_proj = nn.Linear(width, 3 * width)
        self.short = nn.Conv1d(3 * width, 3 * width, kernel_size=3, padding=2, groups=3 * width)
        self.filter = ImplicitFilter(width)
        self.out_proj = nn.Linear(width, width)

    def forward(self, x):  # x: (B, L, D)
        L = x.shape[1]
        z = self.in_proj(x).transpose(1, 2)          # (B, 3D, L)
        z = self.short(z)[..., :L]                   # causal short conv
        v, x1, x2 = z.chunk(3, dim=1)                # (B, D, L) each
        h = self.filter(L, x.device)                 # (D, L)
        # The CUDA kernels take 16-bit activations (f32 runs on the CPU backend): as in mixed-precision
        # training, the conv's inputs go in bf16 there; the filter stays f32.
        io = torch.bfloat16 if x.is_cuda else x.dtype
        y = flashfftconv.fftconv(v.to(io).contiguous(), h, self.fft_size, x1.to(io).contiguous(),
                                 x2.to(io).contiguous())
        return self.out_proj(y.to(x.dtype).transpose(1, 2))


class Model(nn.Module):
    def __init__(self, vocab, width, length):
        super().__init__()
        self.embed = nn.Embedding(vocab, width)
        self.block = HyenaBlock(width, length)
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, vocab)

    def forward(self, tokens):
        x = self.embed(tokens)
        x = x + self.block(self.norm(x))
        return self.head(x)


def batch(vocab, length, lag, size, generator, device):
    tokens = torch.randint(0, vocab, (size, length), generator=generator).to(device)
    return tokens, tokens[:, :-lag]  # position t >= lag predicts tokens[t - lag]


def train(steps=60, device="cpu", length=256, lag=40, vocab=8, width=32, seed=0):
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    model = Model(vocab, width, length).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for step in range(steps):
        tokens, target = batch(vocab, length, lag, 32, generator, device)
        logits = model(tokens)[:, lag:]
        loss = nn.functional.cross_entropy(logits.reshape(-1, vocab), target.reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
        if step % 10 == 0 or step == steps - 1:
            print(f"step {step:3d}  loss {loss.item():.4f}")
    return losses


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    a = ap.parse_args()
    train(a.steps, a.device)
