// The bfloat16 attention forward on tensor cores (warp-level mma.sync m16n8k16, bf16 inputs,
// float32 accumulators), used by attention.cu for head dims 64 and 128 when every row is 16-byte
// aligned; the masking, the online softmax and the outputs are those of its SIMT forward kernel.
//
// Design (FlashAttention-2): one block of kWarps = 4 warps per (b, h, tile of kRows = 64 query
// rows), warp w owning rows 16w..16w+15. Q, K and V are staged in shared memory as bf16 with
// cp.async (rows padded by 16 bytes, so the 8 row addresses of an ldmatrix phase fall in distinct
// banks); each warp keeps its Q fragments in registers. Tiles of kKeys = 64 keys, K/V
// double-buffered: the memory slots of the chunks the block's queries fall in first (per-row
// chunk test; each warp reads the tile's int32 mask into a 64-bit ballot), then the key tiles of
// the window range. Per tile and warp: S = Q·Kᵀ (ldmatrix of K rows as the col-major B operand),
// masking, the online softmax in the log2 domain (the row max reduced over the 4 lanes of a
// fragment row; the row sum kept per lane and reduced once at the end), P rounded to bf16 in
// registers (the C fragments of S are the A fragments of P·V) and O += P·V (ldmatrix.trans of V
// rows). A warp skips a tile none of its rows can see, the 16-key column groups past its last
// visible key, and the masking of a tile all its rows see whole. At the end O / rowsum is rounded
// to bf16 once, staged through the warp's Q rows and written with 16-byte stores;
// lse = (m + log2 rowsum) · ln 2, -Inf for a row that saw no key.
#pragma once

#include <cuda_bf16.h>

#include <cstddef>

#include "attention_decode.cuh"
#include "attention_tiles.cuh"
#include "common.cuh"

namespace bmojo {
namespace attention_mma {

constexpr int kWarps = 4;
constexpr int kThreads = 32 * kWarps;
/** Query rows per block: 16 per warp (the M of one mma). */
constexpr int kRows = 16 * kWarps;
/** Keys (or memory slots) per tile. */
constexpr int kKeys = 64;
constexpr float kLn2 = 0.6931471805599453f;

template <int DH>
struct Config {
  /** bf16 elements per shared row: DH plus 16 bytes of padding. */
  static constexpr int kStride = DH + 8;
  static constexpr int kTile = kKeys * kStride;
  // Q [kRows][S], K [2][kKeys][S], V [2][kKeys][S] (bf16): 46 KB for DH = 64, 87 KB for 128.
  static constexpr size_t kSmemBytes =
      (static_cast<size_t>(kRows) * kStride + 4 * static_cast<size_t>(kTile)) * sizeof(bf16);
  /** Blocks per SM the registers are budgeted for: 3 leaves DH = 64 up to 168 registers (4 would
   *  cap it at 128 and spill), 2 is what shared memory allows for DH = 128. */
  static constexpr int kMinBlocks = DH <= 64 ? 3 : 2;
};

/** Four 8x8 bf16 matrices; lanes 8i..8i+7 give the row addresses of matrix i, register i of a
 *  lane holds elements (lane / 4, 2 (lane % 4) + {0, 1}) of matrix i. */
__device__ __forceinline__ void ldmatrixX4(unsigned addr, unsigned (&r)[4]) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr));
}

/** ldmatrixX4 transposed: register i holds elements (2 (lane % 4) + {0, 1}, lane / 4). */
__device__ __forceinline__ void ldmatrixX4Trans(unsigned addr, unsigned (&r)[4]) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr));
}

/**
 * c += a · b for a 16x16 bf16 A (row-major fragment a), a 16x8 bf16 B (col-major fragment b0, b1)
 * and a 16x8 float32 C. With r = lane / 4 and k = 2 (lane % 4): a = {A[r][k..], A[r+8][k..],
 * A[r][k+8..], A[r+8][k+8..]}, b0 = B[k..][r], b1 = B[k+8..][r] (pairs of consecutive elements,
 * the first in the low half), c = {C[r][k], C[r][k+1], C[r+8][k], C[r+8][k+1]}.
 */
__device__ __forceinline__ void mma16816(float (&c)[4], const unsigned (&a)[4], unsigned b0,
                                         unsigned b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, "
      "{%8, %9}, {%0, %1, %2, %3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

/** Two float32 values rounded to bf16 (nearest even), `lo` in the low half. */
__device__ __forceinline__ unsigned packBf16(float lo, float hi) {
  const __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
  return *reinterpret_cast<const unsigned*>(&v);
}

__device__ __forceinline__ float negInf() { return __int_as_float(0xff800000u); }

/**
 * Stages ROWS rows of a row-major [*, DH] bf16 matrix starting at `src` into shared rows of
 * stride Config<DH>::kStride with cp.async; rows >= valid are zero-filled (never garbage: a NaN
 * pattern times a zero probability would poison a sum).
 */
template <int DH, int ROWS>
__device__ __forceinline__ void stageRows(bf16* dst, const bf16* src, int valid) {
  constexpr int kChunks = DH / 8;  // 16-byte chunks per row
  static_assert(ROWS * kChunks % kThreads == 0, "whole iterations");
#pragma unroll
  for (int u = 0; u < ROWS * kChunks / kThreads; ++u) {
    const int idx = u * kThreads + static_cast<int>(threadIdx.x);
    const int r = idx / kChunks;
    const int c = (idx - r * kChunks) * 8;
    const bool ok = r < valid;
    cpAsync16(sharedAddress(dst + r * Config<DH>::kStride + c),
              ok ? src + static_cast<size_t>(r) * DH + c : src, ok);
  }
}

/**
 * One tile of kKeys keys for one warp's 16 query rows: S = Q·Kᵀ, masking, the online-softmax
 * update of (m, l, o) and O += P·V with P rounded to bf16.
 *   kAddr, vAddr  shared addresses of the tile's K and V rows plus this lane's ldmatrix offsets
 *   cols          the tile's leading columns (a multiple of 16) that may be visible to a row of
 *                 the warp; the others are neither multiplied nor added
 *   masked        false when every row of the warp sees every key of the tile (then cols = kKeys)
 *   visible(r, c) whether fragment row r (0: lane / 4, 1: lane / 4 + 8) sees tile column c
 * m (log2 domain) and o are per fragment row; l is this lane's part of the row sum.
 */
template <int DH, typename Visible>
__device__ __forceinline__ void warpTile(unsigned kAddr, unsigned vAddr,
                                         const unsigned (&qf)[DH / 16][4], float (&o)[DH / 8][4],
                                         float (&m)[2], float (&l)[2], float scaleLog2, int cols,
                                         bool masked, Visible visible) {
  constexpr int S = Config<DH>::kStride;
  constexpr int NT = kKeys / 8;  // 8-key column tiles of S
  const float kNegInf = negInf();
  const int lane = static_cast<int>(threadIdx.x) & 31;

  // S = Q·Kᵀ: column tiles 2np, 2np + 1 from one ldmatrix of 16 K rows per 16-wide k step.
  float s[NT][4];
#pragma unroll
  for (int nt = 0; nt < NT; ++nt) {
#pragma unroll
    for (int e = 0; e < 4; ++e) s[nt][e] = 0.f;
  }
#pragma unroll
  for (int kk = 0; kk < DH / 16; ++kk) {
#pragma unroll
    for (int np = 0; np < NT / 2; ++np) {
      if (16 * np < cols) {
        unsigned b[4];
        ldmatrixX4(kAddr + (16 * np * S + 16 * kk) * sizeof(bf16), b);
        mma16816(s[2 * np], qf[kk], b[0], b[1]);
        mma16816(s[2 * np + 1], qf[kk], b[2], b[3]);
      }
    }
  }

  // Scores in the log2 domain, masked, and the new row maxima (4 lanes share a row).
  float mx[2] = {kNegInf, kNegInf};
#pragma unroll
  for (int nt = 0; nt < NT; ++nt) {
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const int r = e >> 1;
      float x = s[nt][e] * scaleLog2;
      if (masked && !visible(r, 8 * nt + 2 * (lane & 3) + (e & 1))) x = kNegInf;
      s[nt][e] = x;
      mx[r] = fmaxf(mx[r], x);
    }
  }
  float mRef[2];
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 1));
    mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 2));
    const float mNew = fmaxf(m[r], mx[r]);
    // While the row has seen no key, mNew = -Inf: use 0 as the reference so that
    // exp2(-Inf - 0) = 0 everywhere instead of exp2(-Inf + Inf) = NaN.
    mRef[r] = mNew == kNegInf ? 0.f : mNew;
    const float alpha = exp2f(m[r] - mRef[r]);
    m[r] = mNew;
    l[r] *= alpha;
#pragma unroll
    for (int nd = 0; nd < DH / 8; ++nd) {
      o[nd][2 * r] *= alpha;
      o[nd][2 * r + 1] *= alpha;
    }
  }

  // O += P·V, 16 keys at a time: the C fragments of column tiles 2kk, 2kk + 1 of S are the A
  // fragment of P; ldmatrix.trans of 16 V rows gives the B fragments of two 8-wide column tiles.
#pragma unroll
  for (int kk = 0; kk < NT / 2; ++kk) {
    if (16 * kk < cols) {
      float pr[2][4];
#pragma unroll
      for (int h = 0; h < 2; ++h) {
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          pr[h][e] = exp2f(s[2 * kk + h][e] - mRef[e >> 1]);
          l[e >> 1] += pr[h][e];
        }
      }
      const unsigned a[4] = {packBf16(pr[0][0], pr[0][1]), packBf16(pr[0][2], pr[0][3]),
                             packBf16(pr[1][0], pr[1][1]), packBf16(pr[1][2], pr[1][3])};
#pragma unroll
      for (int ndp = 0; ndp < DH / 16; ++ndp) {
        unsigned b[4];
        ldmatrixX4Trans(vAddr + (16 * kk * S + 16 * ndp) * sizeof(bf16), b);
        mma16816(o[2 * ndp], a, b[0], b[1]);
        mma16816(o[2 * ndp + 1], a, b[2], b[3]);
      }
    }
  }
}

/** The forward kernel (see the header comment); p.window is clamped to keyLength. */
template <int DH>
__global__ void __launch_bounds__(kThreads, Config<DH>::kMinBlocks)
    attentionForwardMmaKernel(const AttentionForwardParams<bf16> p) {
  using Cfg = Config<DH>;
  constexpr int S = Cfg::kStride;
  const float kNegInf = negInf();

  extern __shared__ float4 smemMma[];  // float4: 16-byte aligned rows for cp.async and ldmatrix
  bf16* Qs = reinterpret_cast<bf16*>(smemMma);
  bf16* Ks = Qs + kRows * S;       // [2][kKeys][S]
  bf16* Vs = Ks + 2 * Cfg::kTile;  // [2][kKeys][S]

  const int tid = static_cast<int>(threadIdx.x);
  const int lane = tid & 31;
  const int warp = tid >> 5;

  // Heaviest query tiles (latest positions) first.
  const int bhCount = p.batch * p.heads;
  const int queryTiles = (p.queryLength + kRows - 1) / kRows;
  const int qt = queryTiles - 1 - static_cast<int>(blockIdx.x / bhCount);
  const int bh = static_cast<int>(blockIdx.x % bhCount);
  const int b = bh / p.heads;
  const int h = bh - b * p.heads;
  const int i0 = qt * kRows;
  const int nq = min(kRows, p.queryLength - i0);
  const int pLo = p.queryOffset + i0;
  const int pHi = pLo + nq - 1;
  const size_t kvHead = static_cast<size_t>(b) * p.kvHeads + h / p.group;
  const bf16* kHead = p.k + kvHead * p.keyLength * DH;
  const bf16* vHead = p.v + kvHead * p.keyLength * DH;
  const size_t rowBase = static_cast<size_t>(bh) * p.queryLength + i0;

  // This warp's valid rows are at positions [wLo, wHi] (none when !active); the lane's fragment
  // rows lane / 4 and lane / 4 + 8 at pos[0], pos[1].
  const int wFirst = 16 * warp;
  const bool active = wFirst < nq;
  const int wLo = pLo + wFirst;
  const int wHi = pLo + min(wFirst + 15, nq - 1);
  const int pos[2] = {wLo + (lane >> 2), wLo + (lane >> 2) + 8};

  // Per-lane ldmatrix offsets (bytes): A (Q) and trans B (V) fragments take rows lane % 8 +
  // 8 ((lane / 8) % 2), columns 8 (lane / 16); B (K) fragments rows lane % 8 + 8 (lane / 16),
  // columns 8 ((lane / 8) % 2).
  const unsigned aOff = (((lane & 7) + ((lane >> 3) & 1) * 8) * S + (lane >> 4) * 8) * sizeof(bf16);
  const unsigned kOff = (((lane & 7) + (lane >> 4) * 8) * S + ((lane >> 3) & 1) * 8) * sizeof(bf16);

  stageRows<DH, kRows>(Qs, p.q + rowBase * DH, nq);
  cpAsyncCommit();

  // In-context key tiles (aligned to kKeys) covering [max(0, pLo - window + 1), pHi]; tile t of
  // the loop lives in buffer (t + 1) & 1, so that the memory tiles can use buffer 0 meanwhile.
  const KeyTiles kt = keyTilesFor(pLo, pHi, p.window, kKeys);
  auto issueKeys = [&](int t) {
    const int buf = (t + 1) & 1;
    const int k0 = (kt.first + t) * kKeys;
    const int valid = min(kKeys, p.keyLength - k0);
    stageRows<DH, kKeys>(Ks + buf * Cfg::kTile, kHead + static_cast<size_t>(k0) * DH, valid);
    stageRows<DH, kKeys>(Vs + buf * Cfg::kTile, vHead + static_cast<size_t>(k0) * DH, valid);
    cpAsyncCommit();
  };
  issueKeys(0);

  cpAsyncWait<1>();  // Q
  __syncthreads();
  unsigned qf[DH / 16][4];
  const unsigned qAddr = sharedAddress(Qs + wFirst * S) + aOff;
#pragma unroll
  for (int kk = 0; kk < DH / 16; ++kk) ldmatrixX4(qAddr + kk * 16 * sizeof(bf16), qf[kk]);

  float o[DH / 8][4];
  float m[2] = {kNegInf, kNegInf};
  float l[2] = {0.f, 0.f};
#pragma unroll
  for (int nd = 0; nd < DH / 8; ++nd) {
#pragma unroll
    for (int e = 0; e < 4; ++e) o[nd][e] = 0.f;
  }

  // Memory slots: rows see only the slots of their own chunk (a tile may span several chunks).
  if (p.hasMemory) {
    const int rowChunk[2] = {pos[0] / p.chunkSize, pos[1] / p.chunkSize};
    const int cLo = pLo / p.chunkSize;
    const int cHi = pHi / p.chunkSize;
    const int wcLo = wLo / p.chunkSize;
    const int wcHi = wHi / p.chunkSize;
    for (int c = cLo; c <= cHi; ++c) {
      const size_t chunkRow = (kvHead * p.chunks + c) * p.slots;
      const int* maskRow = p.memMask + (static_cast<size_t>(b) * p.chunks + c) * p.slots;
      for (int s0 = 0; s0 < p.slots; s0 += kKeys) {
        const int valid = min(kKeys, p.slots - s0);
        stageRows<DH, kKeys>(Ks, p.memK + (chunkRow + s0) * DH, valid);
        stageRows<DH, kKeys>(Vs, p.memV + (chunkRow + s0) * DH, valid);
        cpAsyncCommit();
        // Bit i of slotBits: slot s0 + i is valid and unmasked (each warp reads the mask itself).
        const unsigned lo = __ballot_sync(0xffffffffu, lane < valid && maskRow[s0 + lane] != 0);
        const unsigned hi =
            __ballot_sync(0xffffffffu, lane + 32 < valid && maskRow[s0 + lane + 32] != 0);
        const unsigned long long slotBits = (static_cast<unsigned long long>(hi) << 32) | lo;
        cpAsyncWait<0>();
        __syncthreads();
        if (active && c >= wcLo && c <= wcHi) {
          warpTile<DH>(sharedAddress(Ks) + kOff, sharedAddress(Vs) + aOff, qf, o, m, l,
                       p.scaleLog2, (valid + 15) & ~15, true, [&](int r, int col) {
                         return rowChunk[r] == c && ((slotBits >> col) & 1) != 0;
                       });
        }
        __syncthreads();
      }
    }
  }

  const int window = p.window;
  for (int t = 0; t < kt.count; ++t) {
    awaitTile(t, kt.count, issueKeys);
    const int buf = (t + 1) & 1;
    const int k0 = (kt.first + t) * kKeys;
    // Keys [k0, k0 + kKeys) against the warp's visible range [wLo - window + 1, wHi].
    if (active && k0 <= wHi && k0 + kKeys - 1 > wLo - window) {
      const bool whole = k0 + kKeys - 1 <= wLo && k0 > wHi - window;
      const int cols = min(kKeys, (wHi - k0 + 16) & ~15);
      // Fragment row r sees column c iff pos[r] - window < k0 + c <= pos[r].
      const int last[2] = {pos[0] - k0, pos[1] - k0};
      warpTile<DH>(sharedAddress(Ks + buf * Cfg::kTile) + kOff,
                   sharedAddress(Vs + buf * Cfg::kTile) + aOff, qf, o, m, l, p.scaleLog2, cols,
                   !whole, [&](int r, int c) { return c <= last[r] && c > last[r] - window; });
    }
    __syncthreads();
  }

  if (!active) return;
  // O / rowsum rounded to bf16, staged in this warp's Q rows (read only by this warp, into qf),
  // then written as 16-byte row pieces.
  bf16* Ow = Qs + wFirst * S;
  float inv[2];
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    l[r] += __shfl_xor_sync(0xffffffffu, l[r], 1);
    l[r] += __shfl_xor_sync(0xffffffffu, l[r], 2);
    // l >= 1 once a key was seen (the maximal score contributes exp2(0) = 1).
    inv[r] = l[r] > 0.f ? 1.f / l[r] : 0.f;
  }
#pragma unroll
  for (int nd = 0; nd < DH / 8; ++nd) {
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      *reinterpret_cast<unsigned*>(Ow + ((lane >> 2) + 8 * r) * S + 8 * nd + 2 * (lane & 3)) =
          packBf16(o[nd][2 * r] * inv[r], o[nd][2 * r + 1] * inv[r]);
    }
  }
  __syncwarp();
  constexpr int kChunks = DH / 8;
#pragma unroll
  for (int u = 0; u < 16 * kChunks / 32; ++u) {
    const int idx = u * 32 + lane;
    const int r = idx / kChunks;
    const int c = (idx - r * kChunks) * 8;
    if (wFirst + r < nq) {
      *reinterpret_cast<uint4*>(p.out + (rowBase + wFirst + r) * DH + c) =
          *reinterpret_cast<const uint4*>(Ow + r * S + c);
    }
  }
  if ((lane & 3) == 0) {
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      const int row = wFirst + (lane >> 2) + 8 * r;
      if (row < nq) {
        p.lse[rowBase + row] =
            fromF32<bf16>(l[r] > 0.f ? (m[r] + log2f(l[r])) * kLn2 : kNegInf);
      }
    }
  }
}

}  // namespace attention_mma
}  // namespace bmojo
