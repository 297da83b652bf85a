#include "core/validate.hpp"

#include <optional>
#include <string>
#include <vector>

#include "core/checked.hpp"
#include "core/errors.hpp"

namespace ffc::core {
namespace {

std::string str(int64_t v) { return std::to_string(v); }

bool valid_dtype(DType d) { return d == DType::kF32 || d == DType::kF16 || d == DType::kBF16; }

// Byte range of a tensor, for overlap checks.
struct Range {
  const char* begin = nullptr;
  const char* end = nullptr;
  bool empty() const { return begin == end; }
};

Range range_of(const Tensor& t) {
  const char* p = static_cast<const char*>(t.data);
  return {p, p + t.numel() * static_cast<int64_t>(dtype_size(t.dtype))};
}

bool overlaps(Range a, Range b) {
  return !a.empty() && !b.empty() && a.begin < b.end && b.begin < a.end;
}

// y may be exactly one of the (B, H, L) inputs (in-place), but must not partially overlap any input.
void check_output_aliasing(const Tensor& y, const char* name, const Tensor& input, bool exact_ok) {
  Range ry = range_of(y), ri = range_of(input);
  if (!overlaps(ry, ri)) return;
  if (exact_ok && ry.begin == ri.begin && ry.end == ri.end) return;
  throw_invalid(std::string("y: overlaps ") + name +
                (exact_ok ? " without being the same tensor (rule: y may be " + std::string(name) +
                                " itself, for an in-place call, but must not partially overlap it)"
                          : " (rule: y must not overlap " + std::string(name) + ")"));
}

// `group` names the tensors that share u's shape and dtype, for the rule in the message.
void check_same_bhl(const char* name, const Tensor& t, const Tensor& u,
                    const char* group = "u, pregate, postgate and y") {
  check_tensor(name, t, 3, "(B, H, L)");
  for (int i = 0; i < 3; ++i) {
    if (t.shape[i] != u.shape[i]) {
      throw_invalid(std::string(name) + ": shape " + tuple_string(t.shape, 3) +
                    " differs from u's shape " + tuple_string(u.shape, 3) + " (rule: " + group +
                    " have one shape)");
    }
  }
  if (t.dtype != u.dtype) {
    throw_invalid(std::string(name) + ": dtype " + to_string(t.dtype) + " differs from u's dtype " +
                  to_string(u.dtype) + " (rule: " + group + " share one dtype)");
  }
}

// The filter form (exactly one of k and a spectrum) against the problem's H; records k's length and
// dtype in `p`. Returns the spectrum bytes the backend reads (0 for k).
std::size_t check_filter_form(const std::optional<Tensor>& k,
                              const std::optional<FilterSpectrum>& spectrum, int64_t fft_size,
                              const BytesForHeads& spectrum_bytes, const MemoryCheck& memory,
                              ConvProblem& p) {
  if (k.has_value() == spectrum.has_value()) {
    throw_invalid(k ? "k and spectrum: both given (rule: exactly one filter form)"
                    : "k and spectrum: neither given (rule: exactly one filter form)");
  }
  if (k) {
    check_filter(*k, fft_size);
    memory("k", k->data, check_tensor("k", *k, 2, "(H, Lk)"));
    if (k->shape[0] != p.heads) {
      throw_invalid("k: " + str(k->shape[0]) + " filters for u's H = " + str(p.heads) +
                    " heads (rule: k has shape (H, Lk))");
    }
    p.time_domain_filter = true;
    p.filter_length = k->shape[1];
    p.filter_dtype = k->dtype;
    return 0;
  }
  const FilterSpectrum& s = *spectrum;
  if (s.heads != p.heads) {
    throw_invalid("spectrum: made for " + str(s.heads) + " heads, u has H = " + str(p.heads) +
                  " (rule: one filter per head)");
  }
  // The size per head differs between backends and between FFT sizes (docs/design.md), so an exact
  // size also rejects a spectrum made by another plan, whose values would be read as garbage.
  const std::size_t need = spectrum_bytes(p.heads);
  if (s.bytes != need) {
    throw_invalid("spectrum: " + str(static_cast<int64_t>(s.bytes)) + " bytes given, this plan's " +
                  "spectrum for H = " + str(p.heads) + " is " + str(static_cast<int64_t>(need)) +
                  " bytes (rule: a spectrum from transform_filter of a plan with the same fft_size = " +
                  str(fft_size) + " and backend, exactly spectrum_bytes(H) bytes)");
  }
  if (need > 0 && s.data == nullptr) throw_invalid("spectrum: data is null");
  if (need > 0) memory("spectrum", s.data, need);
  return need;
}

// The caller's workspace: at least `need` bytes, and memory the backend can use when any is needed.
// `rule` names what `need` was computed for.
void check_workspace(const void* workspace, std::size_t given, std::size_t need, const std::string& rule,
                     const MemoryCheck& memory) {
  if (given < need) {
    throw_invalid("workspace: " + str(static_cast<int64_t>(given)) + " bytes given, " +
                  str(static_cast<int64_t>(need)) + " needed for " + rule);
  }
  if (need == 0) return;
  if (workspace == nullptr) {
    throw_invalid("workspace: null but " + str(static_cast<int64_t>(need)) + " bytes are needed");
  }
  memory("workspace", workspace, need);
}

}  // namespace

void check_num_threads(int num_threads) {
  if (num_threads < 0 || num_threads > kMaxThreads) {
    throw_invalid("num_threads: " + str(num_threads) + " (rule: 0 for the default pool size, or 1 <= " +
                  "num_threads <= " + str(kMaxThreads) + ")");
  }
}

std::size_t check_tensor(const char* name, const Tensor& t, int rank, const char* dims) {
  const std::string n(name);
  if (t.ndim != rank) {
    throw_invalid(n + ": rank " + str(t.ndim) + ", expected rank " + str(rank) + " " + dims);
  }
  if (!valid_dtype(t.dtype)) {
    throw_invalid(n + ": dtype code " + str(static_cast<int>(t.dtype)) +
                  " is not a dtype (rule: F32 = 0, F16 = 1, BF16 = 2)");
  }
  uint64_t numel = 1;
  for (int i = 0; i < rank; ++i) {
    if (t.shape[i] < 0) {
      throw_invalid(n + ": shape " + tuple_string(t.shape, rank) + " has a negative size");
    }
  }
  for (int i = 0; i < rank; ++i) {
    numel = checked_mul(numel, static_cast<uint64_t>(t.shape[i]), n + ": elements of shape " + tuple_string(t.shape, rank));
  }
  const std::size_t element = dtype_size(t.dtype);
  const uint64_t bytes = checked_mul(numel, element, n + ": bytes of shape " + tuple_string(t.shape, rank));
  if (bytes > 0 && reinterpret_cast<std::uintptr_t>(t.data) > UINTPTR_MAX - bytes) {
    throw_invalid(n + ": " + std::to_string(bytes) + " bytes from its data address run past the end of " +
                  "the address space (rule: a tensor lies in addressable memory)");
  }
  // Row-major contiguity. Strides that address no element are irrelevant, and frameworks set them
  // freely: those of size-1 dimensions, and all of an empty tensor's (torch gives (20, 20, 1) for
  // shape (2, 0, 20)).
  int64_t expected = 1;
  for (int i = rank - 1; i >= 0 && numel > 0; --i) {
    if (t.shape[i] > 1 && t.strides[i] != expected) {
      int64_t want[3] = {0, 0, 0};
      int64_t e = 1;
      for (int j = rank - 1; j >= 0; --j) {
        want[j] = e;
        e *= t.shape[j];
      }
      throw_invalid(n + ": strides " + tuple_string(t.strides, rank) + " for shape " +
                    tuple_string(t.shape, rank) + " are not contiguous (rule: row-major " + dims +
                    " with strides " + tuple_string(want, rank) + ")");
    }
    expected *= t.shape[i];
  }
  if (numel > 0 && t.data == nullptr) {
    throw_invalid(n + ": data is null for a tensor of " + str(numel) + " elements");
  }
  if (reinterpret_cast<std::uintptr_t>(t.data) % element != 0) {
    throw_invalid(n + ": data address is not aligned to its " + str(static_cast<int64_t>(element)) +
                  "-byte elements");
  }
  return static_cast<std::size_t>(bytes);
}

void check_filter(const Tensor& k, int64_t fft_size) {
  check_tensor("k", k, 2, "(H, Lk)");
  const int64_t lk = k.shape[1];
  if (lk < 1 && k.shape[0] > 0) {
    throw_invalid("k: filter length Lk = " + str(lk) + " (rule: 1 <= Lk <= fft_size)");
  }
  if (lk > fft_size) {
    throw_invalid("k: filter length Lk = " + str(lk) + " exceeds fft_size = " + str(fft_size) +
                  " (rule: Lk <= fft_size)");
  }
}

namespace {

// u, the input both passes are shaped by: (B, H, L) with L <= fft_size, in memory the backend can use.
void read_input_shape(const Tensor& u, int64_t fft_size, const MemoryCheck& memory, ConvProblem& p) {
  memory("u", u.data, check_tensor("u", u, 3, "(B, H, L)"));
  p.batch = u.shape[0];
  p.heads = u.shape[1];
  p.length = u.shape[2];
  p.dtype = u.dtype;
  if (p.length > fft_size) {
    throw_invalid("u: length L = " + str(p.length) + " exceeds fft_size = " + str(fft_size) +
                  " (rule: L <= fft_size)");
  }
}

}  // namespace

ConvProblem validate_forward(const ForwardArgs& args, int64_t fft_size,
                             const BytesForHeads& spectrum_bytes,
                             const BytesForHeads& workspace_bytes, const MemoryCheck& memory) {
  const Tensor& u = args.u;
  ConvProblem p;
  read_input_shape(u, fft_size, memory, p);
  check_same_bhl("y", args.y, u);
  memory("y", args.y.data, range_of(args.y).end - range_of(args.y).begin);
  if (args.pregate) {
    check_same_bhl("pregate", *args.pregate, u);
    memory("pregate", args.pregate->data, check_tensor("pregate", *args.pregate, 3, "(B, H, L)"));
    p.has_pregate = true;
  }
  if (args.postgate) {
    check_same_bhl("postgate", *args.postgate, u);
    memory("postgate", args.postgate->data, check_tensor("postgate", *args.postgate, 3, "(B, H, L)"));
    p.has_postgate = true;
  }

  check_filter_form(args.k, args.spectrum, fft_size, spectrum_bytes, memory, p);
  if (args.k) {
    const Tensor& k = *args.k;
    check_workspace(args.workspace, args.workspace_bytes, workspace_bytes(p.heads),
                    "H = " + str(p.heads) + " (rule: workspace_bytes(H))", memory);
    check_output_aliasing(args.y, "k", k, false);
  } else if (const std::size_t scratch = workspace_bytes(0); scratch > 0) {
    // Algorithms that stage through HBM need scratch with a spectrum too.
    check_workspace(args.workspace, args.workspace_bytes, scratch, "a spectrum (rule: workspace_bytes(0))", memory);
  }

  check_output_aliasing(args.y, "u", u, true);
  if (args.pregate) check_output_aliasing(args.y, "pregate", *args.pregate, true);
  if (args.postgate) check_output_aliasing(args.y, "postgate", *args.postgate, true);
  return p;
}

BackwardProblem validate_backward(const BackwardArgs& args, int64_t fft_size,
                                  const BytesForHeads& spectrum_bytes,
                                  const BytesForProblem& workspace_bytes,
                                  const MemoryCheck& memory) {
  static constexpr const char* kGroup = "u, dy, pregate, postgate, du, dpregate and dpostgate";
  const Tensor& u = args.u;
  BackwardProblem p;
  read_input_shape(u, fft_size, memory, p);
  // A (B, H, L) tensor like u: shape, dtype, memory kind.
  auto check_bhl = [&](const char* name, const Tensor& t) {
    check_same_bhl(name, t, u, kGroup);
    memory(name, t.data, check_tensor(name, t, 3, "(B, H, L)"));
  };
  check_bhl("dy", args.dy);
  if (args.pregate) {
    check_bhl("pregate", *args.pregate);
    p.has_pregate = true;
  }
  if (args.postgate) {
    check_bhl("postgate", *args.postgate);
    p.has_postgate = true;
  }
  const std::size_t spectrum_need =
      check_filter_form(args.k, args.spectrum, fft_size, spectrum_bytes, memory, p);

  // The gradients.
  if (!args.du && !args.dk && !args.dpregate && !args.dpostgate) {
    throw_invalid("du, dk, dpregate and dpostgate: none given (rule: request at least one gradient)");
  }
  if (args.du) {
    check_bhl("du", *args.du);
    p.want_du = true;
  }
  if (args.dk) {
    const Tensor& dk = *args.dk;
    const std::size_t bytes = check_tensor("dk", dk, 2, "(H, Lk_grad)");
    if (dk.dtype != DType::kF32) {
      throw_invalid(std::string("dk: dtype ") + to_string(dk.dtype) +
                    " (rule: dk is f32, whatever the dtype of u and k)");
    }
    if (dk.shape[0] != p.heads) {
      throw_invalid("dk: " + str(dk.shape[0]) + " filters for u's H = " + str(p.heads) +
                    " heads (rule: dk has shape (H, Lk_grad))");
    }
    const int64_t lkg = dk.shape[1];
    if (lkg < 1 && p.heads > 0) {
      throw_invalid("dk: filter length Lk_grad = " + str(lkg) + " (rule: 1 <= Lk_grad <= fft_size)");
    }
    if (lkg > fft_size) {
      throw_invalid("dk: filter length Lk_grad = " + str(lkg) + " exceeds fft_size = " +
                    str(fft_size) + " (rule: Lk_grad <= fft_size)");
    }
    memory("dk", dk.data, bytes);
    p.want_dk = true;
    p.grad_filter_length = lkg;
  }
  if (args.dpregate) {
    if (!args.pregate) {
      throw_invalid("dpregate: given without pregate (rule: a gate's gradient needs that gate)");
    }
    check_bhl("dpregate", *args.dpregate);
    p.want_dpregate = true;
  }
  if (args.dpostgate) {
    if (!args.postgate) {
      throw_invalid("dpostgate: given without postgate (rule: a gate's gradient needs that gate)");
    }
    check_bhl("dpostgate", *args.dpostgate);
    p.want_dpostgate = true;
  }

  // The workspace (either filter form).
  const std::size_t need = workspace_bytes(p.batch, p.heads);
  check_workspace(args.workspace, args.workspace_bytes, need,
                  "B = " + str(p.batch) + ", H = " + str(p.heads) +
                      " (rule: backward_workspace_bytes(B, H), with k or a spectrum alike)",
                  memory);

  // Overlaps: the gradients are written, and so is the workspace; the inputs are only read.
  struct Named {
    const char* name;
    Range range;
  };
  std::vector<Named> inputs = {{"dy", range_of(args.dy)}, {"u", range_of(u)}};
  if (args.k) inputs.push_back({"k", range_of(*args.k)});
  if (args.spectrum && spectrum_need > 0) {
    const char* s = static_cast<const char*>(args.spectrum->data);
    inputs.push_back({"spectrum", {s, s + spectrum_need}});
  }
  if (args.pregate) inputs.push_back({"pregate", range_of(*args.pregate)});
  if (args.postgate) inputs.push_back({"postgate", range_of(*args.postgate)});
  std::vector<Named> outputs;
  if (args.du) outputs.push_back({"du", range_of(*args.du)});
  if (args.dk) outputs.push_back({"dk", range_of(*args.dk)});
  if (args.dpregate) outputs.push_back({"dpregate", range_of(*args.dpregate)});
  if (args.dpostgate) outputs.push_back({"dpostgate", range_of(*args.dpostgate)});
  for (size_t o = 0; o < outputs.size(); ++o) {
    const Named& out = outputs[o];
    const std::string name(out.name);
    for (const Named& in : inputs) {
      if (!overlaps(out.range, in.range)) continue;
      const std::string input(in.name);
      if (name == "du" && input == "dy") {
        if (out.range.begin == in.range.begin && out.range.end == in.range.end) continue;
        throw_invalid("du: overlaps dy without being the same tensor (rule: du may be dy itself, "
                      "for an in-place call, but must not partially overlap it)");
      }
      throw_invalid(name + ": overlaps " + input +
                    " (rule: gradients must not overlap the inputs; only du may be dy itself)");
    }
    for (size_t e = 0; e < o; ++e) {
      if (overlaps(out.range, outputs[e].range)) {
        throw_invalid(name + ": overlaps " + outputs[e].name +
                      " (rule: gradients must not overlap each other)");
      }
    }
  }
  if (need > 0) {
    const char* w = static_cast<const char*>(args.workspace);
    const Range work{w, w + need};
    for (const std::vector<Named>* group : {&inputs, &outputs}) {
      for (const Named& t : *group) {
        if (overlaps(work, t.range)) {
          throw_invalid(std::string("workspace: overlaps ") + t.name +
                        " (rule: the workspace must not overlap the inputs or the gradients)");
        }
      }
    }
  }
  return p;
}

}  // namespace ffc::core
