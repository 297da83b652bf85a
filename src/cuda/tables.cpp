// Host construction of the forward kernel's constant tables, in double precision from core::twiddle
// (the single source of the transform's math), rounded once to f32 / f16. The layouts follow the
// mma.m16n8k16 fragment layouts described in stages/ptx.cuh: slot j (0..7) of a lane's 16x16 C tile is
// tile j / 4, register j % 4, i.e. row g + 8 ((j % 4) / 2), column 2t + (j % 2) + 8 (j / 4).
#include "cuda/tables.hpp"

#include <complex>

#include "core/factorization.hpp"
#include "core/half.hpp"
#include "core/monarch_split.hpp"

namespace ffc::cuda {
namespace {

struct Slot {
  int row, col;
};

Slot c_slot(int lane, int j) {
  const int g = lane >> 2, t = lane & 3;
  return {g + 8 * ((j & 3) >> 1), 2 * t + (j & 1) + 8 * (j >> 2)};
}

uint32_t pack(double lo, double hi) {
  return uint32_t{core::float_to_half(static_cast<float>(lo))} |
         (uint32_t{core::float_to_half(static_cast<float>(hi))} << 16);
}

// G[f][a] = kSigma * w_16^{f a}: part 0 = Re, 1 = Im, 2 = -Im.
double g_entry(int part, int f, int a) {
  const std::complex<double> w = kSigma * core::twiddle(16, int64_t{f} * a);
  return part == 0 ? w.real() : (part == 1 ? w.imag() : -w.imag());
}

}  // namespace

FwdTables build_fwd_tables(int n) {
  const int m = static_cast<int>(core::monarch_block(n));
  FwdTables t;
  t.frags.assign(FwdTableLayout::kFragWords, 0);
  t.twiddles.assign(FwdTableLayout::float2_count(), Float2{0, 0});
  // A-layout fragments of G (left products G * X: rows = output frequency, columns = input).
  for (int part = 0; part < 3; ++part) {
    for (int lane = 0; lane < 32; ++lane) {
      const int g = lane >> 2, tq = lane & 3;
      uint32_t* a = &t.frags[(part * 32 + lane) * 4];
      a[0] = pack(g_entry(part, g, 2 * tq), g_entry(part, g, 2 * tq + 1));
      a[1] = pack(g_entry(part, g + 8, 2 * tq), g_entry(part, g + 8, 2 * tq + 1));
      a[2] = pack(g_entry(part, g, 2 * tq + 8), g_entry(part, g, 2 * tq + 9));
      a[3] = pack(g_entry(part, g + 8, 2 * tq + 8), g_entry(part, g + 8, 2 * tq + 9));
    }
  }
  // (G is symmetric: its B-layout fragments are these A fragments reordered; DftConsts::b.)
  const double unitary = 1.0 / (4.0 * kSigma);
  auto put = [&](int index, std::complex<double> w) {
    t.twiddles[static_cast<size_t>(index)] = Float2{static_cast<float>(w.real()), static_cast<float>(w.imag())};
  };
  for (int lane = 0; lane < 32; ++lane) {
    for (int j = 0; j < 8; ++j) {
      const Slot s = c_slot(lane, j);
      // Inner: after G * X on a 256-block, rows f_b, columns c: w_256^{c f_b}.
      put(FwdTableLayout::kInner + lane * 8 + j, unitary * core::twiddle(256, int64_t{s.row} * s.col));
      for (int k = 0; k < 16; ++k) {
        // Outer forward, column tile k: rows f_a, columns m = 16 k + col: w_4096^{m f_a}.
        put(FwdTableLayout::kOuterFwd + (k * 32 + lane) * 8 + j,
            unitary * core::twiddle(4096, int64_t{16 * k + s.col} * s.row));
        // Outer inverse folded into the inner output of row f_a = k: rows b, columns c,
        // m = 16 b + c: conj w_4096^{m f_a}.
        put(FwdTableLayout::kOuterInv + (k * 32 + lane) * 8 + j,
            unitary * std::conj(core::twiddle(4096, int64_t{16 * s.row + s.col} * k)));
      }
    }
  }
  for (int i = 0; i < m; ++i) put(FwdTableLayout::kSmall + i, core::twiddle(n, i));
  for (int i = 0; i < m; ++i) put(FwdTableLayout::kBlock + i, core::twiddle(m, i));
  return t;
}

}  // namespace ffc::cuda
