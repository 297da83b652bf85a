"""The ctypes layer without torch: loading, versions, sizes, plans, errors, a forward on numpy
arrays, and importing the package where torch is not importable."""

import ctypes
import gc
import os
import re
import subprocess
import sys
import weakref

import pytest

import flashfftconv
from flashfftconv import _capi, _native

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PYTHON_DIR = os.path.join(ROOT, "python")


def run_python(code, env_update=None, block_torch=False):
    """Runs `code` in a fresh interpreter with the package of this checkout on the path."""
    env = dict(os.environ)
    env["PYTHONPATH"] = PYTHON_DIR + os.pathsep + env.get("PYTHONPATH", "")
    for key, value in (env_update or {}).items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    if block_torch:  # torch (and numpy, to be thorough) not importable
        code = "import sys; sys.modules['torch'] = None; sys.modules['numpy'] = None\n" + code
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=300)


def test_library_loads_and_versions_match():
    assert flashfftconv.library_available()
    assert os.path.isfile(flashfftconv.library_path())
    assert flashfftconv.library_version() == flashfftconv.__version__
    assert flashfftconv.abi_version() in _capi.SUPPORTED_ABI_VERSIONS


def test_version_matches_cmake_project():
    with open(os.path.join(ROOT, "CMakeLists.txt")) as f:
        m = re.search(r"project\(flashfftconv VERSION ([0-9.]+)", f.read())
    assert m and m.group(1) == flashfftconv.__version__


def test_ctypes_struct_sizes_match_the_header_layout():
    # x86-64 / aarch64 LP64 layouts of ffc.h (pointers and size_t of 8 bytes, enums of 4).
    assert ctypes.sizeof(_capi.Tensor) == 8 + 4 + 4 + 24 + 24
    assert ctypes.sizeof(_capi.PlanOptions) == 8 + 8 + 4 + 4 + 4 + 4 + 4 + 4  # tail padding
    assert ctypes.sizeof(_capi.PlanInfo) == 8 + 8 + 4 + 4 + 4 + 32 + 32 + 4
    assert ctypes.sizeof(_capi.ForwardArgs) == 11 * 8
    assert ctypes.sizeof(_capi.BackwardArgs) == 15 * 8


def test_cpu_sizes():
    sizes = _native.supported_fft_sizes(_capi.BACKEND_CPU)
    assert sizes[0] == 16 and sizes[-1] == 4194304
    assert all(n in sizes for n in (16, 256, 4096, 65536, 1 << 20))
    assert not _native.fft_size_supported(100, _capi.BACKEND_CPU)
    assert not _native.fft_size_supported(8, _capi.BACKEND_CPU)


def test_plan_info():
    plan = _native.Plan(4096, backend=_capi.BACKEND_CPU, num_threads=1)
    assert plan.fft_size == 4096 and plan.backend == _capi.BACKEND_CPU and plan.device == -1
    n = 1
    for r in plan.radices:
        n *= r
    assert n == 4096
    assert plan.spectrum_bytes(3) == 3 * plan.spectrum_bytes_per_head()
    assert "fft_size=4096" in repr(plan)


@pytest.mark.parametrize("n, exc, text", [
    (100, ValueError, "100"),
    (0, ValueError, "0"),
    (1 << 23, ValueError, str(1 << 23)),
])
def test_plan_create_rejects_bad_sizes(n, exc, text):
    with pytest.raises(exc) as info:
        _native.Plan(n, backend=_capi.BACKEND_CPU)
    assert isinstance(info.value, flashfftconv.InvalidArgumentError)
    assert info.value.status == _capi.INVALID_ARGUMENT and info.value.function == "ffc_plan_create"
    assert text in str(info.value) and "rule" in str(info.value)


def test_plan_create_rejects_bad_options():
    with pytest.raises(ValueError, match="num_threads"):
        _native.Plan(64, backend=_capi.BACKEND_CPU, num_threads=-2)
    with pytest.raises(ValueError, match="backend"):
        _native.Plan(64, backend=7)


def test_cuda_plan_without_cuda_is_not_silently_cpu():
    if _native.cuda_device_count() > 0:
        pytest.skip("a CUDA device is present")
    with pytest.raises((NotImplementedError, RuntimeError)) as info:
        _native.Plan(4096, backend=_capi.BACKEND_CUDA)
    assert isinstance(info.value, (flashfftconv.NotSupportedError, flashfftconv.NoDeviceError))
    assert "CUDA" in str(info.value)


def test_status_to_exception_mapping():
    cases = {
        _capi.INVALID_ARGUMENT: ValueError,
        _capi.NOT_SUPPORTED: NotImplementedError,
        _capi.NO_DEVICE: RuntimeError,
        _capi.CUDA_ERROR: RuntimeError,
        _capi.OUT_OF_MEMORY: MemoryError,
        _capi.INTERNAL: RuntimeError,
    }
    for status, base in cases.items():
        cls = _native._EXCEPTIONS[status]
        assert issubclass(cls, base) and issubclass(cls, flashfftconv.FlashFFTConvError)
        assert cls.status == status


def test_forward_on_numpy_arrays_matches_numpy_fft():
    np = pytest.importorskip("numpy")
    rng = np.random.default_rng(0)
    B, H, L, Lk, N = 2, 3, 23, 9, 32
    u = rng.standard_normal((B, H, L)).astype(np.float32)
    k = rng.standard_normal((H, Lk)).astype(np.float32)
    y = np.full_like(u, np.nan)
    plan = _native.Plan(N, backend=_capi.BACKEND_CPU, num_threads=1)
    ws = np.zeros(plan.workspace_bytes(H), dtype=np.uint8)
    view = lambda a: _native.tensor_view(a.ctypes.data, _capi.F32, a.shape)  # noqa: E731
    plan.forward(view(u), view(y), k=view(k), workspace=ws.ctypes.data, workspace_bytes=ws.nbytes)
    ref = np.fft.irfft(np.fft.rfft(u.astype(np.float64), N) * np.fft.rfft(k.astype(np.float64), N),
                       N)[..., :L]
    assert np.linalg.norm(y - ref) / np.linalg.norm(ref) <= 1e-6

    # The same through a spectrum.
    spectrum = np.zeros(plan.spectrum_bytes(H), dtype=np.uint8)
    plan.transform_filter(view(k), spectrum.ctypes.data, spectrum.nbytes)
    y2 = np.full_like(u, np.nan)
    plan.forward(view(u), view(y2), spectrum=spectrum.ctypes.data, spectrum_bytes=spectrum.nbytes,
                 spectrum_heads=H)
    assert np.array_equal(y, y2)


def test_forward_errors_carry_the_native_message():
    np = pytest.importorskip("numpy")
    plan = _native.Plan(16, backend=_capi.BACKEND_CPU, num_threads=1)
    u = np.zeros((1, 1, 17), np.float32)
    k = np.zeros((1, 4), np.float32)
    y = np.zeros_like(u)
    ws = np.zeros(plan.workspace_bytes(1), np.uint8)
    view = lambda a: _native.tensor_view(a.ctypes.data, _capi.F32, a.shape)  # noqa: E731
    with pytest.raises(ValueError, match=r"u: length L = 17 exceeds fft_size = 16 \(rule: L <= fft_size\)"):
        plan.forward(view(u), view(y), k=view(k), workspace=ws.ctypes.data, workspace_bytes=ws.nbytes)
    assert _native.lib().ffc_last_error().startswith(b"u: length L = 17")
    plan.workspace_bytes(1)  # a later success clears the thread's message
    assert _native.lib().ffc_last_error() == b""


def test_import_without_torch():
    r = run_python(
        "import flashfftconv as f\n"
        "print(f.__version__, f.library_available())\n"
        "try:\n    f.FlashFFTConv\nexcept ImportError as e:\n    print('IMPORTERROR', e)\n"
        "try:\n    from flashfftconv import fftconv\nexcept ImportError as e:\n    print('FROMERROR')\n",
        block_torch=True)
    assert r.returncode == 0, r.stderr
    assert flashfftconv.__version__ in r.stdout and "True" in r.stdout
    assert "IMPORTERROR flashfftconv.FlashFFTConv needs PyTorch" in r.stdout
    assert "FROMERROR" in r.stdout


def test_library_env_variable_is_used_alone():
    r = run_python("import flashfftconv as f\nprint(f.library_available())\nf.library_path()",
                   env_update={_native.LIBRARY_ENV: "/nonexistent/libflashfftconv.so"},
                   block_torch=True)
    assert "False" in r.stdout
    assert "FLASHFFTCONV_LIBRARY='/nonexistent/libflashfftconv.so' is not a file" in r.stderr


def test_library_search_order_without_env():
    r = run_python("from flashfftconv import _native\nprint('\\n'.join(_native.candidate_paths()))",
                   env_update={_native.LIBRARY_ENV: None}, block_torch=True)
    assert r.returncode == 0, r.stderr
    paths = r.stdout.split()
    package_lib = os.path.join(PYTHON_DIR, "flashfftconv", "lib", "libflashfftconv.so")
    assert paths[0] == package_lib
    assert os.path.join(ROOT, "build", "libflashfftconv.so") in paths
    assert paths.index(package_lib) < paths.index(os.path.join(ROOT, "build", "libflashfftconv.so"))


def test_has_backward_reports_the_export():
    assert flashfftconv.has_backward() == hasattr(_native.lib(), "ffc_backward")


def test_plan_cache_evicts_lru_but_keeps_pinned_plans():
    from flashfftconv._plan_cache import PlanCache

    cache = PlanCache(capacity=2)
    pinned = cache.get(64, _capi.BACKEND_CPU, -1, 1, pin=True)
    ref = weakref.ref(pinned)
    del pinned
    for n in (16, 32, 128, 256):  # evicts 64 from the LRU
        cache.get(n, _capi.BACKEND_CPU, -1, 1)
    assert (64, _capi.BACKEND_CPU, -1, 1) not in cache.keys()
    cache.clear()
    gc.collect()
    assert ref() is not None, "a pinned plan was destroyed"
    assert cache.get(64, _capi.BACKEND_CPU, -1, 1) is ref(), "the pinned plan is served again"
    assert cache.pinned_keys() == [(64, _capi.BACKEND_CPU, -1, 1)]
    # Unpinned plans go once evicted and unreferenced.
    plain = weakref.ref(cache.get(512, _capi.BACKEND_CPU, -1, 1))
    for n in (16, 32, 128):
        cache.get(n, _capi.BACKEND_CPU, -1, 1)
    gc.collect()
    assert plain() is None
