// Decode attention for the cuda backend: attention.cu's forward pass for a few queries per head
// (a decoding step), split over the keys. The tiled kernel runs one block per (batch, head, 64
// queries), so a step with one query per head ran 12 blocks on an H200's 132 SMs, each walking its
// head's whole key range alone (at 16k keys, 1.8 ms per layer). Here each query row's keys are
// cut into spans, one block per span, and the last span of a row to finish merges the spans'
// softmax states (one launch: the span blocks count themselves on a per-row counter).
//
// Items of the query row at position p (chunk c = p / chunkSize): the memory slots of chunk c
// first (when memory is given; a slot whose mask is 0 is skipped), then the in-context keys
// max(0, p - window + 1) .. p. One softmax runs over all of them; the specification is
// packages/tensor/src/backends/cpu/attention.ts.
//
// Block: 4 warps of 32 / LPK key groups; a group's LPK lanes hold E consecutive elements of a row
// each (DH = LPK * E, DH in {16, 32, 64, 128, 256}, zero past Dh). A group scores one item per
// step (4-element vector loads, a shuffle sum over its lanes) and keeps its own online-softmax
// state (max m, sum l, accumulator o; scores in the log2 domain). The states are merged across
// groups (shuffles), warps (shared memory) and, when a row has several spans, through scratch
// [rows, splits, 2 + Dh] = (m, l, o): each span publishes its state and bumps the row's counter,
// and the block that counts last reads every span's state back and writes the row (then zeroes
// the counter).
//
// Element type T (float or bf16) of q, k, v, memory k/v, out and lse: bf16 elements are read into
// float32 (8-byte loads of 4), everything is computed in float32 (the scratch states too), and
// out and lse are rounded once when stored.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstddef>

#include "attention_decode.cuh"
#include "common.cuh"

namespace {

using bmojo::AttentionForwardParams;
using bmojo::bf16;

constexpr int kWarps = 4;
constexpr int kThreads = 32 * kWarps;
/** Queries per head up to which the split-key kernels run. */
constexpr int kMaxQueries = 4;
/** Fewest items per span (below it a block's fixed cost outweighs the parallelism). */
constexpr int kMinSpan = 64;
constexpr int kMaxSplits = 256;
/** Blocks per SM the split count aims for. */
constexpr int kBlocksPerSm = 8;
constexpr float kLn2 = 0.6931471805599453f;

__device__ __forceinline__ float negInf() { return __int_as_float(0xff800000u); }

template <int DH>
struct Layout {
  static constexpr int E = DH <= 128 ? 4 : 8;  // floats per lane
  static constexpr int LPK = DH / E;          // lanes per key group
  static constexpr int GPW = 32 / LPK;        // key groups per warp
  static constexpr int KG = GPW * kWarps;     // key groups per block
};

/** Softmax state over some items: m = max score, l = Σ 2^(s − m), o = Σ 2^(s − m) · v. */
template <int E>
struct SoftmaxState {
  float m;
  float l;
  float o[E];
};

/** Merges the state (m2, l2, o2) into s; a state that saw nothing has m = -Inf, l = 0, o = 0. */
template <int E>
__device__ __forceinline__ void merge(SoftmaxState<E>& s, float m2, float l2, const float (&o2)[E]) {
  const float mNew = fmaxf(s.m, m2);
  // Both empty: use 0 as the reference so that exp2(-Inf - 0) = 0 rather than NaN.
  const float mRef = mNew == negInf() ? 0.f : mNew;
  const float a = exp2f(s.m - mRef);
  const float b = exp2f(m2 - mRef);
  s.l = fmaf(s.l, a, l2 * b);
#pragma unroll
  for (int e = 0; e < E; ++e) s.o[e] = fmaf(s.o[e], a, o2[e] * b);
  s.m = mNew;
}

/** This lane's E elements of a row (T: float or bf16), from column d0, as float32 (zeros past dh,
 *  or everywhere when !ok). */
template <int E, typename T>
__device__ __forceinline__ void loadLane(float (&dst)[E], const T* __restrict__ row, int d0, int dh,
                                         bool ok) {
#pragma unroll
  for (int t = 0; t < E; t += 4) {
    float4 x = make_float4(0.f, 0.f, 0.f, 0.f);
    if (ok && d0 + t < dh) x = bmojo::load4(row + d0 + t);
    dst[t] = x.x;
    dst[t + 1] = x.y;
    dst[t + 2] = x.z;
    dst[t + 3] = x.w;
  }
}

/** out[row] = o / l and lse[row] = ln(2^m · l) from this lane's E values at column d0, stored as
 *  T (float or bf16). */
template <int E, typename T>
__device__ __forceinline__ void writeRow(const AttentionForwardParams<T>& p, int row, int d0,
                                         int lane, float m, float l, const float (&o)[E]) {
  const int dh = p.headDim;
  // Every row sees at least its own key, so l >= 1; the guard keeps an empty row at 0.
  const float inv = l > 0.f ? 1.f / l : 0.f;
  T* out = p.out + static_cast<size_t>(row) * dh;
#pragma unroll
  for (int t = 0; t < E; t += 4) {
    if (d0 + t < dh) {
      bmojo::store4(out + d0 + t,
                    make_float4(o[t] * inv, o[t + 1] * inv, o[t + 2] * inv, o[t + 3] * inv));
    }
  }
  if (lane == 0) p.lse[row] = bmojo::fromF32<T>(l > 0.f ? (m + log2f(l)) * kLn2 : negInf());
}

/**
 * One block per (query row, span of `span` items); grid (rows, splits). With several spans, the
 * row's states go through `partial` (float32) and counters[row] (zero on entry, zero again on
 * exit). T is the element type of p's buffers (float or bf16).
 */
template <typename T, int DH>
__global__ void __launch_bounds__(kThreads)
    attentionDecodeKernel(const AttentionForwardParams<T> p, int span, float* __restrict__ partial,
                          unsigned* __restrict__ counters) {
  using L = Layout<DH>;
  constexpr int E = L::E;
  constexpr int LPK = L::LPK;
  const int dh = p.headDim;
  const int row = static_cast<int>(blockIdx.x);  // (b, h, i) of q [B, H, Lq]
  const int split = static_cast<int>(blockIdx.y);
  const int splits = static_cast<int>(gridDim.y);
  const int bh = row / p.queryLength;
  const int i = row - bh * p.queryLength;
  const int b = bh / p.heads;
  const int h = bh - b * p.heads;
  const size_t kvHead = static_cast<size_t>(b) * p.kvHeads + h / p.group;
  const int pos = p.queryOffset + i;
  const int jLo = max(0, pos - p.window + 1);
  const int nMem = p.hasMemory ? p.slots : 0;
  const int start = split * span;
  const int end = min(nMem + pos - jLo + 1, start + span);

  const int lane = static_cast<int>(threadIdx.x) & 31;
  const int warp = static_cast<int>(threadIdx.x) >> 5;
  const int d0 = (lane % LPK) * E;
  const int group = warp * L::GPW + lane / LPK;

  float q[E];
  loadLane<E>(q, p.q + static_cast<size_t>(row) * dh, d0, dh, true);
#pragma unroll
  for (int e = 0; e < E; ++e) q[e] *= p.scaleLog2;

  const T* kHead = p.k + kvHead * p.keyLength * dh;
  const T* vHead = p.v + kvHead * p.keyLength * dh;
  const T* memK = nullptr;
  const T* memV = nullptr;
  const int* mask = nullptr;
  if (nMem > 0) {
    const int c = pos / p.chunkSize;
    const size_t first = (kvHead * p.chunks + c) * p.slots;
    memK = p.memK + first * dh;
    memV = p.memV + first * dh;
    mask = p.memMask + (static_cast<size_t>(b) * p.chunks + c) * p.slots;
  }

  SoftmaxState<E> st;
  st.m = negInf();
  st.l = 0.f;
#pragma unroll
  for (int e = 0; e < E; ++e) st.o[e] = 0.f;

  // Uniform trip count across the warp: the shuffles below need every lane.
  for (int base = start; base < end; base += L::KG) {
    const int item = base + group;
    bool ok = item < end;
    const T* kRow = kHead;
    const T* vRow = vHead;
    if (ok) {
      if (item < nMem) {
        ok = mask[item] != 0;
        kRow = memK + static_cast<size_t>(item) * dh;
        vRow = memV + static_cast<size_t>(item) * dh;
      } else {
        const size_t j = static_cast<size_t>(jLo + item - nMem);
        kRow = kHead + j * dh;
        vRow = vHead + j * dh;
      }
    }
    float kv[E];
    float vv[E];
    loadLane<E>(kv, kRow, d0, dh, ok);
    loadLane<E>(vv, vRow, d0, dh, ok);
    float s = 0.f;
#pragma unroll
    for (int e = 0; e < E; ++e) s = fmaf(q[e], kv[e], s);
#pragma unroll
    for (int off = LPK / 2; off > 0; off >>= 1) s += __shfl_xor_sync(0xffffffffu, s, off);
    merge(st, ok ? s : negInf(), 1.f, vv);
  }

  // Groups of a warp differ in the lane bits from LPK up.
#pragma unroll
  for (int off = LPK; off < 32; off <<= 1) {
    const float m2 = __shfl_xor_sync(0xffffffffu, st.m, off);
    const float l2 = __shfl_xor_sync(0xffffffffu, st.l, off);
    float o2[E];
#pragma unroll
    for (int e = 0; e < E; ++e) o2[e] = __shfl_xor_sync(0xffffffffu, st.o[e], off);
    merge(st, m2, l2, o2);
  }

  __shared__ float sO[kWarps][DH];
  __shared__ float sM[kWarps];
  __shared__ float sL[kWarps];
  if (lane < LPK) {
#pragma unroll
    for (int e = 0; e < E; ++e) sO[warp][d0 + e] = st.o[e];
    if (lane == 0) {
      sM[warp] = st.m;
      sL[warp] = st.l;
    }
  }
  __syncthreads();
  if (warp != 0 || lane >= LPK) return;
#pragma unroll
  for (int w = 1; w < kWarps; ++w) {
    float o2[E];
#pragma unroll
    for (int e = 0; e < E; ++e) o2[e] = sO[w][d0 + e];
    merge(st, sM[w], sL[w], o2);
  }

  if (splits == 1) {
    writeRow<E>(p, row, d0, lane, st.m, st.l, st.o);
    return;
  }
  const size_t stride = static_cast<size_t>(2 + dh);
  float* rowPartial = partial + static_cast<size_t>(row) * splits * stride;
  float* dst = rowPartial + static_cast<size_t>(split) * stride;
  if (lane == 0) {
    dst[0] = st.m;
    dst[1] = st.l;
  }
#pragma unroll
  for (int e = 0; e < E; ++e) {
    if (d0 + e < dh) dst[2 + d0 + e] = st.o[e];
  }
  // Publish this span's state, then count it; the span that counts last merges the row.
  const unsigned lanes = LPK == 32 ? 0xffffffffu : (1u << (LPK & 31)) - 1u;
  __threadfence();
  __syncwarp(lanes);
  unsigned ticket = 0;
  if (lane == 0) ticket = atomicAdd(counters + row, 1u);
  ticket = __shfl_sync(lanes, ticket, 0);
  if (ticket != static_cast<unsigned>(splits - 1)) return;
  __threadfence();
  // The spans' states in span order (read from L2, past this SM's L1): the same sums as a
  // separate merge pass.
  float m = negInf();
  for (int s = 0; s < splits; ++s) m = fmaxf(m, __ldcg(rowPartial + s * stride));
  const float mRef = m == negInf() ? 0.f : m;
  float l = 0.f;
  float o[E];
#pragma unroll
  for (int e = 0; e < E; ++e) o[e] = 0.f;
  for (int s = 0; s < splits; ++s) {
    const float* src = rowPartial + s * stride;
    const float w = exp2f(__ldcg(src) - mRef);
    l = fmaf(__ldcg(src + 1), w, l);
#pragma unroll
    for (int e = 0; e < E; ++e) {
      if (d0 + e < dh) o[e] = fmaf(__ldcg(src + 2 + d0 + e), w, o[e]);
    }
  }
  writeRow<E>(p, row, d0, lane, m, l, o);
  if (lane == 0) counters[row] = 0;
}

template <typename T, int DH>
void launchDecode(const AttentionForwardParams<T>& p) {
  const int rows = p.batch * p.heads * p.queryLength;
  // The longest row is the last query's: its memory slots and min(window, position + 1) keys.
  const int items = (p.hasMemory ? p.slots : 0) + std::min(p.window, p.queryOffset + p.queryLength);
  const int wanted = (kBlocksPerSm * bmojo::smCount() + rows - 1) / rows;
  const int most = (items + kMinSpan - 1) / kMinSpan;
  int splits = std::max(1, std::min({wanted, most, kMaxSplits}));
  const int span = (items + splits - 1) / splits;
  splits = (items + span - 1) / span;
  const size_t partialBytes =
      splits > 1 ? static_cast<size_t>(rows) * splits * (2 + p.headDim) * sizeof(float) : 0;
  const bmojo::Scratch partial(partialBytes);
  unsigned* counters = splits > 1 ? bmojo::zeroedCounters(static_cast<size_t>(rows)) : nullptr;
  const dim3 grid(static_cast<unsigned>(rows), static_cast<unsigned>(splits));
  attentionDecodeKernel<T, DH>
      <<<grid, kThreads, 0, bmojo::stream()>>>(p, span, partial.as<float>(), counters);
  bmojo::checkLaunch("attention (decode)");
}

}  // namespace

namespace bmojo {

template <typename T>
bool attentionDecode(const AttentionForwardParams<T>& p, bool vec4) {
  if (!vec4 || p.queryLength > kMaxQueries) return false;
  const int dh = p.headDim;
  if (dh <= 16) {
    launchDecode<T, 16>(p);
  } else if (dh <= 32) {
    launchDecode<T, 32>(p);
  } else if (dh <= 64) {
    launchDecode<T, 64>(p);
  } else if (dh <= 128) {
    launchDecode<T, 128>(p);
  } else {
    launchDecode<T, 256>(p);
  }
  return true;
}

template bool attentionDecode<float>(const AttentionForwardParams<float>&, bool);
template bool attentionDecode<bf16>(const AttentionForwardParams<bf16>&, bool);

}  // namespace bmojo
