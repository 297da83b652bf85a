"""The short depthwise convolution: torch operators, autograd, the module and the functional API.

    y[b, c, t] = act(bias[c] + sum_{j < K} w[c // (H // G), j] * x[b, c, t + j - P])

Operators (namespace ``flashfftconv``, Python kernels over the C ABI through ctypes, CPU and CUDA):

* ``conv1d(Tensor x, Tensor weight, Tensor? bias, int padding, bool causal, bool blh, bool silu) -> Tensor``
* ``conv1d_backward(Tensor dy, Tensor x, Tensor weight, Tensor? bias, int padding, bool causal,
  bool blh, bool silu, bool[3] output_mask) -> (Tensor, Tensor, Tensor)``

``weight`` is (G, K) with H a multiple of G, any of float32 / float16 / bfloat16 independently of
x; the output and dx have x's dtype, dweight and dbias come back in the dtypes of weight and bias
(summed in float32 by the library, deterministically). Each operator has a fake implementation
(torch.compile, fullgraph) and conv1d an autograd formula over conv1d_backward.
"""

import threading

import torch

from . import _capi, _native
from . import ops as _ops  # the namespace's DEF library (or the compiled one) comes first

_DTYPES = {torch.float32: _capi.F32, torch.float16: _capi.F16, torch.bfloat16: _capi.BF16}
_DTYPE_RULE = "rule: torch.float32, torch.float16 or torch.bfloat16"
MAX_KERNEL_SIZE = 1024

_lib = torch.library.Library("flashfftconv", "FRAGMENT")
_lib.define("conv1d(Tensor x, Tensor weight, Tensor? bias, int padding, bool causal, bool blh, "
            "bool silu) -> Tensor")
_lib.define("conv1d_backward(Tensor dy, Tensor x, Tensor weight, Tensor? bias, int padding, "
            "bool causal, bool blh, bool silu, bool[3] output_mask) -> (Tensor, Tensor, Tensor)")
CONV1D = torch.ops.flashfftconv.conv1d.default
CONV1D_BACKWARD = torch.ops.flashfftconv.conv1d_backward.default


def _fail(message):
    raise _native.InvalidArgumentError(message, status=_capi.INVALID_ARGUMENT)


# ---- checks shared by the kernels and the fake implementations ----------------------------------
def _dims(blh, out=False):
    length = "L_out" if out else "L"
    return f"(B, {length}, H)" if blh else f"(B, H, {length})"


def _check_tensor(name, t, ndim, dims, device):
    if t.dim() != ndim:
        _fail(f"{name}: shape {tuple(t.shape)} has rank {t.dim()}, expected rank {ndim} {dims}")
    if t.device != device:
        _fail(f"{name}: on device {t.device}, x is on {device} (rule: all tensors on one device)")
    if t.dtype not in _DTYPES:
        _fail(f"{name}: dtype {t.dtype} is not supported ({_DTYPE_RULE})")


def output_length(length, kernel_size, padding, causal):
    return length if causal else length + 2 * padding - kernel_size + 1


def _check_forward(x, weight, bias, padding, causal, blh):
    """(B, H, L, L_out) after the checks the fake implementations need to produce shapes."""
    if x.device.type not in ("cpu", "cuda", "meta"):
        _fail(f"x: device {x.device} is not supported (rule: cpu or cuda)")
    _check_tensor("x", x, 3, _dims(blh), x.device)
    _check_tensor("weight", weight, 2, "(G, K)", x.device)
    if bias is not None:
        _check_tensor("bias", bias, 1, "(H,)", x.device)
    B, H, L = (x.shape[0], x.shape[2], x.shape[1]) if blh else tuple(x.shape)
    G, K = weight.shape
    if not 1 <= K <= MAX_KERNEL_SIZE:
        _fail(f"weight: kernel size K = {K} (rule: 1 <= K <= {MAX_KERNEL_SIZE})")
    if G < 1 or H % G:
        _fail(f"weight: G = {G} filters for H = {H} channels (rule: H is a multiple of G; "
              "channel c uses filter c // (H // G))")
    if bias is not None and bias.shape[0] != H:
        _fail(f"bias: {bias.shape[0]} values for H = {H} channels (rule: bias has shape (H,))")
    if padding < 0:
        _fail(f"padding: {padding} (rule: padding >= 0)")
    if causal and padding not in (0, K - 1):
        _fail(f"padding: {padding} with causal and K = {K} (rule: causal pads K - 1 on the left; "
              "padding is 0 or K - 1)")
    L_out = output_length(L, K, padding, causal)
    if L_out < 1 and not causal:
        _fail(f"x: length L = {L} with padding = {padding} and K = {K} gives L_out = {L_out} "
              "(rule: L + 2 * padding >= K)")
    return B, H, L, L_out


def _out_shape(B, H, length, blh):
    return (B, length, H) if blh else (B, H, length)


# ---- plans ----------------------------------------------------------------------------------------
_plans = {}
_plans_lock = threading.Lock()


def plan_for(device):
    """The cached native conv1d plan for a torch.device (CPU plans take torch's thread count)."""
    if device.type in ("cpu", "meta"):
        key = (_capi.BACKEND_CPU, -1, torch.get_num_threads())
    elif device.type == "cuda":
        key = (_capi.BACKEND_CUDA, device.index if device.index is not None else torch.cuda.current_device(), 0)
    else:
        _fail(f"device: {device} is not supported (rule: cpu or cuda)")
    plan = _plans.get(key)
    if plan is None:
        with _plans_lock:
            plan = _plans.get(key)
            if plan is None:
                plan = _native.Conv1dPlan(*key)
                _plans[key] = plan
    return plan


def _view(t):
    if t is None:
        return None
    return _native.tensor_view(t.data_ptr(), _DTYPES[t.dtype], tuple(t.shape), t.stride())


def _stream(device):
    return torch.cuda.current_stream(device).cuda_stream if device.type == "cuda" else None


def _contig(t):
    return None if t is None else t.contiguous()


# ---- forward --------------------------------------------------------------------------------------
@torch.library.register_fake("flashfftconv::conv1d")
def _conv1d_fake(x, weight, bias, padding, causal, blh, silu):
    B, H, _, L_out = _check_forward(x, weight, bias, padding, causal, blh)
    return x.new_empty(_out_shape(B, H, L_out, blh))


def _conv1d_kernel(x, weight, bias, padding, causal, blh, silu):
    B, H, _, L_out = _check_forward(x, weight, bias, padding, causal, blh)
    x, weight, bias = x.contiguous(), weight.contiguous(), _contig(bias)
    y = torch.empty(_out_shape(B, H, L_out, blh), dtype=x.dtype, device=x.device)
    plan_for(x.device).forward(_view(x), _view(weight), _view(bias), _view(y), padding, causal, blh, silu,
                               stream=_stream(x.device))
    return y


# ---- backward -------------------------------------------------------------------------------------
def _check_backward(dy, x, weight, bias, padding, causal, blh, output_mask):
    B, H, L, L_out = _check_forward(x, weight, bias, padding, causal, blh)
    _check_tensor("dy", dy, 3, _dims(blh, True), x.device)
    want = _out_shape(B, H, L_out, blh)
    if tuple(dy.shape) != want or dy.dtype != x.dtype:
        _fail(f"dy: {tuple(dy.shape)} {dy.dtype}, expected {want} {x.dtype} (rule: dy has the shape and "
              "dtype of y)")
    if len(output_mask) != 3:
        _fail(f"output_mask: {len(output_mask)} entries (rule: dx, dweight, dbias)")
    return H


def _empty_grads(x, weight, H, output_mask):
    need_dx, need_dw, need_db = output_mask
    dx = x.new_empty(x.shape if need_dx else (0,))
    dw = x.new_empty(tuple(weight.shape) if need_dw else (0,), dtype=torch.float32)
    db = x.new_empty((H,) if need_db else (0,), dtype=torch.float32)
    return dx, dw, db


@torch.library.register_fake("flashfftconv::conv1d_backward")
def _conv1d_backward_fake(dy, x, weight, bias, padding, causal, blh, silu, output_mask):
    H = _check_backward(dy, x, weight, bias, padding, causal, blh, output_mask)
    return _empty_grads(x, weight, H, output_mask)


def _conv1d_backward_kernel(dy, x, weight, bias, padding, causal, blh, silu, output_mask):
    H = _check_backward(dy, x, weight, bias, padding, causal, blh, output_mask)
    dx, dw, db = outs = _empty_grads(x, weight, H, output_mask)
    if not any(output_mask):
        return outs
    dy, x, weight, bias = dy.contiguous(), x.contiguous(), weight.contiguous(), _contig(bias)
    need_dx, need_dw, need_db = output_mask
    args = (_view(dy), _view(x), _view(weight), _view(bias), _view(dx) if need_dx else None,
            _view(dw) if need_dw else None, _view(db) if need_db else None, padding, causal, blh, silu)
    plan = plan_for(x.device)
    nbytes = plan.backward_workspace_bytes(*args)
    workspace = torch.empty(nbytes, dtype=torch.uint8, device=x.device) if nbytes else None
    plan.backward(*args, workspace=workspace.data_ptr() if nbytes else None, workspace_bytes=nbytes,
                  stream=_stream(x.device))
    return outs


for _key in ("CPU", "CUDA"):
    _lib.impl("conv1d", _conv1d_kernel, _key)
    _lib.impl("conv1d_backward", _conv1d_backward_kernel, _key)


# ---- autograd -------------------------------------------------------------------------------------
def _setup_context(ctx, inputs, output):
    x, weight, bias, padding, causal, blh, silu = inputs
    ctx.options = (padding, causal, blh, silu)
    ctx.save_for_backward(x, weight, bias)


def _backward_formula(ctx, dy):
    x, weight, bias = ctx.saved_tensors
    needs = ctx.needs_input_grad
    mask = [bool(needs[0]), bool(needs[1]), bool(bias is not None and needs[2])]
    if not any(mask):
        return None, None, None, None, None, None, None
    if dy.dtype != x.dtype:
        dy = dy.to(x.dtype)
    dx, dw, db = CONV1D_BACKWARD(dy, x, weight, bias, *ctx.options, mask)
    return (dx if mask[0] else None,
            dw.to(weight.dtype) if mask[1] else None,
            db.to(bias.dtype) if mask[2] else None,
            None, None, None, None)


torch.library.register_autograd("flashfftconv::conv1d", _backward_formula, setup_context=_setup_context)


# ---- the package's API ----------------------------------------------------------------------------
def depthwise_conv1d(x, weight, bias=None, padding=0, causal=False, is_bhl=True, activation=None):
    """y = act(bias + depthwise correlation of x with weight), as the module above describes.

    x: (B, H, L) when is_bhl else (B, L, H); weight: (G, K) or nn.Conv1d's (H, 1, K); bias: (H,) or
    None; padding: zeros on each side (nn.Conv1d), or causal=True for K - 1 zeros on the left only
    (output length L); activation: None, "silu" or "swish"."""
    if weight.dim() == 3:
        if weight.shape[1] != 1:
            _fail(f"weight: shape {tuple(weight.shape)} (rule: (G, K), or nn.Conv1d's depthwise (H, 1, K))")
        weight = weight[:, 0, :]
    if activation not in (None, "silu", "swish"):
        _fail(f"activation: {activation!r} (rule: None, 'silu' or 'swish')")
    try:
        return CONV1D(x, weight, bias, int(padding), bool(causal), not is_bhl, activation is not None)
    except RuntimeError as e:
        _ops._raise_typed(e)
        raise


def causal_conv1d(x, weight, bias=None, activation=None):
    """The causal-conv1d package's ``causal_conv1d_fn(x, weight, bias, activation)``: x (B, D, L),
    weight (D, K) (one filter per channel; (G, K) shares each filter by D // G channels), bias (D,)
    or None, activation None, "silu" or "swish". Returns (B, D, L) in x's dtype."""
    return depthwise_conv1d(x, weight, bias, causal=True, activation=activation)


class FlashDepthWiseConv1d(torch.nn.Module):
    """The original FlashFFTConv's depthwise convolution module.

    ``weights`` is nn.Conv1d's (channels, 1, kernel_size) weight (or (channels, kernel_size)),
    ``bias`` its (channels,) bias (or None); both are copied into the parameters ``weights`` and
    ``bias``, ``weights`` in the original's layout: (channels, kernel_size) when is_bhl, else
    transposed, (kernel_size, channels), so that its state dicts load. forward(x) takes (B, H, L) when is_bhl, else (B, L, H),
    and returns nn.Conv1d(channels, channels, kernel_size, padding=padding, groups=channels)'s
    output in the same layout and in x's dtype (under autocast, float32 inputs run in the autocast
    dtype; the parameters keep theirs)."""

    def __init__(self, channels, kernel_size, padding, weights, bias, is_bhl=True, device=None, dtype=None):
        super().__init__()
        factory = {"device": device, "dtype": dtype}
        weights = weights.detach()
        if weights.dim() == 3:
            weights = weights[:, 0, :]
        if tuple(weights.shape) != (channels, kernel_size):
            _fail(f"weights: shape {tuple(weights.shape)} for channels = {channels}, kernel_size = "
                  f"{kernel_size} (rule: nn.Conv1d's (channels, 1, kernel_size) weight)")
        self.channels = self.d = channels
        self.kernel_size = self.k = kernel_size
        self.padding = padding
        self.is_bhl = is_bhl
        weights = weights if is_bhl else weights.t()
        self.weights = torch.nn.Parameter(weights.clone().to(**factory).contiguous())
        self.bias = None if bias is None else torch.nn.Parameter(bias.detach().clone().to(**factory).contiguous())

    def forward(self, x):
        device_type = x.device.type
        if x.dtype == torch.float32 and torch.is_autocast_enabled(device_type):
            x = x.to(torch.get_autocast_dtype(device_type))
        weights = self.weights if self.is_bhl else self.weights.t()
        return depthwise_conv1d(x, weights, self.bias, padding=self.padding, is_bhl=self.is_bhl)

    def extra_repr(self):
        return (f"channels={self.channels}, kernel_size={self.kernel_size}, padding={self.padding}, "
                f"is_bhl={self.is_bhl}, bias={self.bias is not None}")
