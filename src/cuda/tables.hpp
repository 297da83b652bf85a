// Host-side construction of the forward kernel's constant tables (see stages/fwd_config.hpp).
#pragma once

#include <cstdint>
#include <vector>

#include "cuda/stages/fwd_config.hpp"

namespace ffc::cuda {

struct Float2 {
  float x, y;
};

struct FwdTables {
  std::vector<uint32_t> frags;   // FwdTableLayout::kFragWords
  std::vector<Float2> twiddles;  // FwdTableLayout::float2_count()
};

// Tables for FFT size n (256 .. 32768).
FwdTables build_fwd_tables(int n);

}  // namespace ffc::cuda
