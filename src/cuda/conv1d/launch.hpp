// The conv1d kernels' parameters and launchers (host side; the kernels are in kernels.cuh). Plain
// C++: the backend (conv1d_backend.cpp) includes it.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "cuda/conv1d/fused_layout.hpp"

namespace ffc::cuda::conv1d {

// What the correlation kernels do with z = sum_j w[j] in[t + j - offset] + bias before storing.
enum class Epilogue : int {
  kLinear = 0,    // out = z
  kSilu = 1,      // out = z * sigmoid(z)
  kSiluGrad = 2,  // out = dy * SiLU'(z) (dy at the output's position)
};

// out[b, c, t] = epilogue(sum_{j < K} w_c[j] * in[b, c, t + j - offset] + bias[c]), t < out_length,
// in = 0 outside [0, in_length); w_c = weight[c / channels_per_group], reversed when `flip`.
struct CorrelateParams {
  const void* in = nullptr;      // (B, H, in_length) or (B, in_length, H): In
  void* out = nullptr;           // (B, H, out_length) or (B, out_length, H): Out
  const void* weight = nullptr;  // (G, K), dtype weight_dtype (ffc::DType code)
  const void* bias = nullptr;    // (H,) dtype bias_dtype, or null (zero)
  const void* dy = nullptr;      // kSiluGrad: like out, of type In
  int64_t batch = 0, channels = 0, in_length = 0, out_length = 0;
  int64_t kernel_size = 0, channels_per_group = 1, offset = 0;
  int weight_dtype = 0, bias_dtype = 0;
  bool flip = false;
  bool blh = false;      // layout (B, L, H)
  bool in_f32 = false;   // In is float (else the call's dtype)
  bool out_f32 = false;  // Out is float (else the call's dtype)
  Epilogue epilogue = Epilogue::kLinear;
};

// Per-block partial sums of dweight and dbias: for each part p of the (batch, time tile) items of a
// channel, partials[(p * H + c) * (K + 1) + j] = sum over the part's (b, t) of
// dz[b, c, t] * x[b, c, t + j - offset] (j < K) and, at j = K, of dz[b, c, t].
struct DwParams {
  const void* dz = nullptr;  // like y: Dz (float or the call's dtype)
  const void* x = nullptr;   // the call's dtype
  float* partials = nullptr;
  int64_t batch = 0, channels = 0, length = 0, out_length = 0, kernel_size = 0, offset = 0;
  int64_t parts = 1;
  bool blh = false;
  bool dz_f32 = false;
};

// Parts per channel (tile) for `target_blocks` blocks, and the partials' float count.
int64_t dw_parts(const DwParams& p, int64_t target_blocks);
int64_t dw_partial_floats(const DwParams& p);

// dweight[g, j] = sum over the group's channels (in order) and parts (in order) of the partials;
// dbias[c] = sum over parts (in order). Either may be null.
void launch_dw_finish(const DwParams& p, int64_t groups, float* dweight, float* dbias, cudaStream_t stream);

// The fused backward (fused_layout.hpp) for K <= kFusedMaxTaps: dx (when dx is not null) and the
// per-block partial sums of dweight and dbias in one pass over dz and x, written as
// partials[((b * parts_per_row + part) * H + c) * (K + 1) + j] (j = K: dbias), which is the DwParams
// layout with parts = B * parts_per_row, so launch_dw_finish sums them.
constexpr int64_t kFusedMaxTaps = 32;
struct FusedBackwardParams {
  const void* dz = nullptr;      // like y: Dz (float or the call's dtype)
  const void* x = nullptr;       // the call's dtype
  void* dx = nullptr;            // like x, or null
  const void* weight = nullptr;  // (G, K), dtype weight_dtype
  float* partials = nullptr;
  int64_t batch = 0, channels = 0, length = 0, out_length = 0, kernel_size = 0, channels_per_group = 1;
  int64_t padding = 0;  // P, the forward's left padding
  int weight_dtype = 0;
  bool blh = false;
  bool dz_f32 = false;
  bool direct = false;  // the direct kernel (direct_backward_applies; layout: direct_backward_layout)
  FusedLayout layout;
};

// The layout of the fused backward's blocks for `target_blocks` blocks, and the partials' float count.
FusedLayout fused_backward_layout(int64_t batch, int64_t channels, int64_t length, int64_t out_length,
                                  int64_t kernel_size, int64_t padding, bool blh, int64_t target_blocks);
int64_t fused_partial_floats(const FusedBackwardParams& p);

// One entry per dtype of the call (x, y): the kernels instantiated for it (kernels_<dtype>.cu).
void correlate_f32(const CorrelateParams& p, cudaStream_t stream);
void correlate_f16(const CorrelateParams& p, cudaStream_t stream);
void correlate_bf16(const CorrelateParams& p, cudaStream_t stream);
void dw_partials_f32(const DwParams& p, cudaStream_t stream);
void dw_partials_f16(const DwParams& p, cudaStream_t stream);
void dw_partials_bf16(const DwParams& p, cudaStream_t stream);
void fused_backward_f32(const FusedBackwardParams& p, cudaStream_t stream);
void fused_backward_f16(const FusedBackwardParams& p, cudaStream_t stream);
void fused_backward_bf16(const FusedBackwardParams& p, cudaStream_t stream);

}  // namespace ffc::cuda::conv1d
