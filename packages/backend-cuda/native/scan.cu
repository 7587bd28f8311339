// Mamba-1 selective scan, channels last (spec: packages/tensor/src/backend/kernels.ts, reference:
// packages/tensor/src/backends/cpu/selective-scan.ts), float32 and bfloat16 storage.
//
//   dt[b,t,e] = delta[b,t,e] + deltaBias[e], then softplus (threshold 20) when deltaSoftplus
//   h[b,e,n]  = exp(dt·A[e,n])·h[b,e,n] + dt·u[b,t,e]·B[b,t,n]
//   y[b,t,e]  = Σ_n C[b,t,n]·h[b,e,n] + D[e]·u[b,t,e];  out = y·silu(z[b,t,e])
//
// Layout of the work (forward and backward): a block of 128 threads owns one batch element b and
// EB = 128 / G consecutive channels; each channel's N states are split over G neighbouring lanes
// (NPT = N_padded / G states per lane, held in registers; padded states have A = B = C = 0 and
// stay exactly 0). Time runs in chunks of T steps: the block cooperatively loads the chunk's
// delta/u/z (coalesced over e) and B/C rows into registers one chunk ahead (software prefetch),
// turns them into dt, dt·u, gates, ... in shared memory, then every lane runs the recurrence over
// the chunk reading those values from shared memory (broadcasts), and finally the block writes the
// chunk's outputs coalesced. Per-channel sums over the G lanes go through shared memory partials.
//
// Backward: pass 1 reruns the forward and checkpoints the state at every chunk start (global
// scratch, B·(chunks−1)·E·N_padded floats ≈ |u|·N/16). Pass 2 walks the chunks backwards: it
// recomputes the chunk's states from the checkpoint into shared memory (each thread its own
// slots), then walks t = Lc−1 … 0 carrying dh in registers. Sums over a channel's N states (for
// ddelta, du, dz) are reduced across its G lanes with shuffles; dB/dC (sums over channels) across
// the warp's channels with a transposing butterfly of shuffles, across the block's warps in shared
// memory, and across blocks with one atomicAdd per (b, t, n) per block into zeroed outputs.
// dA / dD / dDeltaBias are accumulated in registers and atomically added once per thread.
//
// bfloat16: every kernel is templated on the element type Elem (float or bf16) of the floating
// buffers. Values are read into float32, the state h, dh and every sum stay float32 (registers,
// shared memory, the float32 checkpoints), and each stored value is rounded once. The atomically
// accumulated gradients (dA, dB, dC, dD, dDeltaBias) are summed in zeroed float32 scratch and
// rounded into their bf16 outputs by one pass at the end.
#include <cuda_runtime.h>

#include <climits>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "common.cuh"

namespace {

using bmojo::bf16;
using bmojo::fromF32;
using bmojo::toF32;

constexpr int kBlock = 128;  // threads per block, all kernels but the step
constexpr int kWarps = kBlock / 32;
constexpr unsigned kFullMask = 0xffffffffu;
constexpr int kMaxStateSize = 64;
constexpr int kBwdChunk = 16;  // time steps per backward chunk (its states live in shared memory)
constexpr float kSoftplusThreshold = 20.0f;

// ---------------------------------------------------------------------------------------------
// Scalar helpers (accurate expf/log1pf, matching the reference's formulas).
// ---------------------------------------------------------------------------------------------

__device__ __forceinline__ float sigmoidF(float v) { return 1.0f / (1.0f + expf(-v)); }

__device__ __forceinline__ float softplusF(float v) {
  return v > kSoftplusThreshold ? v : log1pf(expf(v));
}

__device__ __forceinline__ float softplusGradF(float v) {
  return v > kSoftplusThreshold ? 1.0f : sigmoidF(v);
}

__device__ __forceinline__ float siluF(float v) { return v * sigmoidF(v); }

__device__ __forceinline__ float siluGradF(float v) {
  const float s = sigmoidF(v);
  return s * (1.0f + v * (1.0f - s));
}

/** K consecutive floats from shared memory (p aligned to 4·K bytes when K is 2 or 4·m). */
template <int K>
__device__ __forceinline__ void loadShared(const float* p, float (&out)[K]) {
  if constexpr (K % 4 == 0) {
#pragma unroll
    for (int i = 0; i < K / 4; ++i) {
      const float4 q = reinterpret_cast<const float4*>(p)[i];
      out[4 * i] = q.x;
      out[4 * i + 1] = q.y;
      out[4 * i + 2] = q.z;
      out[4 * i + 3] = q.w;
    }
  } else if constexpr (K % 2 == 0) {
#pragma unroll
    for (int i = 0; i < K / 2; ++i) {
      const float2 q = reinterpret_cast<const float2*>(p)[i];
      out[2 * i] = q.x;
      out[2 * i + 1] = q.y;
    }
  } else {
#pragma unroll
    for (int i = 0; i < K; ++i) out[i] = p[i];
  }
}

/** K consecutive floats to shared memory (same alignment rule as loadShared). */
template <int K>
__device__ __forceinline__ void storeShared(float* p, const float (&v)[K]) {
  if constexpr (K % 4 == 0) {
#pragma unroll
    for (int i = 0; i < K / 4; ++i) {
      reinterpret_cast<float4*>(p)[i] =
          make_float4(v[4 * i], v[4 * i + 1], v[4 * i + 2], v[4 * i + 3]);
    }
  } else if constexpr (K % 2 == 0) {
#pragma unroll
    for (int i = 0; i < K / 2; ++i) {
      reinterpret_cast<float2*>(p)[i] = make_float2(v[2 * i], v[2 * i + 1]);
    }
  } else {
#pragma unroll
    for (int i = 0; i < K; ++i) p[i] = v[i];
  }
}

/** Sum of K consecutive floats in shared memory. */
template <int K>
__device__ __forceinline__ float sumShared(const float* p) {
  float v[K];
  loadShared<K>(p, v);
  float s = 0.0f;
#pragma unroll
  for (int i = 0; i < K; ++i) s += v[i];
  return s;
}

/**
 * Transposing butterfly over the lanes that differ in the lane bits MASK, MASK/2, …, G (the
 * channel lanes of a warp whose lanes are laid out lane = channel·G + g): while more than one
 * value is left, each level halves the values a lane holds (the lane with the MASK bit set keeps
 * the upper half, its partner the lower half, each adding what the other sent); once one value is
 * left, the remaining levels are plain xor reductions. Afterwards v[0 … R) hold the warp-wide sums
 * of the original values bflyOffset(lane) + r, R = max(1, NV / channel lanes).
 */
template <int NV, int MASK, int G>
struct Butterfly {
  static __device__ __forceinline__ void run(float* v, int lane) {
    if constexpr (MASK >= G && MASK >= 1) {
      if constexpr (NV > 1) {
        constexpr int H = NV / 2;
        const bool upper = (lane & MASK) != 0;
#pragma unroll
        for (int i = 0; i < H; ++i) {
          const float send = upper ? v[i] : v[i + H];
          const float keep = upper ? v[i + H] : v[i];
          v[i] = keep + __shfl_xor_sync(kFullMask, send, MASK);
        }
        Butterfly<H, MASK / 2, G>::run(v, lane);
      } else {
        v[0] += __shfl_xor_sync(kFullMask, v[0], MASK);
        Butterfly<1, MASK / 2, G>::run(v, lane);
      }
    }
  }
};

template <int NV, int MASK, int G>
__device__ __forceinline__ int butterflyOffset(int lane) {
  if constexpr (MASK >= G && MASK >= 1 && NV > 1) {
    return ((lane & MASK) != 0 ? NV / 2 : 0) + butterflyOffset<NV / 2, MASK / 2, G>(lane);
  } else {
    return 0;
  }
}

// ---------------------------------------------------------------------------------------------
// Forward
// ---------------------------------------------------------------------------------------------

/** Elem: the element type of every buffer (float or bf16). */
template <typename Elem>
struct FwdParams {
  const Elem* u;
  const Elem* delta;
  const Elem* A;
  const Elem* B;
  const Elem* C;
  const Elem* D;             // may be null
  const Elem* z;             // may be null
  const Elem* deltaBias;     // may be null
  const Elem* initialState;  // may be null
  Elem* out;
  Elem* lastState;
  int batch, length, channels, stateSize;
  int eBlocks;  // blocks per batch element along the channels
  bool softplus;
};

/** Forward chunk length: IT = T / G (t, e) items per thread, shared memory under 48 KiB. */
template <int G>
constexpr int fwdChunk() {
  return G == 4 ? 32 : 16;
}

// Three blocks per SM are enough for B·E/EB blocks to run in one wave on the reference workload;
// asking for them also stops ptxas from trading registers for unneeded occupancy (and spilling).
// Elem: the element type of the buffers (float or bf16).
template <typename Elem, int G, int NPT, int T>
__global__ void __launch_bounds__(kBlock, 3) scanFwdKernel(const FwdParams<Elem> p) {
  constexpr int EB = kBlock / G;  // channels per block
  constexpr int NP = G * NPT;     // padded state size
  constexpr int IT = T / G;       // (t, e) items per thread per chunk (T·EB / kBlock)
  constexpr int BCN = 2 * T * NP;
  constexpr int BCI = (BCN + kBlock - 1) / kBlock;
  static_assert(T % G == 0, "chunk length must be a multiple of G");

  __shared__ __align__(16) float sDt[T * EB];    // dt
  __shared__ __align__(16) float sDtu[T * EB];   // dt·u
  __shared__ __align__(16) float sSkip[T * EB];  // D·u (0 without D)
  __shared__ __align__(16) float sGate[T * EB];  // silu(z) (1 without z)
  __shared__ __align__(16) float sYp[T * kBlock];  // per-lane partial Σ C·h, [t][tid]
  __shared__ __align__(16) float sBC[BCN];         // [B | C][t][NP], zero padded

  const int E = p.channels, N = p.stateSize, L = p.length;
  const int tid = threadIdx.x;
  const int b = blockIdx.x / p.eBlocks;
  const int e0 = (blockIdx.x % p.eBlocks) * EB;
  // Scan role: channel el = tid / G, states g·NPT … g·NPT + NPT − 1.
  const int g = tid % G;
  const int el = tid / G;
  const int e = e0 + el;
  const bool eOk = e < E;
  // Cooperative role: channel ce, time steps ct + j·G.
  const int ct = tid / EB;
  const int ce = tid % EB;
  const int ec = e0 + ce;
  const bool ecOk = ec < E;

  const int64_t stateBase = (static_cast<int64_t>(b) * E + e) * N;
  float A[NPT], h[NPT];
#pragma unroll
  for (int k = 0; k < NPT; ++k) {
    const int n = g * NPT + k;
    const bool ok = eOk && n < N;
    A[k] = ok ? toF32(__ldg(p.A + static_cast<int64_t>(e) * N + n)) : 0.0f;
    h[k] = (ok && p.initialState != nullptr) ? toF32(__ldg(p.initialState + stateBase + n))
                                             : 0.0f;
  }
  const float biasC = (p.deltaBias != nullptr && ecOk) ? toF32(__ldg(p.deltaBias + ec)) : 0.0f;
  const float dC = (p.D != nullptr && ecOk) ? toF32(__ldg(p.D + ec)) : 0.0f;

  // Raw elements: converted to float32 in store(), so the loads stay in flight over a chunk.
  Elem rDelta[IT], rU[IT], rZ[IT], rBC[BCI];

  // Global → registers for chunk c (issued a chunk ahead, consumed by store()).
  auto load = [&](int c) {
    const int t0 = c * T;
    const int Lc = min(T, L - t0);
    const int64_t baseE = (static_cast<int64_t>(b) * L + t0) * E + ec;
    const int64_t baseN = (static_cast<int64_t>(b) * L + t0) * N;
#pragma unroll
    for (int j = 0; j < IT; ++j) {
      const int t = ct + j * G;
      const bool ok = ecOk && t < Lc;
      const int64_t off = baseE + static_cast<int64_t>(t) * E;
      rDelta[j] = ok ? __ldg(p.delta + off) : Elem{};
      rU[j] = ok ? __ldg(p.u + off) : Elem{};
      rZ[j] = (ok && p.z != nullptr) ? __ldg(p.z + off) : Elem{};
    }
#pragma unroll
    for (int j = 0; j < BCI; ++j) {
      const int i = tid + j * kBlock;
      const int which = i / (T * NP);
      const int r = i - which * (T * NP);
      const int t = r / NP;
      const int n = r - t * NP;
      const bool ok = i < BCN && t < Lc && n < N;
      const Elem* src = which != 0 ? p.C : p.B;
      rBC[j] = ok ? __ldg(src + baseN + static_cast<int64_t>(t) * N + n) : Elem{};
    }
  };

  // Registers → derived values in shared memory for chunk c. Steps past the end are all zero.
  auto store = [&](int c) {
    const int Lc = min(T, L - c * T);
#pragma unroll
    for (int j = 0; j < IT; ++j) {
      const int t = ct + j * G;
      float dt = 0.0f, dtu = 0.0f, skip = 0.0f, gate = 0.0f;
      if (ecOk && t < Lc) {
        const float x = toF32(rDelta[j]) + biasC;
        const float u = toF32(rU[j]);
        dt = p.softplus ? softplusF(x) : x;
        dtu = dt * u;
        skip = dC * u;
        gate = p.z != nullptr ? siluF(toF32(rZ[j])) : 1.0f;
      }
      const int idx = t * EB + ce;
      sDt[idx] = dt;
      sDtu[idx] = dtu;
      sSkip[idx] = skip;
      sGate[idx] = gate;
    }
#pragma unroll
    for (int j = 0; j < BCI; ++j) {
      const int i = tid + j * kBlock;
      if (i < BCN) sBC[i] = toF32(rBC[j]);
    }
  };

  const int nChunks = (L + T - 1) / T;
  if (nChunks > 0) load(0);
  for (int c = 0; c < nChunks; ++c) {
    const int Lc = min(T, L - c * T);
    store(c);
    __syncthreads();
    if (c + 1 < nChunks) load(c + 1);

#pragma unroll 4
    for (int t = 0; t < Lc; ++t) {
      const float dt = sDt[t * EB + el];
      const float dtu = sDtu[t * EB + el];
      float bv[NPT], cv[NPT];
      loadShared<NPT>(sBC + t * NP + g * NPT, bv);
      loadShared<NPT>(sBC + T * NP + t * NP + g * NPT, cv);
      float y = 0.0f;
#pragma unroll
      for (int k = 0; k < NPT; ++k) {
        h[k] = expf(dt * A[k]) * h[k] + dtu * bv[k];
        y += cv[k] * h[k];
      }
      sYp[t * kBlock + tid] = y;
    }
    __syncthreads();

    // Outputs of the chunk, coalesced over e. (The next store() rewrites this thread's own items
    // of sDt…sGate, read last here, and sBC, read last before the barrier above; sYp is next
    // written after the next barrier.)
    const int64_t baseE = (static_cast<int64_t>(b) * L + static_cast<int64_t>(c) * T) * E + ec;
#pragma unroll
    for (int j = 0; j < IT; ++j) {
      const int t = ct + j * G;
      if (ecOk && t < Lc) {
        const int idx = t * EB + ce;
        const float y = sumShared<G>(sYp + t * kBlock + ce * G) + sSkip[idx];
        p.out[baseE + static_cast<int64_t>(t) * E] = fromF32<Elem>(y * sGate[idx]);
      }
    }
  }

#pragma unroll
  for (int k = 0; k < NPT; ++k) {
    const int n = g * NPT + k;
    if (eOk && n < N) p.lastState[stateBase + n] = fromF32<Elem>(h[k]);
  }
}

// ---------------------------------------------------------------------------------------------
// Backward
// ---------------------------------------------------------------------------------------------

/**
 * Elem: the element type of the buffers (float or bf16). The atomically accumulated sums are
 * float32: the outputs themselves for float, float32 scratch for bf16.
 */
template <typename Elem>
struct BwdParams {
  const Elem* u;
  const Elem* delta;
  const Elem* A;
  const Elem* B;
  const Elem* C;
  const Elem* D;             // may be null
  const Elem* z;             // may be null
  const Elem* deltaBias;     // may be null
  const Elem* initialState;  // may be null
  const Elem* dOut;
  const Elem* dLastState;  // may be null
  Elem* du;
  Elem* ddelta;
  float* dA;  // zeroed by the host, accumulated atomically
  float* dB;  // zeroed by the host, accumulated atomically
  float* dC;  // zeroed by the host, accumulated atomically
  float* dD;             // may be null; zeroed by the host
  Elem* dz;              // may be null
  float* dDeltaBias;     // may be null; zeroed by the host
  Elem* dInitialState;   // may be null
  float* ckpt;  // [B][chunks − 1][E][NP] states at the start of chunks 1 …; null when chunks ≤ 1
  int batch, length, channels, stateSize;
  int eBlocks;
  int chunks;
  bool softplus;
};

template <int G, int NPT, int T>
constexpr size_t bwdSharedFloats() {
  constexpr int EB = kBlock / G;
  constexpr int NP = G * NPT;
  return 9 * T * EB + 2 * T * NP + kWarps * T * 2 * NP + T * kBlock * NPT;
}

/** Elem: the element type of the buffers (float or bf16). */
template <typename Elem, int G, int NPT, int T>
__global__ void __launch_bounds__(kBlock) scanBwdKernel(const BwdParams<Elem> p) {
  constexpr int EB = kBlock / G;
  constexpr int NP = G * NPT;
  constexpr int IT = T / G;
  constexpr int BCN = 2 * T * NP;
  constexpr int BCI = (BCN + kBlock - 1) / kBlock;
  constexpr int CL = 32 / G;  // channels per warp
  constexpr int V = 2 * NPT;  // dB and dC partials per lane and step
  constexpr int R = V >= CL ? V / CL : 1;              // sums a lane holds after the butterfly
  constexpr int kPlainMask = V < CL ? CL / V - 1 : 0;  // channel-lane bits of duplicate holders
  constexpr int R12 = G >= 2 ? 1 : 2;                  // of (S1, S2) after the in-group butterfly
  static_assert(T % G == 0, "chunk length must be a multiple of G");
  static_assert(NPT % R == 0, "butterfly results must not straddle dB and dC");

  extern __shared__ __align__(16) float smem[];
  float* const sDt = smem;             // dt                                   [T][EB]
  float* const sDtu = sDt + T * EB;    // dt·u                                 [T][EB]
  float* const sG = sDtu + T * EB;     // dOut·silu(z) (or dOut)               [T][EB]
  float* const sU = sG + T * EB;       // u                                    [T][EB]
  float* const sSpg = sU + T * EB;     // softplus'(x) (or 1)                  [T][EB]
  float* const sDzc = sSpg + T * EB;   // dOut·silu'(z)                        [T][EB]
  float* const sY = sDzc + T * EB;     // Σ_n C·h_t (for dz)                   [T][EB]
  float* const sS12 = sY + T * EB;     // Σ_n dh·A·Ā·h_{t−1}, Σ_n dh·B         [2][T][EB]
  float* const sBC = sS12 + 2 * T * EB;  // [B | C][T][NP], zero padded
  float* const sRed = sBC + BCN;         // per-warp dB | dC sums               [kWarps][T][2·NP]
  float* const sH = sRed + kWarps * T * 2 * NP;  // h_{t−1} per thread          [T][kBlock][NPT]

  const int E = p.channels, N = p.stateSize, L = p.length;
  const int nC = p.chunks;
  const int tid = threadIdx.x;
  const int lane = tid & 31;
  const int warp = tid >> 5;
  const int b = blockIdx.x / p.eBlocks;
  const int e0 = (blockIdx.x % p.eBlocks) * EB;
  const int g = tid % G;
  const int el = tid / G;
  const int e = e0 + el;
  const bool eOk = e < E;
  const int cl = lane / G;
  const int ct = tid / EB;
  const int ce = tid % EB;
  const int ec = e0 + ce;
  const bool ecOk = ec < E;
  const bool hasDz = p.dz != nullptr && p.z != nullptr;

  const int64_t stateBase = (static_cast<int64_t>(b) * E + e) * N;
  float A[NPT];
#pragma unroll
  for (int k = 0; k < NPT; ++k) {
    const int n = g * NPT + k;
    A[k] = (eOk && n < N) ? toF32(__ldg(p.A + static_cast<int64_t>(e) * N + n)) : 0.0f;
  }
  const float biasC = (p.deltaBias != nullptr && ecOk) ? toF32(__ldg(p.deltaBias + ec)) : 0.0f;
  const float dC = (p.D != nullptr && ecOk) ? toF32(__ldg(p.D + ec)) : 0.0f;

  // This lane's checkpoint slot for chunk c ≥ 1.
  auto ckptPtr = [&](int c) {
    return p.ckpt + ((static_cast<int64_t>(b) * (nC - 1) + (c - 1)) * E + e) * NP + g * NPT;
  };
  // The state at the start of chunk c.
  auto loadChunkState = [&](int c, float (&s)[NPT]) {
    if (c == 0) {
#pragma unroll
      for (int k = 0; k < NPT; ++k) {
        const int n = g * NPT + k;
        s[k] = (eOk && n < N && p.initialState != nullptr)
                   ? toF32(__ldg(p.initialState + stateBase + n))
                   : 0.0f;
      }
    } else {
      const float* src = ckptPtr(c);
#pragma unroll
      for (int k = 0; k < NPT; ++k) s[k] = eOk ? src[k] : 0.0f;
    }
  };

  // Raw elements, converted in store() (as in the forward).
  Elem rDelta[IT], rU[IT], rDout[IT], rZ[IT], rBC[BCI];

  // Global → registers for chunk c; `full` adds dOut, z and C (pass 2).
  auto load = [&](int c, bool full) {
    const int t0 = c * T;
    const int Lc = min(T, L - t0);
    const int64_t baseE = (static_cast<int64_t>(b) * L + t0) * E + ec;
    const int64_t baseN = (static_cast<int64_t>(b) * L + t0) * N;
#pragma unroll
    for (int j = 0; j < IT; ++j) {
      const int t = ct + j * G;
      const bool ok = ecOk && t < Lc;
      const int64_t off = baseE + static_cast<int64_t>(t) * E;
      rDelta[j] = ok ? __ldg(p.delta + off) : Elem{};
      rU[j] = ok ? __ldg(p.u + off) : Elem{};
      rDout[j] = (ok && full) ? __ldg(p.dOut + off) : Elem{};
      rZ[j] = (ok && full && p.z != nullptr) ? __ldg(p.z + off) : Elem{};
    }
#pragma unroll
    for (int j = 0; j < BCI; ++j) {
      const int i = tid + j * kBlock;
      const int which = i / (T * NP);
      const int r = i - which * (T * NP);
      const int t = r / NP;
      const int n = r - t * NP;
      const bool ok = i < BCN && t < Lc && n < N && (full || which == 0);
      const Elem* src = which != 0 ? p.C : p.B;
      rBC[j] = ok ? __ldg(src + baseN + static_cast<int64_t>(t) * N + n) : Elem{};
    }
  };

  // Registers → shared memory. Steps past the end and channels past E get zeros (dt = dt·u = g
  // = 0, so they would leave h and dh unchanged and add nothing to any sum).
  auto store = [&](int c, bool full) {
    const int Lc = min(T, L - c * T);
#pragma unroll
    for (int j = 0; j < IT; ++j) {
      const int t = ct + j * G;
      const bool ok = ecOk && t < Lc;
      float dt = 0.0f, dtu = 0.0f, gv = 0.0f, uu = 0.0f, spg = 0.0f, dzc = 0.0f;
      if (ok) {
        const float x = toF32(rDelta[j]) + biasC;
        dt = p.softplus ? softplusF(x) : x;
        uu = toF32(rU[j]);
        dtu = dt * uu;
        if (full) {
          spg = p.softplus ? softplusGradF(x) : 1.0f;
          const float dout = toF32(rDout[j]);
          gv = dout;
          if (p.z != nullptr) {
            const float zz = toF32(rZ[j]);
            if (hasDz) dzc = dout * siluGradF(zz);
            gv = dout * siluF(zz);
          }
        }
      }
      const int idx = t * EB + ce;
      sDt[idx] = dt;
      sDtu[idx] = dtu;
      if (full) {
        sG[idx] = gv;
        sU[idx] = uu;
        sSpg[idx] = spg;
        sDzc[idx] = dzc;
      }
    }
#pragma unroll
    for (int j = 0; j < BCI; ++j) {
      const int i = tid + j * kBlock;
      if (i < BCN) sBC[i] = toF32(rBC[j]);
    }
  };

  // ---- Pass 1: checkpoints at the start of chunks 1 … nC − 1. ----
  if (nC > 1) {
    float h[NPT];
    loadChunkState(0, h);
    load(0, false);
    for (int c = 0; c < nC - 1; ++c) {  // these chunks are full (T steps)
      store(c, false);
      __syncthreads();
      if (c + 1 < nC - 1) load(c + 1, false);
#pragma unroll 4
      for (int t = 0; t < T; ++t) {
        const float dt = sDt[t * EB + el];
        const float dtu = sDtu[t * EB + el];
        float bv[NPT];
        loadShared<NPT>(sBC + t * NP + g * NPT, bv);
#pragma unroll
        for (int k = 0; k < NPT; ++k) h[k] = expf(dt * A[k]) * h[k] + dtu * bv[k];
      }
      if (eOk) {
        float* dst = ckptPtr(c + 1);
#pragma unroll
        for (int k = 0; k < NPT; ++k) dst[k] = h[k];
      }
      __syncthreads();
    }
  }

  // ---- Pass 2: chunks in reverse, dh carried in registers. ----
  float dh[NPT], dAacc[NPT];
#pragma unroll
  for (int k = 0; k < NPT; ++k) {
    const int n = g * NPT + k;
    dh[k] = (eOk && n < N && p.dLastState != nullptr) ? toF32(__ldg(p.dLastState + stateBase + n))
                                                      : 0.0f;
    dAacc[k] = 0.0f;
  }
  float accD = 0.0f, accBias = 0.0f;  // cooperative role: Σ over this thread's (t, ec) items

  // Where this lane's channel-butterfly sums go in a warp's [2·NP] row of sRed.
  const bool redWriter = (cl & kPlainMask) == 0;
  int redSlot;
  {
    const int off = butterflyOffset<V, 16, G>(lane);
    const int which = off / NPT;
    const int k = off - which * NPT;
    redSlot = which * NP + g * NPT + k;
  }
  // Which of (S1, S2) this lane holds after the in-group butterfly, and whether it writes it.
  const int s12Off = butterflyOffset<2, G / 2, 1>(lane);
  const bool s12Writer = G <= 2 || (g & (G / 2 - 1)) == 0;
  float* const hSlot = sH + tid * NPT;  // + t·kBlock·NPT

  float hStart[NPT];
  if (nC > 0) {
    load(nC - 1, true);
    loadChunkState(nC - 1, hStart);
  }
  for (int c = nC - 1; c >= 0; --c) {
    const int Lc = min(T, L - c * T);
    store(c, true);
    float h[NPT];
#pragma unroll
    for (int k = 0; k < NPT; ++k) h[k] = hStart[k];
    __syncthreads();
    if (c > 0) {
      load(c - 1, true);
      loadChunkState(c - 1, hStart);
    }

    // Recompute the chunk's states: sH[t] = h_{t−1} (this thread's own slots only), and Σ C·h_t.
#pragma unroll 2
    for (int t = 0; t < Lc; ++t) {
      storeShared<NPT>(hSlot + t * (kBlock * NPT), h);
      const float dt = sDt[t * EB + el];
      const float dtu = sDtu[t * EB + el];
      float bv[NPT];
      loadShared<NPT>(sBC + t * NP + g * NPT, bv);
#pragma unroll
      for (int k = 0; k < NPT; ++k) h[k] = expf(dt * A[k]) * h[k] + dtu * bv[k];
      if (hasDz) {
        float cv[NPT];
        loadShared<NPT>(sBC + T * NP + t * NP + g * NPT, cv);
        float y = 0.0f;
#pragma unroll
        for (int k = 0; k < NPT; ++k) y += cv[k] * h[k];
#pragma unroll
        for (int m = G / 2; m >= 1; m >>= 1) y += __shfl_xor_sync(kFullMask, y, m);
        if (g == 0) sY[t * EB + el] = y;
      }
    }

    // Walk back through the chunk; h holds h_t.
#pragma unroll 2
    for (int t = Lc - 1; t >= 0; --t) {
      const float dt = sDt[t * EB + el];
      const float dtu = sDtu[t * EB + el];
      const float gv = sG[t * EB + el];
      float bv[NPT], cv[NPT], hp[NPT];
      loadShared<NPT>(sBC + t * NP + g * NPT, bv);
      loadShared<NPT>(sBC + T * NP + t * NP + g * NPT, cv);
      loadShared<NPT>(hSlot + t * (kBlock * NPT), hp);  // h_{t−1}
      float s[2] = {0.0f, 0.0f};
      float v[V];
#pragma unroll
      for (int k = 0; k < NPT; ++k) {
        const float d = dh[k] + gv * cv[k];  // ∂loss/∂h_t, now including y_t's use of h_t
        const float aBar = expf(dt * A[k]);
        const float aH = aBar * hp[k];  // Ā·h_{t−1}
        s[0] += d * (A[k] * aH);
        s[1] += d * bv[k];
        dAacc[k] += d * dt * aH;
        v[k] = d * dtu;        // dB partial
        v[NPT + k] = gv * h[k];  // dC partial
        dh[k] = d * aBar;      // ∂loss/∂h_{t−1}
        h[k] = hp[k];
      }
      Butterfly<2, G / 2, 1>::run(s, lane);
      if (s12Writer) {
#pragma unroll
        for (int r = 0; r < R12; ++r) sS12[(s12Off + r) * (T * EB) + t * EB + el] = s[r];
      }
      Butterfly<V, 16, G>::run(v, lane);
      if (redWriter) {
        float* dst = sRed + (warp * T + t) * (2 * NP) + redSlot;
#pragma unroll
        for (int r = 0; r < R; ++r) dst[r] = v[r];
      }
    }
    __syncthreads();

    // Per-(t, e) outputs, coalesced over e. (The next store() rewrites this thread's own items
    // of sDt…sDzc, read last here, and sBC, read last before the barrier above; sY, sS12, sRed
    // and sH are next written after the next barrier.)
    const int64_t baseE = (static_cast<int64_t>(b) * L + static_cast<int64_t>(c) * T) * E + ec;
#pragma unroll
    for (int j = 0; j < IT; ++j) {
      const int t = ct + j * G;
      if (ecOk && t < Lc) {
        const int idx = t * EB + ce;
        const float s1 = sS12[idx];
        const float s2 = sS12[T * EB + idx];
        const float uu = sU[idx];
        const float gv = sG[idx];
        const float ddt = s1 + uu * s2;  // Σ_n dh·(A·Ā·h_{t−1} + u·B)
        const float dx = ddt * sSpg[idx];
        const int64_t off = baseE + static_cast<int64_t>(t) * E;
        p.ddelta[off] = fromF32<Elem>(dx);
        accBias += dx;
        p.du[off] = fromF32<Elem>(sDt[idx] * s2 + gv * dC);
        accD += gv * uu;
        if (hasDz) p.dz[off] = fromF32<Elem>(sDzc[idx] * (sY[idx] + dC * uu));
      }
    }
    // dB, dC: the block's sum over its channels, one atomic per (t, n).
    const int64_t baseN = (static_cast<int64_t>(b) * L + static_cast<int64_t>(c) * T) * N;
#pragma unroll
    for (int j = 0; j < BCI; ++j) {
      const int i = tid + j * kBlock;
      const int which = i / (T * NP);
      const int r = i - which * (T * NP);
      const int t = r / NP;
      const int n = r - t * NP;
      if (i < BCN && t < Lc && n < N) {
        float s = 0.0f;
#pragma unroll
        for (int w = 0; w < kWarps; ++w) s += sRed[(w * T + t) * (2 * NP) + which * NP + n];
        float* dst = which != 0 ? p.dC : p.dB;
        atomicAdd(dst + baseN + static_cast<int64_t>(t) * N + n, s);
      }
    }
  }

  // Sums over batch and time, and the gradient with respect to the initial state.
#pragma unroll
  for (int k = 0; k < NPT; ++k) {
    const int n = g * NPT + k;
    if (eOk && n < N) {
      if (p.dInitialState != nullptr) p.dInitialState[stateBase + n] = fromF32<Elem>(dh[k]);
      atomicAdd(p.dA + static_cast<int64_t>(e) * N + n, dAacc[k]);
    }
  }
  if (ecOk) {
    if (p.dD != nullptr && p.D != nullptr) atomicAdd(p.dD + ec, accD);
    if (p.dDeltaBias != nullptr) atomicAdd(p.dDeltaBias + ec, accBias);
  }
}

// ---------------------------------------------------------------------------------------------
// Step: S lanes per (b, e) row (S = the power of two ≥ N, at most 32), reduced with shuffles.
// ---------------------------------------------------------------------------------------------

constexpr int kStepBlock = 256;

/** Elem: the element type of every buffer (float or bf16). */
/** Elem: the inputs' and out's element type; State: the state's (Elem, or float32 for bf16 Elem:
 *  mixed precision keeps h in float32). */
template <typename Elem, typename State>
struct StepParams {
  const Elem* u;
  const Elem* delta;
  const Elem* A;
  const Elem* B;
  const Elem* C;
  const Elem* D;          // may be null
  const Elem* z;          // may be null
  const Elem* deltaBias;  // may be null
  State* state;           // [B][E][N], updated in place (each element read once, stored once)
  Elem* out;
  int batch, channels, stateSize;
  int lanes;  // S
  bool softplus;
};

/** Elem: the element type of the inputs and out (float or bf16); State: the state's. */
template <typename Elem, typename State>
__global__ void __launch_bounds__(kStepBlock) scanStepKernel(const StepParams<Elem, State> p) {
  const int E = p.channels, N = p.stateSize, S = p.lanes;
  const int64_t rows = static_cast<int64_t>(p.batch) * E;
  const int64_t gid = static_cast<int64_t>(blockIdx.x) * kStepBlock + threadIdx.x;
  const int64_t row = gid / S;
  const int sub = static_cast<int>(gid - row * S);
  const bool ok = row < rows;  // every lane stays for the shuffles
  float y = 0.0f;
  float uu = 0.0f;
  int b = 0, e = 0;
  if (ok) {
    b = static_cast<int>(row / E);
    e = static_cast<int>(row - static_cast<int64_t>(b) * E);
    uu = toF32(__ldg(p.u + row));
    const float x = toF32(__ldg(p.delta + row)) +
                    (p.deltaBias != nullptr ? toF32(__ldg(p.deltaBias + e)) : 0.0f);
    const float dt = p.softplus ? softplusF(x) : x;
    const float dtu = dt * uu;
    const Elem* Ae = p.A + static_cast<int64_t>(e) * N;
    const Elem* Bb = p.B + static_cast<int64_t>(b) * N;
    const Elem* Cb = p.C + static_cast<int64_t>(b) * N;
    State* h = p.state + row * N;
    for (int n = sub; n < N; n += S) {
      const float hn =
          expf(dt * toF32(__ldg(Ae + n))) * toF32(h[n]) + dtu * toF32(__ldg(Bb + n));
      h[n] = fromF32<State>(hn);
      y += toF32(__ldg(Cb + n)) * hn;
    }
  }
  for (int m = S / 2; m >= 1; m >>= 1) y += __shfl_xor_sync(kFullMask, y, m);
  if (ok && sub == 0) {
    if (p.D != nullptr) y += toF32(__ldg(p.D + e)) * uu;
    p.out[row] = fromF32<Elem>(p.z != nullptr ? y * siluF(toF32(__ldg(p.z + row))) : y);
  }
}

// ---------------------------------------------------------------------------------------------
// bfloat16 gradients summed in float32 scratch: one rounding pass into the output.
// ---------------------------------------------------------------------------------------------

constexpr int kRoundBlock = 256;

/** Four bf16 elements, stored with one 8-byte store. */
struct __align__(8) Bf16x4 {
  bf16 v[4];
};

/** out[i] = sum[i] rounded to bf16; four elements per step (16-byte loads) when `vec`. */
__global__ void __launch_bounds__(kRoundBlock)
    roundKernel(const float* __restrict__ sum, bf16* __restrict__ out, int64_t n, bool vec) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * kRoundBlock;
  const int64_t first = static_cast<int64_t>(blockIdx.x) * kRoundBlock + threadIdx.x;
  const int64_t quads = vec ? n / 4 : 0;
  for (int64_t i = first; i < quads; i += stride) {
    const float4 s = reinterpret_cast<const float4*>(sum)[i];
    Bf16x4 r;
    r.v[0] = fromF32<bf16>(s.x);
    r.v[1] = fromF32<bf16>(s.y);
    r.v[2] = fromF32<bf16>(s.z);
    r.v[3] = fromF32<bf16>(s.w);
    reinterpret_cast<Bf16x4*>(out)[i] = r;
  }
  for (int64_t i = 4 * quads + first; i < n; i += stride) out[i] = fromF32<bf16>(sum[i]);
}

// ---------------------------------------------------------------------------------------------
// Host side
// ---------------------------------------------------------------------------------------------

void requireEnd(const bmojo::Args& a, const char* name) {
  if (a.remaining() != 0) {
    throw std::invalid_argument(std::string(name) +
                                ": kernel argument list is too long (marshaller/ABI mismatch)");
  }
}

int checkedDim(int64_t v, const char* what, const char* name) {
  if (v < 0 || v > INT_MAX) {
    throw std::invalid_argument(std::string(name) + ": " + what + " out of range (" +
                                std::to_string(v) + ")");
  }
  return static_cast<int>(v);
}

void checkStateSize(int n, const char* name) {
  if (n > kMaxStateSize) {
    throw std::invalid_argument(std::string(name) + ": stateSize " + std::to_string(n) +
                                " is above the cuda backend's maximum of " +
                                std::to_string(kMaxStateSize));
  }
}

unsigned gridFor(int64_t eBlocks, int64_t batch, const char* name) {
  const int64_t blocks = eBlocks * batch;
  if (blocks > INT_MAX) throw std::invalid_argument(std::string(name) + ": too many blocks");
  return static_cast<unsigned>(blocks);
}

using bmojo::Scratch;

/** Calls f.template operator()<G, NPT>() for the lane split that fits N (≤ kMaxStateSize). */
template <typename F>
void dispatchStateSize(int N, F&& f) {
  if (N <= 1) {
    f.template operator()<1, 1>();
  } else if (N <= 2) {
    f.template operator()<1, 2>();
  } else if (N <= 4) {
    f.template operator()<2, 2>();
  } else if (N <= 8) {
    f.template operator()<2, 4>();
  } else if (N <= 16) {
    f.template operator()<4, 4>();
  } else if (N <= 32) {
    f.template operator()<8, 4>();
  } else {
    f.template operator()<16, 4>();
  }
}

/** Elem: the element type of the buffers (float or bf16). */
template <typename Elem>
struct FwdLaunch {
  FwdParams<Elem>& p;
  template <int G, int NPT>
  void operator()() {
    constexpr int T = fwdChunk<G>();
    constexpr int EB = kBlock / G;
    const int64_t eBlocks = (static_cast<int64_t>(p.channels) + EB - 1) / EB;
    p.eBlocks = static_cast<int>(eBlocks);
    const unsigned blocks = gridFor(eBlocks, p.batch, "selectiveScan");
    scanFwdKernel<Elem, G, NPT, T><<<blocks, kBlock, 0, bmojo::stream()>>>(p);
    bmojo::checkLaunch("selectiveScan");
  }
};

/** Elem: the element type of the buffers (float or bf16). */
template <typename Elem>
struct BwdLaunch {
  BwdParams<Elem>& p;
  template <int G, int NPT>
  void operator()() {
    constexpr int T = kBwdChunk;
    constexpr int EB = kBlock / G;
    constexpr int NP = G * NPT;
    constexpr size_t smemBytes = bwdSharedFloats<G, NPT, T>() * sizeof(float);
    const int64_t eBlocks = (static_cast<int64_t>(p.channels) + EB - 1) / EB;
    p.eBlocks = static_cast<int>(eBlocks);
    p.chunks = (p.length + T - 1) / T;
    const unsigned blocks = gridFor(eBlocks, p.batch, "selectiveScanBackward");

    const size_t ckptFloats = p.chunks > 1 ? static_cast<size_t>(p.batch) *
                                                 static_cast<size_t>(p.chunks - 1) *
                                                 static_cast<size_t>(p.channels) * NP
                                           : 0;
    Scratch ckpt(ckptFloats * sizeof(float));
    p.ckpt = ckpt.as<float>();

    auto kernel = scanBwdKernel<Elem, G, NPT, T>;
    static bool sharedConfigured = false;  // one per instantiation
    if (!sharedConfigured) {
      bmojo::check(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                        static_cast<int>(smemBytes)),
                   "selectiveScanBackward: cudaFuncSetAttribute");
      sharedConfigured = true;
    }
    kernel<<<blocks, kBlock, smemBytes, bmojo::stream()>>>(p);
    bmojo::checkLaunch("selectiveScanBackward");
  }
};

void zeroAsync(void* ptr, size_t floats, const char* what) {
  if (ptr == nullptr || floats == 0) return;
  bmojo::check(cudaMemsetAsync(ptr, 0, floats * sizeof(float), bmojo::stream()), what);
}

/**
 * The zeroed float32 array the backward's blocks atomically sum one gradient of `count` elements
 * into: the output itself for float; for bf16 float32 scratch, rounded into the output by
 * finish(). Null when the output is null. Elem: the output's element type (float or bf16).
 */
template <typename Elem>
class AtomicSum {
 public:
  AtomicSum(Elem* out, size_t count, const char* what)
      : out_(out),
        count_(count),
        scratch_(std::is_same_v<Elem, bf16> && out != nullptr ? count * sizeof(float) : 0) {
    zeroAsync(sum(), count, what);
  }
  float* sum() const {
    if constexpr (std::is_same_v<Elem, bf16>) {
      return scratch_.as<float>();
    } else {
      return out_;
    }
  }
  /** Stores the sums into the output (a rounding pass for bf16, nothing for float). */
  void finish() const {
    if constexpr (std::is_same_v<Elem, bf16>) {
      if (out_ == nullptr || count_ == 0) return;
      const float* s = scratch_.as<const float>();
      const bool vec = bmojo::aligned16(s) && (reinterpret_cast<uintptr_t>(out_) & 7u) == 0;
      const int64_t n = static_cast<int64_t>(count_);
      roundKernel<<<bmojo::blocksFor(vec ? (n + 3) / 4 : n, kRoundBlock), kRoundBlock, 0,
                    bmojo::stream()>>>(s, out_, n, vec);
      bmojo::checkLaunch("selectiveScanBackward (round to bf16)");
    }
  }

 private:
  Elem* const out_;
  const size_t count_;
  const Scratch scratch_;
};

// The entries' bodies. Elem: the element type of the buffers (float or bf16).

/** Reads INPUTS (u, delta, A, B, C, D?, z?, deltaBias?, deltaSoftplus) into p's fields of those
 *  names (the forward's, backward's or step's parameters, of element type Elem). */
template <template <typename...> class Params, typename Elem, typename... Rest>
void readInputs(bmojo::Args& a, Params<Elem, Rest...>& p) {
  p.u = a.buf<const Elem>();
  p.delta = a.buf<const Elem>();
  p.A = a.buf<const Elem>();
  p.B = a.buf<const Elem>();
  p.C = a.buf<const Elem>();
  p.D = a.optBuf<const Elem>();
  p.z = a.optBuf<const Elem>();
  p.deltaBias = a.optBuf<const Elem>();
  p.softplus = a.flag();
}

template <typename Elem>
void selectiveScan(bmojo::Args& a, const char* name) {
  FwdParams<Elem> p{};
  readInputs(a, p);
  p.initialState = a.optBuf<const Elem>();
  p.out = a.buf<Elem>();
  p.lastState = a.buf<Elem>();
  p.batch = checkedDim(a.i64(), "batch", name);
  p.length = checkedDim(a.i64(), "length", name);
  p.channels = checkedDim(a.i64(), "channels", name);
  p.stateSize = checkedDim(a.i64(), "stateSize", name);
  requireEnd(a, name);
  checkStateSize(p.stateSize, name);
  // length 0 still writes lastState (= initialState or 0), so only empty B·E skips the launch.
  if (p.batch == 0 || p.channels == 0) return;
  dispatchStateSize(p.stateSize, FwdLaunch<Elem>{p});
}

template <typename Elem>
void selectiveScanBackward(bmojo::Args& a, const char* name) {
  BwdParams<Elem> p{};
  readInputs(a, p);
  p.initialState = a.optBuf<const Elem>();
  p.dOut = a.buf<const Elem>();
  p.dLastState = a.optBuf<const Elem>();
  p.du = a.buf<Elem>();
  p.ddelta = a.buf<Elem>();
  Elem* const dA = a.buf<Elem>();
  Elem* const dB = a.buf<Elem>();
  Elem* const dC = a.buf<Elem>();
  Elem* const dD = a.optBuf<Elem>();
  p.dz = a.optBuf<Elem>();
  Elem* const dDeltaBias = a.optBuf<Elem>();
  p.dInitialState = a.optBuf<Elem>();
  p.batch = checkedDim(a.i64(), "batch", name);
  p.length = checkedDim(a.i64(), "length", name);
  p.channels = checkedDim(a.i64(), "channels", name);
  p.stateSize = checkedDim(a.i64(), "stateSize", name);
  requireEnd(a, name);
  checkStateSize(p.stateSize, name);

  // Sums (over batch/time or over channels) are accumulated atomically into zeroed float32.
  const size_t E = static_cast<size_t>(p.channels);
  const size_t N = static_cast<size_t>(p.stateSize);
  const size_t tokens = static_cast<size_t>(p.batch) * static_cast<size_t>(p.length);
  const AtomicSum<Elem> sumA(dA, E * N, "selectiveScanBackward: zero dA");
  const AtomicSum<Elem> sumB(dB, tokens * N, "selectiveScanBackward: zero dB");
  const AtomicSum<Elem> sumC(dC, tokens * N, "selectiveScanBackward: zero dC");
  const AtomicSum<Elem> sumD(dD, E, "selectiveScanBackward: zero dD");
  const AtomicSum<Elem> sumBias(dDeltaBias, E, "selectiveScanBackward: zero dDeltaBias");
  p.dA = sumA.sum();
  p.dB = sumB.sum();
  p.dC = sumC.sum();
  p.dD = sumD.sum();
  p.dDeltaBias = sumBias.sum();
  // length 0 still writes dInitialState (= dLastState or 0).
  if (p.batch != 0 && p.channels != 0) dispatchStateSize(p.stateSize, BwdLaunch<Elem>{p});
  sumA.finish();
  sumB.finish();
  sumC.finish();
  sumD.finish();
  sumBias.finish();
}

/** Launches the step with the state of element type State (its pointer read as `state`). */
template <typename Elem, typename State>
void launchStep(StepParams<Elem, State> p, const char* name) {
  const int64_t rows = static_cast<int64_t>(p.batch) * p.channels;
  if (rows == 0) return;
  int S = 1;
  while (S < p.stateSize && S < 32) S *= 2;
  p.lanes = S;
  const int64_t threads = rows * S;
  const int64_t blocks = (threads + kStepBlock - 1) / kStepBlock;
  if (blocks > INT_MAX) throw std::invalid_argument(std::string(name) + ": too many blocks");
  scanStepKernel<Elem, State><<<static_cast<unsigned>(blocks), kStepBlock, 0, bmojo::stream()>>>(p);
  bmojo::checkLaunch(name);
}

template <typename Elem>
void selectiveScanStep(bmojo::Args& a, const char* name) {
  StepParams<Elem, Elem> p{};
  readInputs(a, p);
  void* state = a.buf();
  p.out = a.buf<Elem>();
  p.batch = checkedDim(a.i64(), "batch", name);
  p.channels = checkedDim(a.i64(), "channels", name);
  p.stateSize = checkedDim(a.i64(), "stateSize", name);
  const bmojo::DType stateDType = a.dtype();
  requireEnd(a, name);
  if (std::is_same_v<Elem, bf16> && stateDType == bmojo::F32) {
    StepParams<Elem, float> wide{p.u, p.delta, p.A, p.B, p.C, p.D, p.z, p.deltaBias,
                                 static_cast<float*>(state), p.out, p.batch, p.channels,
                                 p.stateSize, 0, p.softplus};
    launchStep(wide, name);
    return;
  }
  if (stateDType != (std::is_same_v<Elem, bf16> ? bmojo::BF16 : bmojo::F32)) {
    throw std::invalid_argument(std::string(name) +
                                ": the state must have the inputs' dtype, or be float32 with "
                                "bfloat16 inputs");
  }
  p.state = static_cast<Elem*>(state);
  launchStep(p, name);
}

}  // namespace

// Arguments: dtype, u, delta, A, B, C, D?, z?, deltaBias?, deltaSoftplus, initialState?, out,
// lastState, batch, length, channels, stateSize.
void kernel_selectiveScan(bmojo::Args& a) {
  const char* name = "selectiveScan";
  bmojo::withFloatElem(bmojo::readFloatDType(a, name),
                       [&](auto e) { selectiveScan<typename decltype(e)::type>(a, name); });
}

// Arguments: dtype, u, delta, A, B, C, D?, z?, deltaBias?, deltaSoftplus, initialState?, dOut,
// dLastState?, du, ddelta, dA, dB, dC, dD?, dz?, dDeltaBias?, dInitialState?, batch, length,
// channels, stateSize.
void kernel_selectiveScanBackward(bmojo::Args& a) {
  const char* name = "selectiveScanBackward";
  bmojo::withFloatElem(bmojo::readFloatDType(a, name),
                       [&](auto e) { selectiveScanBackward<typename decltype(e)::type>(a, name); });
}

// Arguments: dtype, u, delta, A, B, C, D?, z?, deltaBias?, deltaSoftplus, state, out, batch,
// channels, stateSize, stateDType.
void kernel_selectiveScanStep(bmojo::Args& a) {
  const char* name = "selectiveScanStep";
  bmojo::withFloatElem(bmojo::readFloatDType(a, name),
                       [&](auto e) { selectiveScanStep<typename decltype(e)::type>(a, name); });
}
