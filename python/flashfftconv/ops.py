"""torch.library custom operators over the native library (torch >= 2.4).

Operators (namespace ``flashfftconv``):

* ``fftconv(Tensor u, Tensor k, int fft_size, Tensor? pregate, Tensor? postgate) -> Tensor``
* ``fftconv_spectrum(Tensor u, Tensor spectrum, int fft_size, Tensor? pregate, Tensor? postgate) -> Tensor``
* ``transform_filter(Tensor k, int fft_size) -> Tensor``
* ``fftconv_backward(Tensor dy, Tensor u, Tensor? k, Tensor? spectrum, int fft_size, Tensor? pregate,
  Tensor? postgate, bool[4] output_mask) -> (Tensor, Tensor, Tensor, Tensor)``

Each has CPU and CUDA kernels (CPU tensors go to a CPU plan, CUDA tensors to a CUDA plan of their
device, never to the other), a fake implementation for torch.compile / torch.export, and the two
convolutions have autograd formulas that call ``fftconv_backward`` (the library's native backward);
the package's fftconv records autograd nodes of its own with the same formula and less per-call work.
Kernels make their inputs contiguous, allocate outputs and workspaces with torch's allocator and
enqueue the native call on the current CUDA stream, so they can be captured in CUDA graphs once
the plan exists (a first, uncaptured call creates it).

The kernels are compiled (``libflashfftconv_torch.so`` next to the native library, built from
python/csrc/torch_ops.cpp against torch's stable ABI, so one build serves torch >= 2.10) when that
library is present and loads; otherwise the Python kernels below serve, through ctypes, with the
same schemas, checks and messages. ``FLASHFFTCONV_TORCH_OPS`` = ``python`` forces the Python
kernels, ``compiled`` makes a missing compiled library an error; :func:`kernels` says which serve.
The compiled kernels' errors reach Python as RuntimeError tagged "[flashfftconv:<status>:<function>]";
:func:`call` (used by the package's own API) raises them as the package's typed exceptions.

The spectrum of ``transform_filter`` is a float32 tensor of shape (H, spectrum_bytes_per_head / 4)
in the backend's own layout (tied to fft_size, backend and device); it carries no gradient.
"""

import os

import torch

from . import _capi, _native
from ._plan_cache import get_plan

_DTYPES = {torch.float32: _capi.F32, torch.float16: _capi.F16, torch.bfloat16: _capi.BF16}
_DTYPE_RULE = "rule: torch.float32, torch.float16 or torch.bfloat16"

_SCHEMAS = {
    "fftconv": "fftconv(Tensor u, Tensor k, int fft_size, Tensor? pregate=None, "
               "Tensor? postgate=None) -> Tensor",
    "fftconv_spectrum": "fftconv_spectrum(Tensor u, Tensor spectrum, int fft_size, "
                        "Tensor? pregate=None, Tensor? postgate=None) -> Tensor",
    "transform_filter": "transform_filter(Tensor k, int fft_size) -> Tensor",
    "fftconv_backward": "fftconv_backward(Tensor dy, Tensor u, Tensor? k, Tensor? spectrum, "
                        "int fft_size, Tensor? pregate, Tensor? postgate, bool[4] output_mask) "
                        "-> (Tensor, Tensor, Tensor, Tensor)",
}

# ---- which kernels: compiled (python/csrc/torch_ops.cpp) or Python (ctypes, below) ---------------
KERNELS_ENV = "FLASHFFTCONV_TORCH_OPS"
COMPILED_NAME = "libflashfftconv_torch.so"
_STABLE_ABI_TORCH = (2, 10)  # the stable-ABI version the compiled operators target (CMakeLists.txt)


def _torch_version():
    try:
        return tuple(int(p) for p in torch.__version__.split("+")[0].split(".")[:2])
    except ValueError:
        return (0, 0)


def _load_compiled():
    """(path, None) when the compiled operators were loaded, else (None, the reason)."""
    choice = os.environ.get(KERNELS_ENV, "auto")
    if choice not in ("auto", "compiled", "python"):
        raise _native.LibraryError(f"flashfftconv: {KERNELS_ENV}={choice!r} (rule: auto, compiled "
                                   "or python)")
    if choice == "python":
        return None, f"{KERNELS_ENV}=python"
    try:
        path = os.path.join(os.path.dirname(_native.library_path()), COMPILED_NAME)
    except _native.LibraryError as e:
        path, reason = None, f"the native library is not loadable ({e})"
    if path is not None:
        if not os.path.isfile(path):
            reason = f"{path} is absent (it is built when CMake finds torch >= 2.10)"
        elif _torch_version() < _STABLE_ABI_TORCH:
            reason = (f"torch {torch.__version__} is older than the stable ABI the compiled operators "
                      f"target ({_STABLE_ABI_TORCH[0]}.{_STABLE_ABI_TORCH[1]})")
        else:
            try:
                torch.ops.load_library(path)
                return path, None
            except (OSError, RuntimeError) as e:
                reason = f"{path} did not load ({e})"
    if choice == "compiled":
        raise _native.LibraryError(f"flashfftconv: {KERNELS_ENV}=compiled, but {reason}")
    return None, reason


_compiled_path, _python_reason = _load_compiled()


def kernels():
    """Which kernels serve the operators: ("compiled", path of the library) or ("python", why)."""
    if _compiled_path is not None:
        return "compiled", _compiled_path
    return "python", _python_reason


def call(op, *args):
    """torch.ops.flashfftconv.<op>(*args), with the compiled kernels' errors raised as the package's
    typed exceptions (InvalidArgumentError, NotSupportedError, ...).

    A call that records no autograd graph (grad mode off, or no tensor argument requiring grad) is
    dispatched below the autograd keys, straight to the CPU or CUDA kernel: the autograd formula's
    Python wrapper would only redispatch it (torch.compile traces the plain call)."""
    try:
        if not torch.compiler.is_compiling() and not _records_graph(args):
            return _kernel(op, *args)
        return op(*args)
    except RuntimeError as e:
        _raise_typed(e)
        raise


def _kernel(op, *args):
    """op(*args) dispatched below the autograd keys, straight to its CPU or CUDA kernel."""
    with torch._C._AutoDispatchBelowAutograd():
        return op(*args)


def _raise_typed(error):
    """Raises the typed exception of a compiled kernel's RuntimeError; returns for other errors."""
    typed = _native.typed_error(error)
    if typed is not None:
        raise typed from None


def _records_graph(args):
    return torch.is_grad_enabled() and any(
        isinstance(a, torch.Tensor) and a.requires_grad for a in args)


if _compiled_path is None:
    _lib = torch.library.Library("flashfftconv", "DEF")
    for _schema in _SCHEMAS.values():
        _lib.define(_schema)

# The operators' handles (OpOverloads), resolved once.
FFTCONV = torch.ops.flashfftconv.fftconv.default
FFTCONV_SPECTRUM = torch.ops.flashfftconv.fftconv_spectrum.default
FFTCONV_BACKWARD = torch.ops.flashfftconv.fftconv_backward.default
TRANSFORM_FILTER = torch.ops.flashfftconv.transform_filter.default


# ---- checks shared by the kernels and the fake implementations ----------------------------------
def _fail(message):
    raise _native.InvalidArgumentError(message, status=_capi.INVALID_ARGUMENT)


def _check_tensor(name, t, ndim, dims, device, dtypes=_DTYPES, rule=_DTYPE_RULE):
    if t.dim() != ndim:
        _fail(f"{name}: shape {tuple(t.shape)} has rank {t.dim()}, expected rank {ndim} {dims}")
    if t.device != device:
        _fail(f"{name}: on device {t.device}, u is on {device} (rule: all tensors on one device)")
    if t.dtype not in dtypes:
        _fail(f"{name}: dtype {t.dtype} is not supported ({rule})")


def _check_gates(u, pregate, postgate):
    for name, g in (("pregate", pregate), ("postgate", postgate)):
        if g is None:
            continue
        _check_tensor(name, g, 3, "(B, H, L)", u.device)
        if g.shape != u.shape:
            _fail(f"{name}: shape {tuple(g.shape)} differs from u's shape {tuple(u.shape)} "
                  "(rule: u, pregate, postgate have one shape)")
        if g.dtype != u.dtype:
            _fail(f"{name}: dtype {g.dtype} differs from u's dtype {u.dtype} "
                  "(rule: u, pregate and postgate share one dtype)")


def _check_u(u):
    if u.dim() != 3:
        _fail(f"u: shape {tuple(u.shape)} has rank {u.dim()}, expected rank 3 (B, H, L)")
    if u.device.type not in ("cpu", "cuda", "meta"):
        _fail(f"u: device {u.device} is not supported (rule: cpu or cuda)")
    if u.dtype not in _DTYPES:
        _fail(f"u: dtype {u.dtype} is not supported ({_DTYPE_RULE}; the library has no float64 "
              "path: convert with .float())")


def _check_fft_size(fft_size):
    if fft_size < 1:
        _fail(f"fft_size: {fft_size} (rule: a supported FFT size, e.g. a power of two >= 16)")


# ---- plans, views, streams -----------------------------------------------------------------------
def plan_for(device, fft_size):
    """The cached native plan for `device` (a torch.device) and FFT size N."""
    if device.type in ("cpu", "meta"):  # meta: the CPU layout, for shape propagation only
        return get_plan(fft_size, _capi.BACKEND_CPU, -1, torch.get_num_threads())
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        try:
            # A call captured into a CUDA graph keeps pointers into the plan: pin it.
            return get_plan(fft_size, _capi.BACKEND_CUDA, index, 0,
                            pin=torch.cuda.is_initialized() and torch.cuda.is_current_stream_capturing())
        except (_native.NotSupportedError, _native.NoDeviceError) as e:
            raise type(e)(
                f"{e} [flashfftconv: CUDA tensors run on the CUDA backend only and are never copied "
                "to the CPU; move the tensors to the CPU to use the CPU backend]",
                status=e.status, function=e.function) from None
    _fail(f"device: {device} is not supported (rule: cpu or cuda)")


def _view(t):
    if t is None:
        return None
    return _native.tensor_view(t.data_ptr(), _DTYPES[t.dtype], tuple(t.shape), t.stride())


def _stream(device):
    if device.type == "cuda":
        return torch.cuda.current_stream(device).cuda_stream
    return None


def _contig(t):
    return None if t is None else t.contiguous()


def _spectrum_columns(plan):
    per_head = plan.spectrum_bytes_per_head()
    if per_head % 4:
        raise _native.InternalError(f"spectrum: {per_head} bytes per head is not a multiple of 4")
    return per_head // 4


# ---- transform_filter ----------------------------------------------------------------------------
def _check_transform(k, fft_size):
    _check_fft_size(fft_size)
    _check_tensor("k", k, 2, "(H, Lk)", k.device)


@torch.library.register_fake("flashfftconv::transform_filter")
def _transform_filter_fake(k, fft_size):
    _check_transform(k, fft_size)
    return k.new_empty((k.shape[0], _spectrum_columns(plan_for(k.device, fft_size))),
                       dtype=torch.float32)


def _transform_filter_kernel(k, fft_size):
    _check_transform(k, fft_size)
    k = k.contiguous()
    plan = plan_for(k.device, fft_size)
    spectrum = torch.empty((k.shape[0], _spectrum_columns(plan)), dtype=torch.float32,
                           device=k.device)
    plan.transform_filter(_view(k), spectrum.data_ptr(), spectrum.numel() * 4, _stream(k.device))
    return spectrum


# ---- forward -------------------------------------------------------------------------------------
def _check_forward(u, k, spectrum, fft_size, pregate, postgate):
    _check_fft_size(fft_size)
    _check_u(u)
    if k is not None:
        _check_tensor("k", k, 2, "(H, Lk)", u.device)
    if spectrum is not None:
        _check_tensor("spectrum", spectrum, 2, "(H, columns)", u.device, (torch.float32,),
                      "rule: the float32 tensor transform_filter returned, unconverted")
    _check_gates(u, pregate, postgate)


@torch.library.register_fake("flashfftconv::fftconv")
def _fftconv_fake(u, k, fft_size, pregate=None, postgate=None):
    _check_forward(u, k, None, fft_size, pregate, postgate)
    return u.new_empty(u.shape)


@torch.library.register_fake("flashfftconv::fftconv_spectrum")
def _fftconv_spectrum_fake(u, spectrum, fft_size, pregate=None, postgate=None):
    _check_forward(u, None, spectrum, fft_size, pregate, postgate)
    return u.new_empty(u.shape)


def _check_spectrum_layout(spectrum, plan):
    # Spectra are in the backend's own layout: (H, 2N) floats on the CPU, (H, 2N + 1) on CUDA. The
    # library checks only that enough bytes are given, so a spectrum made for another N or moved to
    # another backend's device is caught here, by its exact width.
    columns = _spectrum_columns(plan)
    if spectrum.shape[1] != columns:
        backend = "CUDA" if plan.backend == _capi.BACKEND_CUDA else "CPU"
        _fail(f"spectrum: {spectrum.shape[1]} columns, the {backend} backend's spectrum for "
              f"fft_size = {plan.fft_size} has {columns} (rule: a spectrum from transform_filter "
              "with the same fft_size, on the same device)")


def _forward(u, k, spectrum, fft_size, pregate, postgate):
    _check_forward(u, k, spectrum, fft_size, pregate, postgate)
    u, k, spectrum = u.contiguous(), _contig(k), _contig(spectrum)
    pregate, postgate = _contig(pregate), _contig(postgate)
    plan = plan_for(u.device, fft_size)
    if spectrum is not None:
        _check_spectrum_layout(spectrum, plan)
    y = torch.empty(u.shape, dtype=u.dtype, device=u.device)
    if k is not None:
        kwargs = {"k": _view(k)}
    else:
        kwargs = {"spectrum": spectrum.data_ptr(), "spectrum_bytes": spectrum.numel() * 4,
                  "spectrum_heads": spectrum.shape[0]}
    # With k: room for its spectrum; with a spectrum: the scratch of algorithms that stage through
    # HBM (workspace_bytes(0), 0 for the others).
    nbytes = plan.workspace_bytes(u.shape[1] if k is not None else 0)
    if nbytes:
        workspace = torch.empty(nbytes, dtype=torch.uint8, device=u.device)
        kwargs.update(workspace=workspace.data_ptr(), workspace_bytes=nbytes)
    plan.forward(_view(u), _view(y), pregate=_view(pregate), postgate=_view(postgate),
                 stream=_stream(u.device), **kwargs)
    return y


def _fftconv_kernel(u, k, fft_size, pregate=None, postgate=None):
    return _forward(u, k, None, fft_size, pregate, postgate)


def _fftconv_spectrum_kernel(u, spectrum, fft_size, pregate=None, postgate=None):
    return _forward(u, None, spectrum, fft_size, pregate, postgate)


# ---- backward ------------------------------------------------------------------------------------
def _check_backward(dy, u, k, spectrum, fft_size, pregate, postgate, output_mask):
    _check_forward(u, k, spectrum, fft_size, pregate, postgate)
    _check_tensor("dy", dy, 3, "(B, H, L)", u.device)
    if dy.shape != u.shape or dy.dtype != u.dtype:
        _fail(f"dy: {tuple(dy.shape)} {dy.dtype} differs from u's {tuple(u.shape)} {u.dtype} "
              "(rule: dy has the shape and dtype of y)")
    if (k is None) == (spectrum is None):
        _fail("k and spectrum: exactly one filter form must be given")
    if len(output_mask) != 4:
        _fail(f"output_mask: {len(output_mask)} entries (rule: du, dk, dpregate, dpostgate)")
    need_du, need_dk, need_dpre, need_dpost = output_mask
    if need_dk and k is None:
        _fail("dk: requested with a spectrum (rule: dk needs the time-domain filter k)")
    if need_dpre and pregate is None:
        _fail("dpregate: requested without pregate")
    if need_dpost and postgate is None:
        _fail("dpostgate: requested without postgate")


def _backward_outputs(u, k, output_mask):
    need_du, need_dk, need_dpre, need_dpost = output_mask

    def bhl(need):  # outputs not requested are distinct empty tensors (outputs must not alias)
        return u.new_empty(u.shape if need else (0,))

    dk = u.new_empty(tuple(k.shape) if need_dk else (0,), dtype=torch.float32)
    return bhl(need_du), dk, bhl(need_dpre), bhl(need_dpost)


@torch.library.register_fake("flashfftconv::fftconv_backward")
def _fftconv_backward_fake(dy, u, k, spectrum, fft_size, pregate, postgate, output_mask):
    _check_backward(dy, u, k, spectrum, fft_size, pregate, postgate, output_mask)
    return _backward_outputs(u, k, output_mask)


def _fftconv_backward_kernel(dy, u, k, spectrum, fft_size, pregate, postgate, output_mask):
    _check_backward(dy, u, k, spectrum, fft_size, pregate, postgate, output_mask)
    du, dk, dpre, dpost = outs = _backward_outputs(u, k, output_mask)
    if not any(output_mask):
        return outs
    dy, u, k, spectrum = dy.contiguous(), u.contiguous(), _contig(k), _contig(spectrum)
    pregate, postgate = _contig(pregate), _contig(postgate)
    plan = plan_for(u.device, fft_size)
    if spectrum is not None:
        _check_spectrum_layout(spectrum, plan)
    nbytes = plan.backward_workspace_bytes(u.shape[0], u.shape[1])
    workspace = torch.empty(nbytes, dtype=torch.uint8, device=u.device)
    need_du, need_dk, need_dpre, need_dpost = output_mask
    kwargs = {}
    if k is not None:
        kwargs["k"] = _view(k)
    else:
        kwargs.update(spectrum=spectrum.data_ptr(), spectrum_bytes=spectrum.numel() * 4,
                      spectrum_heads=spectrum.shape[0])
    plan.backward(_view(dy), _view(u), pregate=_view(pregate), postgate=_view(postgate),
                  du=_view(du) if need_du else None, dk=_view(dk) if need_dk else None,
                  dpregate=_view(dpre) if need_dpre else None,
                  dpostgate=_view(dpost) if need_dpost else None,
                  workspace=workspace.data_ptr(), workspace_bytes=nbytes,
                  stream=_stream(u.device), **kwargs)
    return outs


# ---- kernel registrations -------------------------------------------------------------------
# The Python kernels serve only when the compiled ones are not loaded (same schemas, same checks).
if _compiled_path is None:
    for _name, _fn in (
        ("transform_filter", _transform_filter_kernel),
        ("fftconv", _fftconv_kernel),
        ("fftconv_spectrum", _fftconv_spectrum_kernel),
        ("fftconv_backward", _fftconv_backward_kernel),
    ):
        for _key in ("CPU", "CUDA"):
            _lib.impl(_name, _fn, _key)


# ---- autograd ------------------------------------------------------------------------------------
def _setup_context(ctx, inputs, output):
    u, filt, fft_size, pregate, postgate = inputs
    ctx.fft_size = fft_size
    ctx.save_for_backward(u, filt, pregate, postgate)


def _grads(ctx, dy, time_domain):
    u, filt, pregate, postgate = ctx.saved_tensors
    needs = ctx.needs_input_grad
    mask = [bool(needs[0]), bool(time_domain and needs[1]),
            bool(pregate is not None and needs[3]), bool(postgate is not None and needs[4])]
    if not any(mask):
        return None, None, None, None, None
    k, spectrum = (filt, None) if time_domain else (None, filt)
    if dy.dtype != u.dtype:
        dy = dy.to(u.dtype)
    du, dk, dpre, dpost = call(FFTCONV_BACKWARD, dy, u, k, spectrum, ctx.fft_size, pregate,
                               postgate, mask)
    if mask[1] and dk.dtype != filt.dtype:
        dk = dk.to(filt.dtype)
    return (du if mask[0] else None,
            dk if mask[1] else None,
            None,
            dpre if mask[2] else None,
            dpost if mask[3] else None)


def _fftconv_backward_formula(ctx, dy):
    return _grads(ctx, dy, True)


def _fftconv_spectrum_backward_formula(ctx, dy):
    return _grads(ctx, dy, False)


torch.library.register_autograd("flashfftconv::fftconv", _fftconv_backward_formula,
                                setup_context=_setup_context)
torch.library.register_autograd("flashfftconv::fftconv_spectrum",
                                _fftconv_spectrum_backward_formula, setup_context=_setup_context)


# ---- the package's eager calls -------------------------------------------------------------------
# The same kernels and backward formula with less per-call work: fftconv and FlashFFTConv record
# these autograd nodes, which call the kernels directly, instead of torch.library's generic wrapper
# (a Python redispatch and a rebuilt argument list per call). Their forward takes ctx (no
# setup_context: torch's apply then inspects no signature per call); so under functorch transforms,
# which need setup_context, and under torch.compile, the operators and their formula serve.
def _autograd_node(op, formula):
    """An autograd.Function whose forward runs op's kernel and whose backward is formula."""

    class Node(torch.autograd.Function):
        @staticmethod
        def forward(ctx, u, filt, fft_size, pregate, postgate):
            inputs = (u, filt, fft_size, pregate, postgate)
            y = _kernel(op, *inputs)
            _setup_context(ctx, inputs, y)
            return y

        backward = staticmethod(formula)

    Node.__name__ = Node.__qualname__ = f"_{op.__name__.split('.')[0].title().replace('_', '')}Node"
    return Node


_AUTOGRAD_NODES = {FFTCONV: _autograd_node(FFTCONV, _fftconv_backward_formula),
                   FFTCONV_SPECTRUM: _autograd_node(FFTCONV_SPECTRUM, _fftconv_spectrum_backward_formula)}


def convolve(op, u, filt, fft_size, pregate, postgate):
    """call(op, u, filt, fft_size, pregate, postgate) for op FFTCONV or FFTCONV_SPECTRUM, with u and
    filt tensors and the gates tensors or None."""
    try:
        if torch.compiler.is_compiling():
            return op(u, filt, fft_size, pregate, postgate)
        if not (torch.is_grad_enabled() and _any_requires_grad(u, filt, pregate, postgate)):
            return _kernel(op, u, filt, fft_size, pregate, postgate)
        if torch._C._are_functorch_transforms_active():
            return op(u, filt, fft_size, pregate, postgate)
        return _AUTOGRAD_NODES[op].apply(u, filt, fft_size, pregate, postgate)
    except RuntimeError as e:
        _raise_typed(e)
        raise


def _any_requires_grad(u, filt, pregate, postgate):
    return (u.requires_grad or filt.requires_grad
            or (pregate is not None and pregate.requires_grad)
            or (postgate is not None and postgate.requires_grad))
