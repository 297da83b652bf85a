// The C ABI: a facade over the C++ API that never lets an exception cross the boundary. Each call
// clears the thread-local message on entry and sets it on failure.
#include <algorithm>
#include <cstddef>
#include <cstring>
#include <new>
#include <string>

#include "ffc/ffc.h"
#include "ffc/ffc.hpp"

struct ffc_plan {
  ffc::Plan plan;
};

struct ffc_conv1d_plan {
  ffc::Conv1dPlan plan;
};

namespace {

#define FFC_STRINGIFY2(x) #x
#define FFC_STRINGIFY(x) FFC_STRINGIFY2(x)

thread_local std::string g_last_error;

ffc_status_t fail(ffc_status_t status, const std::string& message) {
  g_last_error = message;
  return status;
}

// Runs `body`, mapping exceptions to statuses.
template <typename Body>
ffc_status_t guarded(Body&& body) {
  g_last_error.clear();
  try {
    body();
    return FFC_SUCCESS;
  } catch (const ffc::Error& e) {
    return fail(static_cast<ffc_status_t>(e.status()), e.what());
  } catch (const std::bad_alloc&) {
    return fail(FFC_OUT_OF_MEMORY, "host memory allocation failed");
  } catch (const std::exception& e) {
    return fail(FFC_INTERNAL, std::string("internal error: ") + e.what());
  } catch (...) {
    return fail(FFC_INTERNAL, "internal error: unknown exception");
  }
}

[[noreturn]] void invalid(const std::string& message) {
  throw ffc::Error(ffc::Status::kInvalidArgument, message);
}

// The integer a C enum field or argument holds. C callers may store any int in one (a value
// outside the enumerators is valid C), and C++ must not load such a value as the enum type, so it
// is read as its bytes (C enums are int-sized on the supported ABIs).
template <class CEnum>
int32_t enum_value(const CEnum& e) {
  static_assert(sizeof(CEnum) == sizeof(int32_t));
  int32_t v;
  std::memcpy(&v, &e, sizeof v);
  return v;
}

ffc::Tensor to_tensor(const ffc_tensor_t* t, const char* name) {
  if (t == nullptr) invalid(std::string(name) + ": tensor pointer is null");
  if (t->ndim < 1 || t->ndim > 3) {
    invalid(std::string(name) + ": rank " + std::to_string(t->ndim) + " (rule: 1 <= rank <= 3)");
  }
  ffc::Tensor out;
  out.data = t->data;
  out.dtype = static_cast<ffc::DType>(enum_value(t->dtype));
  out.ndim = t->ndim;
  for (int i = 0; i < t->ndim; ++i) {
    out.shape[i] = t->shape[i];
    out.strides[i] = t->strides[i];
  }
  return out;
}

void check_struct(size_t given, size_t minimum, const char* name) {
  if (given < minimum) {
    invalid(std::string(name) + ": struct_size " + std::to_string(given) + " < " +
            std::to_string(minimum) + " (rule: initialize with the *_INIT macro)");
  }
}

const ffc::Plan& plan_of(const ffc_plan_t* plan) {
  if (plan == nullptr) invalid("plan: null handle");
  return plan->plan;
}

const ffc::Conv1dPlan& conv1d_plan_of(const ffc_conv1d_plan_t* plan) {
  if (plan == nullptr) invalid("plan: null handle");
  return plan->plan;
}

void check_reserved(int32_t reserved, const char* name) {
  if (reserved != 0) invalid(std::string(name) + ": reserved is " + std::to_string(reserved) + " (rule: 0)");
}

// The operation's fields of a forward or backward args struct.
template <class CArgs>
ffc::Conv1dOptions conv1d_options(const CArgs& a, const char* name) {
  check_reserved(a.reserved, name);
  if (a.causal != 0 && a.causal != 1) {
    invalid("causal: " + std::to_string(a.causal) + " (rule: 0 or 1)");
  }
  ffc::Conv1dOptions o;
  o.padding = a.padding;
  o.causal = a.causal == 1;
  o.layout = static_cast<ffc::Conv1dLayout>(enum_value(a.layout));
  o.activation = static_cast<ffc::Activation>(enum_value(a.activation));
  return o;
}

ffc::Conv1dBackwardArgs conv1d_backward_args(const ffc_conv1d_backward_args_t* args) {
  if (args == nullptr) invalid("args: null pointer");
  check_struct(args->struct_size, sizeof(ffc_conv1d_backward_args_t), "args");
  ffc::Conv1dBackwardArgs a;
  a.dy = to_tensor(args->dy, "dy");
  a.x = to_tensor(args->x, "x");
  a.weight = to_tensor(args->weight, "weight");
  if (args->bias) a.bias = to_tensor(args->bias, "bias");
  if (args->dx) a.dx = to_tensor(args->dx, "dx");
  if (args->dweight) a.dweight = to_tensor(args->dweight, "dweight");
  if (args->dbias) a.dbias = to_tensor(args->dbias, "dbias");
  a.options = conv1d_options(*args, "args");
  a.workspace = args->workspace;
  a.workspace_bytes = args->workspace_bytes;
  return a;
}

}  // namespace

extern "C" {

uint32_t ffc_version(void) {
  return FFC_VERSION_MAJOR * 10000 + FFC_VERSION_MINOR * 100 + FFC_VERSION_PATCH;
}

const char* ffc_version_string(void) {
  return FFC_STRINGIFY(FFC_VERSION_MAJOR) "." FFC_STRINGIFY(FFC_VERSION_MINOR) "." FFC_STRINGIFY(
      FFC_VERSION_PATCH);
}

uint32_t ffc_abi_version(void) { return FFC_ABI_VERSION; }

const char* ffc_status_string(ffc_status_t status) {
  return ffc::to_string(static_cast<ffc::Status>(enum_value(status)));
}

const char* ffc_last_error(void) { return g_last_error.c_str(); }

int32_t ffc_cuda_device_count(void) { return ffc::cuda_device_count(); }

int32_t ffc_fft_size_supported(ffc_backend_t backend, int64_t n) {
  try {
    return ffc::fft_size_supported(static_cast<ffc::Backend>(enum_value(backend)), n) ? 1 : 0;
  } catch (...) {
    return 0;
  }
}

ffc_status_t ffc_plan_create(const ffc_plan_options_t* options, ffc_plan_t** plan) {
  return guarded([&] {
    if (plan == nullptr) invalid("plan: output pointer is null");
    *plan = nullptr;
    if (options == nullptr) invalid("options: null pointer");
    check_struct(options->struct_size, offsetof(ffc_plan_options_t, cuda_path), "options");
    ffc::PlanOptions o;
    o.fft_size = options->fft_size;
    o.backend = static_cast<ffc::Backend>(enum_value(options->backend));
    o.device = options->device;
    o.num_threads = options->num_threads;
    if (options->struct_size >= sizeof(ffc_plan_options_t)) {
      o.cuda_path = static_cast<ffc::CudaPath>(enum_value(options->cuda_path));
      if (options->reserved != 0) {
        invalid("options: reserved is " + std::to_string(options->reserved) + " (rule: 0)");
      }
    }
    *plan = new ffc_plan{ffc::Plan::create(o)};
  });
}

void ffc_plan_destroy(ffc_plan_t* plan) { delete plan; }

ffc_status_t ffc_plan_get_info(const ffc_plan_t* plan, ffc_plan_info_t* info) {
  return guarded([&] {
    const ffc::Plan& p = plan_of(plan);
    if (info == nullptr) invalid("info: null pointer");
    check_struct(info->struct_size, offsetof(ffc_plan_info_t, algorithm), "info");
    const ffc::PlanInfo i = p.info();
    info->fft_size = i.fft_size;
    info->backend = static_cast<ffc_backend_t>(i.backend);
    info->device = i.device;
    info->num_stages = static_cast<int32_t>(i.radices.size());
    for (int s = 0; s < 8; ++s) {
      info->radices[s] = s < info->num_stages ? i.radices[static_cast<size_t>(s)] : 0;
    }
    if (info->struct_size >= sizeof(ffc_plan_info_t)) {
      std::memset(info->algorithm, 0, sizeof(info->algorithm));
      std::memcpy(info->algorithm, i.algorithm.data(), std::min(i.algorithm.size(), sizeof(info->algorithm) - 1));
    }
  });
}

ffc_status_t ffc_spectrum_bytes(const ffc_plan_t* plan, int64_t heads, size_t* bytes) {
  return guarded([&] {
    const ffc::Plan& p = plan_of(plan);
    if (bytes == nullptr) invalid("bytes: null pointer");
    *bytes = p.spectrum_bytes(heads);
  });
}

ffc_status_t ffc_workspace_bytes(const ffc_plan_t* plan, int64_t heads, size_t* bytes) {
  return guarded([&] {
    const ffc::Plan& p = plan_of(plan);
    if (bytes == nullptr) invalid("bytes: null pointer");
    *bytes = p.workspace_bytes(heads);
  });
}

ffc_status_t ffc_transform_filter(const ffc_plan_t* plan, const ffc_tensor_t* k, void* spectrum,
                                  size_t spectrum_bytes, void* stream) {
  return guarded([&] {
    const ffc::Plan& p = plan_of(plan);
    p.transform_filter(to_tensor(k, "k"), spectrum, spectrum_bytes, stream);
  });
}

ffc_status_t ffc_forward(const ffc_plan_t* plan, const ffc_forward_args_t* args, void* stream) {
  return guarded([&] {
    const ffc::Plan& p = plan_of(plan);
    if (args == nullptr) invalid("args: null pointer");
    check_struct(args->struct_size, sizeof(ffc_forward_args_t), "args");
    ffc::ForwardArgs a;
    a.u = to_tensor(args->u, "u");
    a.y = to_tensor(args->y, "y");
    if (args->k) a.k = to_tensor(args->k, "k");
    if (args->spectrum) {
      a.spectrum = ffc::FilterSpectrum{args->spectrum, args->spectrum_bytes, args->spectrum_heads};
    }
    if (args->pregate) a.pregate = to_tensor(args->pregate, "pregate");
    if (args->postgate) a.postgate = to_tensor(args->postgate, "postgate");
    a.workspace = args->workspace;
    a.workspace_bytes = args->workspace_bytes;
    p.forward(a, stream);
  });
}

ffc_status_t ffc_backward_workspace_bytes(const ffc_plan_t* plan, int64_t batch, int64_t heads,
                                          size_t* bytes) {
  return guarded([&] {
    const ffc::Plan& p = plan_of(plan);
    if (bytes == nullptr) invalid("bytes: null pointer");
    *bytes = p.backward_workspace_bytes(batch, heads);
  });
}

ffc_status_t ffc_backward(const ffc_plan_t* plan, const ffc_backward_args_t* args, void* stream) {
  return guarded([&] {
    const ffc::Plan& p = plan_of(plan);
    if (args == nullptr) invalid("args: null pointer");
    check_struct(args->struct_size, sizeof(ffc_backward_args_t), "args");
    ffc::BackwardArgs a;
    a.dy = to_tensor(args->dy, "dy");
    a.u = to_tensor(args->u, "u");
    if (args->k) a.k = to_tensor(args->k, "k");
    if (args->spectrum) {
      a.spectrum = ffc::FilterSpectrum{args->spectrum, args->spectrum_bytes, args->spectrum_heads};
    }
    if (args->pregate) a.pregate = to_tensor(args->pregate, "pregate");
    if (args->postgate) a.postgate = to_tensor(args->postgate, "postgate");
    if (args->du) a.du = to_tensor(args->du, "du");
    if (args->dk) a.dk = to_tensor(args->dk, "dk");
    if (args->dpregate) a.dpregate = to_tensor(args->dpregate, "dpregate");
    if (args->dpostgate) a.dpostgate = to_tensor(args->dpostgate, "dpostgate");
    a.workspace = args->workspace;
    a.workspace_bytes = args->workspace_bytes;
    p.backward(a, stream);
  });
}

ffc_status_t ffc_conv1d_plan_create(const ffc_conv1d_plan_options_t* options, ffc_conv1d_plan_t** plan) {
  return guarded([&] {
    if (plan == nullptr) invalid("plan: output pointer is null");
    *plan = nullptr;
    if (options == nullptr) invalid("options: null pointer");
    check_struct(options->struct_size, sizeof(ffc_conv1d_plan_options_t), "options");
    check_reserved(options->reserved, "options");
    ffc::Conv1dPlanOptions o;
    o.backend = static_cast<ffc::Backend>(enum_value(options->backend));
    o.device = options->device;
    o.num_threads = options->num_threads;
    *plan = new ffc_conv1d_plan{ffc::Conv1dPlan::create(o)};
  });
}

void ffc_conv1d_plan_destroy(ffc_conv1d_plan_t* plan) { delete plan; }

ffc_status_t ffc_conv1d_plan_get_backend(const ffc_conv1d_plan_t* plan, ffc_backend_t* backend, int32_t* device) {
  return guarded([&] {
    const ffc::Conv1dPlan& p = conv1d_plan_of(plan);
    if (backend == nullptr) invalid("backend: null pointer");
    if (device == nullptr) invalid("device: null pointer");
    const ffc::Conv1dPlanInfo info = p.info();
    *backend = static_cast<ffc_backend_t>(info.backend);
    *device = info.device;
  });
}

ffc_status_t ffc_conv1d_forward(const ffc_conv1d_plan_t* plan, const ffc_conv1d_forward_args_t* args,
                                void* stream) {
  return guarded([&] {
    const ffc::Conv1dPlan& p = conv1d_plan_of(plan);
    if (args == nullptr) invalid("args: null pointer");
    check_struct(args->struct_size, sizeof(ffc_conv1d_forward_args_t), "args");
    ffc::Conv1dForwardArgs a;
    a.x = to_tensor(args->x, "x");
    a.weight = to_tensor(args->weight, "weight");
    if (args->bias) a.bias = to_tensor(args->bias, "bias");
    a.y = to_tensor(args->y, "y");
    a.options = conv1d_options(*args, "args");
    p.forward(a, stream);
  });
}

ffc_status_t ffc_conv1d_backward_workspace_bytes(const ffc_conv1d_plan_t* plan,
                                                 const ffc_conv1d_backward_args_t* args, size_t* bytes) {
  return guarded([&] {
    const ffc::Conv1dPlan& p = conv1d_plan_of(plan);
    if (bytes == nullptr) invalid("bytes: null pointer");
    *bytes = p.backward_workspace_bytes(conv1d_backward_args(args));
  });
}

ffc_status_t ffc_conv1d_backward(const ffc_conv1d_plan_t* plan, const ffc_conv1d_backward_args_t* args,
                                 void* stream) {
  return guarded([&] {
    const ffc::Conv1dPlan& p = conv1d_plan_of(plan);
    p.backward(conv1d_backward_args(args), stream);
  });
}

}  // extern "C"
