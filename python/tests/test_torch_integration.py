"""torch.library integration: opcheck, torch.compile(fullgraph=True), torch.export, meta tensors."""

import pytest

torch = pytest.importorskip("torch")

import flashfftconv  # noqa: E402
from flashfftconv import FlashFFTConv, fftconv, transform_filter  # noqa: E402
from flashfftconv.reference import fftconv_ref  # noqa: E402
from helpers import forward_tol, grad_tol, make_inputs, rel_l2  # noqa: E402

ops = torch.ops.flashfftconv


def _opcheck_utils():
    # Without the native backward only the checks that do not run a backward apply.
    if flashfftconv.has_backward():
        return ("test_schema", "test_autograd_registration", "test_faketensor",
                "test_aot_dispatch_dynamic")
    return ("test_schema", "test_faketensor")


@pytest.mark.parametrize("gates", [(False, False), (True, False), (False, True), (True, True)],
                         ids=["nogate", "pre", "post", "both"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=["f32", "bf16"])
def test_opcheck_fftconv(gates, dtype):
    u, k, pre, post = make_inputs(2, 3, 21, 9, dtype, gates)
    args = [t.requires_grad_() if t is not None else None for t in (u, k)]
    pre = None if pre is None else pre.requires_grad_()
    post = None if post is None else post.requires_grad_()
    torch.library.opcheck(ops.fftconv.default, (args[0], args[1], 32, pre, post),
                          test_utils=_opcheck_utils())


def test_opcheck_fftconv_spectrum_and_transform_filter():
    u, k, pre, post = make_inputs(2, 3, 21, 9, torch.float32, (True, True))
    torch.library.opcheck(ops.transform_filter.default, (k, 32))
    spectrum = ops.transform_filter(k, 32)
    torch.library.opcheck(ops.fftconv_spectrum.default,
                          (u.requires_grad_(), spectrum, 32, pre.requires_grad_(), post),
                          test_utils=_opcheck_utils())


@pytest.mark.backward
@pytest.mark.parametrize("mask", [(True, True, True, True), (False, True, False, False),
                                  (True, False, False, True)])
def test_opcheck_fftconv_backward(mask):
    u, k, pre, post = make_inputs(2, 3, 21, 9, torch.float32, (True, True))
    dy = torch.randn_like(u)
    torch.library.opcheck(ops.fftconv_backward.default, (dy, u, k, None, 32, pre, post, list(mask)),
                          test_utils=("test_schema", "test_faketensor", "test_aot_dispatch_dynamic"))


def test_meta_tensors_propagate_shapes():
    u = torch.empty(2, 3, 50, device="meta", dtype=torch.bfloat16)
    k = torch.empty(3, 50, device="meta")
    y = ops.fftconv(u, k, 128, None, None)
    assert y.device.type == "meta" and y.shape == u.shape and y.dtype == torch.bfloat16
    s = ops.transform_filter(k, 128)
    assert s.device.type == "meta" and s.shape[0] == 3 and s.dtype == torch.float32


def test_compile_fullgraph_functional_and_module():
    torch._dynamo.reset()
    u, k, pre, post = make_inputs(2, 3, 100, 29, torch.float32, (True, True))
    conv = FlashFFTConv(256, dtype=torch.float32)

    def f(u, k, pre, post):
        a = fftconv(u, k, pregate=pre, postgate=post)  # N chosen at trace time (128)
        b = conv(torch.relu(a), k)
        return a + b

    compiled = torch.compile(f, fullgraph=True)
    out = compiled(u, k, pre, post)
    assert torch.allclose(out, f(u, k, pre, post), rtol=0, atol=1e-6)
    a = fftconv_ref(u, k, 128, pre, post)
    assert rel_l2(out, a + fftconv_ref(torch.relu(a), k, 256)) <= 4 * forward_tol(torch.float32)


@pytest.mark.backward
def test_compile_fullgraph_training_step():
    torch._dynamo.reset()
    u, k, pre, post = make_inputs(2, 3, 64, 64, torch.float32, (True, True))
    conv = FlashFFTConv(128, dtype=torch.float32)
    k = torch.nn.Parameter(k)

    def loss_fn(u, k, pre, post):
        return conv(u, k, pre, post).square().mean()

    compiled = torch.compile(loss_fn, fullgraph=True)
    x = u.clone().requires_grad_()
    loss = compiled(x, k, pre, post)
    loss.backward()
    xd, kd = u.double().requires_grad_(), k.detach().double().requires_grad_()
    ref = fftconv_ref(xd, kd, 128, pre, post).square().mean()
    ref.backward()
    assert abs(loss.item() - ref.item()) <= 1e-5 * abs(ref.item())
    assert rel_l2(x.grad, xd.grad) <= 2 * grad_tol(torch.float32)
    assert rel_l2(k.grad, kd.grad) <= 2 * grad_tol(torch.float32)


def test_compile_fullgraph_with_spectrum_and_dynamic_shapes():
    torch._dynamo.reset()
    _, k, _, _ = make_inputs(1, 4, 8, 50, torch.float32)
    spectrum = transform_filter(k, 128)

    @torch.compile(fullgraph=True, dynamic=True)
    def f(u):
        return fftconv(u, k_spectrum=spectrum, fft_size=128) * 2

    for B, L in ((2, 60), (3, 77)):
        u = torch.randn(B, 4, L)
        assert rel_l2(f(u), 2 * fftconv_ref(u, k, 128)) <= forward_tol(torch.float32)


def test_export():
    class Model(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.k = torch.nn.Parameter(torch.randn(3, 40))
            self.conv = FlashFFTConv(128, dtype=torch.float32)

        def forward(self, u, gate):
            return self.conv(u, self.k, None, gate)

    model = Model()
    u, gate = torch.randn(2, 3, 40), torch.randn(2, 3, 40)
    exported = torch.export.export(model, (u, gate))
    assert "flashfftconv.fftconv" in str(exported.graph)
    assert torch.equal(exported.module()(u, gate), model(u, gate))
