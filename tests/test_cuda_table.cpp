// The CUDA algorithm table on the host (no GPU needed): coverage of the size list, and the choice
// for devices described by their capabilities (Hopper, Ampere, a small-shared-memory GPU).
#include <gtest/gtest.h>

#include <string>

#include "cuda/algorithm.hpp"
#include "cuda/four_step/four_step.hpp"
#include "cuda/fused.hpp"
#include "cuda/portable_blocks/blocks.hpp"
#include "cuda/sizes.hpp"
#include "ffc/ffc.hpp"

namespace ffc::testing {
namespace {

using cuda::AlgorithmEntry;
using cuda::FusedKernels;
using cuda::DeviceCaps;
using cuda::Family;

DeviceCaps device(int arch, std::size_t smem_kb, bool clusters) {
  DeviceCaps caps;
  caps.arch = arch;
  caps.sm_count = 100;
  caps.smem_per_block_optin = smem_kb * 1024;
  caps.clusters = clusters;
  return caps;
}

const DeviceCaps kH100 = device(90, 227, true);
const DeviceCaps kA100 = device(80, 163, false);
const DeviceCaps kRtx4090 = device(89, 99, false);

// Every listed size is covered by exactly one entry of each family that has entries for it, and by
// at least one fused entry; no entry covers a size outside the list.
TEST(CudaAlgorithmTable, EntriesPartitionTheSizeList) {
  for (int n : cuda::CudaSizes::kValues) {
    int fused = 0;
    for (const AlgorithmEntry& e : cuda::algorithm_table()) fused += e.family == Family::kFused && e.covers(n);
    EXPECT_EQ(fused, 1) << "N = " << n;
    EXPECT_TRUE(cuda::any_algorithm_covers(n));
  }
  for (int64_t n : {int64_t{128}, int64_t{300}, int64_t{65537}, int64_t{1} << 23}) {
    EXPECT_FALSE(cuda::any_algorithm_covers(n)) << n;
  }
}

// The long sizes (65536 .. 4194304) belong to the four-step algorithm on every GPU from sm_80 on
// whose shared memory holds its tiles (a 99 KB GPU stops below 4M: 128 KiB tiles there), except
// 65536 on Hopper, which a 16-CTA cluster holds (fused_cluster); a request for the fused family
// above that names the reason. Its kernel descriptors agree with its entry.
TEST(CudaAlgorithmTable, FourStepTakesTheLongSizes) {
  const Family fused = Family::kFused, portable = Family::kPortable;
  for (int n : cuda::FourStepSizes::kValues) {
    const bool cluster = n == 65536;
    EXPECT_EQ(cuda::CudaSizes::contains(n), cluster) << n;
    int covering = 0;
    for (const AlgorithmEntry& e : cuda::algorithm_table()) covering += e.covers(n);
    EXPECT_EQ(covering, cluster ? 2 : 1) << n;
    EXPECT_EQ(std::string(cuda::choose_algorithm(n, kH100, nullptr).name), cluster ? "fused_cluster" : "four_step") << n;
    EXPECT_EQ(std::string(cuda::choose_algorithm(n, kH100, &portable).name), "four_step") << n;
    EXPECT_EQ(std::string(cuda::choose_algorithm(n, kA100, nullptr).name), "four_step") << n;
    if (n < 4194304) {
      EXPECT_EQ(std::string(cuda::choose_algorithm(n, kRtx4090, nullptr).name), "four_step") << n;
    } else {
      EXPECT_THROW(cuda::choose_algorithm(n, kRtx4090, nullptr), Error) << n;
    }
    if (!cluster) EXPECT_THROW(cuda::choose_algorithm(n, kH100, &fused), Error) << n;
    const AlgorithmEntry& e = cuda::choose_algorithm(n, kH100, &portable);
    const cuda::FourStepCommonKernels common = cuda::four_step_common_kernels(n);
    for (const cuda::FourStepIoKernels& io : {cuda::four_step_io_kernels_f16(n), cuda::four_step_io_kernels_bf16(n)}) {
      for (const cuda::KernelEntry& k : {io.maxima_forward, io.column_forward, io.column_inverse, io.maxima_backward,
                                         io.column_forward_backward, io.column_inverse_backward, common.row_forward,
                                         common.row_backward, common.dk_reduce, common.dk_row, common.dk_column,
                                         common.filter_row}) {
        ASSERT_NE(k.function, nullptr) << n;
        EXPECT_LE(k.min_arch, e.min_arch) << n;
        EXPECT_LE(k.smem_bytes, e.max_smem_bytes(n)) << n;
        EXPECT_EQ(k.cluster, 1) << n;
      }
    }
  }
}

TEST(CudaAlgorithmTable, HopperRunsTheFusedKernels) {
  for (int n : cuda::CudaSizes::kValues) {
    const AlgorithmEntry& e = cuda::choose_algorithm(n, kH100, nullptr);
    EXPECT_EQ(e.family, Family::kFused) << n;
    EXPECT_EQ(std::string(e.name), n <= 4096 ? "fused_cta" : "fused_cluster") << n;
    EXPECT_LE(e.max_smem_bytes(n), kH100.smem_per_block_optin) << n;
    EXPECT_GT(e.max_smem_bytes(n), 0u) << n;
  }
}

// A device gets an entry whose requirements it meets, or an error that names each entry's reason.
void expect_choice_respects(const DeviceCaps& caps, const Family* family) {
  for (int n : cuda::CudaSizes::kValues) {
    try {
      const AlgorithmEntry& e = cuda::choose_algorithm(n, caps, family);
      EXPECT_TRUE(e.rejects(n, caps).empty());
      EXPECT_LE(e.min_arch, caps.arch);
      EXPECT_TRUE(caps.clusters || !e.needs_clusters);
      EXPECT_LE(e.max_smem_bytes(n), caps.smem_per_block_optin);
      if (family != nullptr) {
        EXPECT_EQ(e.family, *family);
      }
    } catch (const Error& error) {
      EXPECT_EQ(error.status(), Status::kNotSupported);
      const std::string what = error.what();
      EXPECT_NE(what.find("N = " + std::to_string(n)), std::string::npos) << what;
      for (const AlgorithmEntry& e : cuda::algorithm_table()) {
        if (family != nullptr && e.family != *family) continue;
        EXPECT_NE(what.find(std::string(e.name) + " " + e.rejects(n, caps)), std::string::npos) << what;
      }
    }
  }
}

TEST(CudaAlgorithmTable, OlderGpusGetWhatTheyCanRunOrTheReasons) {
  expect_choice_respects(kA100, nullptr);
  expect_choice_respects(kRtx4090, nullptr);
  const Family portable = Family::kPortable;
  expect_choice_respects(kH100, &portable);
  expect_choice_respects(kA100, &portable);
  // The fused kernels use sm_90 instructions and clusters: an A100 never gets them.
  for (int n : cuda::CudaSizes::kValues) {
    for (const AlgorithmEntry& e : cuda::algorithm_table()) {
      if (e.family == Family::kFused && e.covers(n)) {
        EXPECT_NE(e.rejects(n, kA100).find("compute capability 9.0"), std::string::npos) << e.rejects(n, kA100);
      }
    }
  }
}

// Up to 4096 every GPU from sm_80 on, and Hopper when the portable family is forced, runs the
// portable single-CTA kernels (which fit 99 KB of shared memory).
TEST(CudaAlgorithmTable, PortableCtaCoversTheSingleCtaSizes) {
  const Family portable = Family::kPortable;
  for (int n : cuda::CudaSizes::kValues) {
    if (n > 4096) continue;
    EXPECT_EQ(std::string(cuda::choose_algorithm(n, kA100, nullptr).name), "portable_cta") << n;
    EXPECT_EQ(std::string(cuda::choose_algorithm(n, kRtx4090, nullptr).name), "portable_cta") << n;
    EXPECT_EQ(std::string(cuda::choose_algorithm(n, kH100, &portable).name), "portable_cta") << n;
  }
}

// Every size runs on every GPU from sm_80 on, by the portable family where the fused one needs
// Hopper: the single-CTA kernels up to 4096, the two-pass kernels up to 32768, the four-step above.
TEST(CudaAlgorithmTable, EverySizeRunsFromSm80On) {
  const Family portable = Family::kPortable;
  for (int n : cuda::CudaSizes::kValues) {
    const std::string expected = n <= 4096 ? "portable_cta" : (n <= 32768 ? "portable_blocks" : "four_step");
    for (const DeviceCaps& caps : {kA100, kRtx4090}) {
      EXPECT_EQ(std::string(cuda::choose_algorithm(n, caps, nullptr).name), expected) << n;
    }
    EXPECT_EQ(std::string(cuda::choose_algorithm(n, kH100, &portable).name), expected) << n;
  }
  EXPECT_THROW(cuda::choose_algorithm(1024, device(75, 64, false), nullptr), Error);  // Turing: no entry
}

// Each family's kernels are built for no newer architecture than its table entry claims, exist for
// exactly the sizes the entry covers, and take no more shared memory than it states.
void expect_kernels_match_entry(const char* name, const FusedKernels& kernels) {
  const AlgorithmEntry* entry = nullptr;
  for (const AlgorithmEntry& e : cuda::algorithm_table()) {
    if (std::string(e.name) == name) entry = &e;
  }
  ASSERT_NE(entry, nullptr) << name;
  for (int n : cuda::CudaSizes::kValues) {
    for (DType dtype : {DType::kF16, DType::kBF16}) {
      for (const cuda::KernelEntry& k : {kernels.forward(n, dtype), kernels.backward(n, dtype, false),
                                         kernels.backward(n, dtype, true)}) {
        EXPECT_EQ(k.function != nullptr, entry->covers(n)) << name << " N = " << n;
        if (k.function == nullptr) continue;
        EXPECT_LE(k.min_arch, entry->min_arch) << name << " N = " << n;
        EXPECT_LE(k.smem_bytes, entry->max_smem_bytes(n)) << name << " N = " << n;
        EXPECT_EQ(k.cluster > 1, entry->needs_clusters) << name << " N = " << n;
      }
    }
  }
}

TEST(CudaAlgorithmTable, KernelDescriptorsAgreeWithTheirEntries) {
  expect_kernels_match_entry("fused_cta", cuda::FusedCta::kernels());
  expect_kernels_match_entry("fused_cluster", cuda::FusedCluster::kernels());
  expect_kernels_match_entry("portable_cta", cuda::PortableCta::kernels());
  for (int n : cuda::CudaSizes::kValues) {
    const cuda::BlocksKernels k = cuda::blocks_kernels_f16(n);
    EXPECT_EQ(k.forward.function != nullptr, cuda::blocks_covers(n)) << n;
    if (k.forward.function != nullptr) {
      EXPECT_LE(k.backward.min_arch, 80) << n;
    }
  }
}

TEST(CudaAlgorithmTable, SharedMemoryLimitIsARejection) {
  const DeviceCaps tiny = device(90, 16, true);
  const AlgorithmEntry& e = cuda::choose_algorithm(4096, kH100, nullptr);
  const std::string why = e.rejects(4096, tiny);
  EXPECT_NE(why.find("bytes of shared memory per block, the device allows 16384"), std::string::npos) << why;
}

}  // namespace
}  // namespace ffc::testing
