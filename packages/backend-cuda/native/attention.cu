// Attention (forward and backward) for the cuda backend: sliding-window causal attention with
// grouped-query heads and optional per-chunk memory slots (B'MOJO), one softmax over the union of
// a query's visible in-context keys and its chunk's valid memory slots. The specification is
// packages/tensor/src/backends/cpu/attention.ts (AttentionArgs in backend/kernels.ts).
//
// Layouts (row-major; element type float32 or bfloat16, the mask int32):
//   q, out, dOut, dq      [B, H, Lq, Dh]        lse [B, H, Lq]
//   k, v, dk, dv          [B, Hkv, Lk, Dh]
//   memK, memV, dMemK/V   [B, Hkv, chunks, slots, Dh]; mask int32 [B, chunks, slots]
//
// Arguments (written by src/kernels/attention.ts, in this order):
//   attention:          dtype, q, k, v, out, lse, SHAPE, MEMORY
//   attentionBackward:  dtype, q, k, v, out, lse, dOut, dq, dk, dv, SHAPE, MEMORY [, dMemK, dMemV]
//   SHAPE  = batch, heads, kvHeads, queryLength, keyLength, headDim, window, queryOffset, scale
//            (window may be +Infinity; it is clamped to keyLength here)
//   MEMORY = hasMemory (0/1), then only when 1: memK, memV, mask, chunks, slots, chunkSize
//            (and for the backward, after those: dMemK, dMemV)
//
// Design (FlashAttention-2, FP32 SIMT, 256 threads as a 16 x 16 grid (ty, tx)):
//   forward   one block per (b, h, tile of 64 queries). The memory slots of the chunks the tile's
//             queries fall in are processed first (16-slot tiles, per-row chunk test), then the key
//             tiles of the window range [pLo - window + 1, pHi] (64 keys; 32 for Dh > 64), K/V
//             double-buffered with cp.async. Thread (ty, tx) owns query rows 4ty..4ty+3, score
//             columns tx + 16c and output columns given by Cols<DH>; online softmax in the log2
//             domain (exp2f), the row max reduced over the 16 tx lanes with shuffles, the row sum
//             kept per thread and reduced once at the end.
//   backward  (1) a prep kernel: Dvec = rowsum(dOut * out) and lse2 = lse * log2(e) (+Inf for a
//             row that saw no key, so every probability of it is exp2(-Inf) = 0), in scratch;
//             (2) dq zeroed; (3) one block per (b, kv head, tile of keys) iterating over every
//             (head of the group, tile of queries that can see those keys): P and dS recomputed,
//             dK and dV accumulated in registers and stored once (every element written, so no
//             memset), dQ added with atomics; (4) the same kernel with 16-slot memory tiles, one
//             block per (b, kv head, chunk, slot tile), over the queries of that chunk, writing
//             dMemK/dMemV.
//   decode    at most 4 queries per head with 4-element vector rows: the split-key kernels of
//             attention_decode.cu instead of the forward above.
//   Head dims are padded to DH in {16, 32, 64, 128, 256} in shared memory (zero-filled), so any
//   Dh <= 256 works; global accesses are 4-element vectors when Dh % 4 == 0 (VEC4), else scalar.
//
// bfloat16 (the kernels' element type T = bf16; T = float is the float32 path): shared memory and
// every computation stay float32. Tiles are read with 8-byte loads of 4 bf16 (or element by
// element), converted and stored to shared memory synchronously (cp.async cannot convert); the
// float32 scratch (lse2, dvec) is still staged with cp.async. out, lse, dk, dv, dMemK and dMemV
// are rounded once when stored; dQ, added with atomics by many blocks, is accumulated in a float32
// scratch and rounded into dq by one pass at the end.
//
// The bf16 forward runs on tensor cores instead (attention_mma.cuh: mma.sync m16n8k16, float32
// accumulators, the same masking, online softmax and single roundings of out and lse) when the head
// dim is 64 or 128 and q, k, v, out (and memK, memV) are 16-byte aligned. Its one semantic
// difference from the float32-computed path: the probabilities P are rounded to bf16 before P·V
// (as FlashAttention does); the row sums that normalise O and give lse stay float32.
// Likewise the bf16 backward's in-context key kernel (step (3) above) runs on tensor cores
// (attention_mma_bwd.cuh, FlashAttention-2 backward: one block of 4 warps per (b, kv head, 64
// keys), dK/dV in float32 registers, dQ added to the float32 scratch with atomics) when the head
// dim is 64 or 128 and q, k, v, dOut, dk, dv are 16-byte aligned; the prep kernel, the dq
// rounding pass and the memory-slot kernel (step (4)) are unchanged. Its semantic difference:
// P and dS are rounded to bf16 before their products Pᵀ·dOut, dSᵀ·Q and dS·K (as FlashAttention
// does); P, dP and dS themselves are computed in float32, and every sum accumulates in float32.
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "attention_decode.cuh"
#include "attention_mma.cuh"
#include "attention_mma_bwd.cuh"
#include "attention_tiles.cuh"
#include "common.cuh"

namespace {

using bmojo::bf16;
using bmojo::fromF32;

constexpr int kThreads = 256;
constexpr int kMaxHeadDim = 256;
/** Memory slots per tile (both passes). */
constexpr int kMemTile = 16;
constexpr float kLog2e = 1.4426950408889634f;
constexpr float kLn2 = 0.6931471805599453f;

// float4 atomicAdd on global memory exists from sm_90 on.
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
#define BMOJO_ATTENTION_VECTOR_ATOMICS 1
#else
#define BMOJO_ATTENTION_VECTOR_ATOMICS 0
#endif

// ---------------------------------------------------------------------------------------------
// Device helpers
// ---------------------------------------------------------------------------------------------

using bmojo::awaitTile;
using bmojo::cpAsync16;
using bmojo::cpAsync4;
using bmojo::cpAsyncCommit;
using bmojo::cpAsyncWait;
using bmojo::sharedAddress;

/**
 * Stages ROWS rows of a row-major [*, dh] global matrix starting at `src` into shared rows of
 * stride DH + 4: rows >= valid and columns >= dh are zero-filled (never garbage: a NaN pattern
 * times a zero probability would poison a sum).
 */
template <int DH, bool VEC4, int ROWS>
__device__ __forceinline__ void loadRows(float* dst, const float* src, int valid, int dh) {
  constexpr int kStride = DH + 4;
  if constexpr (VEC4) {
    constexpr int kChunks = DH / 4;
    for (int idx = threadIdx.x; idx < ROWS * kChunks; idx += kThreads) {
      const int r = idx / kChunks;
      const int c = (idx - r * kChunks) * 4;
      const bool ok = r < valid && c < dh;  // dh % 4 == 0: a chunk is all in or all out
      cpAsync16(sharedAddress(dst + r * kStride + c), ok ? src + static_cast<size_t>(r) * dh + c : src,
                ok);
    }
  } else {
    for (int idx = threadIdx.x; idx < ROWS * DH; idx += kThreads) {
      const int r = idx / DH;
      const int c = idx - r * DH;
      const bool ok = r < valid && c < dh;
      cpAsync4(sharedAddress(dst + r * kStride + c), ok ? src + static_cast<size_t>(r) * dh + c : src,
               ok);
    }
  }
}

/**
 * loadRows for bf16: the same rows of N (1 or 2) matrices are read into registers (8-byte loads of
 * 4 elements when VEC4, else one element at a time), up to 8 loads per thread in flight, then
 * stored to shared memory as float32. Synchronous: the rows are in place when it returns, and two
 * matrices read together (K and V, Q and dOut) cost one memory round trip, not two.
 */
template <int DH, bool VEC4, int ROWS, int N>
__device__ __forceinline__ void loadRowsBf16(float* dst0, const bf16* src0, float* dst1,
                                             const bf16* src1, int valid, int dh) {
  constexpr int kStride = DH + 4;
  constexpr int kWidth = VEC4 ? 4 : 1;  // elements per load
  constexpr int kChunks = DH / kWidth;  // loads per row
  constexpr int kPerMatrix = ROWS * kChunks;
  constexpr int kTotal = N * kPerMatrix;
  constexpr int kPerThread = (kTotal + kThreads - 1) / kThreads;
  constexpr int kBatch = kPerThread < 8 ? kPerThread : 8;
  using Raw = std::conditional_t<VEC4, uint2, unsigned short>;  // the bits of 4 bf16, or of 1
  // Load idx: matrix idx / kPerMatrix, then row and column of the chunk within it.
  auto offsets = [](int idx, bool& second, int& r, int& c) {
    second = N == 2 && idx >= kPerMatrix;
    const int local = second ? idx - kPerMatrix : idx;
    r = local / kChunks;
    c = (local - r * kChunks) * kWidth;
  };
  for (int base = 0; base < kTotal; base += kBatch * kThreads) {
    Raw raw[kBatch];
#pragma unroll
    for (int u = 0; u < kBatch; ++u) {
      const int idx = base + u * kThreads + threadIdx.x;
      bool second;
      int r;
      int c;
      offsets(idx, second, r, c);
      raw[u] = Raw{};  // zero bits: +0.0
      if (idx < kTotal && r < valid && c < dh) {
        const bf16* src = second ? src1 : src0;
        raw[u] = *reinterpret_cast<const Raw*>(src + static_cast<size_t>(r) * dh + c);
      }
    }
#pragma unroll
    for (int u = 0; u < kBatch; ++u) {
      const int idx = base + u * kThreads + threadIdx.x;
      bool second;
      int r;
      int c;
      offsets(idx, second, r, c);
      if (idx < kTotal) {
        float* dst = (second ? dst1 : dst0) + r * kStride + c;
        if constexpr (VEC4) {
          *reinterpret_cast<float4*>(dst) = bmojo::bf16x4ToFloat4(raw[u]);
        } else {
          *dst = __uint_as_float(static_cast<unsigned>(raw[u]) << 16);
        }
      }
    }
  }
}

/** loadRows of bf16 rows (synchronous, see loadRowsBf16). */
template <int DH, bool VEC4, int ROWS>
__device__ __forceinline__ void loadRows(float* dst, const bf16* src, int valid, int dh) {
  loadRowsBf16<DH, VEC4, ROWS, 1>(dst, src, dst, src, valid, dh);
}

/** loadRows of the same rows of two matrices of T (float or bf16): K and V, or Q and dOut. */
template <int DH, bool VEC4, int ROWS, typename T>
__device__ __forceinline__ void loadRowPair(float* dstA, const T* srcA, float* dstB, const T* srcB,
                                            int valid, int dh) {
  if constexpr (std::is_same_v<T, bf16>) {
    loadRowsBf16<DH, VEC4, ROWS, 2>(dstA, srcA, dstB, srcB, valid, dh);
  } else {
    loadRows<DH, VEC4, ROWS>(dstA, srcA, valid, dh);
    loadRows<DH, VEC4, ROWS>(dstB, srcB, valid, dh);
  }
}

/** Stages N consecutive floats (zero past `valid`). */
template <int N>
__device__ __forceinline__ void loadScalars(float* dst, const float* src, int valid) {
  for (int idx = threadIdx.x; idx < N; idx += kThreads) {
    const bool ok = idx < valid;
    cpAsync4(sharedAddress(dst + idx), ok ? src + idx : src, ok);
  }
}

__device__ __forceinline__ float negInf() { return __int_as_float(0xff800000u); }
__device__ __forceinline__ float posInf() { return __int_as_float(0x7f800000u); }

__device__ __forceinline__ float component(const float4& v, int u) {
  return u == 0 ? v.x : (u == 1 ? v.y : (u == 2 ? v.z : v.w));
}

__device__ __forceinline__ float4 ld4(const float* p) { return *reinterpret_cast<const float4*>(p); }

/**
 * The head-dim columns a thread owns: DH / 16 of them, in runs of kVec contiguous columns so that
 * the 16 tx lanes of a row read one contiguous span (conflict-free shared loads, coalesced global
 * stores). Column n of thread tx is (n / kVec) * 16 kVec + tx kVec + n % kVec.
 */
template <int DH>
struct Cols {
  static constexpr int kPer = DH / 16;
  static constexpr int kVec = DH >= 64 ? 4 : kPer;
  static constexpr int kRuns = kPer / kVec;
  __device__ static __forceinline__ int first(int tx, int run) { return run * 16 * kVec + tx * kVec; }
};

/** Reads this thread's columns of one shared row. */
template <int DH>
__device__ __forceinline__ void loadCols(const float* row, int tx, float (&out)[DH / 16]) {
  using C = Cols<DH>;
#pragma unroll
  for (int j = 0; j < C::kRuns; ++j) {
    const float* p = row + C::first(tx, j);
    if constexpr (C::kVec == 4) {
      const float4 t = ld4(p);
      out[j * 4 + 0] = t.x;
      out[j * 4 + 1] = t.y;
      out[j * 4 + 2] = t.z;
      out[j * 4 + 3] = t.w;
    } else if constexpr (C::kVec == 2) {
      const float2 t = *reinterpret_cast<const float2*>(p);
      out[j * 2 + 0] = t.x;
      out[j * 2 + 1] = t.y;
    } else {
      out[j] = p[0];
    }
  }
}

/** N consecutive shared floats (N in {1, 2, 4}, aligned to N floats). */
template <int N>
__device__ __forceinline__ void loadRun(const float* p, float (&out)[N]) {
  if constexpr (N == 4) {
    const float4 t = ld4(p);
    out[0] = t.x;
    out[1] = t.y;
    out[2] = t.z;
    out[3] = t.w;
  } else if constexpr (N == 2) {
    const float2 t = *reinterpret_cast<const float2*>(p);
    out[0] = t.x;
    out[1] = t.y;
  } else {
#pragma unroll
    for (int n = 0; n < N; ++n) out[n] = p[n];
  }
}

/** Writes mul * vals to this thread's columns (< dh) of one global row of T (float or bf16). */
template <int DH, bool VEC4, typename T>
__device__ __forceinline__ void storeCols(T* row, int tx, const float (&vals)[DH / 16], float mul,
                                          int dh) {
  using C = Cols<DH>;
#pragma unroll
  for (int j = 0; j < C::kRuns; ++j) {
    const int c0 = C::first(tx, j);
    if constexpr (VEC4 && C::kVec == 4) {
      if (c0 < dh) {
        bmojo::store4(row + c0, make_float4(vals[j * 4] * mul, vals[j * 4 + 1] * mul,
                                            vals[j * 4 + 2] * mul, vals[j * 4 + 3] * mul));
      }
    } else {
#pragma unroll
      for (int e = 0; e < C::kVec; ++e) {
        if (c0 + e < dh) row[c0 + e] = fromF32<T>(vals[j * C::kVec + e] * mul);
      }
    }
  }
}

/** Atomically adds mul * vals to this thread's columns (< dh) of one global row. */
template <int DH, bool VEC4>
__device__ __forceinline__ void atomicAddCols(float* row, int tx, const float (&vals)[DH / 16],
                                              float mul, int dh) {
  using C = Cols<DH>;
#pragma unroll
  for (int j = 0; j < C::kRuns; ++j) {
    const int c0 = C::first(tx, j);
    if constexpr (VEC4 && C::kVec == 4 && BMOJO_ATTENTION_VECTOR_ATOMICS) {
      if (c0 < dh) {
        atomicAdd(reinterpret_cast<float4*>(row + c0),
                  make_float4(vals[j * 4] * mul, vals[j * 4 + 1] * mul, vals[j * 4 + 2] * mul,
                              vals[j * 4 + 3] * mul));
      }
    } else {
#pragma unroll
      for (int e = 0; e < C::kVec; ++e) {
        if (c0 + e < dh) atomicAdd(row + c0 + e, vals[j * C::kVec + e] * mul);
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Forward
// ---------------------------------------------------------------------------------------------

template <typename T>
using ForwardParams = bmojo::AttentionForwardParams<T>;

/** Query rows per forward block. */
constexpr int kForwardRows = 64;

template <int DH, int BK>
struct ForwardConfig {
  static constexpr int kStride = DH + 4;
  static constexpr int kPStride = BK + 4;
  // Q [64][S], K [2][BK][S], V [2][BK][S], P [64][BK + 4], memory mask [16]
  static constexpr size_t kSmemFloats = static_cast<size_t>(kForwardRows) * kStride +
                                        4 * static_cast<size_t>(BK) * kStride +
                                        static_cast<size_t>(kForwardRows) * kPStride + kMemTile;
  static constexpr size_t kSmemBytes = kSmemFloats * sizeof(float);
};

/**
 * One key tile of 16 NCT keys for the forward block: S = Q Kᵀ, masking by `visible(i, c)` (row
 * 4ty + i, key column tx + 16c), the online-softmax update of (m, l, o) and O += P V. Ends with
 * every thread done reading Kt, Vt and Ps only after the caller's next __syncthreads().
 */
template <int DH, int NCT, int PS, typename Visible>
__device__ __forceinline__ void forwardTile(const float* __restrict__ Qs, const float* __restrict__ Kt,
                                            const float* __restrict__ Vt, float* __restrict__ Ps,
                                            float (&o)[4][DH / 16], float (&m)[4], float (&l)[4],
                                            float scaleLog2, int tx, int ty, Visible visible) {
  constexpr int S = DH + 4;
  constexpr int NCOL = DH / 16;
  float s[4][NCT];
#pragma unroll
  for (int i = 0; i < 4; ++i) {
#pragma unroll
    for (int c = 0; c < NCT; ++c) s[i][c] = 0.f;
  }
#pragma unroll 8
  for (int d = 0; d < DH; d += 4) {
    float4 a[4];
    float4 kv[NCT];
#pragma unroll
    for (int i = 0; i < 4; ++i) a[i] = ld4(Qs + (ty * 4 + i) * S + d);
#pragma unroll
    for (int c = 0; c < NCT; ++c) kv[c] = ld4(Kt + (tx + 16 * c) * S + d);
#pragma unroll
    for (int i = 0; i < 4; ++i) {
#pragma unroll
      for (int c = 0; c < NCT; ++c) {
        s[i][c] = fmaf(a[i].x, kv[c].x, s[i][c]);
        s[i][c] = fmaf(a[i].y, kv[c].y, s[i][c]);
        s[i][c] = fmaf(a[i].z, kv[c].z, s[i][c]);
        s[i][c] = fmaf(a[i].w, kv[c].w, s[i][c]);
      }
    }
  }

  const float kNegInf = negInf();
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    float mx = kNegInf;
#pragma unroll
    for (int c = 0; c < NCT; ++c) {
      const float t = visible(i, c) ? s[i][c] * scaleLog2 : kNegInf;
      s[i][c] = t;
      mx = fmaxf(mx, t);
    }
    // The 16 lanes of a row differ only in lane bits 0..3.
    mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 8));
    mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 4));
    mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
    mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
    const float mNew = fmaxf(m[i], mx);
    // While the row has seen no key, mNew = -Inf: use 0 as the reference so that
    // exp2(-Inf - 0) = 0 everywhere instead of exp2(-Inf + Inf) = NaN.
    const float mRef = mNew == kNegInf ? 0.f : mNew;
    const float alpha = exp2f(m[i] - mRef);
    m[i] = mNew;
    float rowSum = 0.f;
#pragma unroll
    for (int c = 0; c < NCT; ++c) {
      const float e = exp2f(s[i][c] - mRef);
      Ps[(ty * 4 + i) * PS + tx + 16 * c] = e;
      rowSum += e;
    }
    l[i] = fmaf(l[i], alpha, rowSum);
#pragma unroll
    for (int n = 0; n < NCOL; ++n) o[i][n] *= alpha;
  }
  __syncthreads();

#pragma unroll 2
  for (int k4 = 0; k4 < 16 * NCT; k4 += 4) {
    float4 pr[4];
#pragma unroll
    for (int i = 0; i < 4; ++i) pr[i] = ld4(Ps + (ty * 4 + i) * PS + k4);
#pragma unroll
    for (int u = 0; u < 4; ++u) {
      float vv[NCOL];
      loadCols<DH>(Vt + (k4 + u) * S, tx, vv);
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        const float pw = component(pr[i], u);
#pragma unroll
        for (int n = 0; n < NCOL; ++n) o[i][n] = fmaf(pw, vv[n], o[i][n]);
      }
    }
  }
}

/** T: the element type of p's buffers (float or bf16). */
template <typename T, int DH, int BK, int MINB, bool VEC4>
__global__ void __launch_bounds__(kThreads, MINB) attentionForwardKernel(const ForwardParams<T> p) {
  using Cfg = ForwardConfig<DH, BK>;
  constexpr int BQ = kForwardRows;
  constexpr int S = Cfg::kStride;
  constexpr int PS = Cfg::kPStride;
  constexpr int NC = BK / 16;
  constexpr int NCOL = DH / 16;
  const float kNegInf = negInf();

  extern __shared__ float4 smemForward[];
  float* Qs = reinterpret_cast<float*>(smemForward);
  float* Ks = Qs + BQ * S;      // [2][BK][S]
  float* Vs = Ks + 2 * BK * S;  // [2][BK][S]
  float* Ps = Vs + 2 * BK * S;  // [BQ][PS]
  int* Ms = reinterpret_cast<int*>(Ps + BQ * PS);

  const int tid = threadIdx.x;
  const int tx = tid & 15;
  const int ty = tid >> 4;
  const int dh = p.headDim;

  // Heaviest query tiles (latest positions) first.
  const int bhCount = p.batch * p.heads;
  const int queryTiles = (p.queryLength + BQ - 1) / BQ;
  const int qt = queryTiles - 1 - static_cast<int>(blockIdx.x / bhCount);
  const int bh = static_cast<int>(blockIdx.x % bhCount);
  const int b = bh / p.heads;
  const int h = bh - b * p.heads;
  const int g = h / p.group;
  const int i0 = qt * BQ;
  const int nq = min(BQ, p.queryLength - i0);
  const int pLo = p.queryOffset + i0;
  const int pHi = pLo + nq - 1;
  const size_t kvHead = static_cast<size_t>(b) * p.kvHeads + g;
  const T* kHead = p.k + kvHead * p.keyLength * dh;
  const T* vHead = p.v + kvHead * p.keyLength * dh;

  loadRows<DH, VEC4, BQ>(Qs, p.q + (static_cast<size_t>(bh) * p.queryLength + i0) * dh, nq, dh);
  cpAsyncCommit();

  // In-context key tiles (aligned to BK) covering [max(0, pLo - window + 1), pHi]; tile t of the
  // loop lives in buffer (t + 1) & 1, so that the memory tiles can use buffer 0 meanwhile.
  const bmojo::KeyTiles kt = bmojo::keyTilesFor(pLo, pHi, p.window, BK);
  auto issueKeys = [&](int t) {
    const int buf = (t + 1) & 1;
    const int k0 = (kt.first + t) * BK;
    const int valid = min(BK, p.keyLength - k0);
    loadRowPair<DH, VEC4, BK>(Ks + buf * BK * S, kHead + static_cast<size_t>(k0) * dh,
                              Vs + buf * BK * S, vHead + static_cast<size_t>(k0) * dh, valid, dh);
    cpAsyncCommit();
  };
  issueKeys(0);

  float o[4][NCOL];
  float m[4];
  float l[4];
  int pos[4];
  bool rowOk[4];
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    m[i] = kNegInf;
    l[i] = 0.f;
#pragma unroll
    for (int n = 0; n < NCOL; ++n) o[i][n] = 0.f;
    rowOk[i] = ty * 4 + i < nq;
    pos[i] = pLo + ty * 4 + i;
  }

  // Memory slots: rows see only the slots of their own chunk (a tile may span several chunks).
  if (p.hasMemory) {
    int rowChunk[4];
#pragma unroll
    for (int i = 0; i < 4; ++i) rowChunk[i] = rowOk[i] ? pos[i] / p.chunkSize : -1;
    const int cLo = pLo / p.chunkSize;
    const int cHi = pHi / p.chunkSize;
    for (int c = cLo; c <= cHi; ++c) {
      const size_t chunkRow = (kvHead * p.chunks + c) * p.slots;
      const int* maskRow = p.memMask + (static_cast<size_t>(b) * p.chunks + c) * p.slots;
      for (int s0 = 0; s0 < p.slots; s0 += kMemTile) {
        const int valid = min(kMemTile, p.slots - s0);
        loadRowPair<DH, VEC4, kMemTile>(Ks, p.memK + (chunkRow + s0) * dh, Vs,
                                        p.memV + (chunkRow + s0) * dh, valid, dh);
        cpAsyncCommit();
        if (tid < kMemTile) Ms[tid] = tid < valid ? maskRow[s0 + tid] : 0;
        cpAsyncWait<0>();
        __syncthreads();
        forwardTile<DH, 1, PS>(Qs, Ks, Vs, Ps, o, m, l, p.scaleLog2, tx, ty, [&](int i, int cc) {
          return rowChunk[i] == c && Ms[tx + 16 * cc] != 0;
        });
        __syncthreads();
      }
    }
  }

  for (int t = 0; t < kt.count; ++t) {
    awaitTile(t, kt.count, issueKeys);
    const int buf = (t + 1) & 1;
    const int k0 = (kt.first + t) * BK;
    const int window = p.window;
    forwardTile<DH, NC, PS>(Qs, Ks + buf * BK * S, Vs + buf * BK * S, Ps, o, m, l, p.scaleLog2, tx,
                            ty, [&](int i, int c) {
                              const int j = k0 + tx + 16 * c;
                              return rowOk[i] && j <= pos[i] && j > pos[i] - window;
                            });
    __syncthreads();
  }

#pragma unroll
  for (int i = 0; i < 4; ++i) {
    float sum = l[i];
    sum += __shfl_xor_sync(0xffffffffu, sum, 8);
    sum += __shfl_xor_sync(0xffffffffu, sum, 4);
    sum += __shfl_xor_sync(0xffffffffu, sum, 2);
    sum += __shfl_xor_sync(0xffffffffu, sum, 1);
    if (rowOk[i]) {
      const size_t row = static_cast<size_t>(bh) * p.queryLength + i0 + ty * 4 + i;
      // sum >= 1 once a key was seen (the maximal score contributes exp2(0) = 1).
      const bool seen = sum > 0.f;
      storeCols<DH, VEC4>(p.out + row * dh, tx, o[i], seen ? 1.f / sum : 0.f, dh);
      if (tx == 0) p.lse[row] = fromF32<T>(seen ? (m[i] + log2f(sum)) * kLn2 : kNegInf);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Backward
// ---------------------------------------------------------------------------------------------

/**
 * dvec = rowsum(dOut * out); lse2 = lse * log2(e), +Inf where lse = -Inf (both float32). One warp
 * per row. T: the element type of out, dOut and lse (float or bf16).
 */
template <typename T>
__global__ void attentionBackwardPrepKernel(const T* __restrict__ out, const T* __restrict__ dOut,
                                            const T* __restrict__ lse, float* __restrict__ lse2,
                                            float* __restrict__ dvec, int64_t rows, int dh) {
  const int lane = threadIdx.x & 31;
  const int64_t warp = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) >> 5;
  const int64_t warps = (static_cast<int64_t>(gridDim.x) * blockDim.x) >> 5;
  for (int64_t row = warp; row < rows; row += warps) {
    const T* o = out + row * dh;
    const T* d = dOut + row * dh;
    float acc = 0.f;
    for (int c = lane; c < dh; c += 32) acc = fmaf(bmojo::toF32(o[c]), bmojo::toF32(d[c]), acc);
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) acc += __shfl_xor_sync(0xffffffffu, acc, off);
    if (lane == 0) {
      dvec[row] = acc;
      const float x = bmojo::toF32(lse[row]);
      lse2[row] = x == negInf() ? posInf() : x * kLog2e;
    }
  }
}

/** dst = src rounded to bf16 (the float32 dQ sums into dq): 4 at a time when `vec4` (dst aligned
 *  to 8 bytes; src is scratch, always aligned), then the n % 4 last one by one. */
__global__ void roundToBf16Kernel(const float* __restrict__ src, bf16* __restrict__ dst, int64_t n,
                                  bool vec4) {
  const int64_t first = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  const int64_t vecEnd = vec4 ? n / 4 * 4 : 0;
  for (int64_t i = first * 4; i < vecEnd; i += step * 4) {
    bmojo::store4(dst + i, bmojo::load4(src + i));
  }
  for (int64_t i = vecEnd + first; i < n; i += step) dst[i] = fromF32<bf16>(src[i]);
}

/** T is the element type of the inputs and of dk, dv, dMemK, dMemV (float or bf16). */
template <typename T>
struct BackwardParams {
  const T* q;
  const T* k;
  const T* v;
  const T* dOut;
  const float* lse2;
  const float* dvec;
  const T* memK;
  const T* memV;
  const int* memMask;
  float* dq;  // dq itself for float; for bf16 a float32 scratch rounded into dq at the end
  T* dk;
  T* dv;
  T* dMemK;
  T* dMemV;
  int batch, heads, kvHeads, group, queryLength, keyLength, headDim, window, queryOffset;
  int chunks, slots, chunkSize;
  float scaleLog2;
  float scale;
};

template <int DH, int BQ, int BK>
struct BackwardConfig {
  static constexpr int kStride = DH + 4;
  static constexpr int kPStride = BK + 4;
  // K, V [BK][S]; Q, dOut [BQ][S]; P, dS [BQ][BK + 4]; lse2, dvec [BQ]; mask [BK]
  static constexpr size_t kSmemFloats = 2 * static_cast<size_t>(BK) * kStride +
                                        2 * static_cast<size_t>(BQ) * kStride +
                                        2 * static_cast<size_t>(BQ) * kPStride + 2 * BQ + BK;
  static constexpr size_t kSmemBytes = kSmemFloats * sizeof(float);
};

/**
 * dK, dV of one tile of BK keys (MEM: BK slots of one memory chunk) of kv head g, over every
 * (query head of the group, tile of BQ queries that can see those keys); dQ by atomics.
 * Thread (ty, tx): score rows RQ ty.., key columns tx + 16c; dK/dV rows (keys) RK ty..; head-dim
 * columns by Cols<DH>. T: the element type of p's buffers (float or bf16).
 */
template <typename T, int DH, int BQ, int BK, int MINB, bool VEC4, bool MEM>
__global__ void __launch_bounds__(kThreads, MINB)
    attentionBackwardKvKernel(const BackwardParams<T> p) {
  using Cfg = BackwardConfig<DH, BQ, BK>;
  constexpr int S = Cfg::kStride;
  constexpr int PS = Cfg::kPStride;
  constexpr int RQ = BQ / 16;
  constexpr int NC = BK / 16;
  constexpr int RK = BK / 16;
  constexpr int NCOL = DH / 16;

  extern __shared__ float4 smemBackward[];
  float* Ks = reinterpret_cast<float*>(smemBackward);
  float* Vs = Ks + BK * S;
  float* Qs = Vs + BK * S;
  float* dOs = Qs + BQ * S;
  float* Ps = dOs + BQ * S;
  float* dSs = Ps + BQ * PS;
  float* Ls = dSs + BQ * PS;
  float* Ds = Ls + BQ;
  int* Ms = reinterpret_cast<int*>(Ds + BQ);

  const int tid = threadIdx.x;
  const int tx = tid & 15;
  const int ty = tid >> 4;
  const int dh = p.headDim;

  const int bgCount = p.batch * p.kvHeads;
  const int bg = static_cast<int>(blockIdx.x % bgCount);
  const int tile = static_cast<int>(blockIdx.x / bgCount);
  const int b = bg / p.kvHeads;
  const int g = bg - b * p.kvHeads;

  // The keys of this block (rows [0, nk) of the tile) and the query positions [first, last] that see
  // any of them.
  int k0 = 0;
  int nk;
  size_t keyRow;  // first key row in k/v (or memK/memV) rows of Dh
  long long first;
  long long last;
  const long long qFirst = p.queryOffset;
  const long long qLast = static_cast<long long>(p.queryOffset) + p.queryLength - 1;
  if constexpr (MEM) {
    const int slotTiles = (p.slots + BK - 1) / BK;
    const int c = tile / slotTiles;
    const int s0 = (tile - c * slotTiles) * BK;
    nk = min(BK, p.slots - s0);
    keyRow = (static_cast<size_t>(bg) * p.chunks + c) * p.slots + s0;
    first = max(static_cast<long long>(c) * p.chunkSize, qFirst);
    last = min((static_cast<long long>(c) + 1) * p.chunkSize - 1, qLast);
    const int* maskRow = p.memMask + (static_cast<size_t>(b) * p.chunks + c) * p.slots + s0;
    if (tid < BK) Ms[tid] = tid < nk ? maskRow[tid] : 0;
  } else {
    k0 = tile * BK;
    nk = min(BK, p.keyLength - k0);
    keyRow = static_cast<size_t>(bg) * p.keyLength + k0;
    // Query p sees key j iff p - window < j <= p.
    first = max(static_cast<long long>(k0), qFirst);
    last = min(static_cast<long long>(k0) + nk - 1 + p.window - 1, qLast);
  }
  const T* kSrc = (MEM ? p.memK : p.k) + keyRow * dh;
  const T* vSrc = (MEM ? p.memV : p.v) + keyRow * dh;
  T* dkDst = (MEM ? p.dMemK : p.dk) + keyRow * dh;
  T* dvDst = (MEM ? p.dMemV : p.dv) + keyRow * dh;

  loadRowPair<DH, VEC4, BK>(Ks, kSrc, Vs, vSrc, nk, dh);
  cpAsyncCommit();

  const bmojo::QueryTiles qt(first, last, qFirst, BQ, p.group);
  const int iterations = qt.iterations;
  auto rowBase = [&](int it, int& i0, int& nq) -> size_t {
    return qt.row(it, BQ, b, g, p.group, p.heads, p.queryLength, i0, nq);
  };
  auto issueQueries = [&](int it) {
    int i0;
    int nq;
    const size_t rb = rowBase(it, i0, nq);
    loadRowPair<DH, VEC4, BQ>(Qs, p.q + rb * dh, dOs, p.dOut + rb * dh, nq, dh);
    loadScalars<BQ>(Ls, p.lse2 + rb, nq);
    loadScalars<BQ>(Ds, p.dvec + rb, nq);
    cpAsyncCommit();
  };

  float accK[RK][NCOL];
  float accV[RK][NCOL];
#pragma unroll
  for (int i = 0; i < RK; ++i) {
#pragma unroll
    for (int n = 0; n < NCOL; ++n) {
      accK[i][n] = 0.f;
      accV[i][n] = 0.f;
    }
  }

  if (iterations > 0) issueQueries(0);
  for (int it = 0; it < iterations; ++it) {
    int i0;
    int nq;
    const size_t rb = rowBase(it, i0, nq);
    cpAsyncWait<0>();
    __syncthreads();

    // S = Q Kᵀ and dP = dOut Vᵀ, RQ x NC per thread.
    float sc[RQ][NC];
    float dp[RQ][NC];
#pragma unroll
    for (int i = 0; i < RQ; ++i) {
#pragma unroll
      for (int c = 0; c < NC; ++c) {
        sc[i][c] = 0.f;
        dp[i][c] = 0.f;
      }
    }
    // Not unrolled: unrolling spills, and one step already issues RQ + NC independent loads.
#pragma unroll 1
    for (int d = 0; d < DH; d += 4) {
      float4 a[RQ];
      float4 kv[NC];
#pragma unroll
      for (int i = 0; i < RQ; ++i) a[i] = ld4(Qs + (ty * RQ + i) * S + d);
#pragma unroll
      for (int c = 0; c < NC; ++c) kv[c] = ld4(Ks + (tx + 16 * c) * S + d);
#pragma unroll
      for (int i = 0; i < RQ; ++i) {
#pragma unroll
        for (int c = 0; c < NC; ++c) {
          sc[i][c] = fmaf(a[i].x, kv[c].x, sc[i][c]);
          sc[i][c] = fmaf(a[i].y, kv[c].y, sc[i][c]);
          sc[i][c] = fmaf(a[i].z, kv[c].z, sc[i][c]);
          sc[i][c] = fmaf(a[i].w, kv[c].w, sc[i][c]);
        }
      }
    }
#pragma unroll 1
    for (int d = 0; d < DH; d += 4) {
      float4 a[RQ];
      float4 vv[NC];
#pragma unroll
      for (int i = 0; i < RQ; ++i) a[i] = ld4(dOs + (ty * RQ + i) * S + d);
#pragma unroll
      for (int c = 0; c < NC; ++c) vv[c] = ld4(Vs + (tx + 16 * c) * S + d);
#pragma unroll
      for (int i = 0; i < RQ; ++i) {
#pragma unroll
        for (int c = 0; c < NC; ++c) {
          dp[i][c] = fmaf(a[i].x, vv[c].x, dp[i][c]);
          dp[i][c] = fmaf(a[i].y, vv[c].y, dp[i][c]);
          dp[i][c] = fmaf(a[i].z, vv[c].z, dp[i][c]);
          dp[i][c] = fmaf(a[i].w, vv[c].w, dp[i][c]);
        }
      }
    }

    // P = exp2(S scale log2(e) - lse2), dS = P (dP - D); 0 where not visible.
#pragma unroll
    for (int i = 0; i < RQ; ++i) {
      const int r = ty * RQ + i;
      const float lseRow = Ls[r];
      const float dRow = Ds[r];
      const int pos = p.queryOffset + i0 + r;
#pragma unroll
      for (int c = 0; c < NC; ++c) {
        const int key = tx + 16 * c;
        bool visible;
        if constexpr (MEM) {
          visible = r < nq && Ms[key] != 0;
        } else {
          const int j = k0 + key;
          visible = r < nq && key < nk && j <= pos && j > pos - p.window;
        }
        const float pr = visible ? exp2f(fmaf(sc[i][c], p.scaleLog2, -lseRow)) : 0.f;
        const float ds = visible ? pr * (dp[i][c] - dRow) : 0.f;
        Ps[r * PS + key] = pr;
        dSs[r * PS + key] = ds;
      }
    }
    __syncthreads();

    // dV += Pᵀ dOut, dK += dSᵀ Q (scaled at the end), over the nq real rows.
    for (int qq = 0; qq < nq; ++qq) {
      float pv[RK];
      float sv[RK];
      loadRun<RK>(Ps + qq * PS + ty * RK, pv);
      loadRun<RK>(dSs + qq * PS + ty * RK, sv);
      float dov[NCOL];
      float qv[NCOL];
      loadCols<DH>(dOs + qq * S, tx, dov);
      loadCols<DH>(Qs + qq * S, tx, qv);
#pragma unroll
      for (int i = 0; i < RK; ++i) {
#pragma unroll
        for (int n = 0; n < NCOL; ++n) {
          accV[i][n] = fmaf(pv[i], dov[n], accV[i][n]);
          accK[i][n] = fmaf(sv[i], qv[n], accK[i][n]);
        }
      }
    }
    __syncthreads();

    // Q, dOut, lse2, dvec are free: fetch the next tile while dQ is computed from dS and K.
    if (it + 1 < iterations) issueQueries(it + 1);

    float dqa[RQ][NCOL];
#pragma unroll
    for (int i = 0; i < RQ; ++i) {
#pragma unroll
      for (int n = 0; n < NCOL; ++n) dqa[i][n] = 0.f;
    }
#pragma unroll 2
    for (int k4 = 0; k4 < BK; k4 += 4) {
      float4 sr[RQ];
#pragma unroll
      for (int i = 0; i < RQ; ++i) sr[i] = ld4(dSs + (ty * RQ + i) * PS + k4);
#pragma unroll
      for (int u = 0; u < 4; ++u) {
        float kv[NCOL];
        loadCols<DH>(Ks + (k4 + u) * S, tx, kv);
#pragma unroll
        for (int i = 0; i < RQ; ++i) {
          const float w = component(sr[i], u);
#pragma unroll
          for (int n = 0; n < NCOL; ++n) dqa[i][n] = fmaf(w, kv[n], dqa[i][n]);
        }
      }
    }
#pragma unroll
    for (int i = 0; i < RQ; ++i) {
      const int r = ty * RQ + i;
      if (r < nq) atomicAddCols<DH, VEC4>(p.dq + (rb + r) * dh, tx, dqa[i], p.scale, dh);
    }
  }

  // Every key row of the tile is written (zeros when no query sees it).
#pragma unroll
  for (int i = 0; i < RK; ++i) {
    const int key = ty * RK + i;
    if (key < nk) {
      storeCols<DH, VEC4>(dkDst + static_cast<size_t>(key) * dh, tx, accK[i], p.scale, dh);
      storeCols<DH, VEC4>(dvDst + static_cast<size_t>(key) * dh, tx, accV[i], 1.f, dh);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Host side
// ---------------------------------------------------------------------------------------------

/** The shape arguments of both kernels, validated. */
struct Shape {
  int batch, heads, kvHeads, group, queryLength, keyLength, headDim, window, queryOffset;
  float scale;
  bool hasMemory = false;
  int64_t memK = -1, memV = -1, mask = -1;
  int chunks = 0, slots = 0, chunkSize = 1;
};

[[noreturn]] void rangeError(const char* kernel, const std::string& msg) {
  throw std::range_error(std::string(kernel) + ": " + msg);
}

int readDim(bmojo::Args& a, const char* kernel, const char* name) {
  const double x = a.num();
  if (!(x >= 0) || std::floor(x) != x || x > 2147483647.0) {
    rangeError(kernel, std::string(name) + " must be an integer in [0, 2^31), got " + std::to_string(x));
  }
  return static_cast<int>(x);
}

/** Reads SHAPE and MEMORY (without the backward's dMemK/dMemV) and validates them. */
Shape readShape(bmojo::Args& a, const char* kernel) {
  Shape s;
  s.batch = readDim(a, kernel, "batch");
  s.heads = readDim(a, kernel, "heads");
  s.kvHeads = readDim(a, kernel, "kvHeads");
  s.queryLength = readDim(a, kernel, "queryLength");
  s.keyLength = readDim(a, kernel, "keyLength");
  s.headDim = readDim(a, kernel, "headDim");
  const double window = a.num();
  s.queryOffset = readDim(a, kernel, "queryOffset");
  s.scale = a.f32();
  s.hasMemory = a.flag();
  if (s.hasMemory) {
    s.memK = a.i64();
    s.memV = a.i64();
    s.mask = a.i64();
    s.chunks = readDim(a, kernel, "memory.chunks");
    s.slots = readDim(a, kernel, "memory.slots");
    s.chunkSize = readDim(a, kernel, "memory.chunkSize");
  }

  if (s.kvHeads < 1 || s.heads % s.kvHeads != 0) {
    rangeError(kernel, "heads (" + std::to_string(s.heads) + ") must be a multiple of kvHeads (" +
                           std::to_string(s.kvHeads) + "), kvHeads >= 1");
  }
  s.group = s.heads / s.kvHeads;
  if (static_cast<int64_t>(s.queryOffset) + s.queryLength > s.keyLength) {
    rangeError(kernel, "queryOffset (" + std::to_string(s.queryOffset) + ") + queryLength (" +
                           std::to_string(s.queryLength) + ") exceeds keyLength (" +
                           std::to_string(s.keyLength) + ")");
  }
  const bool infinite = std::isinf(window) && window > 0;
  if (!infinite && (!(window >= 1) || std::floor(window) != window)) {
    rangeError(kernel, "window must be an integer >= 1 (or Infinity), got " + std::to_string(window));
  }
  // A window reaching past the first key changes nothing.
  const int maxWindow = std::max(s.keyLength, 1);
  s.window = infinite || window >= maxWindow ? maxWindow : static_cast<int>(window);
  if (s.hasMemory) {
    if (s.chunkSize < 1) rangeError(kernel, "memory.chunkSize must be an integer >= 1");
    if (s.queryLength > 0) {
      const int64_t lastChunk = (static_cast<int64_t>(s.queryOffset) + s.queryLength - 1) / s.chunkSize;
      if (lastChunk >= s.chunks) {
        rangeError(kernel, "the last query reads memory chunk " + std::to_string(lastChunk) +
                               " but memory.chunks is " + std::to_string(s.chunks));
      }
    }
  }
  if (s.headDim > kMaxHeadDim) {
    throw std::invalid_argument(std::string(kernel) + ": the cuda attention supports headDim <= " +
                                std::to_string(kMaxHeadDim) + ", got " + std::to_string(s.headDim));
  }
  return s;
}

template <typename T>
T* buffer(int64_t id, int64_t elements, const char* kernel, const char* name) {
  void* ptr = bmojo::devicePtr(id);
  const size_t need = static_cast<size_t>(elements) * sizeof(T);
  if (bmojo::bufferBytes(id) < need) {
    throw std::invalid_argument(std::string(kernel) + ": buffer " + name + " holds " +
                                std::to_string(bmojo::bufferBytes(id)) + " bytes, needs " +
                                std::to_string(need));
  }
  return static_cast<T*>(ptr);
}

unsigned gridSize(int64_t blocks, const char* kernel) {
  if (blocks > 2147483647LL) rangeError(kernel, "problem too large for one launch");
  return static_cast<unsigned>(blocks);
}

/** Sets the dynamic shared memory limit (and the carveout) of a kernel. */
template <typename Kernel>
void configure(Kernel kernel, size_t smemBytes, const char* what) {
  bmojo::check(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                    static_cast<int>(smemBytes)),
               what);
  bmojo::check(cudaFuncSetAttribute(kernel, cudaFuncAttributePreferredSharedMemoryCarveout,
                                    cudaSharedmemCarveoutMaxShared),
               what);
}

template <typename T, int DH, int BK, int MINB, bool VEC4>
void launchForward(const ForwardParams<T>& p) {
  using Cfg = ForwardConfig<DH, BK>;
  auto kernel = attentionForwardKernel<T, DH, BK, MINB, VEC4>;
  // Once per instantiation (a function-local static of this template).
  static const bool configured =
      (configure(kernel, Cfg::kSmemBytes, "attention: cudaFuncSetAttribute"), true);
  (void)configured;
  const int64_t tiles = (static_cast<int64_t>(p.queryLength) + kForwardRows - 1) / kForwardRows;
  const unsigned grid = gridSize(tiles * p.batch * p.heads, "attention");
  kernel<<<grid, kThreads, Cfg::kSmemBytes, bmojo::stream()>>>(p);
  bmojo::checkLaunch("attention");
}

template <typename T, int DH, int BK, int MINB>
void launchForward(const ForwardParams<T>& p, bool vec4) {
  if (vec4) {
    launchForward<T, DH, BK, MINB, true>(p);
  } else {
    launchForward<T, DH, BK, MINB, false>(p);
  }
}

/** Whether the bf16 forward can run on tensor cores: head dim 64 or 128 and every row of q, k, v,
 *  out (and of the memory) 16-byte aligned, i.e. aligned base pointers. */
bool mmaForwardEligible(const ForwardParams<bf16>& p) {
  return (p.headDim == 64 || p.headDim == 128) && bmojo::aligned16(p.q) &&
         bmojo::aligned16(p.k) && bmojo::aligned16(p.v) && bmojo::aligned16(p.out) &&
         (!p.hasMemory || (bmojo::aligned16(p.memK) && bmojo::aligned16(p.memV)));
}

/** The tensor-core bf16 forward (attention_mma.cuh) for head dim DH. */
template <int DH>
void launchForwardMma(const ForwardParams<bf16>& p) {
  namespace mma = bmojo::attention_mma;
  using Cfg = mma::Config<DH>;
  auto kernel = mma::attentionForwardMmaKernel<DH>;
  static const bool configured =
      (configure(kernel, Cfg::kSmemBytes, "attention: cudaFuncSetAttribute"), true);
  (void)configured;
  const int64_t tiles = (static_cast<int64_t>(p.queryLength) + mma::kRows - 1) / mma::kRows;
  const unsigned grid = gridSize(tiles * p.batch * p.heads, "attention");
  kernel<<<grid, mma::kThreads, Cfg::kSmemBytes, bmojo::stream()>>>(p);
  bmojo::checkLaunch("attention");
}

template <typename T, int DH, int BQ, int BK, int MINB, bool VEC4, bool MEM>
void launchBackwardKv(const BackwardParams<T>& p) {
  using Cfg = BackwardConfig<DH, BQ, BK>;
  auto kernel = attentionBackwardKvKernel<T, DH, BQ, BK, MINB, VEC4, MEM>;
  static const bool configured =
      (configure(kernel, Cfg::kSmemBytes, "attentionBackward: cudaFuncSetAttribute"), true);
  (void)configured;
  const int64_t tiles = MEM ? static_cast<int64_t>(p.chunks) * ((p.slots + BK - 1) / BK)
                            : (static_cast<int64_t>(p.keyLength) + BK - 1) / BK;
  const int64_t blocks = tiles * p.batch * p.kvHeads;
  if (blocks == 0) return;
  const unsigned grid = gridSize(blocks, "attentionBackward");
  kernel<<<grid, kThreads, Cfg::kSmemBytes, bmojo::stream()>>>(p);
  bmojo::checkLaunch(MEM ? "attentionBackward (memory slots)" : "attentionBackward (keys)");
}

template <typename T, int DH, int BQ, int BK, int MINB>
void launchBackward(const BackwardParams<T>& p, bool vec4, bool memory) {
  if (vec4) {
    launchBackwardKv<T, DH, BQ, BK, MINB, true, false>(p);
    if (memory) launchBackwardKv<T, DH, BQ, kMemTile, MINB, true, true>(p);
  } else {
    launchBackwardKv<T, DH, BQ, BK, MINB, false, false>(p);
    if (memory) launchBackwardKv<T, DH, BQ, kMemTile, MINB, false, true>(p);
  }
}

/** Whether the bf16 backward's in-context key kernel can run on tensor cores: head dim 64 or
 *  128 and q, k, v, dOut, dk, dv 16-byte aligned (the memory slots stay on the SIMT kernel). */
bool mmaBackwardEligible(const BackwardParams<bf16>& p) {
  return (p.headDim == 64 || p.headDim == 128) && bmojo::aligned16(p.q) &&
         bmojo::aligned16(p.k) && bmojo::aligned16(p.v) && bmojo::aligned16(p.dOut) &&
         bmojo::aligned16(p.dk) && bmojo::aligned16(p.dv);
}

/** The tensor-core bf16 backward key kernel (attention_mma_bwd.cuh) for head dim DH, then the
 *  SIMT memory-slot kernel when there is memory. */
template <int DH>
void launchBackwardMma(const BackwardParams<bf16>& p, bool vec4, bool memory) {
  namespace mma = bmojo::attention_mma;
  using Cfg = mma::BwdConfig<DH>;
  auto kernel = mma::attentionBackwardMmaKernel<DH, BackwardParams<bf16>>;
  static const bool configured =
      (configure(kernel, Cfg::kSmemBytes, "attentionBackward: cudaFuncSetAttribute"), true);
  (void)configured;
  const int64_t tiles = (static_cast<int64_t>(p.keyLength) + mma::kKeys - 1) / mma::kKeys;
  const int64_t blocks = tiles * p.batch * p.kvHeads;
  if (blocks > 0) {
    const unsigned grid = gridSize(blocks, "attentionBackward");
    kernel<<<grid, mma::kThreads, Cfg::kSmemBytes, bmojo::stream()>>>(p);
    bmojo::checkLaunch("attentionBackward (keys, tensor cores)");
  }
  if (!memory) return;
  // The memory slots: the SIMT kernel's instantiations of launchBackward for this head dim.
  constexpr int BQ = DH <= 64 ? 64 : 32;
  if (vec4) {
    launchBackwardKv<bf16, DH, BQ, kMemTile, 2, true, true>(p);
  } else {
    launchBackwardKv<bf16, DH, BQ, kMemTile, 2, false, true>(p);
  }
}

using bmojo::alignedVec4;
using bmojo::Scratch;

/** kernel_attention after the dtype; T is the element type (float or bf16). */
template <typename T>
void attentionForward(bmojo::Args& a) {
  constexpr const char* kName = "attention";
  const int64_t qId = a.i64();
  const int64_t kId = a.i64();
  const int64_t vId = a.i64();
  const int64_t outId = a.i64();
  const int64_t lseId = a.i64();
  const Shape s = readShape(a, kName);

  const int64_t rows = static_cast<int64_t>(s.batch) * s.heads * s.queryLength;
  const int64_t kvRows = static_cast<int64_t>(s.batch) * s.kvHeads * s.keyLength;
  const int64_t memRows = static_cast<int64_t>(s.batch) * s.kvHeads * s.chunks * s.slots;
  ForwardParams<T> p{};
  p.q = buffer<const T>(qId, rows * s.headDim, kName, "q");
  p.k = buffer<const T>(kId, kvRows * s.headDim, kName, "k");
  p.v = buffer<const T>(vId, kvRows * s.headDim, kName, "v");
  p.out = buffer<T>(outId, rows * s.headDim, kName, "out");
  p.lse = buffer<T>(lseId, rows, kName, "lse");
  if (s.hasMemory) {
    p.memK = buffer<const T>(s.memK, memRows * s.headDim, kName, "memory.k");
    p.memV = buffer<const T>(s.memV, memRows * s.headDim, kName, "memory.v");
    p.memMask = buffer<const int>(s.mask, static_cast<int64_t>(s.batch) * s.chunks * s.slots, kName,
                                  "memory.mask");
  }
  if (rows == 0) return;

  p.batch = s.batch;
  p.heads = s.heads;
  p.kvHeads = s.kvHeads;
  p.group = s.group;
  p.queryLength = s.queryLength;
  p.keyLength = s.keyLength;
  p.headDim = s.headDim;
  p.window = s.window;
  p.queryOffset = s.queryOffset;
  p.hasMemory = s.hasMemory && s.slots > 0 ? 1 : 0;
  p.chunks = s.chunks;
  p.slots = s.slots;
  p.chunkSize = s.chunkSize;
  p.scaleLog2 = static_cast<float>(static_cast<double>(s.scale) * 1.4426950408889634);

  const bool vec4 = s.headDim % 4 == 0 && alignedVec4(p.q) && alignedVec4(p.k) &&
                    alignedVec4(p.v) && alignedVec4(p.out) &&
                    (!p.hasMemory || (alignedVec4(p.memK) && alignedVec4(p.memV)));
  // One query per head (decoding): the split-key kernels fill the GPU where the tiled kernel
  // would run one block per head.
  if (bmojo::attentionDecode(p, vec4)) return;
  const int dh = s.headDim;
  if constexpr (std::is_same_v<T, bf16>) {
    if (mmaForwardEligible(p)) {
      if (dh == 64) {
        launchForwardMma<64>(p);
      } else {
        launchForwardMma<128>(p);
      }
      return;
    }
  }
  if (dh <= 16) {
    launchForward<T, 16, 64, 2>(p, vec4);
  } else if (dh <= 32) {
    launchForward<T, 32, 64, 2>(p, vec4);
  } else if (dh <= 64) {
    launchForward<T, 64, 64, 2>(p, vec4);
  } else if (dh <= 128) {
    launchForward<T, 128, 32, 2>(p, vec4);
  } else {
    launchForward<T, 256, 32, 1>(p, vec4);
  }
}

/** kernel_attentionBackward after the dtype; T is the element type (float or bf16). */
template <typename T>
void attentionBackward(bmojo::Args& a) {
  constexpr const char* kName = "attentionBackward";
  constexpr bool kBf16 = std::is_same_v<T, bf16>;
  const int64_t qId = a.i64();
  const int64_t kId = a.i64();
  const int64_t vId = a.i64();
  const int64_t outId = a.i64();
  const int64_t lseId = a.i64();
  const int64_t dOutId = a.i64();
  const int64_t dqId = a.i64();
  const int64_t dkId = a.i64();
  const int64_t dvId = a.i64();
  const Shape s = readShape(a, kName);
  int64_t dMemKId = -1;
  int64_t dMemVId = -1;
  if (s.hasMemory) {
    dMemKId = a.i64();
    dMemVId = a.i64();
    if (dMemKId < 0 || dMemVId < 0) {
      throw std::invalid_argument(
          "attentionBackward: memory is given, so dMemK and dMemV must be buffers, not null");
    }
  }

  const int dh = s.headDim;
  const int64_t rows = static_cast<int64_t>(s.batch) * s.heads * s.queryLength;
  const int64_t kvRows = static_cast<int64_t>(s.batch) * s.kvHeads * s.keyLength;
  const int64_t memRows = static_cast<int64_t>(s.batch) * s.kvHeads * s.chunks * s.slots;
  BackwardParams<T> p{};
  p.q = buffer<const T>(qId, rows * dh, kName, "q");
  p.k = buffer<const T>(kId, kvRows * dh, kName, "k");
  p.v = buffer<const T>(vId, kvRows * dh, kName, "v");
  const T* out = buffer<const T>(outId, rows * dh, kName, "out");
  const T* lse = buffer<const T>(lseId, rows, kName, "lse");
  p.dOut = buffer<const T>(dOutId, rows * dh, kName, "dOut");
  T* dq = buffer<T>(dqId, rows * dh, kName, "dq");
  p.dk = buffer<T>(dkId, kvRows * dh, kName, "dk");
  p.dv = buffer<T>(dvId, kvRows * dh, kName, "dv");
  if (s.hasMemory) {
    p.memK = buffer<const T>(s.memK, memRows * dh, kName, "memory.k");
    p.memV = buffer<const T>(s.memV, memRows * dh, kName, "memory.v");
    p.memMask = buffer<const int>(s.mask, static_cast<int64_t>(s.batch) * s.chunks * s.slots, kName,
                                  "memory.mask");
    p.dMemK = buffer<T>(dMemKId, memRows * dh, kName, "dMemK");
    p.dMemV = buffer<T>(dMemVId, memRows * dh, kName, "dMemV");
  }
  // Every gradient has dh as its last dim: nothing to write.
  if (dh == 0) return;

  p.batch = s.batch;
  p.heads = s.heads;
  p.kvHeads = s.kvHeads;
  p.group = s.group;
  p.queryLength = s.queryLength;
  p.keyLength = s.keyLength;
  p.headDim = dh;
  p.window = s.window;
  p.queryOffset = s.queryOffset;
  p.chunks = s.chunks;
  p.slots = s.slots;
  p.chunkSize = s.chunkSize;
  p.scaleLog2 = static_cast<float>(static_cast<double>(s.scale) * 1.4426950408889634);
  p.scale = s.scale;
  const bool memory = s.hasMemory && memRows > 0;

  cudaStream_t stream = bmojo::stream();
  const size_t dqBytes = static_cast<size_t>(rows) * dh * sizeof(float);
  // lse2 and dvec, [rows] each.
  Scratch scratch(static_cast<size_t>(rows) * 2 * sizeof(float));
  // bf16: the float32 dQ sums, rounded into dq at the end.
  Scratch dqSum(kBf16 ? dqBytes : 0);
  if constexpr (kBf16) {
    p.dq = dqSum.as<float>();
  } else {
    p.dq = dq;
  }
  if (rows > 0) {
    float* lse2 = static_cast<float*>(scratch.ptr);
    float* dvec = lse2 + rows;
    p.lse2 = lse2;
    p.dvec = dvec;
    const unsigned blocks = bmojo::blocksFor(rows * 32, kThreads);
    attentionBackwardPrepKernel<T><<<blocks, kThreads, 0, stream>>>(out, p.dOut, lse, lse2, dvec,
                                                                     rows, dh);
    bmojo::checkLaunch("attentionBackward (prep)");
    bmojo::check(cudaMemsetAsync(p.dq, 0, dqBytes, stream), "attentionBackward: zeroing dq");
  }

  const bool vec4 = dh % 4 == 0 && alignedVec4(p.q) && alignedVec4(p.k) && alignedVec4(p.v) &&
                    alignedVec4(p.dOut) && alignedVec4(p.dq) && alignedVec4(p.dk) &&
                    alignedVec4(p.dv) &&
                    (!memory || (alignedVec4(p.memK) && alignedVec4(p.memV) &&
                                 alignedVec4(p.dMemK) && alignedVec4(p.dMemV)));
  // bf16, head dim 64 or 128, aligned: the tensor-core key kernel (then the SIMT memory slots).
  bool launched = false;
  if constexpr (kBf16) {
    if (mmaBackwardEligible(p)) {
      if (dh == 64) {
        launchBackwardMma<64>(p, vec4, memory);
      } else {
        launchBackwardMma<128>(p, vec4, memory);
      }
      launched = true;
    }
  }
  if (!launched) {
    if (dh <= 16) {
      launchBackward<T, 16, 64, 64, 2>(p, vec4, memory);
    } else if (dh <= 32) {
      launchBackward<T, 32, 64, 64, 2>(p, vec4, memory);
    } else if (dh <= 64) {
      launchBackward<T, 64, 64, 64, 2>(p, vec4, memory);
    } else if (dh <= 128) {
      launchBackward<T, 128, 32, 32, 2>(p, vec4, memory);
    } else {
      launchBackward<T, 256, 32, 32, 1>(p, vec4, memory);
    }
  }

  if constexpr (kBf16) {
    const int64_t n = rows * dh;
    if (n > 0) {
      const bool vec = alignedVec4(dq);
      const unsigned blocks = bmojo::blocksFor(vec ? (n + 3) / 4 : n, kThreads);
      roundToBf16Kernel<<<blocks, kThreads, 0, stream>>>(p.dq, dq, n, vec);
      bmojo::checkLaunch("attentionBackward (dq)");
    }
  }
}

}  // namespace

void kernel_attention(bmojo::Args& a) {
  bmojo::withFloatElem(bmojo::readFloatDType(a, "attention"),
                       [&](auto e) { attentionForward<typename decltype(e)::type>(a); });
}

void kernel_attentionBackward(bmojo::Args& a) {
  bmojo::withFloatElem(bmojo::readFloatDType(a, "attentionBackward"),
                       [&](auto e) { attentionBackward<typename decltype(e)::type>(a); });
}
