"""The original's API: FlashFFTConv(seqlen, dtype) as an nn.Module, its shapes and call patterns."""

import copy
import pickle

import pytest

torch = pytest.importorskip("torch")

import flashfftconv  # noqa: E402
from flashfftconv import FlashFFTConv  # noqa: E402
from flashfftconv.reference import fftconv_ref  # noqa: E402
from helpers import forward_tol, make_inputs, rel_l2  # noqa: E402


def test_import_paths_of_the_original():
    from flashfftconv.conv import FlashFFTConv as FromConv

    assert FromConv is FlashFFTConv is flashfftconv.FlashFFTConv


def test_causal_2L_readme_pattern():
    # The original README: conv = FlashFFTConv(2 * L, dtype=torch.bfloat16); y = conv(u, k).
    B, H, L = 4, 8, 256
    conv = FlashFFTConv(2 * L, dtype=torch.bfloat16)
    u, k, _, _ = make_inputs(B, H, L, L, torch.bfloat16)
    y = conv(u, k)
    assert y.shape == (B, H, L) and y.dtype == torch.bfloat16
    assert rel_l2(y, fftconv_ref(u, k, 2 * L)) <= forward_tol(torch.bfloat16)


def test_default_dtype_is_fp16_like_the_original():
    conv = FlashFFTConv(256)
    assert conv.dtype == torch.float16 and conv.seqlen == 256
    u, k, _, _ = make_inputs(2, 3, 128, 128, torch.float16)
    y = conv(u, k)
    assert y.dtype == torch.float16
    assert rel_l2(y, fftconv_ref(u, k, 256)) <= forward_tol(torch.float16)


@pytest.mark.parametrize("udtype", [torch.float32, torch.float16, torch.bfloat16])
def test_output_has_u_dtype_whatever_the_module_dtype(udtype):
    # The original silently returned garbage when u's dtype differed from the module's; here the
    # module dtype is recorded only and y always has u's dtype.
    conv = FlashFFTConv(128, dtype=torch.bfloat16)
    u, k, _, _ = make_inputs(2, 3, 64, 64, udtype)
    y = conv(u, k)
    assert y.dtype == udtype
    assert rel_l2(y, fftconv_ref(u, k, 128)) <= forward_tol(udtype)


def test_gates_positional_and_keyword_and_alone():
    conv = FlashFFTConv(128, dtype=torch.bfloat16)
    u, k, pre, post = make_inputs(2, 3, 64, 64, torch.bfloat16, (True, True))
    both = conv(u, k, pre, post)
    assert torch.equal(both, conv(u, k, pregate=pre, postgate=post))
    assert rel_l2(both, fftconv_ref(u, k, 128, pre, post)) <= forward_tol(torch.bfloat16)
    # The original required both gates; either alone works here.
    assert rel_l2(conv(u, k, pre), fftconv_ref(u, k, 128, pre)) <= forward_tol(torch.bfloat16)
    assert rel_l2(conv(u, k, postgate=post), fftconv_ref(u, k, 128, None, post)) <= forward_tol(
        torch.bfloat16)


def test_one_module_shared_across_layers():
    class Layer(torch.nn.Module):
        def __init__(self, conv, H, L, seed):
            super().__init__()
            self.conv = conv  # the original README: one FlashFFTConv per model, passed to layers
            g = torch.Generator().manual_seed(seed)
            self.k = torch.nn.Parameter(torch.randn(H, L, generator=g) / L)
            self.proj = torch.nn.Linear(H, H)

        def forward(self, u):
            y = self.conv(u, self.k, torch.sigmoid(u), None)
            return self.proj(y.transpose(1, 2)).transpose(1, 2)

    H, L = 8, 64
    conv = FlashFFTConv(2 * L, dtype=torch.float32)
    model = torch.nn.Sequential(*[Layer(conv, H, L, s) for s in range(3)])
    u = torch.randn(2, H, L)
    out = model(u)
    x = u.double()
    for layer in model:
        y = fftconv_ref(x, layer.k.detach(), 2 * L, torch.sigmoid(x))
        x = torch.nn.functional.linear(y.transpose(1, 2), layer.proj.weight.double(),
                                       layer.proj.bias.double()).transpose(1, 2)
    assert rel_l2(out, x) <= 1e-5
    # No buffers: the model's state is its parameters only.
    assert all(".conv." not in key for key in model.state_dict())


def test_no_state_and_no_device_dance():
    conv = FlashFFTConv(4096, dtype=torch.bfloat16)
    assert len(conv.state_dict()) == 0 and list(conv.parameters()) == [] and list(conv.buffers()) == []
    assert conv.to("cpu") is conv and conv.to(torch.float32) is conv and conv.dtype == torch.bfloat16
    clone = copy.deepcopy(conv)
    restored = pickle.loads(pickle.dumps(conv))
    u, k, _, _ = make_inputs(1, 2, 100, 100, torch.bfloat16)
    assert torch.equal(clone(u, k), conv(u, k)) and torch.equal(restored(u, k), conv(u, k))
    assert "seqlen=4096" in repr(conv)


def test_loads_checkpoints_of_the_original():
    # Checkpoints made with the original hold its constant buffers under the module's prefix.
    class Model(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.flashfftconv = FlashFFTConv(1024, dtype=torch.bfloat16)
            self.k = torch.nn.Parameter(torch.zeros(4, 512))

    model = Model()
    state = {
        "k": torch.ones(4, 512),
        "flashfftconv.f_32_fft": torch.zeros(32, 32, 2),
        "flashfftconv.twiddle_factors_fft_real": torch.zeros(32, 32),
        "flashfftconv.twiddle_factors_ifft_imag": torch.zeros(32, 32),
    }
    result = model.load_state_dict(state, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    assert torch.equal(model.k.detach(), torch.ones(4, 512))


def test_use_32_butterfly_is_accepted():
    conv = FlashFFTConv(1 << 17, dtype=torch.bfloat16, use_32_butterfly=False)
    assert conv.use_32_butterfly is False


@pytest.mark.parametrize("seqlen", [100, 8, 1 << 23, 3000])
def test_unsupported_seqlen_raises_not_implemented(seqlen):
    with pytest.raises(NotImplementedError, match=f"FFT size {seqlen} is not supported"):
        FlashFFTConv(seqlen)


@pytest.mark.parametrize("bad", [0, -4, 256.0, "256", True])
def test_bad_seqlen_type(bad):
    with pytest.raises(ValueError, match="seqlen"):
        FlashFFTConv(bad)


def test_bad_module_dtype():
    with pytest.raises(ValueError, match="dtype"):
        FlashFFTConv(256, dtype=torch.float64)


def test_odd_lengths_and_any_head_count():
    conv = FlashFFTConv(512, dtype=torch.float16)
    for H in (1, 3, 17):
        u, k, pre, post = make_inputs(3, H, 255, 255, torch.float16, (True, True))
        y = conv(u, k, pre, post)
        assert rel_l2(y, fftconv_ref(u, k, 512, pre, post)) <= forward_tol(torch.float16)
