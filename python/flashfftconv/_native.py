"""Loading the native library (libflashfftconv.so) and calling it through ctypes.

Nothing here needs torch. The library is found, in this order:

1. the file named by the environment variable ``FLASHFFTCONV_LIBRARY`` (used alone when set);
2. the package's own ``lib/`` folder (where ``pip install`` puts it);
3. a build tree of the source checkout the package sits in (``build/``, then other ``build*/``
   folders, newest first);
4. the system's library path (``ctypes.util.find_library("flashfftconv")``).

It is loaded on first use; a missing library raises :class:`LibraryError` naming every place
looked at. Failed native calls raise the exception of their status (see :func:`check`), carrying
the library's message, which names the argument, the value and the rule.
"""

import ctypes
import ctypes.util
import glob
import os
import re
import threading

from . import _capi

LIBRARY_ENV = "FLASHFFTCONV_LIBRARY"
_NAMES = ("libflashfftconv.so", "libflashfftconv.dylib", "flashfftconv.dll")


# ---- exceptions ----------------------------------------------------------------------------------
class FlashFFTConvError(Exception):
    """Base of the exceptions raised for a failed native call; ``status`` is the ffc_status_t."""

    status = None

    def __init__(self, message, status=None, function=None):
        super().__init__(message)
        if status is not None:
            self.status = status
        self.function = function


class InvalidArgumentError(FlashFFTConvError, ValueError):
    status = _capi.INVALID_ARGUMENT


class NotSupportedError(FlashFFTConvError, NotImplementedError):
    status = _capi.NOT_SUPPORTED


class NoDeviceError(FlashFFTConvError, RuntimeError):
    status = _capi.NO_DEVICE


class CudaError(FlashFFTConvError, RuntimeError):
    status = _capi.CUDA_ERROR


class OutOfMemoryError(FlashFFTConvError, MemoryError):
    status = _capi.OUT_OF_MEMORY


class InternalError(FlashFFTConvError, RuntimeError):
    status = _capi.INTERNAL


class LibraryError(RuntimeError):
    """The native library could not be found or loaded, or has an ABI this package does not know."""


for _cls in (FlashFFTConvError, InvalidArgumentError, NotSupportedError, NoDeviceError, CudaError,
             OutOfMemoryError, InternalError, LibraryError):
    _cls.__module__ = "flashfftconv"

_EXCEPTIONS = {
    _capi.INVALID_ARGUMENT: InvalidArgumentError,
    _capi.NOT_SUPPORTED: NotSupportedError,
    _capi.NO_DEVICE: NoDeviceError,
    _capi.CUDA_ERROR: CudaError,
    _capi.OUT_OF_MEMORY: OutOfMemoryError,
    _capi.INTERNAL: InternalError,
}


# ---- loading -------------------------------------------------------------------------------------
_lock = threading.Lock()
_lib = None
_lib_path = None
_has_backward = False
_has_conv1d = False


def candidate_paths():
    """The places looked at, in order (the environment variable alone when it is set)."""
    env = os.environ.get(LIBRARY_ENV)
    if env:
        return [env]
    here = os.path.dirname(os.path.abspath(__file__))
    paths = [os.path.join(here, "lib", name) for name in _NAMES]
    root = os.path.dirname(os.path.dirname(here))  # python/flashfftconv -> the checkout
    if os.path.isfile(os.path.join(root, "CMakeLists.txt")):
        paths += [os.path.join(root, "build", name) for name in _NAMES]
        others = [p for name in _NAMES for p in glob.glob(os.path.join(root, "build*", name))]
        others = [p for p in others if os.path.dirname(p) != os.path.join(root, "build")]
        paths += sorted(others, key=lambda p: -os.path.getmtime(p))
    return paths


def _load():
    global _lib, _lib_path, _has_backward, _has_conv1d
    tried = []
    env = os.environ.get(LIBRARY_ENV)
    found = [p for p in candidate_paths() if os.path.isfile(p)]
    if env and not found:
        raise LibraryError(
            f"flashfftconv: {LIBRARY_ENV}={env!r} is not a file (rule: the path of "
            "libflashfftconv.so, e.g. build/libflashfftconv.so)")
    if not found and not env:
        system = ctypes.util.find_library("flashfftconv")
        if system:
            found = [system]
    for path in found:
        try:
            lib = ctypes.CDLL(path)
        except OSError as e:
            tried.append(f"{path}: {e}")
            continue
        try:
            present = _capi.bind(lib)
        except AttributeError as e:
            raise LibraryError(f"flashfftconv: {path} is not a flashfftconv library ({e})") from None
        abi = lib.ffc_abi_version()
        if abi not in _capi.SUPPORTED_ABI_VERSIONS:
            raise LibraryError(
                f"flashfftconv: {path} has C ABI version {abi}, this package speaks "
                f"{', '.join(map(str, _capi.SUPPORTED_ABI_VERSIONS))} (rule: install the package and "
                "the library from the same source)")
        _lib, _lib_path = lib, path
        _has_backward = {"ffc_backward", "ffc_backward_workspace_bytes"} <= present
        _has_conv1d = _capi.CONV1D_FUNCTIONS <= present
        return lib
    looked = "\n  ".join(candidate_paths() + ["the system library path"] if not env else [env])
    detail = ("\nLoad errors:\n  " + "\n  ".join(tried)) if tried else ""
    raise LibraryError(
        "flashfftconv: the native library libflashfftconv.so was not found. Looked in:\n  "
        f"{looked}{detail}\nBuild it (cmake -S . -B build && cmake --build build) and set "
        f"{LIBRARY_ENV}=build/libflashfftconv.so, or install the package with `pip install .`")


def lib():
    """The loaded CDLL (loads it on first call; raises LibraryError when it cannot)."""
    if _lib is not None:
        return _lib
    with _lock:
        if _lib is None:
            _load()
    return _lib


def library_path():
    """The path of the loaded native library (loads it)."""
    lib()
    return _lib_path


def available():
    """Whether the native library can be loaded."""
    try:
        lib()
        return True
    except LibraryError:
        return False


def has_backward():
    """Whether the loaded library exports the backward pass (ffc_backward)."""
    lib()
    return _has_backward


def has_conv1d():
    """Whether the loaded library exports the short depthwise convolution (ffc_conv1d_*)."""
    lib()
    return _has_conv1d


def check(status, function):
    """Raises the exception of a non-success status with the library's thread-local message."""
    if status == _capi.SUCCESS:
        return
    message = _lib.ffc_last_error().decode("utf-8", "replace")
    if not message:
        message = _lib.ffc_status_string(status).decode("utf-8", "replace")
    exc = _EXCEPTIONS.get(status, InternalError)
    raise exc(message, status=status, function=function)


_STATUS_TAGS = {
    "invalid_argument": _capi.INVALID_ARGUMENT,
    "not_supported": _capi.NOT_SUPPORTED,
    "no_device": _capi.NO_DEVICE,
    "cuda_error": _capi.CUDA_ERROR,
    "out_of_memory": _capi.OUT_OF_MEMORY,
    "internal": _capi.INTERNAL,
}
_TAG = re.compile(r"\[flashfftconv:([a-z_]+):([^\]]*)\] (.*)", re.S)


def typed_error(error):
    """The typed exception for a RuntimeError that torch raised from the compiled operators (their
    messages start with "[flashfftconv:<status>:<function>] "), or None for any other error."""
    match = _TAG.search(str(error))
    if match is None or match.group(1) not in _STATUS_TAGS:
        return None
    status = _STATUS_TAGS[match.group(1)]
    # torch may append its own context (a C++ backtrace, "Exception raised from ...") on new lines.
    message = match.group(3).split("\nException raised from")[0].rstrip()
    return _EXCEPTIONS[status](message, status=status, function=match.group(2))


# ---- plain queries -------------------------------------------------------------------------------
def version():
    return lib().ffc_version_string().decode()


def abi_version():
    return int(lib().ffc_abi_version())


def cuda_device_count():
    """Usable CUDA devices as the library sees them (0 for a build without CUDA)."""
    return int(lib().ffc_cuda_device_count())


def fft_size_supported(n, backend=_capi.BACKEND_AUTO):
    return bool(lib().ffc_fft_size_supported(backend, int(n)))


_size_tables = {}


def supported_fft_sizes(backend=_capi.BACKEND_CPU):
    """The FFT sizes `backend` runs, ascending (probes powers of two and 3/5 times a power of two)."""
    table = _size_tables.get(backend)
    if table is None:
        f = lib().ffc_fft_size_supported
        candidates = set()
        for m in (1, 3, 5):
            n = m
            while n <= _capi.MAX_FFT_SIZE_PROBE:
                candidates.add(n)
                n *= 2
        table = tuple(n for n in sorted(candidates) if f(backend, n))
        _size_tables[backend] = table
    return table


# ---- tensor views --------------------------------------------------------------------------------
def tensor_view(data, dtype, shape, strides=None):
    """An ffc_tensor_t for memory at address `data` (an int); contiguous strides when not given."""
    t = _capi.Tensor()
    t.data = data
    t.dtype = dtype
    t.ndim = len(shape)
    if strides is None:
        strides, s = [0] * len(shape), 1
        for i in range(len(shape) - 1, -1, -1):
            strides[i] = s
            s *= shape[i]
    for i, (n, st) in enumerate(zip(shape, strides)):
        t.shape[i] = n
        t.strides[i] = st
    return t


def _ref(view):
    return None if view is None else ctypes.pointer(view)


# ---- plans ---------------------------------------------------------------------------------------
class Plan:
    """A native plan for one FFT size and backend (owns an ffc_plan_t*).

    Execution methods take ffc_tensor_t views (see :func:`tensor_view`), raw addresses (ints) and
    an opaque stream (an int cudaStream_t, or None); they are thread-safe.
    """

    def __init__(self, fft_size, backend=_capi.BACKEND_AUTO, device=-1, num_threads=0,
                 cuda_path=_capi.CUDA_PATH_AUTO):
        L = lib()
        opts = _capi.init(_capi.PlanOptions)
        opts.fft_size = int(fft_size)
        opts.backend = int(backend)
        opts.device = int(device)
        opts.num_threads = int(num_threads)
        opts.cuda_path = int(cuda_path)
        handle = ctypes.c_void_p()
        check(L.ffc_plan_create(ctypes.byref(opts), ctypes.byref(handle)), "ffc_plan_create")
        self._handle = handle
        self._destroy = L.ffc_plan_destroy
        info = _capi.init(_capi.PlanInfo)
        check(L.ffc_plan_get_info(handle, ctypes.byref(info)), "ffc_plan_get_info")
        self.fft_size = int(info.fft_size)
        self.backend = int(info.backend)
        self.device = int(info.device)
        self.radices = tuple(int(info.radices[i]) for i in range(info.num_stages))
        self.algorithm = info.algorithm.decode()
        self._spectrum_per_head = self._bytes(L.ffc_spectrum_bytes, 1)
        self._workspace_per_head = self._bytes(L.ffc_workspace_bytes, 1)

    def __del__(self):
        handle = getattr(self, "_handle", None)
        if handle is not None and handle.value:
            self._destroy(handle)
            self._handle = None

    def __repr__(self):
        backend = {_capi.BACKEND_CPU: "cpu", _capi.BACKEND_CUDA: f"cuda:{self.device}"}.get(
            self.backend, str(self.backend))
        return (f"Plan(fft_size={self.fft_size}, backend={backend}, algorithm={self.algorithm}, "
                f"radices={self.radices})")

    def _bytes(self, fn, *args):
        out = ctypes.c_size_t()
        check(fn(self._handle, *args, ctypes.byref(out)), fn.__name__)
        return int(out.value)

    def spectrum_bytes(self, heads):
        return self._bytes(_lib.ffc_spectrum_bytes, int(heads))

    def workspace_bytes(self, heads):
        return self._bytes(_lib.ffc_workspace_bytes, int(heads))

    def spectrum_bytes_per_head(self):
        return self._spectrum_per_head

    def backward_workspace_bytes(self, batch, heads):
        if not _has_backward:
            raise NotSupportedError(
                "backward: the loaded library has no backward pass (ffc_backward is not exported by "
                f"{_lib_path}; rebuild it from a source that has it)", status=_capi.NOT_SUPPORTED,
                function="ffc_backward_workspace_bytes")
        return self._bytes(_lib.ffc_backward_workspace_bytes, int(batch), int(heads))

    def transform_filter(self, k, spectrum, spectrum_bytes, stream=None):
        check(_lib.ffc_transform_filter(self._handle, ctypes.byref(k), spectrum, spectrum_bytes,
                                        stream), "ffc_transform_filter")

    def forward(self, u, y, k=None, spectrum=None, spectrum_bytes=0, spectrum_heads=0,
                pregate=None, postgate=None, workspace=None, workspace_bytes=0, stream=None):
        a = _capi.init(_capi.ForwardArgs)
        a.u, a.y, a.k = _ref(u), _ref(y), _ref(k)
        a.spectrum, a.spectrum_bytes, a.spectrum_heads = spectrum, spectrum_bytes, spectrum_heads
        a.pregate, a.postgate = _ref(pregate), _ref(postgate)
        a.workspace, a.workspace_bytes = workspace, workspace_bytes
        check(_lib.ffc_forward(self._handle, ctypes.byref(a), stream), "ffc_forward")

    def backward(self, dy, u, k=None, spectrum=None, spectrum_bytes=0, spectrum_heads=0,
                 pregate=None, postgate=None, du=None, dk=None, dpregate=None, dpostgate=None,
                 workspace=None, workspace_bytes=0, stream=None):
        if not _has_backward:
            self.backward_workspace_bytes(0, 0)  # raises NotSupportedError
        a = _capi.init(_capi.BackwardArgs)
        a.dy, a.u, a.k = _ref(dy), _ref(u), _ref(k)
        a.spectrum, a.spectrum_bytes, a.spectrum_heads = spectrum, spectrum_bytes, spectrum_heads
        a.pregate, a.postgate = _ref(pregate), _ref(postgate)
        a.du, a.dk, a.dpregate, a.dpostgate = _ref(du), _ref(dk), _ref(dpregate), _ref(dpostgate)
        a.workspace, a.workspace_bytes = workspace, workspace_bytes
        check(_lib.ffc_backward(self._handle, ctypes.byref(a), stream), "ffc_backward")


# ---- conv1d plans --------------------------------------------------------------------------------
class Conv1dPlan:
    """A native plan of the short depthwise convolution (owns an ffc_conv1d_plan_t*)."""

    def __init__(self, backend=_capi.BACKEND_AUTO, device=-1, num_threads=0):
        L = lib()
        if not _has_conv1d:
            raise NotSupportedError(
                f"conv1d: the loaded library ({_lib_path}) has no short depthwise convolution "
                "(ffc_conv1d_* is not exported; rebuild it from a source that has it)",
                status=_capi.NOT_SUPPORTED, function="ffc_conv1d_plan_create")
        opts = _capi.init(_capi.Conv1dPlanOptions)
        opts.backend = int(backend)
        opts.device = int(device)
        opts.num_threads = int(num_threads)
        handle = ctypes.c_void_p()
        check(L.ffc_conv1d_plan_create(ctypes.byref(opts), ctypes.byref(handle)), "ffc_conv1d_plan_create")
        self._handle = handle
        self._destroy = L.ffc_conv1d_plan_destroy
        backend_out, device_out = ctypes.c_int(), ctypes.c_int32()
        check(L.ffc_conv1d_plan_get_backend(handle, ctypes.byref(backend_out), ctypes.byref(device_out)),
              "ffc_conv1d_plan_get_backend")
        self.backend = int(backend_out.value)
        self.device = int(device_out.value)

    def __del__(self):
        handle = getattr(self, "_handle", None)
        if handle is not None and handle.value:
            self._destroy(handle)
            self._handle = None

    @staticmethod
    def _options(a, padding, causal, blh, silu):
        a.padding = int(padding)
        a.causal = 1 if causal else 0
        a.layout = _capi.CONV1D_BLH if blh else _capi.CONV1D_BHL
        a.activation = _capi.ACTIVATION_SILU if silu else _capi.ACTIVATION_NONE

    def forward(self, x, weight, bias, y, padding, causal, blh, silu, stream=None):
        a = _capi.init(_capi.Conv1dForwardArgs)
        a.x, a.weight, a.bias, a.y = _ref(x), _ref(weight), _ref(bias), _ref(y)
        self._options(a, padding, causal, blh, silu)
        check(_lib.ffc_conv1d_forward(self._handle, ctypes.byref(a), stream), "ffc_conv1d_forward")

    def _backward_args(self, dy, x, weight, bias, dx, dweight, dbias, padding, causal, blh, silu):
        a = _capi.init(_capi.Conv1dBackwardArgs)
        a.dy, a.x, a.weight, a.bias = _ref(dy), _ref(x), _ref(weight), _ref(bias)
        a.dx, a.dweight, a.dbias = _ref(dx), _ref(dweight), _ref(dbias)
        self._options(a, padding, causal, blh, silu)
        return a

    def backward_workspace_bytes(self, *args):
        a = self._backward_args(*args)
        out = ctypes.c_size_t()
        check(_lib.ffc_conv1d_backward_workspace_bytes(self._handle, ctypes.byref(a), ctypes.byref(out)),
              "ffc_conv1d_backward_workspace_bytes")
        return int(out.value)

    def backward(self, *args, workspace=None, workspace_bytes=0, stream=None):
        a = self._backward_args(*args)
        a.workspace, a.workspace_bytes = workspace, workspace_bytes
        check(_lib.ffc_conv1d_backward(self._handle, ctypes.byref(a), stream), "ffc_conv1d_backward")
