// The forward attention's parameters, shared by the tiled kernel (attention.cu) and the
// split-key decode kernels (attention_decode.cu), the decode entry, and the element access both
// use for their vector rows (4 elements: 16 bytes of float, 8 of bf16).
#pragma once

#include <cstdint>

#include "common.cuh"

namespace bmojo {

/** T is the element type of every floating buffer (float or bf16); the mask is int32. */
template <typename T>
struct AttentionForwardParams {
  const T* q;
  const T* k;
  const T* v;
  const T* memK;
  const T* memV;
  const int* memMask;
  T* out;
  T* lse;
  int batch, heads, kvHeads, group, queryLength, keyLength, headDim, window, queryOffset;
  int hasMemory, chunks, slots, chunkSize;
  float scaleLog2;  // scale * log2(e): scores live in the log2 domain
};

/**
 * Runs the forward pass with the split-key decode kernels when the problem suits them (at most
 * kDecodeMaxQueries queries per head, rows readable as 4-element vectors: `vec4`); returns false,
 * launching nothing, otherwise. `p.window` is already clamped to keyLength. T is float or bf16.
 */
template <typename T>
bool attentionDecode(const AttentionForwardParams<T>& p, bool vec4);

/** Whether `p` is aligned for 4-element vectors of T (16 bytes for float, 8 for bf16). */
template <typename T>
inline bool alignedVec4(const T* p) {
  return (reinterpret_cast<uintptr_t>(p) & (4 * sizeof(T) - 1)) == 0;
}

/** Four bf16 (element 0 in the low half of x) as float32: exact, a bf16 is a float's top half. */
__device__ __forceinline__ float4 bf16x4ToFloat4(uint2 u) {
  return make_float4(__uint_as_float(u.x << 16), __uint_as_float(u.x & 0xffff0000u),
                     __uint_as_float(u.y << 16), __uint_as_float(u.y & 0xffff0000u));
}

/** Four consecutive elements at `p` (aligned to 4 elements) as float32. */
__device__ __forceinline__ float4 load4(const float* p) {
  return *reinterpret_cast<const float4*>(p);
}
__device__ __forceinline__ float4 load4(const bf16* p) {
  return bf16x4ToFloat4(*reinterpret_cast<const uint2*>(p));
}

/** Stores four float32 values as four consecutive elements at `p` (aligned to 4 elements), each
 *  rounded once for bf16. */
__device__ __forceinline__ void store4(float* p, float4 v) { *reinterpret_cast<float4*>(p) = v; }
__device__ __forceinline__ void store4(bf16* p, float4 v) {
  const __nv_bfloat162 lo = __halves2bfloat162(fromF32<bf16>(v.x), fromF32<bf16>(v.y));
  const __nv_bfloat162 hi = __halves2bfloat162(fromF32<bf16>(v.z), fromF32<bf16>(v.w));
  uint2 u;
  u.x = *reinterpret_cast<const unsigned*>(&lo);
  u.y = *reinterpret_cast<const unsigned*>(&hi);
  *reinterpret_cast<uint2*>(p) = u;
}

}  // namespace bmojo
