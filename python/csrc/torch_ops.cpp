// The flashfftconv torch operators compiled against PyTorch's stable ABI (libtorch's C shim): one
// binary serves every torch from the targeted stable-ABI version on (TORCH_TARGET_VERSION, set by
// CMake). It defines the four operators of python/flashfftconv/ops.py with the same schemas and
// registers their CPU and CUDA kernels; the Python side adds the fake implementations and the
// autograd formulas, and falls back to its own kernels (ctypes) when this library is absent.
//
// Per call: the torch-level checks (rank, dtype, device), contiguous inputs, a plan from a
// process-wide cache, outputs and workspace from torch's allocator, the library call on the
// current stream. The library is called through its C ABI (ffc.h): no C++ exception crosses the
// boundary between the two shared libraries, however each was linked. No host synchronization, so calls can be captured in CUDA graphs once the plan
// exists. Errors are thrown as std::runtime_error with the message prefixed by
// "[flashfftconv:<status>:<function>] "; torch raises them as RuntimeError and the Python package
// turns them into its typed exceptions (flashfftconv.InvalidArgumentError, ...).
#include <dlfcn.h>

#include <ffc/ffc.h>

#include <torch/csrc/stable/accelerator.h>
#include <torch/csrc/stable/library.h>
#include <torch/csrc/stable/ops.h>
#include <torch/csrc/stable/tensor.h>
#include <torch/headeronly/core/ScalarType.h>

#include <algorithm>
#include <cstdint>
#include <deque>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

namespace {

using torch::stable::Tensor;
using torch::headeronly::ScalarType;

// ---- errors --------------------------------------------------------------------------------------
const char* status_tag(ffc_status_t status) {
  switch (status) {
    case FFC_INVALID_ARGUMENT: return "invalid_argument";
    case FFC_NOT_SUPPORTED: return "not_supported";
    case FFC_NO_DEVICE: return "no_device";
    case FFC_CUDA_ERROR: return "cuda_error";
    case FFC_OUT_OF_MEMORY: return "out_of_memory";
    default: return "internal";
  }
}

// "[flashfftconv:<status>:<function>] message"; the function is the library's (ffc_forward, ...) or,
// for the checks made here, the operator.
[[noreturn]] void fail(ffc_status_t status, const std::string& message, const char* function = "torch.ops.flashfftconv") {
  throw std::runtime_error(std::string("[flashfftconv:") + status_tag(status) + ":" + function + "] " + message);
}

[[noreturn]] void fail_argument(const std::string& message) {
  fail(FFC_INVALID_ARGUMENT, message);
}

// A failed library call, in the tagged form with the library's thread-local message.
void check(ffc_status_t status, const char* function) {
  if (status == FFC_SUCCESS) return;
  const char* message = ffc_last_error();
  fail(status, message && *message ? message : ffc_status_string(status), function);
}

// ---- tensors -------------------------------------------------------------------------------------
std::string shape_string(const Tensor& t) {
  std::ostringstream s;
  s << "(";
  for (int64_t d = 0; d < t.dim(); ++d) s << (d ? ", " : "") << t.size(d);
  s << (t.dim() == 1 ? ",)" : ")");
  return s.str();
}

const char* dtype_name(ScalarType t) {
  switch (t) {
    case ScalarType::Float: return "torch.float32";
    case ScalarType::Half: return "torch.float16";
    case ScalarType::BFloat16: return "torch.bfloat16";
    case ScalarType::Double: return "torch.float64";
    default: return "a non-float dtype";
  }
}

std::optional<ffc_dtype_t> library_dtype(ScalarType t) {
  switch (t) {
    case ScalarType::Float: return FFC_F32;
    case ScalarType::Half: return FFC_F16;
    case ScalarType::BFloat16: return FFC_BF16;
    default: return std::nullopt;
  }
}

std::string device_string(const Tensor& t) {
  if (t.is_cpu()) return "cpu";
  if (t.is_cuda()) return "cuda:" + std::to_string(t.get_device_index());
  return "a device other than cpu and cuda";
}

bool same_device(const Tensor& a, const Tensor& b) {
  return a.is_cuda() == b.is_cuda() && a.is_cpu() == b.is_cpu() &&
         (!a.is_cuda() || a.get_device_index() == b.get_device_index());
}

// A checked tensor argument: rank, device (that of `like`) and, for 16/32-bit floats, the dtype.
void check_tensor(const char* name, const Tensor& t, int64_t rank, const char* dims, const Tensor& like,
                  bool f32_only = false) {
  if (t.dim() != rank) {
    fail_argument(std::string(name) + ": shape " + shape_string(t) + " has rank " + std::to_string(t.dim()) +
                  ", expected rank " + std::to_string(rank) + " " + dims);
  }
  if (!same_device(t, like)) {
    fail_argument(std::string(name) + ": on device " + device_string(t) + ", u is on " + device_string(like) +
                  " (rule: all tensors on one device)");
  }
  if (f32_only) {
    if (t.scalar_type() != ScalarType::Float) {
      fail_argument(std::string(name) + ": dtype " + dtype_name(t.scalar_type()) +
                    " is not supported (rule: the float32 tensor transform_filter returned, unconverted)");
    }
  } else if (!library_dtype(t.scalar_type())) {
    fail_argument(std::string(name) + ": dtype " + dtype_name(t.scalar_type()) +
                  " is not supported (rule: torch.float32, torch.float16 or torch.bfloat16)");
  }
}

void check_u(const Tensor& u) {
  if (u.dim() != 3) {
    fail_argument("u: shape " + shape_string(u) + " has rank " + std::to_string(u.dim()) +
                  ", expected rank 3 (B, H, L)");
  }
  if (!u.is_cpu() && !u.is_cuda()) fail_argument("u: device " + device_string(u) + " is not supported (rule: cpu or cuda)");
  if (!library_dtype(u.scalar_type())) {
    fail_argument(std::string("u: dtype ") + dtype_name(u.scalar_type()) +
                  " is not supported (rule: torch.float32, torch.float16 or torch.bfloat16; the library "
                  "has no float64 path: convert with .float())");
  }
}

void check_gate(const char* name, const std::optional<Tensor>& g, const Tensor& u) {
  if (!g) return;
  check_tensor(name, *g, 3, "(B, H, L)", u);
  for (int64_t d = 0; d < 3; ++d) {
    if (g->size(d) != u.size(d)) {
      fail_argument(std::string(name) + ": shape " + shape_string(*g) + " differs from u's shape " +
                    shape_string(u) + " (rule: u, pregate, postgate have one shape)");
    }
  }
  if (g->scalar_type() != u.scalar_type()) {
    fail_argument(std::string(name) + ": dtype " + dtype_name(g->scalar_type()) + " differs from u's dtype " +
                  dtype_name(u.scalar_type()) + " (rule: u, pregate and postgate share one dtype)");
  }
}

void check_fft_size(int64_t n) {
  if (n < 1) fail_argument("fft_size: " + std::to_string(n) + " (rule: a supported FFT size, e.g. a power of two >= 16)");
}

Tensor dense(const Tensor& t) { return t.is_contiguous() ? t : torch::stable::contiguous(t); }

std::optional<Tensor> dense(const std::optional<Tensor>& t) {
  return t ? std::optional<Tensor>(dense(*t)) : std::nullopt;
}

// A library view of a contiguous tensor (rank 1 to 3).
ffc_tensor_t view(const Tensor& t) {
  ffc_tensor_t v{};
  v.data = t.data_ptr();
  v.dtype = *library_dtype(t.scalar_type());
  v.ndim = static_cast<int32_t>(t.dim());
  for (int d = 0; d < v.ndim; ++d) {
    v.shape[d] = t.size(d);
    v.strides[d] = t.stride(d);
  }
  return v;
}

// The views of a call's optional tensors live here; `of` gives the pointer the ABI takes (or null).
struct Views {
  std::deque<ffc_tensor_t> storage;  // push_back keeps the addresses of earlier views
  const ffc_tensor_t* of(const std::optional<Tensor>& t) {
    if (!t) return nullptr;
    storage.push_back(view(*t));
    return &storage.back();
  }
  const ffc_tensor_t* of(const Tensor& t) { return of(std::optional<Tensor>(t)); }
};

// An uninitialized contiguous tensor (rank 1 to 3) on `like`'s device, of `like`'s dtype or of
// `dtype` (Float or Byte): torch's allocator through the C shim, without the dispatcher lookup by
// operator name that torch::stable::new_empty makes on every call.
Tensor allocate(const Tensor& like, std::initializer_list<int64_t> shape,
                std::optional<ScalarType> dtype = std::nullopt) {
  int64_t sizes[3] = {}, strides[3] = {};
  const int64_t ndim = static_cast<int64_t>(shape.size());
  std::copy(shape.begin(), shape.end(), sizes);
  for (int64_t d = ndim - 1, stride = 1; d >= 0; stride *= sizes[d], --d) strides[d] = stride;
  int32_t aoti_dtype = 0, device_type = 0;
  if (dtype) {
    aoti_dtype = *dtype == ScalarType::Float ? aoti_torch_dtype_float32() : aoti_torch_dtype_uint8();
  } else {
    STABLE_TORCH_ERROR_CODE_CHECK(aoti_torch_get_dtype(like.get(), &aoti_dtype));
  }
  STABLE_TORCH_ERROR_CODE_CHECK(aoti_torch_get_device_type(like.get(), &device_type));
  AtenTensorHandle handle = nullptr;
  STABLE_TORCH_ERROR_CODE_CHECK(
      aoti_torch_empty_strided(ndim, sizes, strides, aoti_dtype, device_type, like.get_device_index(), &handle));
  return Tensor(handle);
}

Tensor empty_bytes(const Tensor& like, std::size_t bytes) {
  return allocate(like, {static_cast<int64_t>(bytes)}, ScalarType::Byte);
}

// ---- plans and streams ---------------------------------------------------------------------------
// Plans are immutable and thread-safe; one per (N, backend, device, CPU threads) serves the process.
// They are never destroyed: a captured CUDA graph keeps pointers into its plan's device tables for
// the life of the process. The key space is bounded by the supported sizes times the devices (times
// the distinct torch thread counts for CPU plans).
struct PlanKey {
  int64_t fft_size;
  int backend;
  int device;
  int threads;
  bool operator<(const PlanKey& o) const {
    return std::tie(fft_size, backend, device, threads) < std::tie(o.fft_size, o.backend, o.device, o.threads);
  }
};

const ffc_plan_t* plan_for(const Tensor& like, int64_t fft_size) {
  static std::mutex mutex;
  static std::map<PlanKey, ffc_plan_t*> plans;
  PlanKey key{fft_size, like.is_cuda() ? FFC_BACKEND_CUDA : FFC_BACKEND_CPU,
              like.is_cuda() ? static_cast<int>(like.get_device_index()) : -1,
              like.is_cuda() ? 0 : static_cast<int>(torch::stable::get_num_threads())};
  {
    std::lock_guard<std::mutex> lock(mutex);
    auto it = plans.find(key);
    if (it != plans.end()) return it->second;
  }
  ffc_plan_options_t options = FFC_PLAN_OPTIONS_INIT;
  options.fft_size = fft_size;
  options.backend = static_cast<ffc_backend_t>(key.backend);
  options.device = key.device;
  options.num_threads = key.threads;
  ffc_plan_t* plan = nullptr;
  const ffc_status_t status = ffc_plan_create(&options, &plan);
  if (status != FFC_SUCCESS) {
    std::string message = ffc_last_error();
    if (like.is_cuda() && (status == FFC_NOT_SUPPORTED || status == FFC_NO_DEVICE)) {
      message += " [flashfftconv: CUDA tensors run on the CUDA backend only and are never copied to the "
                 "CPU; move the tensors to the CPU to use the CPU backend]";
    }
    fail(status, message, "ffc_plan_create");
  }
  std::lock_guard<std::mutex> lock(mutex);
  auto [it, inserted] = plans.emplace(key, plan);
  if (!inserted) ffc_plan_destroy(plan);  // a racing thread's plan was stored first
  return it->second;
}

// The current CUDA stream of torch on `device`, from libtorch_cuda's C shim (looked up once: the
// stable ABI's accelerator API has no raw stream handle, and a CPU-only torch has no libtorch_cuda).
void* current_stream(const Tensor& t) {
  if (!t.is_cuda()) return nullptr;
  using GetStream = int32_t (*)(int32_t, void**);
  static GetStream get = [] {
    void* lib = dlopen("libtorch_cuda.so", RTLD_LAZY | RTLD_NOLOAD);
    return lib ? reinterpret_cast<GetStream>(dlsym(lib, "aoti_torch_get_current_cuda_stream")) : nullptr;
  }();
  if (!get) fail(FFC_INTERNAL, "stream: libtorch_cuda's aoti_torch_get_current_cuda_stream was not found");
  void* stream = nullptr;
  if (get(static_cast<int32_t>(t.get_device_index()), &stream) != 0) {
    fail(FFC_INTERNAL, "stream: torch could not give the current CUDA stream");
  }
  return stream;
}

int64_t spectrum_columns(const ffc_plan_t* plan) {
  std::size_t per_head = 0;
  check(ffc_spectrum_bytes(plan, 1, &per_head), "ffc_spectrum_bytes");
  if (per_head % 4) fail(FFC_INTERNAL, "spectrum: " + std::to_string(per_head) + " bytes per head is not a multiple of 4");
  return static_cast<int64_t>(per_head / 4);
}

// A spectrum made for another N, backend or device is caught by its exact width.
void check_spectrum_layout(const Tensor& spectrum, const ffc_plan_t* plan, const Tensor& u, int64_t fft_size) {
  const int64_t columns = spectrum_columns(plan);
  if (spectrum.size(1) != columns) {
    fail_argument("spectrum: " + std::to_string(spectrum.size(1)) + " columns, the " + (u.is_cuda() ? "CUDA" : "CPU") +
                  " backend's spectrum for fft_size = " + std::to_string(fft_size) + " has " + std::to_string(columns) +
                  " (rule: a spectrum from transform_filter with the same fft_size, on the same device)");
  }
}

// ---- the operators -------------------------------------------------------------------------------
Tensor transform_filter(Tensor k, int64_t fft_size) {
  check_fft_size(fft_size);
  check_tensor("k", k, 2, "(H, Lk)", k);
  k = dense(k);
  const ffc_plan_t* plan = plan_for(k, fft_size);
  Tensor spectrum = allocate(k, {k.size(0), spectrum_columns(plan)}, ScalarType::Float);
  const ffc_tensor_t kv = view(k);
  check(ffc_transform_filter(plan, &kv, spectrum.data_ptr(), static_cast<std::size_t>(spectrum.numel()) * 4,
                             current_stream(k)),
        "ffc_transform_filter");
  return spectrum;
}

void check_forward(const Tensor& u, const std::optional<Tensor>& k, const std::optional<Tensor>& spectrum,
                   int64_t fft_size, const std::optional<Tensor>& pregate, const std::optional<Tensor>& postgate) {
  check_fft_size(fft_size);
  check_u(u);
  if (k) check_tensor("k", *k, 2, "(H, Lk)", u);
  if (spectrum) check_tensor("spectrum", *spectrum, 2, "(H, columns)", u, /*f32_only=*/true);
  check_gate("pregate", pregate, u);
  check_gate("postgate", postgate, u);
}

// The forward's inputs made contiguous, with the plan they run on (a spectrum checked against it).
struct CallInputs {
  Tensor u;
  std::optional<Tensor> k, spectrum, pregate, postgate;
  const ffc_plan_t* plan = nullptr;
};

CallInputs prepare(const Tensor& u, const std::optional<Tensor>& k, const std::optional<Tensor>& spectrum,
                   int64_t fft_size, const std::optional<Tensor>& pregate, const std::optional<Tensor>& postgate) {
  CallInputs in{dense(u), dense(k), dense(spectrum), dense(pregate), dense(postgate)};
  in.plan = plan_for(in.u, fft_size);
  if (in.spectrum) check_spectrum_layout(*in.spectrum, in.plan, in.u, fft_size);
  return in;
}

// The fields ffc_forward_args_t and ffc_backward_args_t share: u, the filter in either form, the gates.
template <class Args>
void set_inputs(Args& args, Views& views, const CallInputs& in) {
  args.u = views.of(in.u);
  args.k = views.of(in.k);
  if (in.spectrum) {
    args.spectrum = in.spectrum->data_ptr();
    args.spectrum_bytes = static_cast<std::size_t>(in.spectrum->numel()) * 4;
    args.spectrum_heads = in.spectrum->size(0);
  }
  args.pregate = views.of(in.pregate);
  args.postgate = views.of(in.postgate);
}

// A workspace of args.workspace_bytes from torch's allocator (none when 0); the tensor keeps it alive.
template <class Args>
std::optional<Tensor> attach_workspace(Args& args, const Tensor& like) {
  if (args.workspace_bytes == 0) return std::nullopt;
  Tensor workspace = empty_bytes(like, args.workspace_bytes);
  args.workspace = workspace.data_ptr();
  return workspace;
}

Tensor forward(Tensor u, std::optional<Tensor> k, std::optional<Tensor> spectrum, int64_t fft_size,
               std::optional<Tensor> pregate, std::optional<Tensor> postgate) {
  check_forward(u, k, spectrum, fft_size, pregate, postgate);
  const CallInputs in = prepare(u, k, spectrum, fft_size, pregate, postgate);
  Tensor y = allocate(in.u, {u.size(0), u.size(1), u.size(2)});
  Views views;
  ffc_forward_args_t args = FFC_FORWARD_ARGS_INIT;
  set_inputs(args, views, in);
  args.y = views.of(y);
  // With k: room for its spectrum; with a spectrum: the scratch of algorithms that stage through HBM.
  check(ffc_workspace_bytes(in.plan, in.k ? u.size(1) : 0, &args.workspace_bytes), "ffc_workspace_bytes");
  const std::optional<Tensor> workspace = attach_workspace(args, in.u);
  check(ffc_forward(in.plan, &args, current_stream(in.u)), "ffc_forward");
  return y;
}

Tensor fftconv(Tensor u, Tensor k, int64_t fft_size, std::optional<Tensor> pregate, std::optional<Tensor> postgate) {
  return forward(std::move(u), std::move(k), std::nullopt, fft_size, std::move(pregate), std::move(postgate));
}

Tensor fftconv_spectrum(Tensor u, Tensor spectrum, int64_t fft_size, std::optional<Tensor> pregate,
                        std::optional<Tensor> postgate) {
  return forward(std::move(u), std::nullopt, std::move(spectrum), fft_size, std::move(pregate), std::move(postgate));
}

void check_backward(const Tensor& dy, const Tensor& u, const std::optional<Tensor>& k,
                    const std::optional<Tensor>& spectrum, int64_t fft_size, const std::optional<Tensor>& pregate,
                    const std::optional<Tensor>& postgate, const std::vector<bool>& mask) {
  check_forward(u, k, spectrum, fft_size, pregate, postgate);
  check_tensor("dy", dy, 3, "(B, H, L)", u);
  bool same = dy.scalar_type() == u.scalar_type();
  for (int64_t d = 0; d < 3; ++d) same = same && dy.size(d) == u.size(d);
  if (!same) {
    fail_argument("dy: " + shape_string(dy) + " " + dtype_name(dy.scalar_type()) + " differs from u's " +
                  shape_string(u) + " " + dtype_name(u.scalar_type()) + " (rule: dy has the shape and dtype of y)");
  }
  if (k.has_value() == spectrum.has_value()) fail_argument("k and spectrum: exactly one filter form must be given");
  if (mask.size() != 4) {
    fail_argument("output_mask: " + std::to_string(mask.size()) + " entries (rule: du, dk, dpregate, dpostgate)");
  }
  if (mask[1] && !k) fail_argument("dk: requested with a spectrum (rule: dk needs the time-domain filter k)");
  if (mask[2] && !pregate) fail_argument("dpregate: requested without pregate");
  if (mask[3] && !postgate) fail_argument("dpostgate: requested without postgate");
}

std::tuple<Tensor, Tensor, Tensor, Tensor> fftconv_backward(Tensor dy, Tensor u, std::optional<Tensor> k,
                                                            std::optional<Tensor> spectrum, int64_t fft_size,
                                                            std::optional<Tensor> pregate,
                                                            std::optional<Tensor> postgate, std::vector<bool> mask) {
  check_backward(dy, u, k, spectrum, fft_size, pregate, postgate, mask);
  // Outputs not requested are distinct empty tensors (outputs of an operator must not alias).
  auto bhl = [&](bool need) {
    return need ? allocate(u, {u.size(0), u.size(1), u.size(2)}) : allocate(u, {0});
  };
  Tensor du = bhl(mask[0]);
  Tensor dk = mask[1] ? allocate(u, {k->size(0), k->size(1)}, ScalarType::Float) : allocate(u, {0}, ScalarType::Float);
  Tensor dpre = bhl(mask[2]), dpost = bhl(mask[3]);
  if (!(mask[0] || mask[1] || mask[2] || mask[3])) return {du, dk, dpre, dpost};
  dy = dense(dy);
  const CallInputs in = prepare(u, k, spectrum, fft_size, pregate, postgate);
  Views views;
  ffc_backward_args_t args = FFC_BACKWARD_ARGS_INIT;
  set_inputs(args, views, in);
  args.dy = views.of(dy);
  if (mask[0]) args.du = views.of(du);
  if (mask[1]) args.dk = views.of(dk);
  if (mask[2]) args.dpregate = views.of(dpre);
  if (mask[3]) args.dpostgate = views.of(dpost);
  check(ffc_backward_workspace_bytes(in.plan, u.size(0), u.size(1), &args.workspace_bytes),
        "ffc_backward_workspace_bytes");
  const std::optional<Tensor> workspace = attach_workspace(args, in.u);
  check(ffc_backward(in.plan, &args, current_stream(in.u)), "ffc_backward");
  return {du, dk, dpre, dpost};
}

}  // namespace

STABLE_TORCH_LIBRARY(flashfftconv, m) {
  m.def("fftconv(Tensor u, Tensor k, int fft_size, Tensor? pregate=None, Tensor? postgate=None) -> Tensor");
  m.def("fftconv_spectrum(Tensor u, Tensor spectrum, int fft_size, Tensor? pregate=None, "
        "Tensor? postgate=None) -> Tensor");
  m.def("transform_filter(Tensor k, int fft_size) -> Tensor");
  m.def("fftconv_backward(Tensor dy, Tensor u, Tensor? k, Tensor? spectrum, int fft_size, Tensor? pregate, "
        "Tensor? postgate, bool[4] output_mask) -> (Tensor, Tensor, Tensor, Tensor)");
}

STABLE_TORCH_LIBRARY_IMPL(flashfftconv, CPU, m) {
  m.impl("fftconv", TORCH_BOX(&fftconv));
  m.impl("fftconv_spectrum", TORCH_BOX(&fftconv_spectrum));
  m.impl("transform_filter", TORCH_BOX(&transform_filter));
  m.impl("fftconv_backward", TORCH_BOX(&fftconv_backward));
}

STABLE_TORCH_LIBRARY_IMPL(flashfftconv, CUDA, m) {
  m.impl("fftconv", TORCH_BOX(&fftconv));
  m.impl("fftconv_spectrum", TORCH_BOX(&fftconv_spectrum));
  m.impl("transform_filter", TORCH_BOX(&transform_filter));
  m.impl("fftconv_backward", TORCH_BOX(&fftconv_backward));
}
