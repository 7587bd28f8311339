// Reduction and indexing kernels: reduce, gather, scatterAdd, scatter.
//
// The reference is the cpu backend (packages/tensor/src/backends/cpu/reduce.ts, gather.ts).
//
// reduce views x as [outer, size, inner] and reduces the middle axis:
//   short axis (size ≤ 8 when inner == 1, size ≤ by/4 otherwise): one thread per output.
//   inner == 1: one warp per row (size ≤ 1024) or one 256-thread block per row, lanes striding
//     the contiguous row, then warp-shuffle (and shared-memory across warps) reduction.
//   inner > 1:  a block owns a tile of bx = min(32, pow2ceil(inner)) adjacent columns of one outer
//     slice; its 256/bx thread rows stride the reduced axis (each warp reads contiguous memory),
//     then a shared-memory tree combines the thread rows.
//   When those leave the GPU mostly idle (few rows or columns, long reduced axis) the reduced axis
//   is also split into chunks: pass 1 writes one partial accumulator per chunk into scratch, pass
//   2 reduces the partials with the same kernels.
// Accumulators: float sum/mean in double (the reference accumulates in float64, rounded once on
// store); int32 sum in uint32 (wraps mod 2^32 exactly like the reference, in any order); max/min
// propagate NaN; argmax/argmin carry (value, index) and combine to the first index of the most
// extreme value, a NaN being more extreme than any number (the first NaN wins). bfloat16 elements
// are read as float32 (exact) and reduced like float32; a float result is rounded to bf16 once
// when stored (argmax/argmin write int32 as for every dtype).
//
// gather / scatterAdd / scatter first validate the indices on the device (the first bad position
// is atomicMin'd into scratch and read back), then launch; nothing is written when one is bad. While
// a program is captured they do not (nothing runs then; the replaying caller checks its inputs).
// gather and scatter move rows as raw words (16-byte vectors where the rows allow, else 4-byte
// words, else 2-byte bf16 elements), one thread per word. scatter is a plain row store: a repeated
// index gets whichever update lands last. scatterAdd adds with atomics; bfloat16 accumulates in a
// float32 scratch copy of the touched rows of out (loaded once, rounded once when stored back).
#include <cmath>
#include <cstdint>
#include <string>
#include <type_traits>

#include "common.cuh"

namespace {

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;

// REDUCE_OPS order (packages/tensor/src/backend/kernels.ts); the marshaller writes the index.
enum ReduceOp : int { kSum = 0, kMean, kMax, kMin, kArgmax, kArgmin, kReduceOpCount };

const char* const kReduceNames[kReduceOpCount] = {"sum", "mean", "max", "min", "argmax", "argmin"};

// ---------------------------------------------------------------------------------------------
// Host helpers
// ---------------------------------------------------------------------------------------------

using bmojo::aligned16;
using bmojo::Buf;
using bmojo::readBuf;
using bmojo::readDType;
using bmojo::readSize;
using bmojo::requireElems;

using bmojo::Scratch;

using bmojo::smCount;

/**
 * Division by a fixed divisor d (1 ≤ d ≤ 2^31 − 1) for dividends n ≤ 2^31 − 1 (see
 * elementwise.cu): n / d = (umulhi(n, m) + n) >> s with s = ceil(log2 d),
 * m = floor(2^32 (2^s − d) / d) + 1.
 */
struct FastDiv {
  uint32_t magic;
  uint32_t shift;

  static FastDiv make(uint32_t d) {
    uint32_t s = 0;
    while (s < 31 && (uint32_t{1} << s) < d) ++s;
    uint64_t m = ((uint64_t{1} << 32) * ((uint64_t{1} << s) - d)) / d + 1;
    return {static_cast<uint32_t>(m), s};
  }
  __device__ __forceinline__ uint32_t div(uint32_t n) const {
    return (__umulhi(n, magic) + n) >> shift;
  }
};

constexpr int64_t kSmallLimit = INT32_MAX;

// ---------------------------------------------------------------------------------------------
// reduce
// ---------------------------------------------------------------------------------------------

template <typename T>
struct ArgAcc {
  T val;
  int32_t idx;
};

template <int OP>
constexpr bool kIsArg = OP == kArgmax || OP == kArgmin;
template <int OP>
constexpr bool kIsSumLike = OP == kSum || OP == kMean;
template <int OP>
constexpr bool kIsMaxLike = OP == kMax || OP == kArgmax;

/**
 * The accumulator algebra of one (op, element type T: float, bf16 or int32_t). combine is
 * commutative and associative. Values are computed on as V: float for float32 and bfloat16
 * (bf16 → float is exact), int32 for int32.
 */
template <int OP, typename T>
struct Red {
  using Elem = T;
  using V = std::conditional_t<std::is_same_v<T, int32_t>, int32_t, float>;
  static constexpr bool kFloat = std::is_same_v<V, float>;
  using Sum = std::conditional_t<kFloat, double, uint32_t>;
  using Acc =
      std::conditional_t<kIsArg<OP>, ArgAcc<V>, std::conditional_t<kIsSumLike<OP>, Sum, V>>;
  using Out = std::conditional_t<kIsArg<OP>, int32_t, T>;

  /** The identity of max (or min). */
  __device__ __forceinline__ static V worst() {
    if constexpr (kFloat) return kIsMaxLike<OP> ? -INFINITY : INFINITY;
    else return kIsMaxLike<OP> ? INT32_MIN : INT32_MAX;
  }
  __device__ __forceinline__ static Acc identity() {
    if constexpr (kIsArg<OP>) {
      ArgAcc<V> a;
      a.val = worst();
      a.idx = INT32_MAX;  // loses every tie against a real element
      return a;
    } else if constexpr (kIsSumLike<OP>) {
      return Acc(0);
    } else {
      return worst();
    }
  }
  __device__ __forceinline__ static Acc fromElem(T e, int64_t r) {
    V v;
    if constexpr (kFloat) v = bmojo::toF32(e);
    else v = e;
    if constexpr (kIsArg<OP>) {
      ArgAcc<V> a;
      a.val = v;
      a.idx = static_cast<int32_t>(r);
      return a;
    } else if constexpr (kIsSumLike<OP>) {
      return static_cast<Acc>(v);  // float → double exactly; int32 → uint32 mod 2^32
    } else {
      return v;
    }
  }
  /** x strictly more extreme than y; a NaN is more extreme than any number. */
  __device__ __forceinline__ static bool better(V x, V y) {
    if constexpr (kFloat) {
      if (x != x) return y == y;
    }
    return kIsMaxLike<OP> ? x > y : x < y;
  }
  __device__ __forceinline__ static Acc combine(Acc a, Acc b) {
    if constexpr (kIsArg<OP>) {
      if (better(b.val, a.val)) return b;
      if (better(a.val, b.val)) return a;
      return b.idx < a.idx ? b : a;  // equally extreme (or both NaN): the first index wins
    } else if constexpr (kIsSumLike<OP>) {
      return a + b;
    } else if constexpr (kFloat) {
      if (a != a) return a;  // Math.max / Math.min propagate NaN
      if (b != b) return b;
      return kIsMaxLike<OP> ? fmaxf(a, b) : fminf(a, b);
    } else {
      return kIsMaxLike<OP> ? (a > b ? a : b) : (a < b ? a : b);
    }
  }
  /** The stored result: a float one as float32 (as the reference stores it), then as T. */
  __device__ __forceinline__ static Out finish(Acc a, double divisor) {
    if constexpr (kIsArg<OP>) {
      return a.idx;
    } else if constexpr (kIsSumLike<OP>) {
      if constexpr (kFloat) return bmojo::fromF32<T>(static_cast<float>(a / divisor));
      else return static_cast<int32_t>(a);
    } else if constexpr (kFloat) {
      return bmojo::fromF32<T>(a);
    } else {
      return a;
    }
  }
};

__device__ __forceinline__ double shflXor(double v, int m) {
  return __shfl_xor_sync(0xffffffffu, v, m);
}
__device__ __forceinline__ float shflXor(float v, int m) {
  return __shfl_xor_sync(0xffffffffu, v, m);
}
__device__ __forceinline__ int32_t shflXor(int32_t v, int m) {
  return __shfl_xor_sync(0xffffffffu, v, m);
}
__device__ __forceinline__ uint32_t shflXor(uint32_t v, int m) {
  return __shfl_xor_sync(0xffffffffu, v, m);
}
template <typename T>
__device__ __forceinline__ ArgAcc<T> shflXor(ArgAcc<T> a, int m) {
  a.val = shflXor(a.val, m);
  a.idx = shflXor(a.idx, m);
  return a;
}

/** Butterfly reduction over the full warp; every lane ends with the result. */
template <class R>
__device__ __forceinline__ typename R::Acc warpReduce(typename R::Acc a) {
#pragma unroll
  for (int m = 16; m >= 1; m >>= 1) a = R::combine(a, shflXor(a, m));
  return a;
}

/** Source of pass 1 (kRaw: elements of x) or pass 2 (partial accumulators). */
template <class R, bool kRaw>
using SrcT = std::conditional_t<kRaw, typename R::Elem, typename R::Acc>;
/** Destination of the final pass (kFinal: the output) or of pass 1 (partial accumulators). */
template <class R, bool kFinal>
using DstT = std::conditional_t<kFinal, typename R::Out, typename R::Acc>;

/** The accumulator of source element p[pos], whose index along the reduced axis is r. */
template <class R, bool kRaw>
__device__ __forceinline__ typename R::Acc load(const SrcT<R, kRaw>* p, int64_t pos, int64_t r) {
  if constexpr (kRaw) return R::fromElem(p[pos], r);
  else return p[pos];
}

template <class R, bool kFinal>
__device__ __forceinline__ void store(DstT<R, kFinal>* dst, int64_t pos, typename R::Acc a,
                                      double divisor) {
  if constexpr (kFinal) dst[pos] = R::finish(a, divisor);
  else dst[pos] = a;
}

/**
 * inner == 1. src is [rows, size]; work item w = row·splits + s reduces
 * r ∈ [s·chunk, (s+1)·chunk) of its row into dst[w] (dst [rows, splits]; splits = 1 writes
 * dst[row]). kBlock: one block per item, else one warp per item (kWarps items per block).
 * T is x's element type (float, bf16 or int32_t), as in every reduce kernel.
 */
template <int OP, typename T, bool kRaw, bool kFinal, bool kBlock>
__global__ void __launch_bounds__(kThreads)
    reduceRowsKernel(const SrcT<Red<OP, T>, kRaw>* src, DstT<Red<OP, T>, kFinal>* dst,
                     int64_t rows, int64_t size, int64_t splits, int64_t chunk, double divisor) {
  using R = Red<OP, T>;
  using Acc = typename R::Acc;
  constexpr int kLanes = kBlock ? kThreads : 32;
  constexpr int kItemsPerBlock = kThreads / kLanes;
  const int lane = kBlock ? static_cast<int>(threadIdx.x) : static_cast<int>(threadIdx.x & 31);
  const int sub = kBlock ? 0 : static_cast<int>(threadIdx.x >> 5);
  const int64_t work = rows * splits;
  for (int64_t w = static_cast<int64_t>(blockIdx.x) * kItemsPerBlock + sub; w < work;
       w += static_cast<int64_t>(gridDim.x) * kItemsPerBlock) {
    const int64_t row = w / splits;
    const int64_t r0 = (w - row * splits) * chunk;
    const int64_t r1 = r0 + chunk < size ? r0 + chunk : size;
    const SrcT<R, kRaw>* base = src + row * size;
    Acc acc = R::identity();
#pragma unroll 4
    for (int64_t r = r0 + lane; r < r1; r += kLanes) {
      acc = R::combine(acc, load<R, kRaw>(base, r, r));
    }
    acc = warpReduce<R>(acc);
    if constexpr (kBlock) {
      __shared__ Acc warpAcc[kWarps];
      const int warp = static_cast<int>(threadIdx.x >> 5);
      if ((threadIdx.x & 31) == 0) warpAcc[warp] = acc;
      __syncthreads();
      if (warp == 0) {
        acc = threadIdx.x < kWarps ? warpAcc[threadIdx.x] : R::identity();
        acc = warpReduce<R>(acc);
        if (threadIdx.x == 0) store<R, kFinal>(dst, w, acc, divisor);
      }
      __syncthreads();  // warpAcc is reused by the next item
    } else {
      if (lane == 0) store<R, kFinal>(dst, w, acc, divisor);
    }
  }
}

/**
 * inner > 1. src is [outer, size, inner]; work item w = (o·tiles + t)·splits + s reduces columns
 * i ∈ [t·bx, (t+1)·bx) of slice o over r ∈ [s·chunk, (s+1)·chunk) into
 * dst[(o·splits + s)·inner + i] (dst [outer, splits, inner]). Thread (tx, ty) =
 * (threadIdx.x mod bx, threadIdx.x / bx); the by = 256/bx thread rows stride r.
 */
template <int OP, typename T, bool kRaw, bool kFinal>
__global__ void __launch_bounds__(kThreads)
    reduceColsKernel(const SrcT<Red<OP, T>, kRaw>* src, DstT<Red<OP, T>, kFinal>* dst,
                     int64_t outer, int64_t size, int64_t inner, int bxLog2, int64_t tiles,
                     int64_t splits, int64_t chunk, double divisor) {
  using R = Red<OP, T>;
  using Acc = typename R::Acc;
  __shared__ Acc acc[kThreads];
  const int bx = 1 << bxLog2;
  const int by = kThreads >> bxLog2;
  const int tx = static_cast<int>(threadIdx.x) & (bx - 1);
  const int ty = static_cast<int>(threadIdx.x) >> bxLog2;
  const int64_t work = outer * tiles * splits;
  for (int64_t w = blockIdx.x; w < work; w += gridDim.x) {
    const int64_t ot = w / splits;
    const int64_t s = w - ot * splits;
    const int64_t o = ot / tiles;
    const int64_t t = ot - o * tiles;
    const int64_t i = t * bx + tx;
    const int64_t r0 = s * chunk;
    const int64_t r1 = r0 + chunk < size ? r0 + chunk : size;
    Acc a = R::identity();
    if (i < inner) {
      const SrcT<R, kRaw>* base = src + o * size * inner + i;
#pragma unroll 4
      for (int64_t r = r0 + ty; r < r1; r += by) {
        a = R::combine(a, load<R, kRaw>(base, r * inner, r));
      }
    }
    acc[threadIdx.x] = a;
    __syncthreads();
    for (int h = by >> 1; h >= 1; h >>= 1) {
      if (ty < h) acc[threadIdx.x] = R::combine(acc[threadIdx.x], acc[threadIdx.x + h * bx]);
      __syncthreads();
    }
    if (ty == 0 && i < inner) {
      store<R, kFinal>(dst, (o * splits + s) * inner + i, acc[threadIdx.x], divisor);
    }
    __syncthreads();  // acc is reused by the next item
  }
}

/**
 * A short reduced axis: one thread per output (o, i) folds r = 0 … size−1 in order (adjacent
 * threads read adjacent columns, or adjacent short rows when inner == 1).
 */
template <int OP, typename T>
__global__ void __launch_bounds__(kThreads)
    reducePerOutputKernel(const T* x, typename Red<OP, T>::Out* out, int64_t outer, int64_t size,
                          int64_t inner, double divisor) {
  using R = Red<OP, T>;
  const int64_t total = outer * inner;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t t = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; t < total;
       t += stride) {
    const int64_t o = t / inner;
    const int64_t i = t - o * inner;
    const T* base = x + o * size * inner + i;
    typename R::Acc acc = R::fromElem(base[0], 0);
    for (int64_t r = 1; r < size; ++r) acc = R::combine(acc, R::fromElem(base[r * inner], r));
    out[t] = R::finish(acc, divisor);
  }
}

template <int OP, typename T>
void runReduce(const T* x, void* outRaw, int64_t outer, int64_t size, int64_t inner) {
  using R = Red<OP, T>;
  using Acc = typename R::Acc;
  using Out = typename R::Out;
  Out* out = static_cast<Out*>(outRaw);
  const double divisor = OP == kMean ? static_cast<double>(size) : 1.0;
  const int64_t target = 4LL * smCount();  // blocks that fill the GPU
  cudaStream_t stream = bmojo::stream();

  // Tile geometry of the inner > 1 strategy: bx adjacent columns × by thread rows.
  int bxLog2 = 0;
  while (bxLog2 < 5 && (int64_t{1} << bxLog2) < inner) ++bxLog2;
  const int64_t by = kThreads >> bxLog2;

  // Short reduced axis: a warp per row or a tile's thread rows would mostly idle.
  if (size * 4 <= (inner == 1 ? 32 : by)) {
    reducePerOutputKernel<OP, T><<<bmojo::blocksFor(outer * inner, kThreads), kThreads, 0,
                                   stream>>>(x, out, outer, size, inner, divisor);
    bmojo::checkLaunch("reduce");
    return;
  }

  if (inner == 1) {
    const int64_t rows = outer;
    if (size <= 1024) {
      reduceRowsKernel<OP, T, true, true, false>
          <<<bmojo::blocksFor(rows, kWarps), kThreads, 0, stream>>>(x, out, rows, size, 1, size,
                                                                   divisor);
      bmojo::checkLaunch("reduce");
      return;
    }
    int64_t splits = 1;
    if (rows < target && size >= 16384) {
      splits = (target + rows - 1) / rows;
      if (splits > size / 4096) splits = size / 4096;  // chunks of ≥ 4096 elements
      if (splits > 1024) splits = 1024;                // pass 2 is one warp per row
      if (splits < 1) splits = 1;
    }
    const int64_t chunk = (size + splits - 1) / splits;
    splits = (size + chunk - 1) / chunk;  // no empty chunk
    if (splits == 1) {
      reduceRowsKernel<OP, T, true, true, true>
          <<<bmojo::blocksFor(rows, 1), kThreads, 0, stream>>>(x, out, rows, size, 1, size,
                                                               divisor);
      bmojo::checkLaunch("reduce");
      return;
    }
    Scratch partial(static_cast<size_t>(rows * splits) * sizeof(Acc));
    Acc* p = static_cast<Acc*>(partial.ptr);
    reduceRowsKernel<OP, T, true, false, true>
        <<<bmojo::blocksFor(rows * splits, 1), kThreads, 0, stream>>>(x, p, rows, size, splits,
                                                                      chunk, divisor);
    bmojo::checkLaunch("reduce (partials)");
    reduceRowsKernel<OP, T, false, true, false>
        <<<bmojo::blocksFor(rows, kWarps), kThreads, 0, stream>>>(p, out, rows, splits, 1, splits,
                                                                 divisor);
    bmojo::checkLaunch("reduce");
    return;
  }

  const int64_t tiles = (inner + (int64_t{1} << bxLog2) - 1) >> bxLog2;
  const int64_t blocks = outer * tiles;
  int64_t splits = 1;
  if (blocks < target && size >= 16 * by) {
    splits = (target + blocks - 1) / blocks;
    if (splits > size / (8 * by)) splits = size / (8 * by);  // ≥ 8 rows per thread and chunk
    if (splits > 1024) splits = 1024;
    if (splits < 1) splits = 1;
  }
  const int64_t chunk = (size + splits - 1) / splits;
  splits = (size + chunk - 1) / chunk;
  if (splits == 1) {
    reduceColsKernel<OP, T, true, true><<<bmojo::blocksFor(blocks, 1), kThreads, 0, stream>>>(
        x, out, outer, size, inner, bxLog2, tiles, 1, size, divisor);
    bmojo::checkLaunch("reduce");
    return;
  }
  Scratch partial(static_cast<size_t>(outer * splits * inner) * sizeof(Acc));
  Acc* p = static_cast<Acc*>(partial.ptr);
  reduceColsKernel<OP, T, true, false>
      <<<bmojo::blocksFor(blocks * splits, 1), kThreads, 0, stream>>>(
          x, p, outer, size, inner, bxLog2, tiles, splits, chunk, divisor);
  bmojo::checkLaunch("reduce (partials)");
  reduceColsKernel<OP, T, false, true><<<bmojo::blocksFor(blocks, 1), kThreads, 0, stream>>>(
      p, out, outer, splits, inner, bxLog2, tiles, 1, splits, divisor);
  bmojo::checkLaunch("reduce");
}

// ---------------------------------------------------------------------------------------------
// gather, scatterAdd, scatter
// ---------------------------------------------------------------------------------------------

__global__ void checkIndicesKernel(const int32_t* indices, int64_t count, int64_t rows,
                                   unsigned int* firstBad) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t j = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; j < count;
       j += stride) {
    const int64_t v = indices[j];
    if (v < 0 || v >= rows) atomicMin(firstBad, static_cast<unsigned int>(j));
  }
}

/**
 * Throws the reference's RangeError naming the first index outside [0, rows), its position and
 * rows. Synchronises the stream (the contract needs a host-visible answer before writing).
 */
void validateIndices(const char* kernel, const int32_t* indices, int64_t count, int64_t rows) {
  // Nothing is computed while capturing: the indices are the replaying caller's to check.
  if (count <= 0 || bmojo::capturing()) return;
  cudaStream_t stream = bmojo::stream();
  Scratch scratch(sizeof(unsigned int));
  unsigned int* firstBad = static_cast<unsigned int*>(scratch.ptr);
  bmojo::check(cudaMemsetAsync(firstBad, 0xFF, sizeof(unsigned int), stream), kernel);
  checkIndicesKernel<<<bmojo::blocksFor(count, kThreads), kThreads, 0, stream>>>(indices, count,
                                                                                 rows, firstBad);
  bmojo::checkLaunch(kernel);
  unsigned int bad = 0;
  bmojo::check(cudaMemcpyAsync(&bad, firstBad, sizeof bad, cudaMemcpyDeviceToHost, stream), kernel);
  bmojo::check(cudaStreamSynchronize(stream), kernel);
  if (bad == 0xFFFFFFFFu) return;
  int32_t index = 0;
  bmojo::check(cudaMemcpyAsync(&index, indices + bad, sizeof index, cudaMemcpyDeviceToHost, stream),
               kernel);
  bmojo::check(cudaStreamSynchronize(stream), kernel);
  const std::string r = std::to_string(rows);
  throw std::range_error(std::string(kernel) + ": index " + std::to_string(index) +
                         " at position " + std::to_string(bad) + " is out of range for " + r +
                         " rows; indices must be in [0, " + r + ")");
}

/**
 * Position of (o, indices[j], i) in [outer, rows, inner] for the linear index e = (o·count + j)·
 * inner + i of [outer, count, inner]. kSmall (e < 2^31): the divisions are fixed-point multiplies.
 */
template <bool kSmall>
struct RowMap {
  const int32_t* indices;
  int64_t inner, count, rows;
  FastDiv divInner, divCount;

  __device__ __forceinline__ int64_t operator()(int64_t e) const {
    int64_t i, j, o;
    if constexpr (kSmall) {
      const uint32_t ue = static_cast<uint32_t>(e);
      const uint32_t t = divInner.div(ue);
      const uint32_t uo = divCount.div(t);
      i = static_cast<int64_t>(ue - t * static_cast<uint32_t>(inner));
      j = static_cast<int64_t>(t - uo * static_cast<uint32_t>(count));
      o = static_cast<int64_t>(uo);
    } else {
      const int64_t t = e / inner;
      i = e - t * inner;
      o = t / count;
      j = t - o * count;
    }
    return (o * rows + indices[j]) * inner + i;
  }
};

/** Calls launch(map) with the RowMap that fits `total` positions (inner, count ≥ 1). */
template <class Launch>
void withRowMap(const int32_t* indices, int64_t total, int64_t inner, int64_t count, int64_t rows,
                Launch launch) {
  if (total <= kSmallLimit) {
    launch(RowMap<true>{indices, inner, count, rows, FastDiv::make(static_cast<uint32_t>(inner)),
                        FastDiv::make(static_cast<uint32_t>(count))});
  } else {
    launch(RowMap<false>{indices, inner, count, rows, FastDiv{}, FastDiv{}});
  }
}

/** Four bf16 elements as one 8-byte word (they widen to a float4). */
struct alignas(8) Bf16x4 {
  __nv_bfloat162 lo, hi;
};

/** d = s: a raw copy, or a bf16 ↔ float32 conversion (rounded to nearest even towards bf16). */
template <typename W>
__device__ __forceinline__ void assign(W& d, const W& s) {
  d = s;
}
__device__ __forceinline__ void assign(float& d, bmojo::bf16 s) { d = bmojo::toF32(s); }
__device__ __forceinline__ void assign(bmojo::bf16& d, float s) { d = bmojo::fromF32<bmojo::bf16>(s); }
__device__ __forceinline__ void assign(float4& d, Bf16x4 s) {
  const float2 lo = __bfloat1622float2(s.lo), hi = __bfloat1622float2(s.hi);
  d = make_float4(lo.x, lo.y, hi.x, hi.y);
}
__device__ __forceinline__ void assign(Bf16x4& d, float4 s) {
  d.lo = __float22bfloat162_rn(make_float2(s.x, s.y));
  d.hi = __float22bfloat162_rn(make_float2(s.z, s.w));
}

/**
 * assign(dst[·], src[·]) for every linear index e of [outer, count, inner] (in words S, D of the
 * same element count): a side that is kSrcMapped / kDstMapped is addressed at map(e), the other at
 * e. gather maps the source (the table), scatter the destination, scatterAdd's bf16 load and
 * store passes both (out ↔ its float32 scratch copy).
 */
template <typename S, typename D, bool kSrcMapped, bool kDstMapped, class Map>
__global__ void moveRowsKernel(const S* src, D* dst, int64_t total, Map map) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < total;
       e += stride) {
    const int64_t p = map(e);
    assign(dst[kDstMapped ? p : e], src[kSrcMapped ? p : e]);
  }
}

/**
 * out[o, indices[j], i] += updates[o, j, i], atomically; e is the linear index into updates.
 * T is the updates' element type, A out's (the accumulator): float/float, int32/int32 (wraps) or
 * bf16/float (out is then bf16 out's float32 scratch copy).
 */
template <typename T, typename A, class Map>
__global__ void scatterAddKernel(const T* updates, A* out, int64_t total, Map map) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < total;
       e += stride) {
    A v;
    assign(v, updates[e]);
    atomicAdd(out + map(e), v);
  }
}

/** moveRowsKernel over `total` words S → D, `inner` words a row; inner, count ≥ 1. */
template <typename S, typename D, bool kSrcMapped, bool kDstMapped>
void launchMove(const void* src, void* dst, const int32_t* indices, int64_t total, int64_t inner,
                int64_t count, int64_t rows, const char* kernel) {
  withRowMap(indices, total, inner, count, rows, [&](auto map) {
    moveRowsKernel<S, D, kSrcMapped, kDstMapped>
        <<<bmojo::blocksFor(total, kThreads), kThreads, 0, bmojo::stream()>>>(
            static_cast<const S*>(src), static_cast<D*>(dst), total, map);
  });
  bmojo::checkLaunch(kernel);
}

/**
 * gather (kSrcMapped) or scatter (kDstMapped) of `total` elements of `bytes` bytes, `inner` a row,
 * as the widest raw word the rows and both pointers allow: 16-byte vectors, else 4-byte words
 * (always for float32 / int32), else 2-byte bf16 elements.
 */
template <bool kSrcMapped, bool kDstMapped>
void moveRows(const void* src, void* dst, const int32_t* indices, int64_t total, int64_t inner,
              int64_t count, int64_t rows, int bytes, const char* kernel) {
  const int64_t rowBytes = inner * bytes;
  const bool vec = aligned16(src) && aligned16(dst);  // at least every word's alignment
  if (vec && rowBytes % 16 == 0) {
    launchMove<uint4, uint4, kSrcMapped, kDstMapped>(src, dst, indices, total * bytes / 16,
                                                      rowBytes / 16, count, rows, kernel);
  } else if (bytes == 4 || (vec && rowBytes % 4 == 0)) {
    launchMove<uint32_t, uint32_t, kSrcMapped, kDstMapped>(src, dst, indices, total * bytes / 4,
                                                            rowBytes / 4, count, rows, kernel);
  } else {
    launchMove<uint16_t, uint16_t, kSrcMapped, kDstMapped>(src, dst, indices, total, inner, count,
                                                            rows, kernel);
  }
}

/** outer·rows·inner and outer·count·inner, or a RangeError when they overflow int64. */
int64_t checkedProduct(int64_t a, int64_t b, int64_t c, const char* kernel) {
  if (a == 0 || b == 0 || c == 0) return 0;
  if (a > INT64_MAX / b || a * b > INT64_MAX / c) {
    throw std::range_error(std::string(kernel) + ": sizes are too large");
  }
  return a * b * c;
}

/**
 * The arguments gather, scatterAdd and scatter share, in their order: dtype, src (gather's table,
 * the scatters' updates), indices, out, outer, rows, inner, count.
 */
struct IndexArgs {
  bmojo::DType dtype;
  Buf src, out;
  const int32_t* indices;
  int64_t outer, rows, inner, count;
  int64_t total;  // elements of [outer, count, inner]: gather's out, the scatters' updates
};

/**
 * Reads and checks the arguments of `kernel`: the sizes, that the [outer, rows, inner] side
 * (gather's table, the scatters' out) and the [outer, count, inner] side hold them, and the
 * indices (on the device; throws the reference's RangeError for the first bad one).
 */
IndexArgs readIndexArgs(bmojo::Args& a, const char* kernel, bool gather) {
  IndexArgs r;
  r.dtype = readDType(a, kernel);
  r.src = readBuf(a);
  Buf indices = readBuf(a);
  r.out = readBuf(a);
  r.outer = readSize(a, kernel, "outer");
  r.rows = readSize(a, kernel, "rows");
  r.inner = readSize(a, kernel, "inner");
  r.count = readSize(a, kernel, "count");
  if (r.count > INT32_MAX) throw std::range_error(std::string(kernel) + ": count must be < 2^31");
  requireElems(indices, r.count, kernel, "indices");
  const int bytes = bmojo::elemBytes(r.dtype);
  requireElems(gather ? r.src : r.out, checkedProduct(r.outer, r.rows, r.inner, kernel), kernel,
               gather ? "table" : "out", bytes);
  r.total = checkedProduct(r.outer, r.count, r.inner, kernel);
  requireElems(gather ? r.out : r.src, r.total, kernel, gather ? "out" : "updates", bytes);
  r.indices = static_cast<const int32_t*>(indices.ptr);
  validateIndices(kernel, r.indices, r.count, r.rows);
  return r;
}

/** scatterAddKernel<T, T> straight into out (float32, int32). */
template <typename T>
void scatterAddInPlace(const IndexArgs& r) {
  withRowMap(r.indices, r.total, r.inner, r.count, r.rows, [&](auto map) {
    scatterAddKernel<<<bmojo::blocksFor(r.total, kThreads), kThreads, 0, bmojo::stream()>>>(
        static_cast<const T*>(r.src.ptr), static_cast<T*>(r.out.ptr), r.total, map);
  });
  bmojo::checkLaunch("scatterAdd");
}

/**
 * bfloat16 scatterAdd: the touched rows of out are widened into a float32 scratch copy (a repeated
 * index writes the same values twice), the updates are added there with float32 atomics, and the
 * rows are rounded back into out once.
 */
void scatterAddBf16(const IndexArgs& r) {
  using bmojo::bf16;
  Scratch acc(static_cast<size_t>(r.outer * r.rows * r.inner) * sizeof(float));
  const bool vec = r.inner % 4 == 0 && aligned16(r.out.ptr) && aligned16(acc.ptr);
  if (vec) {
    launchMove<Bf16x4, float4, true, true>(r.out.ptr, acc.ptr, r.indices, r.total / 4,
                                           r.inner / 4, r.count, r.rows, "scatterAdd (load)");
  } else {
    launchMove<bf16, float, true, true>(r.out.ptr, acc.ptr, r.indices, r.total, r.inner, r.count,
                                        r.rows, "scatterAdd (load)");
  }
  withRowMap(r.indices, r.total, r.inner, r.count, r.rows, [&](auto map) {
    scatterAddKernel<<<bmojo::blocksFor(r.total, kThreads), kThreads, 0, bmojo::stream()>>>(
        static_cast<const bf16*>(r.src.ptr), acc.as<float>(), r.total, map);
  });
  bmojo::checkLaunch("scatterAdd");
  if (vec) {
    launchMove<float4, Bf16x4, true, true>(acc.ptr, r.out.ptr, r.indices, r.total / 4,
                                           r.inner / 4, r.count, r.rows, "scatterAdd (store)");
  } else {
    launchMove<float, bf16, true, true>(acc.ptr, r.out.ptr, r.indices, r.total, r.inner, r.count,
                                        r.rows, "scatterAdd (store)");
  }
}

/** reduce of x (T: float, bf16 or int32_t; int32 "mean" is refused by the entry). */
template <typename T>
void reduceAs(int op, const void* x, void* out, int64_t outer, int64_t size, int64_t inner) {
  const T* xp = static_cast<const T*>(x);
  switch (op) {
    case kSum: return runReduce<kSum, T>(xp, out, outer, size, inner);
    case kMean:
      if constexpr (std::is_same_v<T, int32_t>) return;
      else return runReduce<kMean, T>(xp, out, outer, size, inner);
    case kMax: return runReduce<kMax, T>(xp, out, outer, size, inner);
    case kMin: return runReduce<kMin, T>(xp, out, outer, size, inner);
    case kArgmax: return runReduce<kArgmax, T>(xp, out, outer, size, inner);
    default: return runReduce<kArgmin, T>(xp, out, outer, size, inner);
  }
}

}  // namespace

// =============================================================================================
// Entries
// =============================================================================================

// reduce: op, dtype, x, out, outer, size, inner
void kernel_reduce(bmojo::Args& a) {
  const int op = a.i32();
  const bmojo::DType dtype = readDType(a, "reduce");
  Buf x = readBuf(a);
  Buf out = readBuf(a);
  const int64_t outer = readSize(a, "reduce", "outer");
  const int64_t size = a.i64();
  const int64_t inner = readSize(a, "reduce", "inner");
  if (op < 0 || op >= kReduceOpCount) {
    throw std::invalid_argument("reduce: unknown op code " + std::to_string(op));
  }
  if (size < 1) throw std::range_error("reduce: size must be ≥ 1, got " + std::to_string(size));
  if (dtype == bmojo::I32 && op == kMean) {
    throw std::invalid_argument(
        "reduce: op \"mean\" does not support dtype int32; use float32 (cast first)");
  }
  const bool arg = op == kArgmax || op == kArgmin;
  if (arg && size > INT32_MAX) {
    throw std::range_error(std::string("reduce: ") + kReduceNames[op] +
                           " over more than 2^31 − 1 elements cannot be indexed by int32");
  }
  const int64_t n = checkedProduct(outer, size, inner, "reduce");
  const int bytes = bmojo::elemBytes(dtype);
  requireElems(x, n, "reduce", "x", bytes);
  requireElems(out, outer * inner, "reduce", "out", arg ? 4 : bytes);  // argmax/argmin: int32
  if (outer == 0 || inner == 0) return;
  switch (dtype) {
    case bmojo::F32: return reduceAs<float>(op, x.ptr, out.ptr, outer, size, inner);
    case bmojo::BF16: return reduceAs<bmojo::bf16>(op, x.ptr, out.ptr, outer, size, inner);
    default: return reduceAs<int32_t>(op, x.ptr, out.ptr, outer, size, inner);
  }
}

// gather: dtype, table, indices, out, outer, rows, inner, count
void kernel_gather(bmojo::Args& a) {
  const IndexArgs r = readIndexArgs(a, "gather", true);
  if (r.total == 0) return;
  moveRows<true, false>(r.src.ptr, r.out.ptr, r.indices, r.total, r.inner, r.count, r.rows,
                        bmojo::elemBytes(r.dtype), "gather");
}

// scatterAdd: dtype, updates, indices, out, outer, rows, inner, count
void kernel_scatterAdd(bmojo::Args& a) {
  const IndexArgs r = readIndexArgs(a, "scatterAdd", false);
  if (r.total == 0) return;
  switch (r.dtype) {
    case bmojo::F32: return scatterAddInPlace<float>(r);
    case bmojo::BF16: return scatterAddBf16(r);
    default: return scatterAddInPlace<int>(r);
  }
}

// scatter: dtype, updates, indices, out, outer, rows, inner, count
void kernel_scatter(bmojo::Args& a) {
  const IndexArgs r = readIndexArgs(a, "scatter", false);
  if (r.total == 0) return;
  moveRows<false, true>(r.src.ptr, r.out.ptr, r.indices, r.total, r.inner, r.count, r.rows,
                        bmojo::elemBytes(r.dtype), "scatter");
}
