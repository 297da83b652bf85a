"""The reuse of filter spectra across calls with the same unchanged filter (flashfftconv._spectrum_cache)."""
import gc

import pytest

torch = pytest.importorskip("torch")

from flashfftconv import _spectrum_cache, fftconv  # noqa: E402
from flashfftconv.reference import fftconv_ref  # noqa: E402

N = 256


@pytest.fixture(autouse=True)
def fresh_cache():
    cache = _spectrum_cache.cache
    saved = cache.budget_bytes
    cache.configure(64)
    cache.clear()
    cache.hits = cache.misses = 0
    yield cache
    cache.clear()
    cache.budget_bytes = saved


def _inputs(B=2, H=3, L=100, Lk=60, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(B, H, L, generator=g), torch.randn(H, Lk, generator=g)


def _uncached(u, k, *gates):
    saved = _spectrum_cache.cache.budget_bytes
    _spectrum_cache.cache.budget_bytes = 0
    try:
        return fftconv(u, k, N, *gates)
    finally:
        _spectrum_cache.cache.budget_bytes = saved


def test_same_filter_reuses_its_spectrum_with_the_same_bits(fresh_cache):
    u, k = _inputs()
    pre, post = torch.randn_like(u), torch.randn_like(u)
    with torch.no_grad():
        first = fftconv(u, k, N, pre, post)
        second = fftconv(u * 2, k, N, pre, post)
    assert (fresh_cache.misses, fresh_cache.hits, len(fresh_cache)) == (1, 1, 1)
    assert torch.equal(first, _uncached(u, k, pre, post))
    assert torch.equal(second, _uncached(u * 2, k, pre, post))


def test_an_in_place_write_to_the_filter_is_seen(fresh_cache):
    u, k = _inputs()
    with torch.no_grad():
        fftconv(u, k, N)
        k.mul_(-3.0)
        after = fftconv(u, k, N)
        assert torch.equal(after, _uncached(u, k))
        k[:, :5].zero_()  # a write through a view bumps the shared version counter
        through_view = fftconv(u, k, N)
        assert torch.equal(through_view, _uncached(u, k))
    assert fresh_cache.hits == 0 and fresh_cache.misses == 3


def test_a_freed_filter_leaves_the_cache(fresh_cache):
    u, k = _inputs()
    with torch.no_grad():
        fftconv(u, k, N)
    assert len(fresh_cache) == 1
    del k
    gc.collect()
    assert len(fresh_cache) == 0 and fresh_cache.nbytes == 0
    # A new tensor, even at a reused address, is transformed anew.
    u, k2 = _inputs(seed=1)
    with torch.no_grad():
        y = fftconv(u, k2, N)
    assert torch.equal(y, _uncached(u, k2)) and fresh_cache.hits == 0


def test_no_cache_when_a_gradient_flows_to_the_filter(fresh_cache):
    u, k = _inputs()
    k.requires_grad_(True)
    y = fftconv(u, k, N)
    y.sum().backward()
    assert k.grad is not None and len(fresh_cache) == 0
    # The same filter under no_grad (evaluation) is cached; u's gradient still flows with a
    # filter that does not require grad.
    with torch.no_grad():
        fftconv(u, k, N)
    assert len(fresh_cache) == 1
    k2 = k.detach().clone()
    u.requires_grad_(True)
    fftconv(u, k2, N).sum().backward()
    fftconv(u, k2, N).sum().backward()
    assert fresh_cache.hits == 1 and u.grad is not None


def test_budget_bounds_and_disables(fresh_cache):
    u, k = _inputs()
    per_filter = None
    filters = [torch.randn(3, 60) for _ in range(4)]
    with torch.no_grad():
        for f in filters:
            fftconv(u, f, N)
            per_filter = per_filter or fresh_cache.nbytes
    assert len(fresh_cache) == 4
    fresh_cache.configure(2.5 * per_filter / (1 << 20))  # room for two
    assert len(fresh_cache) == 2 and fresh_cache.nbytes == 2 * per_filter
    fresh_cache.configure(0)
    with torch.no_grad():
        fftconv(u, k, N)
    assert len(fresh_cache) == 0
    with pytest.raises(ValueError):
        fresh_cache.configure(-1)


def test_inference_tensors_are_not_cached(fresh_cache):
    with torch.inference_mode():
        u, k = _inputs()
        y = fftconv(u, k, N)
    assert len(fresh_cache) == 0
    assert torch.equal(y, _uncached(u, k))
