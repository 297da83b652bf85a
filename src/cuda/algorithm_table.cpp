// The CUDA algorithm table and its selection rule (algorithm.hpp). Adding an algorithm is one entry
// here plus its folder; adding an FFT size is one entry in sizes.hpp.
#include <string>

#include "core/errors.hpp"
#include "cuda/algorithm.hpp"
#include "cuda/four_step/four_step.hpp"
#include "cuda/fused.hpp"
#include "cuda/portable_blocks/blocks.hpp"
#include "cuda/stages/fwd_config.hpp"

namespace ffc::cuda {
namespace {

std::string arch_string(int arch) { return std::to_string(arch / 10) + "." + std::to_string(arch % 10); }

const char* family_name(Family family) { return family == Family::kFused ? "fused" : "portable"; }

// An entry for a family of fused-style kernels run by the fused launcher (fused_algorithm.cpp).
template <typename FamilyT>
AlgorithmEntry fused_entry(const char* name, Family family, int min_arch, bool needs_clusters) {
  return {name, family, min_arch, needs_clusters, &FamilyT::covers,
          [](int64_t n) { return fused_max_smem_bytes(FamilyT::kernels(), n); },
          [](const char* entry_name, int64_t n, const DeviceCaps& caps, const PlanTables& tables) {
            return make_fused_algorithm(entry_name, FamilyT::kernels(), n, caps, tables);
          }};
}

}  // namespace

const std::vector<AlgorithmEntry>& algorithm_table() {
  static const std::vector<AlgorithmEntry> table = {
      fused_entry<FusedCta>("fused_cta", Family::kFused, kHopperArch, false),
      fused_entry<FusedCluster>("fused_cluster", Family::kFused, kHopperArch, true),
      fused_entry<PortableCta>("portable_cta", Family::kPortable, kPortableArch, false),
      {"portable_blocks", Family::kPortable, kPortableArch, false, &blocks_covers, &blocks_max_smem_bytes,
       &make_blocks_algorithm},
      {"four_step", Family::kPortable, kPortableArch, false, &four_step_covers, &four_step_max_smem_bytes,
       &make_four_step_algorithm},
  };
  return table;
}

std::string AlgorithmEntry::rejects(int64_t n, const DeviceCaps& caps) const {
  if (!covers(n)) return "does not cover N = " + std::to_string(n);
  if (caps.arch < min_arch) {
    return "needs compute capability " + arch_string(min_arch) + " or newer, the device has " + arch_string(caps.arch);
  }
  if (needs_clusters && !caps.clusters) return "needs thread-block clusters, which the device lacks";
  const std::size_t smem = max_smem_bytes(n);
  if (smem > caps.smem_per_block_optin) {
    return "needs " + std::to_string(smem) + " bytes of shared memory per block, the device allows " +
           std::to_string(caps.smem_per_block_optin);
  }
  return {};
}

bool any_algorithm_covers(int64_t n) {
  for (const AlgorithmEntry& e : algorithm_table()) {
    if (e.covers(n)) return true;
  }
  return false;
}

const AlgorithmEntry& choose_algorithm(int64_t n, const DeviceCaps& caps, const Family* family) {
  std::string reasons;
  for (const AlgorithmEntry& e : algorithm_table()) {
    if (family != nullptr && e.family != *family) continue;
    const std::string why = e.rejects(n, caps);
    if (why.empty()) return e;
    reasons += std::string(reasons.empty() ? "" : "; ") + e.name + " " + why;
  }
  core::throw_error(Status::kNotSupported,
                    "fft_size: no CUDA algorithm" +
                        (family ? std::string(" of the ") + family_name(*family) + " family" : std::string()) +
                        " runs N = " + std::to_string(n) + " on CUDA device " + std::to_string(caps.device) +
                        " (compute capability " + arch_string(caps.arch) + "): " +
                        (reasons.empty() ? std::string("none is built") : reasons) +
                        " (use the CPU backend for this size or device)");
}

}  // namespace ffc::cuda
