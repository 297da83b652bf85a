"""Forward results against a float64 torch.fft reference, on the CPU backend: every mode (causal,
circular, odd L, partial filters), gate combination and dtype, at the tolerances of
docs/numerics.md."""

import pytest

torch = pytest.importorskip("torch")

import flashfftconv  # noqa: E402
from flashfftconv import fftconv, transform_filter  # noqa: E402
from flashfftconv.reference import fftconv_ref  # noqa: E402
from helpers import DTYPES, GATES, forward_tol, make_inputs, rel_l2  # noqa: E402


# (B, H, L, Lk, N): name
CASES = {
    "causal_2L": (2, 4, 64, 64, 128),
    "causal_odd_L": (3, 5, 63, 63, 128),
    "circular_L_eq_N": (2, 3, 256, 256, 256),
    "circular_odd_heads": (1, 7, 64, 40, 64),
    "partial_filter": (2, 3, 100, 17, 128),
    "filter_length_1": (2, 2, 33, 1, 64),
    "short_input_long_filter": (1, 3, 5, 200, 256),
    "odd_everything": (3, 5, 97, 31, 128),
    "smallest_size": (2, 2, 16, 16, 16),
    "wrapping_not_causal": (2, 2, 50, 40, 64),  # L + Lk - 1 > N: the first L of a circular conv
}


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: str(d).split(".")[-1])
@pytest.mark.parametrize("gates", GATES, ids=["nogate", "pre", "post", "both"])
@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_forward_matches_float64_reference(case, gates, dtype):
    B, H, L, Lk, N = CASES[case]
    u, k, pre, post = make_inputs(B, H, L, Lk, dtype, gates, seed=hash(case) % 1000)
    y = fftconv(u, k, N, pre, post)
    assert y.dtype == dtype and y.shape == (B, H, L)
    ref = fftconv_ref(u, k, N, pre, post)
    assert rel_l2(y, ref) <= forward_tol(dtype)


@pytest.mark.parametrize("N", [16, 32, 512, 4096, 1 << 15, 1 << 18])
def test_forward_sizes(N):
    L = N // 2
    u, k, pre, post = make_inputs(1, 2, L, L, torch.float32, (True, True), seed=N % 97)
    y = fftconv(u, k, N, pre, post)
    assert rel_l2(y, fftconv_ref(u, k, N, pre, post)) <= forward_tol(torch.float32)


@pytest.mark.parametrize("kdtype", [torch.float16, torch.bfloat16, torch.float64])
def test_filter_dtypes(kdtype):
    u, k, _, _ = make_inputs(2, 3, 40, 40, torch.float32)
    k = k.to(kdtype)
    y = fftconv(u, k, 128)
    # 16-bit filters are taken as they are (the reference sees the same rounded values); float64
    # filters are converted to float32 first (their rounding is within the fp32 bound).
    ref = fftconv_ref(u, k, 128)
    assert rel_l2(y, ref) <= forward_tol(torch.float32) * (4 if kdtype == torch.float64 else 1)


def test_default_fft_size_is_causal():
    u, k, _, _ = make_inputs(2, 3, 100, 29, torch.float32)
    assert flashfftconv.choose_fft_size(100, 29) == 128  # 100 + 29 - 1 = 128
    assert flashfftconv.choose_fft_size(100, 30) == 256
    assert flashfftconv.choose_fft_size(100) == 128
    assert flashfftconv.choose_fft_size(3) == 16
    y = fftconv(u, k)
    ref = fftconv_ref(u, k, 128)
    assert rel_l2(y, ref) <= forward_tol(torch.float32)
    # A causal convolution does not depend on N once N >= L + Lk - 1.
    assert rel_l2(y, fftconv(u, k, 1024)) <= 2e-6


def test_choose_fft_size_too_large():
    with pytest.raises(NotImplementedError, match="L \\+ Lk - 1 <= N"):
        flashfftconv.choose_fft_size(1 << 22, 1 << 22)


def test_spectrum_reuse_matches_time_domain_filter():
    u, k, pre, post = make_inputs(2, 3, 70, 70, torch.bfloat16, (True, True))
    spectrum = transform_filter(k, 256)
    assert spectrum.dtype == torch.float32 and spectrum.shape[0] == 3
    a = fftconv(u, k, 256, pre, post)
    b = fftconv(u, k_spectrum=spectrum, fft_size=256, pregate=pre, postgate=post)
    assert torch.equal(a, b)
    for _ in range(2):  # reusable
        assert torch.equal(b, fftconv(u, None, 256, pre, post, k_spectrum=spectrum))


def test_noncontiguous_inputs():
    u, k, pre, post = make_inputs(3, 4, 60, 60, torch.float32, (True, True))
    ut = u.transpose(0, 1).contiguous().transpose(0, 1)  # same values, other strides
    kt = torch.cat([k, k], dim=1)[:, ::2]  # stride 2
    kt_ref = kt.contiguous()
    y = fftconv(ut, kt, 128, pre[..., :].transpose(0, 1).contiguous().transpose(0, 1), post)
    assert not ut.is_contiguous() and not kt.is_contiguous()
    assert torch.equal(y, fftconv(u, kt_ref, 128, pre, post))


def test_gates_are_converted_to_u_dtype():
    u, k, pre, post = make_inputs(2, 3, 30, 30, torch.bfloat16, (True, True))
    y = fftconv(u, k, 64, pre.float(), post.double())
    assert y.dtype == torch.bfloat16
    assert torch.equal(y, fftconv(u, k, 64, pre, post))


def test_inputs_are_not_modified():
    u, k, pre, post = make_inputs(2, 3, 30, 30, torch.float16, (True, True))
    copies = [t.clone() for t in (u, k, pre, post)]
    fftconv(u, k, 64, pre, post)
    for a, b in zip((u, k, pre, post), copies):
        assert torch.equal(a, b)


@pytest.mark.parametrize("shape", [(0, 3, 20), (2, 0, 20)])
def test_empty_batches_and_heads(shape):
    B, H, L = shape
    u = torch.randn(B, H, L)
    k = torch.randn(H, 10)
    y = fftconv(u, k, 32)
    assert y.shape == u.shape


def test_deterministic_and_thread_count_independent():
    u, k, pre, post = make_inputs(4, 8, 1000, 1000, torch.float32, (True, True))
    a = fftconv(u, k, 2048, pre, post)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        b = fftconv(u, k, 2048, pre, post)
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(a, b)
