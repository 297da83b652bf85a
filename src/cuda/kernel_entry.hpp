// A compiled kernel as host code sees it: the function and its launch shape, read from the
// kernel's compile-time descriptor (FwdShape, BwdShape, ClusterShape, ...). Host code never names a
// kernel template; the registries (fused_cta/, fused_cluster/, spectral/) hand out these entries.
#pragma once

#include <cstddef>

namespace ffc::cuda {

struct KernelEntry {
  const void* function = nullptr;  // __global__ function (nullptr: not instantiated)
  int threads = 0;
  std::size_t smem_bytes = 0;      // dynamic shared memory
  int cluster = 1;                 // CTAs per cluster (compile-time __cluster_dims__)
  int pairs_per_iteration = 1;     // batch pairs a CTA (or cluster) takes per loop iteration
  int min_arch = 80;               // lowest compute capability (major x 10 + minor) it is built for
};

// The largest cluster every cluster-capable GPU runs; larger ones (up to 16 CTAs on sm_90) must be
// allowed per kernel, and whether they fit is the driver's occupancy answer.
inline constexpr int kMaxPortableCluster = 8;

// Plan-time preparation of a kernel an algorithm will launch: it must be in this build for the
// device's architecture (else ffc::Error(kNotSupported) naming `algorithm` and size n), its
// dynamic shared memory limit is raised to what it takes, and a cluster above the portable size
// is allowed.
void prepare_kernel(const KernelEntry& e, const char* algorithm, int n, int device);

}  // namespace ffc::cuda
