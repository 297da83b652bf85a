"""CUDA tensors on the CUDA backend: results against float64 torch.fft, the backward, the current
stream, CUDA graph capture, no CPU fallback. Every test is marked `cuda` and skips, with the reason,
where no CUDA device (or no CUDA build of the library) is present."""

import gc

import pytest

torch = pytest.importorskip("torch")

import flashfftconv  # noqa: E402
from flashfftconv import FlashFFTConv, _capi, fftconv, transform_filter  # noqa: E402
from flashfftconv.reference import fftconv_ref  # noqa: E402
from helpers import GATES, CUDA_FORWARD_TOL, make_inputs, rel_l2  # noqa: E402

pytestmark = pytest.mark.cuda

DTYPES = [torch.float16, torch.bfloat16]


def cuda_sizes():
    return flashfftconv.supported_fft_sizes("cuda") if flashfftconv.library_available() else ()


def _modes(N):
    # (B, H, L, Lk): causal (L = N/2), circular (L = N), odd L with a short filter.
    return [(2, 4, N // 2, N // 2), (1, 3, N, N), (3, 5, N // 2 - 1, max(1, N // 8) + 1)]


@pytest.mark.parametrize("dtype", DTYPES, ids=["f16", "bf16"])
@pytest.mark.parametrize("gates", GATES, ids=["nogate", "pre", "post", "both"])
def test_forward_every_cuda_size(dtype, gates):
    sizes = cuda_sizes()
    assert sizes, "the CUDA backend reports no FFT size"
    for N in sizes:
        for B, H, L, Lk in _modes(N):
            u, k, pre, post = make_inputs(B, H, L, Lk, dtype, gates, seed=N % 1009, device="cuda")
            y = fftconv(u, k, N, pre, post)
            assert y.device == u.device and y.dtype == dtype
            err = rel_l2(y, fftconv_ref(u, k, N, pre, post))
            assert err <= CUDA_FORWARD_TOL[dtype], (N, B, H, L, Lk, err)


def test_module_and_spectrum_on_cuda():
    N = cuda_sizes()[len(cuda_sizes()) // 2]
    conv = FlashFFTConv(N, dtype=torch.bfloat16)
    u, k, pre, post = make_inputs(2, 8, N // 2, N // 2, torch.bfloat16, (True, True), device="cuda")
    y = conv(u, k, pre, post)
    assert rel_l2(y, fftconv_ref(u, k, N, pre, post)) <= CUDA_FORWARD_TOL[torch.bfloat16]
    spectrum = transform_filter(k, N)
    assert spectrum.device == u.device
    y2 = fftconv(u, k_spectrum=spectrum, fft_size=N, pregate=pre, postgate=post)
    assert rel_l2(y2, y) <= CUDA_FORWARD_TOL[torch.bfloat16]


@pytest.mark.parametrize("N", [256, 32768, 65536, 131072, 1 << 20], ids=["cta", "cluster", "cluster16", "four_step", "1M"])
def test_backward_on_cuda(N):
    # The single-CTA and (on sm_90a) the 8- and 16-CTA cluster kernels, the four-step algorithm of the long sizes.
    if N not in cuda_sizes():
        pytest.skip(f"N = {N} is not a CUDA size of this build")
    dtype = torch.bfloat16
    u, k, pre, post = make_inputs(2, 4, N // 2, N // 2, dtype, (True, True), device="cuda")
    leaves = [t.clone().requires_grad_() for t in (u, k, pre, post)]
    y = fftconv(leaves[0], leaves[1], N, leaves[2], leaves[3])
    dy = torch.randn_like(y)
    try:
        y.backward(dy)
    except NotImplementedError as e:
        pytest.skip(f"the CUDA backend of this build has no backward yet: {e}")
    ref_leaves = [t.detach().double().requires_grad_() for t in (u, k, pre, post)]
    fftconv_ref(*ref_leaves[:2], N, *ref_leaves[2:]).backward(dy.double())
    # docs/numerics.md: du and the gate gradients keep the forward's bound; dk is 1e-3 in f32, and
    # here it is rounded to k's dtype as well (the forward's bound covers one such rounding).
    for name, a, b in zip(("du", "dk", "dpregate", "dpostgate"), leaves, ref_leaves):
        assert a.grad.device == a.device and a.grad.dtype == a.dtype
        bound = CUDA_FORWARD_TOL[dtype] + (1e-3 if name == "dk" else 0.0)
        assert rel_l2(a.grad, b.grad) <= bound, name


def test_respects_the_current_stream():
    N = cuda_sizes()[0]
    u, k, pre, post = make_inputs(4, 16, N // 2, N // 2, torch.float16, (True, True), device="cuda")
    expect = fftconv(u, k, N, pre, post)
    torch.cuda.synchronize()
    side = torch.cuda.Stream()
    torch.cuda._sleep(int(2e9))  # keeps the default stream busy for about a second
    with torch.cuda.stream(side):
        y = fftconv(u, k, N, pre, post)
        side.synchronize()  # the call ran on `side`, not behind the sleeping default stream
        assert not torch.cuda.default_stream().query(), "the default stream finished too early"
        got = y.to("cpu", non_blocking=False)
    torch.cuda.synchronize()
    assert torch.equal(got, expect.cpu())


def test_cuda_graph_capture_and_replay():
    N = cuda_sizes()[0]
    u, k, pre, post = make_inputs(2, 8, N // 2, N // 2, torch.bfloat16, (True, True), device="cuda")
    static_u = u.clone()
    # Warm up on a side stream (creates the plan: plan creation is not capturable).
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        fftconv(static_u, k, N, pre, post)
    torch.cuda.current_stream().wait_stream(s)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        static_y = fftconv(static_u, k, N, pre, post)
    for seed in (1, 2):
        new_u = make_inputs(2, 8, N // 2, N // 2, torch.bfloat16, seed=seed, device="cuda")[0]
        static_u.copy_(new_u)
        graph.replay()
        torch.cuda.synchronize()
        assert torch.equal(static_y, fftconv(new_u, k, N, pre, post))


def test_captured_graph_replays_after_its_plan_left_the_cache():
    from flashfftconv import _plan_cache

    N = cuda_sizes()[-1]
    u, k, pre, post = make_inputs(2, 4, N // 2, N // 2, torch.float16, (True, True), device="cuda")
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        fftconv(u, k, N, pre, post)  # creates the plan outside the capture
    torch.cuda.current_stream().wait_stream(s)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        static_y = fftconv(u, k, N, pre, post)
    expected = fftconv(u, k, N, pre, post)
    # Evict everything: clear the cache and fill it past its capacity with other plans.
    _plan_cache.cache.clear()
    for n in flashfftconv.supported_fft_sizes("cpu")[: _plan_cache.cache.capacity + 2]:
        _plan_cache.cache.get(n, _capi.BACKEND_CPU, -1, 1)
    gc.collect()
    static_y.zero_()
    graph.replay()
    torch.cuda.synchronize()
    assert torch.equal(static_y, expected)
    if flashfftconv.ops.kernels()[0] == "python":
        # The Python kernels' plans come from _plan_cache, which pins those fetched under capture
        # (the compiled kernels' own plan cache keeps CUDA plans for the life of the process).
        device = u.device.index if u.device.index is not None else torch.cuda.current_device()
        assert (N, _capi.BACKEND_CUDA, device, 0) in _plan_cache.cache.pinned_keys()


def test_no_cpu_fallback_for_unsupported_cuda_requests():
    cpu_only = [n for n in flashfftconv.supported_fft_sizes("cpu") if n not in cuda_sizes()]
    if not cpu_only:
        pytest.skip("the CUDA backend supports every CPU size")
    N = cpu_only[0]
    u, k, _, _ = make_inputs(1, 2, N // 2, N // 2, torch.float16, device="cuda")
    with pytest.raises((NotImplementedError, ValueError)) as info:
        fftconv(u, k, N)
    assert "CUDA" in str(info.value) or "cuda" in str(info.value)


def test_float32_on_cuda_runs_there_or_says_why():
    N = cuda_sizes()[0]
    u, k, _, _ = make_inputs(1, 2, N // 2, N // 2, torch.float32, device="cuda")
    try:
        y = fftconv(u, k, N)
    except NotImplementedError as e:  # the CUDA backend may take 16-bit I/O only: it must say so
        assert "CUDA" in str(e) and "f32" in str(e)
        return
    assert y.device == u.device
    assert rel_l2(y, fftconv_ref(u, k, N)) <= 1e-5


def test_tensors_on_different_devices_are_rejected():
    u, k, _, _ = make_inputs(1, 2, 32, 32, torch.float16)
    with pytest.raises(ValueError, match="on device cpu, u is on cuda"):
        fftconv(u.cuda(), k, 64)


def test_opcheck_and_compile_on_cuda():
    N = cuda_sizes()[0]
    u, k, pre, post = make_inputs(2, 4, N // 2, N // 2, torch.bfloat16, (True, True), device="cuda")
    torch.library.opcheck(torch.ops.flashfftconv.fftconv.default, (u, k, N, pre, post),
                          test_utils=("test_schema", "test_faketensor"))
    torch._dynamo.reset()
    f = torch.compile(lambda u, k, p, q: fftconv(u, k, N, p, q) + 1, fullgraph=True)
    assert torch.equal(f(u, k, pre, post), fftconv(u, k, N, pre, post) + 1)


def test_compile_reduce_overhead_forward_and_backward():
    # torch.compile's CUDA graphs (mode="reduce-overhead") around the forward and a training step.
    N = cuda_sizes()[0]
    u, k, pre, post = make_inputs(2, 4, N // 2, N // 2, torch.bfloat16, (True, True), device="cuda")
    torch._dynamo.reset()
    fwd = torch.compile(lambda u, k, p, q: fftconv(u, k, N, p, q) * 2, mode="reduce-overhead",
                        fullgraph=True)
    for seed in (1, 2, 3):  # the later calls replay the recorded graph with new inputs
        new_u = make_inputs(2, 4, N // 2, N // 2, torch.bfloat16, seed=seed, device="cuda")[0]
        assert torch.equal(fwd(new_u, k, pre, post).clone(), fftconv(new_u, k, N, pre, post) * 2)

    def loss(u, k, p, q):
        return (fftconv(u, k, N, p, q).float() ** 2).sum()

    step = torch.compile(loss, mode="reduce-overhead")
    for seed in (4, 5, 6):
        leaves = [t.detach().clone().requires_grad_(True) for t in
                  make_inputs(2, 4, N // 2, N // 2, torch.bfloat16, (True, True), seed=seed,
                              device="cuda")]
        eager = [t.detach().clone().requires_grad_(True) for t in leaves]
        step(*leaves).backward()
        loss(*eager).backward()
        for got, want in zip(leaves, eager):
            # Inductor may round dy = 2 y differently by one bf16 ulp; nothing else differs.
            assert rel_l2(got.grad, want.grad) <= 2.0 ** -8


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs two CUDA devices")
def test_second_device():
    N = cuda_sizes()[0]
    u, k, _, _ = make_inputs(1, 2, N // 2, N // 2, torch.float16, device="cuda:1")
    y = fftconv(u, k, N)
    assert y.device == torch.device("cuda:1")
    assert rel_l2(y, fftconv_ref(u, k, N)) <= CUDA_FORWARD_TOL[torch.float16]
