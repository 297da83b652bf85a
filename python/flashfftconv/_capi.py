"""ctypes prototypes of the C ABI (include/ffc/ffc.h).

This is the only place where the ABI's structs and signatures are written down on the Python side;
keep it in step with ffc.h. Structs that callers fill begin with ``struct_size``, which
:func:`init` sets (the *_INIT macros of the header).
"""

import ctypes

# ABI versions (ffc_abi_version()) whose struct layouts match the definitions below.
SUPPORTED_ABI_VERSIONS = (1,)

# ffc_status_t
SUCCESS = 0
INVALID_ARGUMENT = 1
NOT_SUPPORTED = 2
NO_DEVICE = 3
CUDA_ERROR = 4
OUT_OF_MEMORY = 5
INTERNAL = 6

# ffc_dtype_t
F32 = 0
F16 = 1
BF16 = 2

# ffc_backend_t
BACKEND_AUTO = 0
BACKEND_CPU = 1
BACKEND_CUDA = 2

CUDA_PATH_AUTO = 0
CUDA_PATH_FUSED = 1
CUDA_PATH_PORTABLE = 2

# Largest FFT size any backend could support (the CPU table ends at 4M = 2^22).
MAX_FFT_SIZE_PROBE = 1 << 24


class Tensor(ctypes.Structure):
    """ffc_tensor_t: a non-owning view; strides in elements."""

    _fields_ = [
        ("data", ctypes.c_void_p),
        ("dtype", ctypes.c_int),
        ("ndim", ctypes.c_int32),
        ("shape", ctypes.c_int64 * 3),
        ("strides", ctypes.c_int64 * 3),
    ]


class PlanOptions(ctypes.Structure):
    _fields_ = [
        ("struct_size", ctypes.c_size_t),
        ("fft_size", ctypes.c_int64),
        ("backend", ctypes.c_int),
        ("device", ctypes.c_int32),
        ("num_threads", ctypes.c_int32),
        ("cuda_path", ctypes.c_int),
        ("reserved", ctypes.c_int32),
    ]


class PlanInfo(ctypes.Structure):
    _fields_ = [
        ("struct_size", ctypes.c_size_t),
        ("fft_size", ctypes.c_int64),
        ("backend", ctypes.c_int),
        ("device", ctypes.c_int32),
        ("num_stages", ctypes.c_int32),
        ("radices", ctypes.c_int32 * 8),
        ("algorithm", ctypes.c_char * 32),
    ]


_TensorP = ctypes.POINTER(Tensor)


class ForwardArgs(ctypes.Structure):
    _fields_ = [
        ("struct_size", ctypes.c_size_t),
        ("u", _TensorP),
        ("k", _TensorP),
        ("spectrum", ctypes.c_void_p),
        ("spectrum_bytes", ctypes.c_size_t),
        ("spectrum_heads", ctypes.c_int64),
        ("pregate", _TensorP),
        ("postgate", _TensorP),
        ("y", _TensorP),
        ("workspace", ctypes.c_void_p),
        ("workspace_bytes", ctypes.c_size_t),
    ]


class BackwardArgs(ctypes.Structure):
    _fields_ = [
        ("struct_size", ctypes.c_size_t),
        ("dy", _TensorP),
        ("u", _TensorP),
        ("k", _TensorP),
        ("spectrum", ctypes.c_void_p),
        ("spectrum_bytes", ctypes.c_size_t),
        ("spectrum_heads", ctypes.c_int64),
        ("pregate", _TensorP),
        ("postgate", _TensorP),
        ("du", _TensorP),
        ("dk", _TensorP),
        ("dpregate", _TensorP),
        ("dpostgate", _TensorP),
        ("workspace", ctypes.c_void_p),
        ("workspace_bytes", ctypes.c_size_t),
    ]


# ---- conv1d (the short depthwise convolution) ------------------------------------------------------
CONV1D_BHL = 0
CONV1D_BLH = 1
ACTIVATION_NONE = 0
ACTIVATION_SILU = 1


class Conv1dPlanOptions(ctypes.Structure):
    _fields_ = [
        ("struct_size", ctypes.c_size_t),
        ("backend", ctypes.c_int),
        ("device", ctypes.c_int32),
        ("num_threads", ctypes.c_int32),
        ("reserved", ctypes.c_int32),
    ]


class Conv1dForwardArgs(ctypes.Structure):
    _fields_ = [
        ("struct_size", ctypes.c_size_t),
        ("x", _TensorP),
        ("weight", _TensorP),
        ("bias", _TensorP),
        ("y", _TensorP),
        ("padding", ctypes.c_int64),
        ("causal", ctypes.c_int32),
        ("layout", ctypes.c_int),
        ("activation", ctypes.c_int),
        ("reserved", ctypes.c_int32),
    ]


class Conv1dBackwardArgs(ctypes.Structure):
    _fields_ = [
        ("struct_size", ctypes.c_size_t),
        ("dy", _TensorP),
        ("x", _TensorP),
        ("weight", _TensorP),
        ("bias", _TensorP),
        ("dx", _TensorP),
        ("dweight", _TensorP),
        ("dbias", _TensorP),
        ("padding", ctypes.c_int64),
        ("causal", ctypes.c_int32),
        ("layout", ctypes.c_int),
        ("activation", ctypes.c_int),
        ("reserved", ctypes.c_int32),
        ("workspace", ctypes.c_void_p),
        ("workspace_bytes", ctypes.c_size_t),
    ]


def init(struct_type):
    """A zeroed struct with ``struct_size`` set, like the header's *_INIT macros."""
    s = struct_type()
    s.struct_size = ctypes.sizeof(struct_type)
    if struct_type is PlanOptions:
        s.backend = BACKEND_AUTO
        s.device = -1
    if struct_type is PlanInfo:
        s.device = -1
    if struct_type is Conv1dPlanOptions:
        s.backend = BACKEND_AUTO
        s.device = -1
    return s


_c = ctypes
_size_p = ctypes.POINTER(ctypes.c_size_t)
_plan_p = ctypes.c_void_p

# name: (restype, argtypes). Functions every build of ABI 1 exports.
REQUIRED = {
    "ffc_version": (_c.c_uint32, []),
    "ffc_version_string": (_c.c_char_p, []),
    "ffc_abi_version": (_c.c_uint32, []),
    "ffc_status_string": (_c.c_char_p, [_c.c_int]),
    "ffc_last_error": (_c.c_char_p, []),
    "ffc_cuda_device_count": (_c.c_int32, []),
    "ffc_fft_size_supported": (_c.c_int32, [_c.c_int, _c.c_int64]),
    "ffc_plan_create": (_c.c_int, [_c.POINTER(PlanOptions), _c.POINTER(_plan_p)]),
    "ffc_plan_destroy": (None, [_plan_p]),
    "ffc_plan_get_info": (_c.c_int, [_plan_p, _c.POINTER(PlanInfo)]),
    "ffc_spectrum_bytes": (_c.c_int, [_plan_p, _c.c_int64, _size_p]),
    "ffc_workspace_bytes": (_c.c_int, [_plan_p, _c.c_int64, _size_p]),
    "ffc_transform_filter": (_c.c_int, [_plan_p, _TensorP, _c.c_void_p, _c.c_size_t, _c.c_void_p]),
    "ffc_forward": (_c.c_int, [_plan_p, _c.POINTER(ForwardArgs), _c.c_void_p]),
}

# Functions that newer builds add; bound when the library exports them.
OPTIONAL = {
    "ffc_backward_workspace_bytes": (_c.c_int, [_plan_p, _c.c_int64, _c.c_int64, _size_p]),
    "ffc_backward": (_c.c_int, [_plan_p, _c.POINTER(BackwardArgs), _c.c_void_p]),
    "ffc_conv1d_plan_create": (_c.c_int, [_c.POINTER(Conv1dPlanOptions), _c.POINTER(_plan_p)]),
    "ffc_conv1d_plan_destroy": (None, [_plan_p]),
    "ffc_conv1d_plan_get_backend": (_c.c_int, [_plan_p, _c.POINTER(_c.c_int), _c.POINTER(_c.c_int32)]),
    "ffc_conv1d_forward": (_c.c_int, [_plan_p, _c.POINTER(Conv1dForwardArgs), _c.c_void_p]),
    "ffc_conv1d_backward_workspace_bytes": (_c.c_int, [_plan_p, _c.POINTER(Conv1dBackwardArgs), _size_p]),
    "ffc_conv1d_backward": (_c.c_int, [_plan_p, _c.POINTER(Conv1dBackwardArgs), _c.c_void_p]),
}

CONV1D_FUNCTIONS = frozenset(n for n in OPTIONAL if n.startswith("ffc_conv1d_"))


def bind(lib):
    """Sets restype/argtypes on a loaded CDLL. Returns the names of OPTIONAL functions present."""
    for name, (restype, argtypes) in REQUIRED.items():
        fn = getattr(lib, name)  # AttributeError: not a flashfftconv library of this ABI
        fn.restype = restype
        fn.argtypes = argtypes
    present = set()
    for name, (restype, argtypes) in OPTIONAL.items():
        fn = getattr(lib, name, None)
        if fn is None:
            continue
        fn.restype = restype
        fn.argtypes = argtypes
        present.add(name)
    return present
