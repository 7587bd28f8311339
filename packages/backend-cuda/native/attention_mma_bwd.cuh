// The bfloat16 attention backward's in-context key kernel on tensor cores (warp-level mma.sync
// m16n8k16, bf16 inputs, float32 accumulators), used by attention.cu for head dims 64 and 128 when
// q, k, v, dOut, dk and dv are 16-byte aligned. The prep kernel (Dvec, lse2), the float32 dQ
// scratch with its rounding pass and the memory-slot kernel stay those of the SIMT backward.
//
// Design (FlashAttention-2 backward): one block of kWarps = 4 warps per (b, kv head, tile of
// kKeys = 64 keys), warp w owning keys 16w..16w+15 and their dK, dV rows in float32 registers.
// K and V are staged once in shared memory (bf16, cp.async, rows padded by 16 bytes); the block
// then loops over (head of the group, tile of BQ queries that can see the tile's keys: 64 for
// DH = 64, 32 for DH = 128), Q, dOut, lse2 and Dvec double-buffered with cp.async. Per query
// tile and warp, in the transposed (keys x queries) orientation so that the C fragments of one
// product are the A fragments of the next:
//   Sᵀ = K·Qᵀ, Pᵀ = exp2(Sᵀ·scale·log2e − lse2) masked (the forward's visibility rule; a query
//   row past the tile's end has lse2 = +Inf, so P = 0), dPᵀ = V·dOutᵀ, dSᵀ = Pᵀ ⊙ (dPᵀ − Dvec),
//   dV += Pᵀ·dOut and dK += dSᵀ·Q (ldmatrix.trans of dOut / Q rows as the B operands).
// A warp skips the 16-query column groups none of its keys is visible to (and the whole tile
// when none is), and the masking when every (key, query) pair of it is visible. dSᵀ is written
// to shared memory (bf16); after a barrier each warp computes dQ = dS·K for a (16 rows, DH·BQ/64
// columns) piece of the query tile (ldmatrix.trans of dSᵀ as the A operand, of K as B; key groups
// none of the piece's queries sees are skipped) and adds scale·dQ to the float32 scratch with
// atomics (float4 on sm_90, the lanes of a fragment pair exchanging halves). At the end dK·scale
// and dV are rounded to bf16 once, staged through the warp's K / V rows and written with 16-byte
// stores; every key row of the tile is written.
// As FlashAttention does, P and dS are rounded to bf16 before their products (Pᵀ·dOut, dSᵀ·Q,
// dS·K); the probabilities, dP and dS themselves are computed in float32.
#pragma once

#include "attention_mma.cuh"

namespace bmojo {
namespace attention_mma {

template <int DH>
struct BwdConfig {
  /** Query rows per iteration. */
  static constexpr int kQRows = DH <= 64 ? 64 : 32;
  /** bf16 elements per shared row of K, V, Q, dOut: DH plus 16 bytes of padding. */
  static constexpr int kStride = DH + 8;
  /** bf16 elements per shared row of dSᵀ ([kKeys][kQRows]). */
  static constexpr int kDsStride = kQRows + 8;
  static constexpr int kKTile = kKeys * kStride;
  static constexpr int kQTile = kQRows * kStride;
  // K, V [kKeys][S]; Q, dOut [2][kQRows][S]; dSᵀ [kKeys][DS] (bf16); lse2, Dvec [2][kQRows]
  // (float32): 64 KiB for DH = 64, 73.5 KiB for DH = 128.
  static constexpr size_t kSmemBytes =
      (2 * static_cast<size_t>(kKTile) + 4 * static_cast<size_t>(kQTile) +
       static_cast<size_t>(kKeys) * kDsStride) * sizeof(bf16) +
      4 * static_cast<size_t>(kQRows) * sizeof(float);
  /** Blocks per SM the registers are budgeted for: 3 caps DH = 64 at 168 registers (no spills
   *  with only K's fragments held), DH = 128 needs ~250 (2 blocks). */
  static constexpr int kMinBlocks = DH <= 64 ? 3 : 2;
  /** dQ: the warps split the query tile into kQRows / 16 row groups x kColGroups column groups. */
  static constexpr int kColGroups = kWarps / (kQRows / 16);
  static constexpr int kDqCols = DH / kColGroups;
};

/**
 * The backward kernel (see the header comment). Params: the backward parameters of attention.cu
 * (bf16 q, k, v, dOut, dk, dv; float32 lse2, dvec and the dq scratch); p.window is clamped to
 * keyLength.
 */
template <int DH, typename Params>
__global__ void __launch_bounds__(kThreads, BwdConfig<DH>::kMinBlocks)
    attentionBackwardMmaKernel(const Params p) {
  using Cfg = BwdConfig<DH>;
  constexpr int S = Cfg::kStride;
  constexpr int DS = Cfg::kDsStride;
  constexpr int BQ = Cfg::kQRows;
  constexpr int GQ = BQ / 16;  // 16-query column groups
  constexpr int ND = DH / 8;   // 8-wide column tiles of dK, dV
  constexpr int DQC = Cfg::kDqCols;

  extern __shared__ float4 smemMmaBwd[];
  bf16* Ks = reinterpret_cast<bf16*>(smemMmaBwd);
  bf16* Vs = Ks + Cfg::kKTile;
  bf16* Qs = Vs + Cfg::kKTile;      // [2][BQ][S]
  bf16* dOs = Qs + 2 * Cfg::kQTile;  // [2][BQ][S]
  bf16* dSs = dOs + 2 * Cfg::kQTile;  // [kKeys][DS], dSᵀ
  float* Ls = reinterpret_cast<float*>(dSs + kKeys * DS);  // [2][BQ]
  float* Ds = Ls + 2 * BQ;                                 // [2][BQ]

  const int tid = static_cast<int>(threadIdx.x);
  const int lane = tid & 31;
  const int warp = tid >> 5;

  const int bgCount = p.batch * p.kvHeads;
  const int bg = static_cast<int>(blockIdx.x % bgCount);
  const int tile = static_cast<int>(blockIdx.x / bgCount);
  const int b = bg / p.kvHeads;
  const int g = bg - b * p.kvHeads;
  const int k0 = tile * kKeys;
  const int nk = min(kKeys, p.keyLength - k0);
  const size_t keyRow = static_cast<size_t>(bg) * p.keyLength + k0;
  const int window = p.window;

  // The query range [first, last] (positions) that sees any key of the tile: p - window < j <= p.
  const long long qFirst = p.queryOffset;
  const long long qLast = static_cast<long long>(p.queryOffset) + p.queryLength - 1;
  const long long first = max(static_cast<long long>(k0), qFirst);
  const long long last = min(static_cast<long long>(k0) + nk - 1 + window - 1, qLast);
  const QueryTiles qt(first, last, qFirst, BQ, p.group);
  const int iterations = qt.iterations;

  // Per-lane ldmatrix offsets (bytes), as in the forward: A and trans-B fragments take rows
  // lane % 8 + 8 ((lane / 8) % 2), columns 8 (lane / 16); B fragments (and the trans A fragments
  // of dS from dSᵀ) rows lane % 8 + 8 (lane / 16), columns 8 ((lane / 8) % 2).
  const int aRow = (lane & 7) + ((lane >> 3) & 1) * 8;
  const int aCol = (lane >> 4) * 8;
  const int bRow = (lane & 7) + (lane >> 4) * 8;
  const int bCol = ((lane >> 3) & 1) * 8;
  const unsigned aOff = (aRow * S + aCol) * sizeof(bf16);
  const unsigned kOff = (bRow * S + bCol) * sizeof(bf16);
  const unsigned dsOff = (bRow * DS + bCol) * sizeof(bf16);

  stageRows<DH, kKeys>(Ks, p.k + keyRow * DH, nk);
  stageRows<DH, kKeys>(Vs, p.v + keyRow * DH, nk);
  cpAsyncCommit();

  auto rowBase = [&](int it, int& i0, int& nq) -> size_t {
    return qt.row(it, BQ, b, g, p.group, p.heads, p.queryLength, i0, nq);
  };
  auto issueQueries = [&](int it) {
    const int buf = it & 1;
    int i0;
    int nq;
    const size_t rb = rowBase(it, i0, nq);
    stageRows<DH, BQ>(Qs + buf * Cfg::kQTile, p.q + rb * DH, nq);
    stageRows<DH, BQ>(dOs + buf * Cfg::kQTile, p.dOut + rb * DH, nq);
    // Rows past the tile's end: lse2 = +Inf (every probability 0), Dvec = 0.
    if (tid < BQ) {
      if (tid < nq) {
        cpAsync4(sharedAddress(Ls + buf * BQ + tid), p.lse2 + rb + tid, true);
      } else {
        Ls[buf * BQ + tid] = __int_as_float(0x7f800000);
      }
    } else if (tid < 2 * BQ) {
      const int r = tid - BQ;
      if (r < nq) {
        cpAsync4(sharedAddress(Ds + buf * BQ + r), p.dvec + rb + r, true);
      } else {
        Ds[buf * BQ + r] = 0.f;
      }
    }
    cpAsyncCommit();
  };

  float accK[ND][4];
  float accV[ND][4];
#pragma unroll
  for (int nd = 0; nd < ND; ++nd) {
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      accK[nd][e] = 0.f;
      accV[nd][e] = 0.f;
    }
  }

  // This warp's keys [kLo, kLo + 15] (positions = indices); the lane's fragment rows are keys
  // kLo + lane / 4 and kLo + lane / 4 + 8.
  const int kLo = k0 + 16 * warp;
  const int kHi = kLo + 15;
  const int myKey[2] = {kLo + (lane >> 2), kLo + (lane >> 2) + 8};
  const unsigned kAddrA = sharedAddress(Ks + 16 * warp * S) + aOff;
  const unsigned vAddrA = sharedAddress(Vs + 16 * warp * S) + aOff;
  // dQ piece of this warp: query rows 16 rg.., columns cg DQC...
  const int rg = warp % GQ;
  const int cg = warp / GQ;

  if (iterations > 0) issueQueries(0);
  // DH = 64: the warp's K A fragments stay in registers (holding V's too spills; DH = 128: both
  // reloaded per use).
  constexpr bool kHoldK = DH <= 64;
  unsigned kf[kHoldK ? DH / 16 : 1][4];
  if constexpr (kHoldK) {
    if (iterations > 0) {
      cpAsyncWait<1>();
    } else {
      cpAsyncWait<0>();
    }
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < DH / 16; ++kk) {
      ldmatrixX4(kAddrA + kk * 16 * sizeof(bf16), kf[kk]);
    }
  }
  for (int it = 0; it < iterations; ++it) {
    awaitTile(it, iterations, issueQueries);
    const int buf = it & 1;
    int i0;
    int nq;
    const size_t rb = rowBase(it, i0, nq);
    const int qLo = p.queryOffset + i0;  // position of column 0
    const int qHi = qLo + nq - 1;
    const float* lsb = Ls + buf * BQ;
    const float* dsb = Ds + buf * BQ;
    const unsigned qAddr = sharedAddress(Qs + buf * Cfg::kQTile);
    const unsigned dOAddr = sharedAddress(dOs + buf * Cfg::kQTile);

    // Column c (position qLo + c) sees some key of the warp iff kLo <= qLo + c and
    // qLo + c - window < kHi: the 16-query groups [gLo, gHi] of it.
    const bool any = kLo <= qHi && kHi > qLo - window;
    const bool whole = kHi <= qLo && kLo > qHi - window;
    const int gLo = max(0, kLo - qLo) / 16;
    const int gHi = min(BQ - 1, kHi + window - 1 - qLo) / 16;

    // Per 16-query column group of the warp's visible range [gLo, gHi] (the others: dSᵀ = 0).
#pragma unroll
    for (int gq = 0; gq < GQ; ++gq) {
      unsigned* dsRow0 = reinterpret_cast<unsigned*>(dSs + (16 * warp + (lane >> 2)) * DS +
                                                     16 * gq + 2 * (lane & 3));
      unsigned* dsRow1 = dsRow0 + 8 * DS / 2;
      if (!any || gq < gLo || gq > gHi) {
        dsRow0[0] = 0u;
        dsRow0[4] = 0u;
        dsRow1[0] = 0u;
        dsRow1[4] = 0u;
        continue;
      }
      // Sᵀ = K·Qᵀ and dPᵀ = V·dOutᵀ for the group's 16 queries (two 8-query column tiles).
      float s[2][4];
      float dp[2][4];
#pragma unroll
      for (int h = 0; h < 2; ++h) {
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          s[h][e] = 0.f;
          dp[h][e] = 0.f;
        }
      }
#pragma unroll
      for (int kk = 0; kk < DH / 16; ++kk) {
        unsigned ak[4];
        unsigned av[4];
        if constexpr (kHoldK) {
#pragma unroll
          for (int e = 0; e < 4; ++e) ak[e] = kf[kk][e];
        } else {
          ldmatrixX4(kAddrA + kk * 16 * sizeof(bf16), ak);
        }
        ldmatrixX4(vAddrA + kk * 16 * sizeof(bf16), av);
        unsigned bq[4];
        unsigned bo[4];
        ldmatrixX4(qAddr + kOff + (16 * gq * S + 16 * kk) * sizeof(bf16), bq);
        ldmatrixX4(dOAddr + kOff + (16 * gq * S + 16 * kk) * sizeof(bf16), bo);
        mma16816(s[0], ak, bq[0], bq[1]);
        mma16816(s[1], ak, bq[2], bq[3]);
        mma16816(dp[0], av, bo[0], bo[1]);
        mma16816(dp[1], av, bo[2], bo[3]);
      }
      // Pᵀ = exp2(S scale log2e - lse2), 0 where not visible; dSᵀ = Pᵀ ⊙ (dPᵀ - Dvec); both
      // rounded to bf16 as the A fragments of Pᵀ·dOut and dSᵀ·Q.
      unsigned pa[4];
      unsigned sa[4];
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const int c = 16 * gq + 8 * h + 2 * (lane & 3);
        const float2 l2 = *reinterpret_cast<const float2*>(lsb + c);
        const float2 d2 = *reinterpret_cast<const float2*>(dsb + c);
        float pr[4];
        float ds[4];
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          float x = exp2f(fmaf(s[h][e], p.scaleLog2, -((e & 1) ? l2.y : l2.x)));
          if (!whole) {
            const int diff = qLo + c + (e & 1) - myKey[e >> 1];
            if (static_cast<unsigned>(diff) >= static_cast<unsigned>(window)) x = 0.f;
          }
          pr[e] = x;
          ds[e] = x * (dp[h][e] - ((e & 1) ? d2.y : d2.x));
        }
        pa[2 * h] = packBf16(pr[0], pr[1]);
        pa[2 * h + 1] = packBf16(pr[2], pr[3]);
        sa[2 * h] = packBf16(ds[0], ds[1]);
        sa[2 * h + 1] = packBf16(ds[2], ds[3]);
      }
      dsRow0[0] = sa[0];
      dsRow1[0] = sa[1];
      dsRow0[4] = sa[2];
      dsRow1[4] = sa[3];
      // dV += Pᵀ·dOut, dK += dSᵀ·Q (ldmatrix.trans of the group's dOut / Q rows).
#pragma unroll
      for (int ndp = 0; ndp < DH / 16; ++ndp) {
        unsigned bo[4];
        unsigned bq[4];
        ldmatrixX4Trans(dOAddr + aOff + (16 * gq * S + 16 * ndp) * sizeof(bf16), bo);
        ldmatrixX4Trans(qAddr + aOff + (16 * gq * S + 16 * ndp) * sizeof(bf16), bq);
        mma16816(accV[2 * ndp], pa, bo[0], bo[1]);
        mma16816(accV[2 * ndp + 1], pa, bo[2], bo[3]);
        mma16816(accK[2 * ndp], sa, bq[0], bq[1]);
        mma16816(accK[2 * ndp + 1], sa, bq[2], bq[3]);
      }
    }
    __syncthreads();

    // dQ = dS·K for query rows 16 rg.. and columns cg DQC.. (A: ldmatrix.trans of dSᵀ rows).
    if (16 * rg < nq) {
      float dq[DQC / 8][4];
#pragma unroll
      for (int nd = 0; nd < DQC / 8; ++nd) {
#pragma unroll
        for (int e = 0; e < 4; ++e) dq[nd][e] = 0.f;
      }
      const unsigned dsAddr = sharedAddress(dSs) + dsOff + 16 * rg * sizeof(bf16);
      const unsigned kAddrB = sharedAddress(Ks) + aOff + cg * DQC * sizeof(bf16);
      // Key groups none of the piece's queries (positions [qgLo, qgLo + 15]) sees have dS = 0.
      const int qgLo = qLo + 16 * rg;
#pragma unroll
      for (int kk = 0; kk < kKeys / 16; ++kk) {
        const int kgLo = k0 + 16 * kk;
        if (kgLo > qgLo + 15 || kgLo + 15 <= qgLo - window) continue;
        unsigned a[4];
        ldmatrixX4Trans(dsAddr + 16 * kk * DS * sizeof(bf16), a);
#pragma unroll
        for (int ndp = 0; ndp < DQC / 16; ++ndp) {
          unsigned bk[4];
          ldmatrixX4Trans(kAddrB + (16 * kk * S + 16 * ndp) * sizeof(bf16), bk);
          mma16816(dq[2 * ndp], a, bk[0], bk[1]);
          mma16816(dq[2 * ndp + 1], a, bk[2], bk[3]);
        }
      }
      const float scale = p.scale;
      const int row0 = 16 * rg + (lane >> 2);
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
      // Lanes 2i, 2i + 1 hold columns 4i'..4i'+3 of rows row0 and row0 + 8 between them: the
      // even lane adds 4 columns of row0, the odd lane 4 columns of row0 + 8.
      const bool odd = (lane & 1) != 0;
      const int row = row0 + (odd ? 8 : 0);
      const int col = cg * DQC + 2 * (lane & 2);
      float* dst = p.dq + (rb + row) * DH + col;
#pragma unroll
      for (int nd = 0; nd < DQC / 8; ++nd) {
        const float s0 = odd ? dq[nd][0] : dq[nd][2];
        const float s1 = odd ? dq[nd][1] : dq[nd][3];
        const float r0 = __shfl_xor_sync(0xffffffffu, s0, 1);
        const float r1 = __shfl_xor_sync(0xffffffffu, s1, 1);
        const float4 v = odd ? make_float4(r0, r1, dq[nd][2], dq[nd][3])
                             : make_float4(dq[nd][0], dq[nd][1], r0, r1);
        if (row < nq) {
          atomicAdd(reinterpret_cast<float4*>(dst + 8 * nd),
                    make_float4(v.x * scale, v.y * scale, v.z * scale, v.w * scale));
        }
      }
#else
#pragma unroll
      for (int r = 0; r < 2; ++r) {
        const int row = row0 + 8 * r;
        if (row < nq) {
          float* dst = p.dq + (rb + row) * DH + cg * DQC + 2 * (lane & 3);
#pragma unroll
          for (int nd = 0; nd < DQC / 8; ++nd) {
            atomicAdd(dst + 8 * nd, dq[nd][2 * r] * scale);
            atomicAdd(dst + 8 * nd + 1, dq[nd][2 * r + 1] * scale);
          }
        }
      }
#endif
    }
  }

  // dK·scale and dV rounded to bf16, staged in this warp's K / V rows, written as 16-byte row
  // pieces; every key row of the tile is written (zeros when no query sees it).
  cpAsyncWait<0>();
  __syncthreads();
  {
    bf16* Kw = Ks + 16 * warp * S;
    bf16* Vw = Vs + 16 * warp * S;
    const float scale = p.scale;
#pragma unroll
    for (int nd = 0; nd < ND; ++nd) {
#pragma unroll
      for (int r = 0; r < 2; ++r) {
        const int off = ((lane >> 2) + 8 * r) * S + 8 * nd + 2 * (lane & 3);
        *reinterpret_cast<unsigned*>(Kw + off) =
            packBf16(accK[nd][2 * r] * scale, accK[nd][2 * r + 1] * scale);
        *reinterpret_cast<unsigned*>(Vw + off) = packBf16(accV[nd][2 * r], accV[nd][2 * r + 1]);
      }
    }
    __syncwarp();
    constexpr int kChunks = DH / 8;
#pragma unroll
    for (int u = 0; u < 16 * kChunks / 32; ++u) {
      const int idx = u * 32 + lane;
      const int r = idx / kChunks;
      const int c = (idx - r * kChunks) * 8;
      const int key = 16 * warp + r;
      if (key < nk) {
        const size_t o = (keyRow + key) * DH + c;
        *reinterpret_cast<uint4*>(p.dk + o) = *reinterpret_cast<const uint4*>(Kw + r * S + c);
        *reinterpret_cast<uint4*>(p.dv + o) = *reinterpret_cast<const uint4*>(Vw + r * S + c);
      }
    }
  }
}

}  // namespace attention_mma
}  // namespace bmojo
