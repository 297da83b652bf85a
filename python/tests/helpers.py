"""Tolerances (docs/numerics.md, CPU backend) and input makers shared by the torch tests."""

import torch

# Relative L2 error of the forward: fp32 I/O <= 1e-6; 16-bit I/O adds the rounding of the output,
# at most the unit roundoff u_dtype (2^-11 for f16, 2^-8 for bf16), hence u_dtype + 1e-6.
UNIT_ROUNDOFF = {torch.float32: 0.0, torch.float16: 2.0 ** -11, torch.bfloat16: 2.0 ** -8}


# Every dtype of u / y, and every (pregate, postgate) combination, that the sweeps run.
DTYPES = [torch.float32, torch.float16, torch.bfloat16]
GATES = [(False, False), (True, False), (False, True), (True, True)]


def forward_tol(dtype):
    return UNIT_ROUNDOFF[dtype] + 1e-6


# Gradients (docs/numerics.md, "Backward (CPU)"): du, dpregate and dpostgate go through the same
# arithmetic as the forward's output (one fp32 convolution or correlation and a gate), hence the
# forward's bound; dk is always fp32, its batch sum formed in double, so 1e-6 for every dtype of u.
def grad_tol(dtype, name="du"):
    return 1e-6 if name == "dk" else forward_tol(dtype)


# The CUDA backend (docs/numerics.md, tests/test_cuda_conv.cpp): f16 I/O 5e-4, bf16 I/O 3e-3
# relative L2 (the output rounding plus at most three f16 roundings of intermediates).
CUDA_FORWARD_TOL = {torch.float16: 5e-4, torch.bfloat16: 3e-3}


def rel_l2(a, b):
    a = a.detach().double().cpu()
    b = b.detach().double().cpu()
    den = b.norm().item()
    return (a - b).norm().item() / (den if den > 0 else 1.0)


def make_inputs(B, H, L, Lk, dtype=torch.float32, gates=(False, False), seed=0, device="cpu",
                decaying=True):
    """u, k, pregate, postgate: randn inputs in `dtype`; k f32 randn, decaying when asked."""
    g = torch.Generator().manual_seed(seed)
    u = torch.randn(B, H, L, generator=g).to(dtype)
    k = torch.randn(H, Lk, generator=g)
    if decaying:
        k = k * torch.exp(-torch.arange(Lk) / max(Lk / 8, 1.0))
    pre = torch.randn(B, H, L, generator=g).to(dtype) if gates[0] else None
    post = torch.randn(B, H, L, generator=g).to(dtype) if gates[1] else None
    move = lambda t: None if t is None else t.to(device)  # noqa: E731
    return move(u), move(k), move(pre), move(post)
