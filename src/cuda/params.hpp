// Kernel parameter blocks, shared by the host launcher and the kernels (no device code here).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace ffc::cuda {

struct FwdParams {
  const void* u;
  const void* pregate;   // or null
  const void* postgate;  // or null
  void* y;
  const float2* spectrum;     // [H][N / 256][32][8] (fragment order): K / (4 kSigma max|K|), K = DFT_N(k)
  const float* spectrum_max;  // [H] max |K|
  const float2* twiddles;     // FwdTableLayout
  const uint32_t* frags;      // FwdTableLayout::kFragWords
  int64_t batch, heads, length;
  int64_t pairs_per_head;     // ceil(B / 2)
  int64_t items;              // heads * pairs_per_head
  int vector_io;              // rows are 16-byte aligned and length % 8 == 0
};

struct FilterParams {
  const void* k;           // (H, Lk)
  int64_t heads, length;   // H, Lk
  float2* spectrum;        // [H][N / 256][32][8]
  float* spectrum_max;     // [H], zeroed before the launch
  const float2* twiddles;  // FwdTableLayout (small-stage bases)
};

// The fused backward (fused_cta/bwd_kernel.cuh, fused_cluster/bwd_cluster_kernel.cuh): null outputs are not computed.
struct BwdParams {
  const void* dy;
  const void* u;
  const void* pregate;   // or null
  const void* postgate;  // or null
  void* du;              // or null
  void* dpregate;        // or null (requires pregate)
  void* dpostgate;       // or null (requires postgate)
  float2* dk_partial;    // [H][G][N] partial spectra sum W conj(Z) (block-major positions), or null
  const float2* spectrum;     // as FwdParams
  const float* spectrum_max;
  const float2* twiddles;
  const uint32_t* frags;
  int64_t batch, heads, length;
  int64_t pairs_per_head;     // ceil(B / 2)
  int groups;                 // G batch-pair groups per head (one CTA each)
  int vector_io;              // rows are 16-byte aligned and length % 8 == 0
};

// One launch of a two-pass algorithm (portable_blocks/): the items [first, first + count) (head-major
// (head, pair), as FwdParams::items) and their block results staged in HBM.
struct BlockChunk {
  int64_t first;
  int64_t count;
  float2* blocks;    // [count][N] complex f32 per item (backward: c, then dx at count N)
  float2* dk_terms;  // backward: [count][N] per item W conj(Z), block-major positions, or null
  float* factors;    // [count][4] per-row output factors (forward: y0, y1; backward: c0, c1, dx0, dx1)
};

// One chunk of the four-step algorithm (four_step/): the items [first, first + count) (head-major,
// as FwdParams::items) and their intermediates in the call's scratch. The dk kernels read `first`
// as the first head they finish.
struct FourStepChunk {
  int64_t first;
  int64_t count;
  float2* z;           // [count][N] the item's (backward: x side's) intermediate
  float2* w;           // backward: [count][N] the dc side's intermediate
  float2* dk_terms;    // backward: [count][N] W conj(Z) per item, or null
  float2* dk_partial;  // backward: [slots][N] per-head partial dk spectra (head mod slots), or null
  int64_t slots;
  uint32_t* maxima;    // [count][8] per-item row maxima (float bits), zeroed before fs_maxima_*
  int segments;        // CTAs per item of fs_maxima_*
  int side;            // fs_column_inverse_backward: 0 (dpostgate), 1 (du, dpregate) or
                       // kBothSides (CTA pairs: side = blockIdx.x % 2)
};

inline constexpr int kBothSides = 2;

// The filter gradient's finish and output kernels (spectral/dk_kernel.cuh).
struct DkParams {
  int64_t heads;
  int groups;              // G
  float2* partial;         // [H][G][N], block-major positions
  float* dk;               // (H, dk_length)
  int64_t dk_length;
  const float2* twiddles;  // FwdTableLayout
};

}  // namespace ffc::cuda
