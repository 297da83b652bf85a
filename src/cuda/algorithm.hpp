// The CUDA algorithm table. An algorithm is one way to run a plan's forward and backward on the
// GPU: a family of kernels with its launcher. The table (algorithm_table.cpp) lists them in order of
// preference; plan creation takes the first entry that applies to the FFT size and the device (and
// to the family the caller asks for), and the plan runs that entry's algorithm for its whole life.
//
// The backend (cuda_backend.cpp) owns what every algorithm shares: the device, the constant tables,
// the filter transform (spectral/) and the kernel parameters of a call; an algorithm adds the
// launches, the work split and the workspace it needs beyond the filter spectrum.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "cuda/params.hpp"
#include "ffc/ffc.hpp"

namespace ffc::cuda {

// What plan creation knows about the device.
struct DeviceCaps {
  int device = 0;
  int arch = 0;                          // compute capability, major x 10 + minor
  int sm_count = 0;
  std::size_t smem_per_block_optin = 0;  // the largest dynamic shared memory one block may opt into
  bool clusters = false;                 // thread-block clusters and distributed shared memory
};

// The plan's constant tables on the device (tables.hpp).
struct PlanTables {
  const float2* twiddles = nullptr;
  const uint32_t* frags = nullptr;
};

// One algorithm, made for one FFT size on one device. Execution is const and allocation-free.
class Algorithm {
 public:
  virtual ~Algorithm() = default;
  virtual const char* name() const = 0;
  // Scratch a forward call needs (bytes, 256-byte aligned start; 0 for the one-pass algorithms),
  // fixed per plan: an algorithm that stages through HBM works in chunks of that size.
  virtual std::size_t forward_scratch_bytes() const { return 0; }
  // Workspace a backward call needs after the filter spectrum (bytes, 256-byte aligned start).
  virtual std::size_t backward_workspace_bytes(int64_t batch, int64_t heads) const = 0;
  // `p` holds the call's tensors, the filter spectrum, the tables and the shape; the algorithm
  // fills in its work split and launches on `s`. `scratch`: forward_scratch_bytes() bytes.
  virtual void forward(FwdParams p, DType dtype, void* scratch, cudaStream_t s) const = 0;
  // `workspace`: backward_workspace_bytes(B, H) bytes; `dk` (H, dk_length) f32 or null.
  virtual void backward(BwdParams p, DType dtype, void* workspace, float* dk, int64_t dk_length,
                        cudaStream_t s) const = 0;
  // The filter spectrum and its per-head maxima (p.spectrum_max zeroed before) in the layout this
  // algorithm's kernels read; the sizes up to 32768 share spectral/'s transform.
  virtual void transform_filter(FilterParams p, DType filter_dtype, cudaStream_t s) const = 0;
};

enum class Family { kFused, kPortable };

// An entry of the table: the sizes and devices an algorithm covers, and how to make it.
struct AlgorithmEntry {
  const char* name;
  Family family;
  int min_arch;            // lowest compute capability (x 10) its kernels use instructions of
  bool needs_clusters;     // launches thread-block clusters
  bool (*covers)(int64_t n);
  std::size_t (*max_smem_bytes)(int64_t n);  // the most dynamic shared memory one of its blocks takes
  // Makes the algorithm (`name`: this entry's) for size n on the device.
  std::unique_ptr<Algorithm> (*make)(const char* name, int64_t n, const DeviceCaps& caps, const PlanTables& tables);

  // Empty when the entry runs size n on the device, else the rule it breaks.
  std::string rejects(int64_t n, const DeviceCaps& caps) const;
};

// The table, in order of preference.
const std::vector<AlgorithmEntry>& algorithm_table();

// Whether any entry covers size n (on some device).
bool any_algorithm_covers(int64_t n);

// The first entry that runs size n on the device, restricted to `family` when given; throws
// ffc::Error(kNotSupported) naming each entry's reason when none does.
const AlgorithmEntry& choose_algorithm(int64_t n, const DeviceCaps& caps, const Family* family);

}  // namespace ffc::cuda
