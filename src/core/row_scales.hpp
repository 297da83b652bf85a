// Per-row power-of-two scaling of the two real rows that share one complex transform, shared by the
// CPU backend and the CUDA kernels (host and device code; no CUDA dependency beyond the annotation).
//
// Two batch rows travel as one complex sequence z = s0 x0 + i s1 x1. The filter is real, so the rows
// never mix in exact arithmetic, but every rounding error of the complex transform is relative to the
// pair's combined magnitude: a row much smaller than its partner would inherit the partner's
// rounding noise, a zero row would not come out zero, and a NaN in one row would spread to the other
// through the transform. So each row gets its own scale:
//
//   - a finite row with bound m > 0 (m >= max |x|) takes a power of two s with bound / 4 < s m <
//     bound (from the exponents alone), and its output is multiplied by 1 / s (exact): both rows
//     then fill the same range;
//   - a zero row (m == 0) enters as zeros and its output factor is 0, so it comes out exactly zero
//     (times its postgate: 0 * NaN stays NaN, as in any convolution);
//   - a non-finite row (m NaN or inf) enters as zeros, so its partner is computed as if alone, and
//     its output factor is NaN: the whole row is NaN, as an FFT convolution makes it.
//
// The backward pairs the two sequences z (x rows) and w (dc rows) in DK += W conj(Z), whose real part
// after the inverse transform is a0 b0 corr(dc0, x0) + a1 b1 corr(dc1, x1) for row scales a (x) and
// b (dc). A single unscaling of the sum needs a0 b0 = a1 b1 = P, so the scales of the rows whose both
// sides are nonzero are tied: P is the smallest product of their largest scales, and a row whose
// largest product exceeds P gives up the excess, half on each side (rows of similar magnitude lose
// at most a bit or two; the old per-pair scale lost the whole ratio between the rows on each side).
// Rows with a zero side contribute nothing to dk and keep their largest scales. The tie holds whether
// or not dk is requested, so each gradient has the same bits whichever others a call asks for. A
// non-finite value anywhere in the pair makes the pair's dk contribution NaN (dk of its head is then
// NaN, as with any FFT convolution).
#pragma once

#include <cstdint>
#include <cstring>

#include "core/host_device.hpp"


namespace ffc::core {

// 2^e for e in [-126, 127].
FFC_HOST_DEVICE inline float exp2i(int e) {
  const uint32_t bits = static_cast<uint32_t>(e + 127) << 23;
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

// The exponent e of a positive float x in frexp's convention (x = f 2^e, f in [0.5, 1)); subnormals
// give -126 (their frexp exponent is <= -126).
FFC_HOST_DEVICE inline int frexp_exponent(float x) {
  uint32_t bits;
  std::memcpy(&bits, &x, sizeof bits);
  return static_cast<int>((bits >> 23) & 0xffu) - 126;
}

FFC_HOST_DEVICE inline int clamp_int(int v, int lo, int hi) { return v < lo ? lo : (v > hi ? hi : v); }

FFC_HOST_DEVICE inline float quiet_nan() {
  const uint32_t bits = 0x7fc00000u;
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

enum class RowKind : int { kZero, kFinite, kNonFinite };

// What a row's bound m says about the row: zero, finite and nonzero, or non-finite (NaN or inf; an
// infinite bound also covers max |u| max |pregate| beyond the f32 range).
FFC_HOST_DEVICE inline RowKind row_kind(float m) {
  if (m == 0.0f) return RowKind::kZero;
  return (m > 0.0f && m <= 3.40282347e38f) ? RowKind::kFinite : RowKind::kNonFinite;
}

// The exponent of the power of two s with bound / 4 < s m < bound, for finite m > 0 and a bound >= 4
// (m in [2^(e-1), 2^e), bound in [2^(b-1), 2^b): s = 2^(b - 1 - e)), clamped to [-126, 126] so that
// 1 / s is a float too: the upper clamp leaves s m below bound / 4 only for m below 2^-124 bound
// (f32 subnormals), the lower one keeps s m < 4 <= bound.
FFC_HOST_DEVICE inline int scale_exponent(float m, float bound) {
  return clamp_int((frexp_exponent(bound) - 1) - frexp_exponent(m), -126, 126);
}

// The scaling of one row: its input enters the transform times `in` (0: the row enters as zeros, for
// a zero or non-finite row), and its output is multiplied by `out` (1 / in, 0 or NaN).
struct RowScale {
  float in = 0.0f;
  float out = 0.0f;
};

FFC_HOST_DEVICE inline RowScale row_scale_of(RowKind kind, int exponent) {
  RowScale s;
  if (kind == RowKind::kFinite) {
    s.in = exp2i(exponent);
    s.out = exp2i(-exponent);
  } else {
    s.out = kind == RowKind::kZero ? 0.0f : quiet_nan();
  }
  return s;
}

// Forward: row bound m (>= max |x| of the row) and the pair bound.
FFC_HOST_DEVICE inline RowScale row_scale(float m, float bound) {
  const RowKind kind = row_kind(m);
  return row_scale_of(kind, kind == RowKind::kFinite ? scale_exponent(m, bound) : 0);
}

// Backward scales of one pair: rows r = 0, 1 of the x side (z) and the dc side (w), and the factor
// that unscales the pair's dk product, split in two powers of two (dk_z dk_w = 1 / P, each a float;
// the product alone may leave the float range). dk_z is 0 when no row has both sides nonzero (the
// pair contributes nothing) and NaN when any value of the pair is non-finite.
struct BackwardScales {
  RowScale x[2], dc[2];
  float dk_z = 0.0f, dk_w = 0.0f;
};

// mx[r], mdc[r]: bounds of max |x| and max |dc| of row r.
FFC_HOST_DEVICE inline BackwardScales backward_scales(const float (&mx)[2], const float (&mdc)[2], float bound) {
  BackwardScales s;
  RowKind kx[2], kd[2];
  int ex[2], ed[2];
  bool poisoned = false;
  for (int r = 0; r < 2; ++r) {
    kx[r] = row_kind(mx[r]);
    kd[r] = row_kind(mdc[r]);
    ex[r] = kx[r] == RowKind::kFinite ? scale_exponent(mx[r], bound) : 0;
    ed[r] = kd[r] == RowKind::kFinite ? scale_exponent(mdc[r], bound) : 0;
    poisoned = poisoned || kx[r] == RowKind::kNonFinite || kd[r] == RowKind::kNonFinite;
  }
  // The tie: P = 2^ep, the smallest ex + ed over the rows with both sides finite and nonzero.
  bool any_active = false;
  int ep = 0;
  for (int r = 0; r < 2; ++r) {
    if (kx[r] != RowKind::kFinite || kd[r] != RowKind::kFinite) continue;
    ep = any_active ? (ex[r] + ed[r] < ep ? ex[r] + ed[r] : ep) : ex[r] + ed[r];
    any_active = true;
  }
  for (int r = 0; r < 2; ++r) {
    if (kx[r] == RowKind::kFinite && kd[r] == RowKind::kFinite) {
      // a + b = ep with a <= ex, b <= ed, both in [-126, 126]: the interval below is never empty
      // (ep <= ex + ed, and ex, ed, ep lie in [-126, 126], [-126, 126], [-252, 252]).
      const int excess = ex[r] + ed[r] - ep;
      int lo = ep - ed[r];
      if (lo < -126) lo = -126;
      if (lo < ep - 126) lo = ep - 126;
      int hi = ex[r];
      if (hi > ep + 126) hi = ep + 126;
      const int a = clamp_int(ex[r] - excess / 2, lo, hi);
      ex[r] = a;
      ed[r] = ep - a;
    }
    s.x[r] = row_scale_of(kx[r], ex[r]);
    s.dc[r] = row_scale_of(kd[r], ed[r]);
  }
  if (poisoned) {
    s.dk_z = quiet_nan();
    s.dk_w = 1.0f;
  } else if (any_active) {
    const int half = -ep / 2;  // 1 / P = 2^-ep, as 2^half 2^(-ep - half), each within [-126, 126]
    s.dk_z = exp2i(half);
    s.dk_w = exp2i(-ep - half);
  }
  return s;
}

}  // namespace ffc::core
