"""Autograd through the native backward (CPU backend).

The library takes no float64 tensors, so gradients are checked two ways:

1. Against torch.autograd gradients of the float64 torch.fft reference (helpers.fftconv_ref) of the
   same (rounded) inputs, at relative L2 error <= grad_tol(dtype, name): the library's documented
   bounds (docs/numerics.md, "Backward (CPU)"): du, dpregate, dpostgate as the forward (1e-6 for
   fp32, u_dtype + 1e-6 for 16-bit outputs); dk 1e-6 for every dtype (fp32 output, batch sum in
   double).
2. With torch.autograd.gradcheck in float32. y is linear in each input separately (in u, in k, in
   pregate and in postgate), and gradcheck perturbs one element of one input at a time, so the
   central difference (f(x + e) - f(x - e)) / 2e equals the derivative exactly for any e; only the
   fp32 rounding of f, about 1e-7 * max|y| (|y| <= ~10 here), divided by 2e remains. With e = 1 that
   is ~1e-6, so atol = 1e-4 / rtol = 1e-3 test the wiring (which gradient goes where, summation over
   the batch, the filter length, the masks) with a wide margin over rounding and none over a
   wrong gradient (those are O(1) off).
"""

import warnings

import pytest

torch = pytest.importorskip("torch")

from flashfftconv import FlashFFTConv, fftconv, transform_filter  # noqa: E402
from flashfftconv.reference import fftconv_ref  # noqa: E402
from helpers import DTYPES, GATES, grad_tol, make_inputs, rel_l2  # noqa: E402

pytestmark = pytest.mark.backward

CASES = {
    "causal": (2, 3, 32, 32, 64),
    "causal_odd": (3, 5, 37, 20, 64),
    "circular": (2, 3, 64, 64, 64),
    "partial_filter": (2, 2, 50, 7, 64),
    "wrapping": (1, 3, 40, 40, 64),
}


def _grads_ref(u, k, pre, post, N, dy):
    leaves = [None if t is None else t.detach().double().requires_grad_() for t in (u, k, pre, post)]
    y = fftconv_ref(leaves[0], leaves[1], N, leaves[2], leaves[3])
    inputs = [t for t in leaves if t is not None]
    grads = torch.autograd.grad(y, inputs, dy.double())
    it = iter(grads)
    return [None if t is None else next(it) for t in leaves]


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: str(d).split(".")[-1])
@pytest.mark.parametrize("gates", GATES, ids=["nogate", "pre", "post", "both"])
@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_gradients_match_float64_autograd(case, gates, dtype):
    B, H, L, Lk, N = CASES[case]
    u, k, pre, post = make_inputs(B, H, L, Lk, dtype, gates, seed=len(case))
    leaves = [None if t is None else t.clone().requires_grad_() for t in (u, k, pre, post)]
    y = fftconv(leaves[0], leaves[1], N, leaves[2], leaves[3])
    dy = torch.randn(y.shape, generator=torch.Generator().manual_seed(7)).to(dtype)
    y.backward(dy)
    ref = _grads_ref(u, k, pre, post, N, dy)
    for name, leaf, r in zip(("du", "dk", "dpregate", "dpostgate"), leaves, ref):
        if leaf is None:
            continue
        assert leaf.grad is not None, name
        assert leaf.grad.dtype == leaf.dtype and leaf.grad.shape == leaf.shape, name
        tol = grad_tol(dtype, name)
        assert rel_l2(leaf.grad, r) <= tol, (name, rel_l2(leaf.grad, r))


@pytest.mark.parametrize("gates", GATES, ids=["nogate", "pre", "post", "both"])
def test_gradcheck_float32(gates):
    u, k, pre, post = make_inputs(2, 2, 9, 5, torch.float32, gates, seed=3)
    inputs = [t.clone().requires_grad_() for t in (u, k, pre, post) if t is not None]

    def f(*args):
        it = iter(args)
        a = [next(it) if t is not None else None for t in (u, k, pre, post)]
        return fftconv(a[0], a[1], 16, a[2], a[3])

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "not a double precision floating point": see the docstring
        assert torch.autograd.gradcheck(f, inputs, eps=1.0, atol=1e-4, rtol=1e-3,
                                        check_batched_grad=False)


@pytest.mark.parametrize("which", ["u", "k", "pregate", "postgate", "u+postgate"])
def test_only_requested_gradients(which):
    u, k, pre, post = make_inputs(2, 3, 30, 12, torch.float32, (True, True))
    names = ("u", "k", "pregate", "postgate")
    leaves = {n: t.clone().requires_grad_(n in which.split("+")) for n, t in zip(names, (u, k, pre, post))}
    y = fftconv(leaves["u"], leaves["k"], 64, leaves["pregate"], leaves["postgate"])
    dy = torch.randn_like(y)
    y.backward(dy)
    ref = dict(zip(names, _grads_ref(u, k, pre, post, 64, dy)))
    for n, leaf in leaves.items():
        if n in which.split("+"):
            assert rel_l2(leaf.grad, ref[n]) <= grad_tol(torch.float32, "dk" if n == "k" else n)
        else:
            assert leaf.grad is None


def test_filter_gradient_has_filter_dtype_and_length():
    u, k, _, _ = make_inputs(2, 3, 40, 11, torch.bfloat16)
    k16 = k.to(torch.bfloat16).requires_grad_()
    y = fftconv(u, k16, 64)
    dy = torch.randn_like(y)
    y.backward(dy)
    assert k16.grad.dtype == torch.bfloat16 and k16.grad.shape == (3, 11)
    ref = _grads_ref(u, k16, None, None, 64, dy)[1]
    # dk is computed in fp32 (1e-6) and then rounded to k's dtype: + u_bf16.
    assert rel_l2(k16.grad, ref) <= grad_tol(torch.bfloat16)


def test_float64_filter_gets_float64_gradient():
    u, k, _, _ = make_inputs(2, 3, 40, 11, torch.float32)
    k64 = k.double().requires_grad_()
    y = fftconv(u, k64, 64)
    y.sum().backward()  # an expanded (stride-0) dy
    assert k64.grad.dtype == torch.float64
    ref = _grads_ref(u, k, None, None, 64, torch.ones_like(y))[1]
    assert rel_l2(k64.grad, ref) <= grad_tol(torch.float32, "dk")


def test_spectrum_path_gradients():
    u, k, pre, post = make_inputs(2, 3, 30, 30, torch.float32, (True, True))
    with pytest.raises(ValueError, match="requires grad"):
        transform_filter(k.clone().requires_grad_(), 64)
    with torch.no_grad():
        spectrum = transform_filter(k.clone().requires_grad_(), 64)
    assert not spectrum.requires_grad
    leaves = [t.clone().requires_grad_() for t in (u, pre, post)]
    y = fftconv(leaves[0], k_spectrum=spectrum, fft_size=64, pregate=leaves[1], postgate=leaves[2])
    dy = torch.randn_like(y)
    y.backward(dy)
    ref = _grads_ref(u, k, pre, post, 64, dy)
    for leaf, r in zip(leaves, (ref[0], ref[2], ref[3])):
        assert rel_l2(leaf.grad, r) <= grad_tol(torch.float32)


def test_module_backward_in_eval_mode_and_shared_across_layers():
    conv = FlashFFTConv(128, dtype=torch.float32).eval()  # the original could not do backward in eval
    u, k1, _, _ = make_inputs(2, 3, 64, 64, torch.float32, seed=1)
    _, k2, _, _ = make_inputs(2, 3, 64, 64, torch.float32, seed=2)
    k1.requires_grad_()
    k2.requires_grad_()
    x = u.clone().requires_grad_()
    y = conv(conv(x, k1), k2)  # one module, two layers
    y.square().sum().backward()
    xd, k1d, k2d = (t.detach().double().requires_grad_() for t in (u, k1, k2))
    yd = fftconv_ref(fftconv_ref(xd, k1d, 128), k2d, 128)
    yd.square().sum().backward()
    # Two layers and a square: each fp32 step's 1e-6 bound, compounded (and the fp32 rounding of the
    # intermediate activations), stays within a few times 1e-6.
    for a, b in ((x, xd), (k1, k1d), (k2, k2d)):
        assert rel_l2(a.grad, b.grad) <= 5e-6


@pytest.mark.parametrize("form", ["k", "spectrum"])
def test_api_and_operator_autograd_give_the_same_gradients(form):
    # fftconv records its own autograd node; torch.ops.flashfftconv.* use the registered formula.
    u, k, pre, post = make_inputs(2, 3, 30, 30, torch.float32, (True, True))
    dy = torch.randn_like(u)
    if form == "k":
        filt, op = k, torch.ops.flashfftconv.fftconv
        def api(u, f, p, q):
            return fftconv(u, f, 64, p, q)
    else:
        filt, op = transform_filter(k, 64), torch.ops.flashfftconv.fftconv_spectrum
        def api(u, f, p, q):
            return fftconv(u, k_spectrum=f, fft_size=64, pregate=p, postgate=q)
    grads = []
    for call in (api, lambda u, f, p, q: op(u, f, 64, p, q)):
        leaves = [t.clone().requires_grad_(form == "k" or t is not filt)
                  for t in (u, filt, pre, post)]
        call(*leaves).backward(dy)
        grads.append([leaf.grad for leaf in leaves])
    for a, b in zip(*grads):
        assert (a is None and b is None) or torch.equal(a, b)


def test_api_errors_are_typed_when_recording_a_graph():
    from flashfftconv import InvalidArgumentError
    u, k, _, _ = make_inputs(1, 2, 16, 16, torch.float32)
    with pytest.raises(InvalidArgumentError, match="k: shape"):
        fftconv(u.requires_grad_(), k[0], 32)
