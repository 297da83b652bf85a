"""Bad inputs: the native library's messages (argument, value, rule) surface as Python exceptions
of the status's type; the checks the Python layer adds (devices, dtypes torch has and the library
does not) follow the same style."""

import pytest

torch = pytest.importorskip("torch")

import flashfftconv  # noqa: E402
from flashfftconv import FlashFFTConv, fftconv, transform_filter  # noqa: E402


def _u(B=2, H=3, L=40, dtype=torch.float32):
    return torch.randn(B, H, L, dtype=dtype)


@pytest.mark.parametrize("call, exc, message", [
    (lambda: fftconv(_u(L=300), torch.randn(3, 10), 256), ValueError,
     r"u: length L = 300 exceeds fft_size = 256 \(rule: L <= fft_size\)"),
    (lambda: fftconv(_u(), torch.randn(3, 300), 256), ValueError,
     r"k: filter length Lk = 300 exceeds fft_size = 256 \(rule: Lk <= fft_size\)"),
    (lambda: fftconv(_u(), torch.randn(4, 10), 64), ValueError,
     r"k: 4 filters for u's H = 3 heads"),
    (lambda: fftconv(_u(), torch.randn(3, 10), 100), ValueError, r"100"),
    (lambda: fftconv(_u(), torch.randn(3, 10), 64, torch.randn(2, 3, 41)), ValueError,
     r"pregate: shape \(2, 3, 41\) differs from u's shape \(2, 3, 40\)"),
    (lambda: fftconv(_u(dtype=torch.float64), torch.randn(3, 10), 64), ValueError,
     r"u: dtype torch.float64 is not supported"),
    (lambda: fftconv(torch.randn(3, 40), torch.randn(3, 10), 64), ValueError,
     r"u: shape \(3, 40\) has rank 2, expected rank 3 \(B, H, L\)"),
    (lambda: fftconv(_u(), torch.randn(1, 3, 10), 64), ValueError,
     r"k: shape \(1, 3, 10\) has rank 3, expected rank 2 \(H, Lk\)"),
    (lambda: fftconv(_u(), torch.randint(0, 3, (3, 10)), 64), ValueError,
     r"k: dtype torch.int64 is not a floating-point dtype"),
    (lambda: fftconv(_u(), None, 64), ValueError, r"neither given"),
    (lambda: fftconv(_u(), torch.randn(3, 10), None, k_spectrum=torch.zeros(3, 128)), ValueError,
     r"both given"),
    (lambda: fftconv(_u(), k_spectrum=torch.zeros(3, 128)), ValueError,
     r"fft_size: required with k_spectrum"),
    (lambda: fftconv(_u(), k_spectrum=torch.zeros(3, 100), fft_size=64), ValueError,
     r"spectrum: 100 columns, the CPU backend's spectrum for fft_size = 64 has 128"),
    (lambda: fftconv(_u(), k_spectrum=transform_filter(torch.randn(3, 10), 128), fft_size=64),
     ValueError, r"spectrum: 256 columns, the CPU backend's spectrum for fft_size = 64 has 128"),
    (lambda: fftconv(_u(), k_spectrum=torch.zeros(3, 129), fft_size=64), ValueError,
     r"spectrum: 129 columns"),  # e.g. a CUDA spectrum (2N + 1 columns) moved to the CPU
    (lambda: fftconv(_u(), k_spectrum=torch.zeros(2, 128), fft_size=64), ValueError,
     r"spectrum: made for 2 heads, u has H = 3"),
    (lambda: fftconv(_u(), k_spectrum=torch.zeros(3, 128, dtype=torch.float16), fft_size=64),
     ValueError, r"spectrum: dtype torch.float16 is not supported"),
    (lambda: fftconv([1.0], torch.randn(3, 10)), TypeError, r"u: expected a torch.Tensor"),
    (lambda: transform_filter(torch.randn(3, 100), 64), ValueError,
     r"k: filter length Lk = 100 exceeds fft_size = 64"),
    (lambda: FlashFFTConv(128)(_u(L=129), torch.randn(3, 10)), ValueError,
     r"u: length L = 129 exceeds fft_size = 128"),
    (lambda: fftconv(_u(), k_spectrum=torch.zeros(3, 128, dtype=torch.float64), fft_size=64),
     ValueError, r"spectrum: dtype torch.float64 is not supported \(rule: the float32 tensor "
     r"transform_filter returned"),
    # N is never truncated or parsed: floats, strings, bools and float tensors are refused.
    (lambda: fftconv(_u(), torch.randn(3, 10), 256.7), TypeError, r"fft_size: 256.7 of type float"),
    (lambda: fftconv(_u(), torch.randn(3, 10), "256"), TypeError, r"fft_size: '256' of type str"),
    (lambda: fftconv(_u(), torch.randn(3, 10), True), TypeError, r"fft_size: True"),
    (lambda: transform_filter(torch.randn(3, 10), 64.0), TypeError, r"fft_size: 64.0"),
    (lambda: fftconv(_u(), torch.randn(3, 10), torch.tensor(64.0)), TypeError,
     r"fft_size: a tensor of shape \(\) and dtype torch.float32"),
])
def test_bad_inputs(call, exc, message):
    with pytest.raises(exc, match=message) as info:
        call()
    assert isinstance(info.value, flashfftconv.FlashFFTConvError) or exc is TypeError


def test_integer_fft_sizes_of_other_types_are_taken():
    import numpy as np
    u, k = _u(), torch.randn(3, 10)
    want = fftconv(u, k, 64)
    assert torch.equal(fftconv(u, k, np.int64(64)), want)
    assert torch.equal(fftconv(u, k, torch.tensor(64)), want)


def test_native_errors_name_the_native_function():
    with pytest.raises(flashfftconv.InvalidArgumentError) as info:
        fftconv(_u(L=300), torch.randn(3, 10), 256)
    assert info.value.function == "ffc_forward" and info.value.status == 1


def test_cuda_tensors_never_fall_back_to_the_cpu():
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present (test_cuda.py covers it)")
    # Without a GPU no CUDA tensor can be made; the plan lookup for a CUDA device must still refuse
    # instead of handing out a CPU plan.
    from flashfftconv import ops

    with pytest.raises((NotImplementedError, RuntimeError)) as info:
        ops.plan_for(torch.device("cuda", 0), 4096)
    assert "CUDA" in str(info.value) and "never copied to the CPU" in str(info.value)
