// Compile-time descriptor of the fused forward kernel for one FFT size, and the layout of the
// per-plan constant tables. Host and device code share it (no CUDA types here).
//
// The factorization (core::Factorization::table_radices) for N = 256 .. 32768 is
//   N = RS x [16] x 16 x 16:  RS in {1, 2, 4, 8, 16} a small radix done with FMAs while loading and
//   storing, [16] an "outer" tensor-core stage through shared memory (N >= 4096 only), and the two
//   inner 16-point stages as register-chained tensor-core products on 16 x 16 tiles.
// Adding a size is one entry in CudaSizes (cuda/sizes.hpp), plus the core size table if it is new there.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/monarch_split.hpp"

namespace ffc::cuda {

// The largest FFT size whose pair one CTA holds (f16 planes of 4N bytes); larger sizes spread a pair
// over a cluster (fused_cluster/) or over passes.
inline constexpr int kMaxCtaSize = 4096;
// Compute capability (x 10) of the instructions the fused kernels use: stmatrix, bulk (TMA) copies,
// mbarrier transaction counts and thread-block clusters are sm_90 features.
inline constexpr int kHopperArch = 90;
// The portable kernels' architecture: mma.sync m16n8k16, ldmatrix, movmatrix and cp.async (sm_80).
inline constexpr int kPortableArch = 80;

template <int kN>
struct FwdShape {
  static constexpr int N = kN;
  static constexpr int RS = core::small_radix(N);     // small radix (core/monarch_split.hpp)
  static constexpr int M = N / RS;                    // block length after the small stage
  static constexpr bool kOuter = M == 4096;           // one 16-point stage through smem
  static constexpr int kRows = N / 256;               // 16 x 16 inner tiles per pair
  static constexpr int kWarps = N >= 32768 ? 16 : (N >= 8192 ? 8 : 4);
  static constexpr int kThreads = 32 * kWarps;
  static constexpr int kMinBlocks = 16 / kWarps;  // 16 warps per SM: caps registers at 128

  static constexpr int kPairs = N >= 2048 ? 1 : 2048 / N;  // pairs per CTA iteration
  static constexpr int kCols = RS <= 2 ? 8 : (RS >= 16 ? 2 : 16 / RS);  // columns per thread in the FMA phases
  static constexpr int kPairBytes = 4 * N;                 // f16 real plane + imaginary plane
  // The single-CTA kernel (N <= 4096) stages its raw rows with cp.async while the previous
  // computation runs: u0, u1, pregate0, pregate1 for the next iteration (region A, consumed by P1)
  // and postgate0, postgate1 for the current one (region B, swizzled, consumed by the output).
  static constexpr int kStageRowBytes = 2 * N;             // one raw 16-bit row
  static constexpr int kInputStageBytes = kPairs * 4 * kStageRowBytes;
  static constexpr int kPostStageBytes = kPairs * 2 * kStageRowBytes;
  static constexpr int kStageBytes = kInputStageBytes + kPostStageBytes;
  static constexpr int kSmemBytes = kPairs * kPairBytes + kStageBytes;
  // The shared memory a launch needs: ungated calls stage fewer rows.
  static constexpr int smem_bytes(bool pregate, bool postgate) {
    return kPairs * kPairBytes + kPairs * (pregate ? 4 : 2) * kStageRowBytes + (postgate ? kPostStageBytes : 0);
  }

  static_assert(RS == 1 || RS == 2 || RS == 4 || RS == 8 || RS == 16, "small radix must be 1, 2, 4, 8 or 16");
  static_assert((kPairs * M / kCols) % kThreads == 0, "FMA phase units must divide evenly");
  static_assert((kPairs * kRows) % kWarps == 0, "inner rows must divide evenly over warps");
  static_assert(!kOuter || (kPairs * RS * 16) % kWarps == 0, "outer tiles must divide evenly");
  static_assert(!kOuter || (kPairs * 32) % kWarps == 0, "output tiles must divide evenly");
};

// The DFT matrix used on the tensor cores is round_f16(kSigma * F_16); kSigma makes the entries
// of F_16 (cos and sin of multiples of pi/8) land close to f16 values (matrix rounding error 1.3e-5
// instead of 8.3e-5 relative), and every stage multiplies its f32 result by 1 / (4 kSigma) so the
// stages are unitary (1 / sqrt(16)).
inline constexpr double kSigma = 0.930170;
// The per-stage factor that makes a scaled-DFT stage unitary.
inline constexpr float kUnitary = static_cast<float>(1.0 / (4.0 * kSigma));

// Layout of the per-plan table buffer (float2 units unless noted), built on the host in double
// precision by build_fwd_tables (tables.cpp) from core::twiddle.
struct FwdTableLayout {
  // u32 words: DFT fragments, [3][32][4] A-layout (the B layout is the same words reordered: G
  // is symmetric); the 3 matrices are Re G, Im G and -Im G with G = round_f16(kSigma F_16).
  static constexpr int kFragWords = 3 * 32 * 4;
  // float2 offsets:
  static constexpr int kInner = 0;                  // [32][8]  w_256^{c f_b} / (4 kSigma)
  static constexpr int kOuterFwd = kInner + 256;    // [16 tiles][32][8]  w_4096^{m f_a} / (4 kSigma)
  static constexpr int kOuterInv = kOuterFwd + 4096;  // [16 rows][32][8] conj w_4096^{(16b+c) f_a} / (4 kSigma)
  static constexpr int kSmall = kOuterInv + 4096;   // [M] w_N^{n'} (small-stage bases)
  static constexpr int kBlock = kSmall + 4096;      // [M] w_M^q (the f32 block transforms)
  static constexpr std::size_t float2_count() { return static_cast<std::size_t>(kBlock + 4096); }
};

}  // namespace ffc::cuda
