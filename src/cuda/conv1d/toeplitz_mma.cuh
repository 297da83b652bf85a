// The tensor-core depthwise correlation (layout (B, H, L), 16-bit In, K = 64 ... 1024):
//   out[b, c, t] = epilogue(bias[c] + sum_{j < K} w_c[j] in[b, c, t + j - offset]),
// as Toeplitz tiles on mma.sync m16n8k16 (bf16 or f16 operands, f32 accumulation; sm_80 and up).
// The index rules and the weight split are in toeplitz_mma_math.hpp.
//
// toeplitz_mma_kernel: one block per (channel c, part); 256 threads = 8 warps.
//   Setup (whole block): the channel's filter (group c / channels_per_group, reversed when `flip`)
//   is read from global memory, its largest |w| gives the scale 2^-E, and the A fragments of the
//   tiles D_d (hi and lo parts, 16 bytes per lane each) are built once into shared memory:
//   tiles x 2 x 512 bytes (tiles = ceil((K + pre + 15) / 16), 9 at K = 128, <= 66).
//   Items: a part is a contiguous range of the channel's (b, tile of 1024 outputs) items; warp w
//   takes items w, w + 8, ... of it and runs alone from here (no block barriers): per item,
//   - staging: the item's inputs, (64 + tiles - 1) chunks of 16 starting at t0 - offset' (a multiple
//     of 8 elements), go to the warp's shared buffer as 16-byte units (cp.async with zero fill
//     outside the row when rows are 16-byte aligned and L % 8 == 0; else scalar loads), swizzled
//     (swizzle_unit) so the ldmatrix rows are conflict-free. Two buffers per warp: the next item is
//     staged while this one is computed.
//   - a scan of the staged inputs for Inf / NaN (and a non-finite filter): such items take the
//     direct f32 sum instead (scalar, slow, correct: taps outside the window are never multiplied).
//   - MMAs: 8 n tiles per warp; n tile nt, column n is output chunk nt + 8 n, so the B operand of
//     (d, nt) is input chunk group e = d + nt (ldmatrix.x2 of chunks e + 8 n). A sliding window of
//     8 B fragments (e = d .. d + 7) in registers: per tile d one ldmatrix.x2 (the new group), one
//     or two 16-byte A loads (hi, lo) and 8 or 16 MMAs. The lo MMAs are skipped when every lo of
//     the channel is zero (a bf16 filter on bf16 MMAs, an f16 filter on f16 MMAs without rounding).
//   - epilogue: in two passes (rows r < 8, r >= 8) the accumulators, scaled by 2^E plus the bias,
//     go through the (now free) input buffer as f32 ([chunk][8] with 8 floats of padding every 16
//     chunks: conflict-free writes), then each lane stores 8 consecutive outputs of two chunks
//     (16-byte stores when the output rows are aligned; kSiluGrad reads dy the same way).
// Shared memory (dynamic): tiles x 1 KiB + 16 x round8(2 (63 + tiles)) x 16 bytes: 46 KiB at
// K = 128, 135 KiB at K = 1024 (cudaFuncAttributeMaxDynamicSharedMemorySize above 48 KiB).
// Registers: 32 accumulators + 16 window + 4 (A) live in the loop; __launch_bounds__(256, 2).
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <string>

#include "core/errors.hpp"
#include "cuda/check.hpp"
#include "cuda/conv1d/launch.hpp"
#include "cuda/conv1d/toeplitz_mma_math.hpp"
#include "cuda/stages/io.cuh"

namespace ffc::cuda::conv1d::toeplitz {

// Per-launch values the host derives once.
struct MmaLaunch {
  Shape shape;
  int64_t tiles_per_row = 0;  // ceil(out_length / 1024)
  int64_t items = 0;          // batch * tiles_per_row, per channel
  int64_t parts = 1;          // blocks per channel
  int xbuf_bytes = 0;         // one staging buffer
  bool in_vec = false;        // rows of In 16-byte aligned, in_length % 8 == 0
  bool out_vec = false;       // 8 outputs at t % 8 == 0 are one aligned vector store
  bool dy_vec = false;
};

// Bytes of one warp staging buffer: the staged units rounded to whole 8-unit swizzle blocks, and at
// least the epilogue's f32 pass (64 chunks x 8 + 3 x 8 padding floats).
inline int xbuf_bytes(int tiles) {
  const int units = (2 * staged_chunks(tiles) + 7) / 8 * 8;
  const int epilogue = kZFloats * 4;
  return units * 16 > epilogue ? units * 16 : epilogue;
}

inline int64_t shared_bytes(int tiles) { return int64_t{tiles} * 2 * 32 * 16 + int64_t{2 * kWarps} * xbuf_bytes(tiles); }

template <typename T>
struct MmaOps;

template <>
struct MmaOps<__nv_bfloat16> {
  static constexpr Format format() { return kBf16; }
  __device__ __forceinline__ static uint32_t bits(float v) { return __bfloat16_as_ushort(__float2bfloat16_rn(v)); }
  __device__ __forceinline__ static void mma(float (&c)[4], const uint4& a, const uint32_t (&b)[2]) {
    asm("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
        "{%0,%1,%2,%3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a.x), "r"(a.y), "r"(a.z), "r"(a.w), "r"(b[0]), "r"(b[1]));
  }
  static constexpr uint32_t kExp = 0x7f80u;  // exponent field of one element
};

template <>
struct MmaOps<__half> {
  static constexpr Format format() { return kF16; }
  __device__ __forceinline__ static uint32_t bits(float v) { return __half_as_ushort(__float2half_rn(v)); }
  __device__ __forceinline__ static void mma(float (&c)[4], const uint4& a, const uint32_t (&b)[2]) {
    asm("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
        "{%0,%1,%2,%3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a.x), "r"(a.y), "r"(a.z), "r"(a.w), "r"(b[0]), "r"(b[1]));
  }
  static constexpr uint32_t kExp = 0x7c00u;
};

// Whether either 16-bit element of a word is Inf or NaN (exponent field all ones).
template <typename T>
__device__ __forceinline__ bool nonfinite_pair(uint32_t w) {
  constexpr uint32_t e = MmaOps<T>::kExp;
  return (w & e) == e || ((w >> 16) & e) == e;
}

__device__ __forceinline__ float load_value(const void* data, int dtype, int64_t i) {
  if (dtype == 0) return static_cast<const float*>(data)[i];
  if (dtype == 1) return __half2float(static_cast<const __half*>(data)[i]);
  return __bfloat162float(static_cast<const __nv_bfloat16*>(data)[i]);
}

// Tap j (< K) of channel c's filter as the correlation uses it.
__device__ __forceinline__ float tap(const CorrelateParams& p, int64_t c, int64_t j) {
  const int64_t g = static_cast<uint32_t>(c) / static_cast<uint32_t>(p.channels_per_group);
  return load_value(p.weight, p.weight_dtype, g * p.kernel_size + (p.flip ? p.kernel_size - 1 - j : j));
}

__device__ __forceinline__ float epilogue(const CorrelateParams& p, float z, float dy) {
  if (p.epilogue == Epilogue::kSilu) return z / (1.0f + expf(-z));
  if (p.epilogue == Epilogue::kSiluGrad) {
    const float s = 1.0f / (1.0f + expf(-z));
    return dy * (s * (1.0f + z * (1.0f - s)));
  }
  return z;
}

__device__ __forceinline__ void cp_async16(uint32_t dst, const void* src, int src_bytes) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src), "r"(src_bytes) : "memory");
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }
__device__ __forceinline__ void cp_async_wait_one() { asm volatile("cp.async.wait_group 1;\n" ::: "memory"); }

__device__ __forceinline__ void ldmatrix_x2(uint32_t (&b)[2], uint32_t addr) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x2.shared.b16 {%0,%1}, [%2];\n" : "=r"(b[0]), "=r"(b[1]) : "r"(addr));
}

// Stages the item's inputs (units u < units: positions start + 8 u .. + 7 of `row`, zero outside
// [0, len)) into the swizzled buffer at shared address `buf`.
template <typename T>
__device__ __forceinline__ void stage_item(const T* row, int64_t len, int64_t start, int units, unsigned char* buf,
                                           bool vec, int lane) {
  const uint32_t base = static_cast<uint32_t>(__cvta_generic_to_shared(buf));
  for (int u = lane; u < units; u += 32) {
    const int64_t pos = start + int64_t{8} * u;
    const int off = swizzle_unit(u) * 16;
    if (vec) {
      const bool inside = pos >= 0 && pos < len;  // len % 8 == 0, pos % 8 == 0: whole units
      cp_async16(base + off, inside ? static_cast<const void*>(row + pos) : static_cast<const void*>(row),
                 inside ? 16 : 0);
    } else {
      union {
        uint4 raw;
        T v[8];
      } w;
#pragma unroll
      for (int e = 0; e < 8; ++e) {
        const int64_t s = pos + e;
        w.v[e] = s >= 0 && s < len ? row[s] : IoTraits<T>::from_float(0.0f);
      }
      *reinterpret_cast<uint4*>(buf + off) = w.raw;
    }
  }
}

// Stores 8 outputs z (before the epilogue) at row index `index` (t = the first one's time).
template <typename T, typename Out>
__device__ __forceinline__ void store_outputs(const CorrelateParams& p, const MmaLaunch& m, int64_t index,
                                              int64_t t, const float (&z)[8]) {
  const int count = p.out_length - t < 8 ? static_cast<int>(p.out_length - t) : 8;
  float dy[8] = {};
  if (p.epilogue == Epilogue::kSiluGrad) {
    const T* d = static_cast<const T*>(p.dy) + index;
    if (m.dy_vec && count == 8) {
      union {
        uint4 raw;
        T v[8];
      } u;
      u.raw = *reinterpret_cast<const uint4*>(d);
#pragma unroll
      for (int e = 0; e < 8; ++e) dy[e] = IoTraits<T>::to_float(u.v[e]);
    } else {
#pragma unroll
      for (int e = 0; e < 8; ++e) dy[e] = e < count ? IoTraits<T>::to_float(d[e]) : 0.0f;
    }
  }
  Out* out = static_cast<Out*>(p.out) + index;
  union {
    uint4 raw[sizeof(Out) / 2];
    Out v[8];
  } o;
#pragma unroll
  for (int e = 0; e < 8; ++e) o.v[e] = IoTraits<Out>::from_float(epilogue(p, z[e], dy[e]));
  if (m.out_vec && count == 8) {
#pragma unroll
    for (int h = 0; h < static_cast<int>(sizeof(Out)) / 2; ++h) reinterpret_cast<uint4*>(out)[h] = o.raw[h];
  } else {
#pragma unroll
    for (int e = 0; e < 8; ++e) {
      if (e < count) out[e] = o.v[e];
    }
  }
}

template <typename T, typename Out>
__global__ void __launch_bounds__(kThreads, 2) toeplitz_mma_kernel(const CorrelateParams p, const MmaLaunch m) {
  extern __shared__ __align__(16) unsigned char smem[];
  __shared__ unsigned int s_max_bits;
  __shared__ int s_bad;
  using Ops = MmaOps<T>;
  const int tiles = m.shape.tiles;
  uint4* afrag = reinterpret_cast<uint4*>(smem);  // [d][hi, lo][lane]
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const uint32_t parts = static_cast<uint32_t>(m.parts);
  const int64_t c = blockIdx.x / parts, part = blockIdx.x % parts;
  const int64_t K = p.kernel_size;

  // The filter's scale and finiteness.
  if (threadIdx.x == 0) {
    s_max_bits = 0;
    s_bad = 0;
  }
  __syncthreads();
  {
    float mx = 0.0f;
    bool bad = false;
    for (int64_t j = threadIdx.x; j < K; j += kThreads) {
      const float w = tap(p, c, j);
      if (!isfinite(w)) bad = true;
      else mx = fmaxf(mx, fabsf(w));
    }
    atomicMax(&s_max_bits, __float_as_uint(mx));  // non-negative floats order as their bits
    if (bad) atomicOr(&s_bad, 1);
  }
  __syncthreads();
  const bool w_bad = s_bad != 0;
  const int E = scale_exponent(__uint_as_float(s_max_bits));

  // The A fragments of D_0 .. D_{tiles - 1}, scaled by 2^-E, hi and lo.
  bool has_lo = false;
  if (!w_bad) {
    for (int idx = threadIdx.x; idx < tiles * 32; idx += kThreads) {
      const int d = idx / 32, l = idx % 32;
      uint32_t hi[4] = {}, lo[4] = {};
#pragma unroll
      for (int e = 0; e < 8; ++e) {
        const int64_t j = tile_tap(m.shape, K, d, a_row(l, e), a_col(l, e));
        const float ws = j >= 0 ? ldexpf(tap(p, c, j), -E) : 0.0f;
        const Split s = split_tap(ws, Ops::format());
        has_lo = has_lo || s.lo != 0.0f;
        hi[e / 2] |= Ops::bits(s.hi) << (16 * (e % 2));
        lo[e / 2] |= Ops::bits(s.lo) << (16 * (e % 2));
      }
      afrag[(2 * d) * 32 + l] = make_uint4(hi[0], hi[1], hi[2], hi[3]);
      afrag[(2 * d + 1) * 32 + l] = make_uint4(lo[0], lo[1], lo[2], lo[3]);
    }
  }
  has_lo = __syncthreads_or(has_lo) != 0;  // also publishes the fragments

  // From here each warp runs alone.
  const int64_t first = part * m.items / m.parts, last = (part + 1) * m.items / m.parts;
  int64_t item = first + warp;
  if (item >= last) return;
  unsigned char* const xbase = smem + int64_t{tiles} * 2 * 32 * 16;
  unsigned char* const wbase = xbase + int64_t{2 * warp} * m.xbuf_bytes;  // this warp's two buffers
  const int units = 2 * staged_chunks(tiles);
  const T* in_all = static_cast<const T*>(p.in);
  const int64_t off_al = m.shape.offset_aligned;
  const float bias = p.bias ? load_value(p.bias, p.bias_dtype, c) : 0.0f;
  const bool scale_mul = E >= -126 && E <= 127;
  const float scale = scale_mul ? ldexpf(1.0f, E) : 1.0f;

  auto row_of = [&](int64_t it) { return (it / m.tiles_per_row) * p.channels + c; };
  auto t0_of = [&](int64_t it) { return (it % m.tiles_per_row) * kWarpOutputs; };
  auto stage = [&](int64_t it, unsigned char* buf) {
    stage_item<T>(in_all + row_of(it) * p.in_length, p.in_length, t0_of(it) - off_al, units, buf, m.in_vec, lane);
  };

  stage(item, wbase);
  cp_async_commit();
  int cur = 0;
  for (; item < last; item += kWarps, cur ^= 1) {
    if (item + kWarps < last) stage(item + kWarps, wbase + (cur ^ 1) * m.xbuf_bytes);
    cp_async_commit();
    cp_async_wait_one();
    __syncwarp();
    unsigned char* const buf = wbase + cur * m.xbuf_bytes;
    const int64_t row = row_of(item), t0 = t0_of(item);

    bool bad = w_bad;
    if (!bad) {
      for (int u = lane; u < units; u += 32) {
        const uint4 v = *reinterpret_cast<const uint4*>(buf + swizzle_unit(u) * 16);
        bad = bad || nonfinite_pair<T>(v.x) || nonfinite_pair<T>(v.y) || nonfinite_pair<T>(v.z) ||
              nonfinite_pair<T>(v.w);
      }
      bad = __any_sync(0xffffffffu, bad);
    }
    if (bad) {
      // Direct f32 sums over the window only (Inf / NaN reach only the outputs that read them).
      const T* xs = reinterpret_cast<const T*>(buf);
      for (int o = lane; o < kWarpOutputs; o += 32) {
        const int64_t t = t0 + o;
        if (t >= p.out_length) break;
        float z = 0.0f;
        for (int64_t j = 0; j < K; ++j) {
          const int idx = o + static_cast<int>(j + m.shape.pre);
          z = fmaf(tap(p, c, j), IoTraits<T>::to_float(xs[staged_element(idx)]), z);
        }
        float dy = 0.0f;
        const int64_t index = row * p.out_length + t;
        if (p.epilogue == Epilogue::kSiluGrad) dy = IoTraits<T>::to_float(static_cast<const T*>(p.dy)[index]);
        static_cast<Out*>(p.out)[index] = IoTraits<Out>::from_float(epilogue(p, z + bias, dy));
      }
      __syncwarp();
      continue;
    }

    float acc[kNTiles][4];
#pragma unroll
    for (int nt = 0; nt < kNTiles; ++nt) {
#pragma unroll
      for (int k = 0; k < 4; ++k) acc[nt][k] = 0.0f;
    }
    const uint32_t xs = static_cast<uint32_t>(__cvta_generic_to_shared(buf));
    auto load_b = [&](int e, uint32_t (&b)[2]) { ldmatrix_x2(b, xs + swizzle_unit(b_unit(e, lane)) * 16); };
    uint32_t win[kNTiles][2];
#pragma unroll
    for (int e = 0; e < kNTiles - 1; ++e) load_b(e, win[e]);
    for (int d0 = 0; d0 < tiles; d0 += kNTiles) {
#pragma unroll
      for (int dd = 0; dd < kNTiles; ++dd) {
        const int d = d0 + dd;
        if (d < tiles) {
          load_b(d + kNTiles - 1, win[(dd + kNTiles - 1) % kNTiles]);
          const uint4 a_hi = afrag[(2 * d) * 32 + lane];
#pragma unroll
          for (int nt = 0; nt < kNTiles; ++nt) Ops::mma(acc[nt], a_hi, win[(dd + nt) % kNTiles]);
          if (has_lo) {
            const uint4 a_lo = afrag[(2 * d + 1) * 32 + lane];
#pragma unroll
            for (int nt = 0; nt < kNTiles; ++nt) Ops::mma(acc[nt], a_lo, win[(dd + nt) % kNTiles]);
          }
        }
      }
    }
    __syncwarp();  // every lane's ldmatrix of this buffer is done

    float* zs = reinterpret_cast<float*>(buf);
    const int g = lane / 4, q = lane % 4;
#pragma unroll
    for (int pass = 0; pass < 2; ++pass) {
#pragma unroll
      for (int nt = 0; nt < kNTiles; ++nt) {
#pragma unroll
        for (int h = 0; h < 2; ++h) {
          const int ch = c_chunk(nt, 2 * q + h);
          const float a = acc[nt][2 * pass + h];
          zs[z_index(ch, g)] = (scale_mul ? a * scale : ldexpf(a, E)) + bias;
        }
      }
      __syncwarp();
#pragma unroll
      for (int k = 0; k < 2; ++k) {
        const int ch = lane + 32 * k;
        const int64_t t = t0 + kChunk * ch + 8 * pass;
        if (t < p.out_length) {
          const float4* src = reinterpret_cast<const float4*>(zs + z_index(ch, 0));
          const float4 lo4 = src[0], hi4 = src[1];
          const float z[8] = {lo4.x, lo4.y, lo4.z, lo4.w, hi4.x, hi4.y, hi4.z, hi4.w};
          store_outputs<T, Out>(p, m, row * p.out_length + t, t, z);
        }
      }
      __syncwarp();
    }
  }
}

// Lets the kernel's blocks use all the dynamic shared memory the device's opt-in limit leaves beside
// the kernel's static shared memory (the attribute must not exceed optin - static: a larger value is
// cudaErrorInvalidValue).
template <typename T, typename Out>
void allow_shared_memory(int optin) {
  cudaFuncAttributes a{};
  check_cuda(cudaFuncGetAttributes(&a, toeplitz_mma_kernel<T, Out>), "conv1d toeplitz mma attributes");
  check_cuda(cudaFuncSetAttribute(toeplitz_mma_kernel<T, Out>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                  optin - static_cast<int>(a.sharedSizeBytes)),
             "conv1d toeplitz mma shared memory attribute");
}

// Launch with the device's SM count (MmaDevice); the shared-memory limit was raised by
// allow_shared_memory when the device was queried.
template <typename T, typename Out>
void launch_toeplitz_mma(const CorrelateParams& p, int sms, cudaStream_t stream) {
  MmaLaunch m;
  m.shape = make_shape(p.kernel_size, p.offset);
  m.tiles_per_row = (p.out_length + kWarpOutputs - 1) / kWarpOutputs;
  m.items = p.batch * m.tiles_per_row;
  if (m.items == 0 || p.channels == 0) return;
  // Enough blocks for 8 per SM where the channels alone are too few, each with work for its warps.
  const int64_t target = int64_t{8} * sms;
  const int64_t max_parts = (m.items + kWarps - 1) / kWarps;
  int64_t parts = (target + p.channels - 1) / p.channels;
  if (parts > max_parts) parts = max_parts;
  m.parts = parts < 1 ? 1 : parts;
  const int64_t blocks = p.channels * m.parts;
  if (blocks > INT32_MAX || p.channels > INT32_MAX) {
    core::throw_error(Status::kNotSupported, "x: the conv1d grid of " + std::to_string(blocks) +
                                                 " blocks, or H, exceeds 2^31 - 1 (rule: fewer rows or shorter rows)");
  }
  m.xbuf_bytes = xbuf_bytes(m.shape.tiles);
  m.in_vec = aligned16(p.in) && p.in_length % 8 == 0;
  m.out_vec = aligned16(p.out) && p.out_length % static_cast<int64_t>(16 / sizeof(Out)) == 0;
  m.dy_vec = p.dy != nullptr && aligned16(p.dy) && p.out_length % 8 == 0;
  const int64_t smem = shared_bytes(m.shape.tiles);
  toeplitz_mma_kernel<T, Out><<<static_cast<unsigned>(blocks), kThreads, static_cast<size_t>(smem), stream>>>(p, m);
  check_cuda(cudaGetLastError(), "conv1d toeplitz mma launch");
}

}  // namespace ffc::cuda::conv1d::toeplitz
