"""The short depthwise convolution (FlashDepthWiseConv1d, causal_conv1d, depthwise_conv1d).

Reference: torch.nn.functional.conv1d in float64 on the same (rounded) inputs. Bounds, element by
element, as in tests/support/conv1d_check.hpp: the f32 accumulation of K taps (gamma(K + 2) times
the sum of the terms' magnitudes, itself a float64 convolution of |x| and |w|), SiLU's propagation,
and the output's rounding (unit roundoff of its dtype); dweight and dbias take gamma(n) for their n
summed terms. CUDA calls that take the tensor-core path (16-bit x, layout (B, H, L), K = 64 ... 1024)
bound z by max(gamma(K + 2) * mag, E_tc) instead, E_tc as derived in docs/design.md (the filter's
hi + lo split after scaling by 2^E, the tensor core's accumulation steps, the f32 rounding).
"""

import math


import pytest
import torch
import torch.nn.functional as F

import flashfftconv
from flashfftconv import FlashDepthWiseConv1d, causal_conv1d, depthwise_conv1d

pytestmark = pytest.mark.skipif(not flashfftconv.library_available() or not flashfftconv.has_conv1d(),
                                reason="the loaded library has no conv1d (ffc_conv1d_*)")

U32 = 2.0 ** -24
UNIT = {torch.float32: U32, torch.float16: 2.0 ** -11, torch.bfloat16: 2.0 ** -8}
FLOOR = {torch.float32: 0.0, torch.float16: 2.0 ** -25, torch.bfloat16: 0.0}
DTYPES = [torch.float32, torch.float16, torch.bfloat16]


def gamma(n):
    return n * U32 / (1 - n * U32)


def _bhl(t, blh):
    return t.transpose(1, 2) if blh else t


def _conv64(x, w, b, padding, causal, blh):
    """float64 y (and z) for x in its layout, w (G, K), b (H,) or None."""
    xb = _bhl(x, blh).double()
    H, K = xb.shape[1], w.shape[1]
    wf = w.double().repeat_interleave(H // w.shape[0], dim=0).unsqueeze(1)
    if causal:
        xb = F.pad(xb, (K - 1, 0))
        padding = 0
    z = F.conv1d(xb, wf, None if b is None else b.double(), padding=padding, groups=H)
    return z


def takes_tensor_cores(x, K, blh):
    """The CUDA backend's rule (toeplitz_mma_applies) for the correlations of a call."""
    return x.is_cuda and not blh and x.dtype in (torch.float16, torch.bfloat16) and 64 <= K <= 1024


def tensor_core_bound(dtype, w, K, mag, window_abs_sum):
    """E_tc per output: mag = sum |w x| (+ |bias|), window_abs_sum = sum |x| over the output's taps
    (both in the output's layout, channels on dim 1)."""
    p, emin = (8, -126) if dtype == torch.bfloat16 else (11, -14)
    acc = (1 + 6 * 2.0 ** -23) ** (8 * math.ceil((K + 7 + 15) / 16)) - 1
    H = mag.shape[1]
    wmax = w.detach().double().abs().amax(dim=1).repeat_interleave(H // w.shape[0]).cpu().to(mag.device)
    split = 2.0 ** (-2 * p) * mag + 2.0 ** (emin - p + 1) * wmax[None, :, None] * window_abs_sum
    a = split + acc * (1 + 2.0 ** (1 - p)) * mag + 2.0 ** -149
    return a + U32 * (mag + a)


def reference(x, w, b, padding, causal, blh, silu, dy=None):
    """Reference y, its bound, and (with dy) reference dx, dw, db with bounds."""
    K = w.shape[1]
    mma = takes_tensor_cores(x, K, blh)
    xd = x.detach().double().requires_grad_()
    wd = w.detach().double().requires_grad_()
    z = _conv64(xd, wd, None if b is None else b.detach(), padding, causal, blh)
    mag = _conv64(x.detach().abs(), w.detach().abs(), None if b is None else b.detach().abs(), padding, causal,
                  blh)
    e_z = gamma(K + 2) * mag
    if mma:
        xsum = _conv64(x.detach().abs(), torch.ones_like(w, dtype=torch.float64), None, padding, causal, blh)
        e_z = torch.maximum(e_z, tensor_core_bound(x.dtype, w, K, mag, xsum))
    y = z * torch.sigmoid(z) if silu else z
    out_dtype = x.dtype
    u = UNIT[out_dtype]
    act_err = 1.1 * e_z + 8 * U32 * y.abs() if silu else e_z
    y_bound = u * y.abs() + (1 + u) * act_err + FLOOR[out_dtype]
    result = {"y": (_bhl(y, blh).detach(), _bhl(y_bound, blh).detach())}
    if dy is None:
        return result
    dyb = _bhl(dy, blh).double()
    s = torch.sigmoid(z.detach())
    zz = z.detach()
    dz = dyb * s * (1 + zz * (1 - s)) if silu else dyb
    e_dz = dyb.abs() * (0.5 * e_z + 8 * U32 * (1 + zz.abs())) if silu else torch.zeros_like(dz)
    dx, dw = torch.autograd.grad(z, (xd, wd), dz)

    def vjp(x_in, w_in, grad):  # the magnitudes: the same sums over |x|, |w|
        xa = x_in.detach().double().abs().requires_grad_()
        wa = w_in.detach().double().abs().requires_grad_()
        za = _conv64(xa, wa, None, padding, causal, blh)
        return torch.autograd.grad(za, (xa, wa), grad)

    m_dx, m_dw = vjp(x, w, dz.abs())
    p_dx, p_dw = vjp(x, w, e_dz)
    B, H, L_out = dz.shape
    per_group = H // w.shape[0]
    e_dx = gamma(K + 2) * m_dx
    if mma:  # dx is the correlation of dz with the flipped filter, on the same path
        dzsum = vjp(x, torch.ones_like(w, dtype=torch.float64), dz.abs())[0]
        e_dx = torch.maximum(e_dx, _bhl(tensor_core_bound(x.dtype, w, K, _bhl(m_dx, blh), _bhl(dzsum, blh)), blh))
    result["dx"] = (dx, u * dx.abs() + (1 + u) * (e_dx + p_dx) + FLOOR[out_dtype])
    result["dw"] = (dw, U32 * dw.abs() + gamma(B * L_out * per_group + 1) * m_dw + p_dw)
    db = dz.sum(dim=(0, 2))
    result["db"] = (db, U32 * db.abs() + gamma(B * L_out + 1) * dz.abs().sum(dim=(0, 2)) + e_dz.sum(dim=(0, 2)))
    return result


def expect_within(name, got, ref):
    value, bound = ref
    err = (got.detach().double().cpu() - value.cpu()).abs()
    bad = ~(err <= bound.cpu())
    assert not bad.any(), (f"{name}: {int(bad.sum())} of {err.numel()} beyond their bound; worst error / bound "
                           f"{float((err / bound.cpu().clamp_min(1e-300)).max()):.3g}")


def make(B, H, L, K, G, dtype, wdtype, blh, bias, seed=0, device="cpu"):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(B, H, L, generator=g).to(dtype)
    x = x.transpose(1, 2).contiguous() if blh else x
    w = (torch.randn(G, K, generator=g) / K ** 0.5).to(wdtype)
    b = torch.randn(H, generator=g).to(wdtype) if bias else None
    move = lambda t: None if t is None else t.to(device)  # noqa: E731
    return move(x), move(w), move(b)


def run_and_check(B, H, L, K, G, dtype, wdtype, blh, bias, padding, causal, silu, device="cpu", seed=0):
    x, w, b = make(B, H, L, K, G, dtype, wdtype, blh, bias, seed, device)
    x.requires_grad_()
    w.requires_grad_()
    if b is not None:
        b.requires_grad_()
    y = depthwise_conv1d(x, w, b, padding=padding, causal=causal, is_bhl=not blh,
                         activation="silu" if silu else None)
    dy = torch.randn(y.shape, generator=torch.Generator().manual_seed(seed + 1)).to(dtype).to(device)
    y.backward(dy)
    ref = reference(x, w, b, padding, causal, blh, silu, dy)
    assert y.dtype == dtype and x.grad.dtype == dtype and w.grad.dtype == wdtype
    expect_within("y", y, ref["y"])
    expect_within("dx", x.grad, ref["dx"])
    # The parameter gradients come back in the parameters' dtype: one more rounding.
    uw = UNIT[wdtype]
    dw_ref = (ref["dw"][0], ref["dw"][1] * (1 + uw) + uw * ref["dw"][0].abs())
    expect_within("dweight", w.grad, dw_ref)
    if b is not None:
        db_ref = (ref["db"][0], ref["db"][1] * (1 + uw) + uw * ref["db"][0].abs())
        expect_within("dbias", b.grad, db_ref)


KERNEL_SIZES = list(range(1, 17)) + [32, 64, 127, 128, 256, 1024]


@pytest.mark.parametrize("K", KERNEL_SIZES)
@pytest.mark.parametrize("blh", [False, True], ids=["bhl", "blh"])
def test_every_kernel_size(K, blh):
    # Causal and symmetric ('same' / 'full'), rotating dtypes, bias, SiLU and groups with K.
    dtype = DTYPES[K % 3]
    wdtype = DTYPES[(K // 3) % 3]
    G = [4, 1, 2][K % 3]
    run_and_check(2, 4, K + 19, K, G, dtype, wdtype, blh, K % 2 == 0, 0, True, K % 4 == 1)
    run_and_check(2, 4, K + 19, K, G, dtype, wdtype, blh, K % 2 == 1, K // 2, False, K % 4 == 3)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f16", "bf16"])
@pytest.mark.parametrize("wdtype", DTYPES, ids=["wf32", "wf16", "wbf16"])
def test_dtype_pairs(dtype, wdtype):
    for blh in (False, True):
        run_and_check(2, 6, 33, 4, 3, dtype, wdtype, blh, True, 0, True, True)


def test_short_sequences_and_large_padding():
    run_and_check(2, 4, 3, 7, 4, torch.float32, torch.float32, False, True, 0, True, False)  # L < K causal
    run_and_check(2, 4, 3, 7, 4, torch.float32, torch.float32, True, True, 3, False, True)  # L < K 'same'
    run_and_check(2, 4, 20, 3, 2, torch.bfloat16, torch.float32, False, True, 5, False, False)  # P > K - 1


def test_module_matches_nn_conv1d():
    torch.manual_seed(0)
    for K, padding in ((3, 1), (4, 2), (7, 0)):
        conv = torch.nn.Conv1d(8, 8, K, padding=padding, groups=8)
        for is_bhl in (True, False):
            m = FlashDepthWiseConv1d(8, K, padding, conv.weight, conv.bias, is_bhl=is_bhl)
            # the original's layouts: (channels, K) for (B, H, L), transposed for (B, L, H)
            assert tuple(m.weights.shape) == ((8, K) if is_bhl else (K, 8)) and m.bias.shape == (8,)
            x = torch.randn(3, 8, 40)
            y_ref = conv(x)
            y = m(x if is_bhl else x.transpose(1, 2).contiguous())
            y = y if is_bhl else y.transpose(1, 2)
            torch.testing.assert_close(y, y_ref, rtol=1e-5, atol=1e-5)
            y.square().sum().backward()
            assert m.weights.grad is not None and m.bias.grad is not None
    m = FlashDepthWiseConv1d(4, 3, 1, torch.randn(4, 1, 3), torch.randn(4), dtype=torch.bfloat16)
    assert m.weights.dtype == torch.bfloat16
    assert m(torch.randn(1, 4, 10, dtype=torch.bfloat16)).dtype == torch.bfloat16


def test_module_under_autocast_runs_in_the_autocast_dtype():
    m = FlashDepthWiseConv1d(4, 3, 1, torch.randn(4, 1, 3), torch.randn(4))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = m(torch.randn(2, 4, 16))
    assert y.dtype == torch.bfloat16 and m.weights.dtype == torch.float32


def test_causal_conv1d_convention():
    x, w, b = make(2, 8, 50, 4, 8, torch.float32, torch.float32, False, True)
    for activation in (None, "silu", "swish"):
        y = causal_conv1d(x, w, b, activation=activation)
        ref = F.conv1d(F.pad(x.double(), (3, 0)), w.double().unsqueeze(1), b.double(), groups=8)
        if activation:
            ref = F.silu(ref)
        torch.testing.assert_close(y.double(), ref, rtol=1e-5, atol=1e-5)
    assert causal_conv1d(x, w).shape == x.shape


def test_finite_differences_with_silu():
    """The gradient's directional derivative against central differences of the f32 forward:
    h = 2^-7 keeps the truncation (h^2 |f'''| / 6) and the f32 rounding (|f| u32 / h) below 1e-3."""
    g = torch.Generator().manual_seed(3)
    x = torch.randn(1, 3, 24, generator=g)
    w = torch.randn(3, 5, generator=g) * 0.4
    b = torch.randn(3, generator=g) * 0.1
    v = torch.randn(1, 3, 24, generator=g)
    loss = lambda x_: causal_conv1d(x_, w, b, activation="silu").sum()  # noqa: E731
    xg = x.clone().requires_grad_()
    loss(xg).backward()
    h = 2.0 ** -7
    fd = (loss(x + h * v) - loss(x - h * v)) / (2 * h)
    assert abs(float(fd) - float((xg.grad * v).sum())) <= 1e-3 * max(1.0, abs(float(fd)))


def test_backward_is_deterministic():
    x, w, b = make(3, 8, 200, 7, 2, torch.bfloat16, torch.float32, False, True)
    grads = []
    for _ in range(2):
        xg, wg = x.clone().requires_grad_(), w.clone().requires_grad_()
        causal_conv1d(xg, wg, b, activation="silu").float().square().sum().backward()
        grads.append((xg.grad, wg.grad))
    assert torch.equal(grads[0][0], grads[1][0]) and torch.equal(grads[0][1], grads[1][1])


def test_compile_fullgraph_training_step():
    x, w, b = make(2, 8, 64, 4, 8, torch.float32, torch.float32, False, True)
    w.requires_grad_()

    def step(x_, w_, b_):
        return causal_conv1d(x_, w_, b_, activation="silu").square().mean()

    loss = torch.compile(step, fullgraph=True, backend="aot_eager")(x, w, b)
    loss.backward()
    w_eager = w.detach().clone().requires_grad_()
    step(x, w_eager, b).backward()
    torch.testing.assert_close(w.grad, w_eager.grad)


def test_opcheck():
    x, w, b = make(2, 4, 20, 3, 4, torch.float32, torch.float32, True, True)
    torch.library.opcheck(torch.ops.flashfftconv.conv1d.default, (x, w, b, 1, False, True, True),
                          test_utils=("test_schema", "test_faketensor"))


@pytest.mark.parametrize("call, names", [
    (lambda x, w: depthwise_conv1d(x, torch.zeros(4, 0)), ["weight: kernel size K = 0"]),
    (lambda x, w: depthwise_conv1d(x, torch.zeros(4, 1025)), ["weight: kernel size K = 1025"]),
    (lambda x, w: depthwise_conv1d(x, torch.zeros(3, 3)), ["weight: G = 3 filters for H = 4"]),
    (lambda x, w: depthwise_conv1d(x.double(), w), ["x: dtype torch.float64"]),
    (lambda x, w: depthwise_conv1d(x, w, torch.zeros(5)), ["bias: 5 values for H = 4"]),
    (lambda x, w: depthwise_conv1d(x, w, padding=0, causal=False), ["L_out = -1", "L + 2 * padding >= K"]),
    (lambda x, w: depthwise_conv1d(x, w, padding=1, causal=True), ["padding: 1 with causal"]),
    (lambda x, w: depthwise_conv1d(x, w, activation="relu"), ["activation: 'relu'"]),
    (lambda x, w: depthwise_conv1d(x[0], w), ["x: shape (4, 4) has rank 2"]),
    (lambda x, w: depthwise_conv1d(x, torch.zeros(4, 2, 6)), ["weight: shape (4, 2, 6)"]),
])
def test_errors_name_the_argument(call, names):
    x, w = torch.zeros(2, 4, 4), torch.zeros(4, 6)
    with pytest.raises(flashfftconv.InvalidArgumentError) as info:
        call(x, w)
    for n in names:
        assert n in str(info.value)


@pytest.mark.cuda
@pytest.mark.parametrize("blh", [False, True], ids=["bhl", "blh"])
@pytest.mark.parametrize("K", [3, 4, 128])
def test_cuda_matches_reference(K, blh):
    run_and_check(2, 48, 4100, K, 16, torch.bfloat16, torch.float32, blh, True, 0, True, K == 4, device="cuda")
    run_and_check(2, 48, 4096, K, 48, torch.float16, torch.float16, blh, False, K // 2, False, True, device="cuda")


@pytest.mark.cuda
def test_cuda_module_and_compile():
    conv = torch.nn.Conv1d(64, 64, 3, padding=1, groups=64).cuda()
    m = FlashDepthWiseConv1d(64, 3, 1, conv.weight, conv.bias).cuda()
    x = torch.randn(4, 64, 1000, device="cuda")
    torch.testing.assert_close(m(x), conv(x), rtol=1e-5, atol=1e-5)
    f = torch.compile(lambda x_: causal_conv1d(x_, m.weights, m.bias, activation="silu"), fullgraph=True)
    torch.testing.assert_close(f(x.bfloat16()), causal_conv1d(x.bfloat16(), m.weights, m.bias, activation="silu"))
