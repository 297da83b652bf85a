// Thin wrappers over the PTX instructions the kernels are built from: tensor-core MMA
// (m16n8k16, f16 inputs, f32 accumulators), ldmatrix / stmatrix / movmatrix for moving 8x8 b16
// tiles between shared memory, registers and transposed register layouts, and f16x2 packing.
//
// Fragment layouts of mma.m16n8k16 (lane = 4 g + t, g = lane / 4, t = lane % 4):
//   A (16x16, row major), 4 x f16x2: a0 = A[g][2t..2t+1], a1 = A[g+8][2t..], a2 = A[g][2t+8..],
//                                    a3 = A[g+8][2t+8..]
//   B (16x8, "col"),      2 x f16x2: b0 = B[2t..2t+1][g], b1 = B[2t+8..2t+9][g]
//   C (16x8, f32),        4 x f32:   c0, c1 = C[g][2t..2t+1], c2, c3 = C[g+8][2t..2t+1]
// Two C tiles side by side (16x16) hold exactly the A fragment of the next product:
//   a0 = {c0,c1} of tile 0, a1 = {c2,c3} of tile 0, a2 = {c0,c1} of tile 1, a3 = {c2,c3} of tile 1.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

namespace ffc::cuda {

__device__ __forceinline__ uint32_t smem_address(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

// d += a * b (16x8x16, f16 x f16 -> f32).
__device__ __forceinline__ void mma_16816(float (&d)[4], const uint32_t (&a)[4], uint32_t b0,
                                          uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// Four 8x8 b16 tiles from shared memory; lane l gives the address of row l % 8 of tile l / 8.
__device__ __forceinline__ void ldmatrix_x4(uint32_t (&r)[4], uint32_t address) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(address));
}

__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t (&r)[4], uint32_t address) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(address));
}

// Stores four 8x8 b16 tiles (register i = tile i, in the C/A fragment layout: row g, columns
// 2t..2t+1); lane l gives the address of row l % 8 of tile l / 8.
__device__ __forceinline__ void stmatrix_x4(uint32_t address, const uint32_t (&r)[4]) {
  asm volatile("stmatrix.sync.aligned.m8n8.x4.shared.b16 [%0], {%1,%2,%3,%4};\n" ::"r"(address), "r"(r[0]),
               "r"(r[1]), "r"(r[2]), "r"(r[3])
               : "memory");
}

// stmatrix_x4 for GPUs before sm_90: each tile row's address comes from its lane by a shuffle and
// the lane stores its 32-bit pair of that row (row l / 4, columns 2 (l % 4) .. + 1) directly. The
// stores go where the warp's earlier ldmatrix read (in-place stages): stmatrix orders them after
// those reads as one warp-wide instruction, the per-lane stores need the __syncwarp.
__device__ __forceinline__ void stmatrix_x4_sm80(uint32_t address, const uint32_t (&r)[4]) {
  const int lane = threadIdx.x & 31;
  __syncwarp();
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const uint32_t row = __shfl_sync(0xffffffffu, address, 8 * i + (lane >> 2));
    asm volatile("st.shared.b32 [%0], %1;\n" ::"r"(row + 4 * (lane & 3)), "r"(r[i]) : "memory");
  }
}

// stmatrix_x4 by the instructions of architecture kArch (compute capability x 10).
template <int kArch>
__device__ __forceinline__ void store_matrix_x4(uint32_t address, const uint32_t (&r)[4]) {
  if constexpr (kArch >= 90) {
    stmatrix_x4(address, r);
  } else {
    stmatrix_x4_sm80(address, r);
  }
}

// 16-byte asynchronous copy global -> shared (L2 only, bypassing L1), and its completion.
__device__ __forceinline__ void cp_async_16(uint32_t smem_dst, const void* global_src) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(smem_dst), "l"(global_src) : "memory");
}
// The same with a source size: `bytes` = 16 copies, 0 writes 16 zero bytes without reading the
// source (which must still be a valid address).
__device__ __forceinline__ void cp_async_16_zfill(uint32_t smem_dst, const void* global_src, uint32_t bytes) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(smem_dst), "l"(global_src), "r"(bytes)
               : "memory");
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }
__device__ __forceinline__ void cp_async_wait_all() { asm volatile("cp.async.wait_group 0;\n" ::: "memory"); }

// Bulk asynchronous copies global -> shared (the TMA unit without a tensor map: contiguous bytes,
// 16-byte aligned, sizes a multiple of 16) and the mbarrier they complete on.
__device__ __forceinline__ void mbarrier_init(uint32_t bar, uint32_t count) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(bar), "r"(count) : "memory");
  asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
}
// One arrival that also expects `bytes` of asynchronous copies in the current phase.
__device__ __forceinline__ void mbarrier_arrive_expect_tx(uint32_t bar, uint32_t bytes) {
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(bar), "r"(bytes) : "memory");
}
// Waits until the phase of parity `parity` has completed.
__device__ __forceinline__ void mbarrier_wait(uint32_t bar, uint32_t parity) {
  asm volatile(
      "{\n .reg .pred done;\n WAIT:\n mbarrier.try_wait.parity.shared::cta.b64 done, [%0], %1;\n @!done bra WAIT;\n}\n" ::"r"(
          bar),
      "r"(parity)
      : "memory");
}
__device__ __forceinline__ void bulk_load(uint32_t smem_dst, const void* global_src, uint32_t bytes, uint32_t bar) {
  asm volatile("cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];\n" ::"r"(
                   smem_dst),
               "l"(global_src), "r"(bytes), "r"(bar)
               : "memory");
}
// Orders this thread's generic-proxy shared-memory accesses before later async-proxy (bulk copy)
// accesses to the same memory.
__device__ __forceinline__ void fence_proxy_async() { asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory"); }

// Distributed shared memory through 32-bit shared::cluster addresses (cheaper than the generic
// pointers of cooperative_groups' map_shared_rank, which the compiler tends to keep in local memory).
// The address of CTA `rank`'s copy of this CTA's shared address `smem`.
__device__ __forceinline__ uint32_t cluster_address(uint32_t smem, uint32_t rank) {
  uint32_t out;
  asm volatile("mapa.shared::cluster.u32 %0, %1, %2;\n" : "=r"(out) : "r"(smem), "r"(rank));
  return out;
}
__device__ __forceinline__ void st_cluster(uint32_t address, uint32_t v) {
  asm volatile("st.shared::cluster.u32 [%0], %1;\n" ::"r"(address), "r"(v) : "memory");
}
__device__ __forceinline__ void st_cluster(uint32_t address, uint2 v) {
  asm volatile("st.shared::cluster.v2.u32 [%0], {%1, %2};\n" ::"r"(address), "r"(v.x), "r"(v.y) : "memory");
}
__device__ __forceinline__ void st_cluster(uint32_t address, uint4 v) {
  asm volatile("st.shared::cluster.v4.u32 [%0], {%1, %2, %3, %4};\n" ::"r"(address), "r"(v.x), "r"(v.y), "r"(v.z),
               "r"(v.w)
               : "memory");
}
__device__ __forceinline__ void st_cluster(uint32_t address, float v) {
  asm volatile("st.shared::cluster.f32 [%0], %1;\n" ::"r"(address), "f"(v) : "memory");
}
__device__ __forceinline__ uint4 ld_cluster_v4(uint32_t address) {
  uint4 v;
  asm volatile("ld.shared::cluster.v4.u32 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
               : "r"(address)
               : "memory");
  return v;
}

// x, opaque to the optimizer: what is computed from it stays inside the loop that calls this,
// instead of being hoisted out as loop invariants that then spill (registers are the limit).
__device__ __forceinline__ uint32_t opaque(uint32_t x) {
  asm volatile("" : "+r"(x));
  return x;
}

// Transposes an 8x8 b16 tile held in the fragment layout (row g, columns 2t..2t+1).
__device__ __forceinline__ uint32_t movmatrix_trans(uint32_t a) {
  uint32_t d;
  asm volatile("movmatrix.sync.aligned.m8n8.trans.b16 %0, %1;\n" : "=r"(d) : "r"(a));
  return d;
}

__device__ __forceinline__ uint32_t pack_half2(float lo, float hi) {
  const __half2 h = __floats2half2_rn(lo, hi);
  return *reinterpret_cast<const uint32_t*>(&h);
}

__device__ __forceinline__ float2 unpack_half2(uint32_t v) {
  return __half22float2(*reinterpret_cast<const __half2*>(&v));
}

// x = hi + lo with hi = f16(x) and lo = f16(x - hi): two f16 operands whose sum carries about 22
// bits of x (the "split" precision mode).
__device__ __forceinline__ void split_half2(float x0, float x1, uint32_t& hi, uint32_t& lo) {
  hi = pack_half2(x0, x1);
  const float2 h = unpack_half2(hi);
  lo = pack_half2(x0 - h.x, x1 - h.y);
}

}  // namespace ffc::cuda
