// Row kernels: softmax, rmsNorm, addRmsNorm, crossEntropy and the gradients (float32, bfloat16).
//
// Every buffer is viewed [rows, cols] row-major. A row is handled by one warp when cols ≤ 1024
// (8 rows per 256-thread block) and by one block otherwise; both loop over rows grid-stride.
// Reductions are warp shuffles, then (block mode) one shared-memory pass; all accumulate in float
// and are deterministic (fixed reduction trees, no atomics on floats).
//
// The kernels are templated on the element type T of every float buffer (float or bf16; targets
// stay int32). bf16 elements are read as float32, computed on exactly as the float32 path does, and
// each stored value (rstd and lse included) is rounded to bf16 once; a value the float32 path
// re-reads within the call is kept in float32 (rmsNormBackward's dweight partials), as the
// reference's bf16 emulation has it, except addRmsNorm's sum, which is normalised as stored (the
// values of add, then rmsNorm).
//
// Argument orders (written by src/kernels/rows.ts):
//   softmax              dtype, x, out, rows, cols
//   softmaxBackward      dtype, y, dy, dx, rows, cols
//   rmsNorm              dtype, x, weight, out, rstd, rows, cols, eps
//   rmsNormBackward      dtype, x, weight, rstd, dy, dx, dweight, rows, cols
//   addRmsNorm           dtype, x, residual, weight, sum, out, rstd, rows, cols, eps
//   crossEntropy         dtype, logits, targets, loss, lse, rows, classes, ignoreIndex
//   crossEntropyBackward dtype, logits, targets, lse, dloss, dlogits, rows, classes, ignoreIndex
#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "common.cuh"

namespace {

constexpr unsigned kFull = 0xffffffffu;
constexpr int kWarpRowThreads = 256;  // warp mode: 8 rows per block
constexpr int kWarpRowsPerBlock = kWarpRowThreads / 32;
constexpr int kMaxRowThreads = 512;  // block mode: at most this many threads per row
constexpr int64_t kMaxGrid = 1 << 20;  // grid-stride loops cover the rest

// ---------------------------------------------------------------------------------------------
// Host helpers
// ---------------------------------------------------------------------------------------------

using bmojo::bf16;
using bmojo::fromF32;
using bmojo::Scratch;
using bmojo::toF32;

/** Rows, cols must be ≥ 0 and a row must be indexable by int. */
void checkSizes(int64_t rows, int64_t cols, const char* kernel) {
  if (rows < 0 || cols < 0) throw std::invalid_argument(std::string(kernel) + ": negative size");
  if (cols > INT_MAX) throw std::invalid_argument(std::string(kernel) + ": row too long");
}

// ---------------------------------------------------------------------------------------------
// Device helpers
// ---------------------------------------------------------------------------------------------

/** Which rows a warp (kWarp) or a block handles, and the thread's lane within its row. */
template <bool kWarp>
struct RowSched {
  __device__ static int64_t first() {
    return kWarp ? static_cast<int64_t>(blockIdx.x) * (blockDim.x >> 5) + (threadIdx.x >> 5)
                 : static_cast<int64_t>(blockIdx.x);
  }
  __device__ static int64_t step() {
    return kWarp ? static_cast<int64_t>(gridDim.x) * (blockDim.x >> 5)
                 : static_cast<int64_t>(gridDim.x);
  }
  __device__ static int lane() { return kWarp ? (threadIdx.x & 31) : threadIdx.x; }
  __device__ static int width() { return kWarp ? 32 : blockDim.x; }
};

__device__ __forceinline__ float warpSum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(kFull, v, o);
  return v;
}

/**
 * Sum over the row's threads; every thread of the row gets the (bitwise identical) total.
 * Block mode: the leading barrier protects `sm` from a previous call still reading it.
 */
template <bool kWarp>
__device__ __forceinline__ float rowSum(float v, float* sm) {
  v = warpSum(v);
  if (kWarp) return v;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  __syncthreads();
  if (lane == 0) sm[warp] = v;
  __syncthreads();
  v = lane < warps ? sm[lane] : 0.0f;
  return warpSum(v);
}

/**
 * Online max / sum-of-exp: (m, s) stands for Σ exp(v − m) over the values seen, m their maximum
 * (−inf while none). A −inf value contributes 0 (skipped: exp(−inf − −inf) would be NaN); a NaN
 * value makes s NaN, as it makes the reference's sum NaN.
 */
__device__ __forceinline__ void msAdd(float& m, float& s, float v) {
  if (v > m) {
    s = s * expf(m - v) + 1.0f;
    m = v;
  } else if (v != -INFINITY) {
    s += expf(v - m);
  }
}

/** Merges (m2, s2) into (m, s); symmetric, so a butterfly gives every lane the same result. */
__device__ __forceinline__ void msMerge(float& m, float& s, float m2, float s2) {
  if (m2 > m) {
    s = s * expf(m - m2) + s2;
    m = m2;
  } else if (m2 == m) {
    s += s2;
  } else {
    s += s2 * expf(m2 - m);
  }
}

template <bool kWarp>
__device__ __forceinline__ void rowMaxSum(float& m, float& s, float* smM, float* smS) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    const float m2 = __shfl_xor_sync(kFull, m, o);
    const float s2 = __shfl_xor_sync(kFull, s, o);
    msMerge(m, s, m2, s2);
  }
  if (kWarp) return;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  __syncthreads();
  if (lane == 0) {
    smM[warp] = m;
    smS[warp] = s;
  }
  __syncthreads();
  m = lane < warps ? smM[lane] : -INFINITY;
  s = lane < warps ? smS[lane] : 0.0f;
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    const float m2 = __shfl_xor_sync(kFull, m, o);
    const float s2 = __shfl_xor_sync(kFull, s, o);
    msMerge(m, s, m2, s2);
  }
}

/**
 * Max and Σ exp(v − max) of one row of T (float or bf16); a row whose max is ±inf gets s = NaN
 * (as the reference).
 */
template <typename T, bool kWarp>
__device__ __forceinline__ void rowSoftmaxStats(const T* xr, int cols, float& m, float& s,
                                                float* smM, float* smS) {
  using S = RowSched<kWarp>;
  m = -INFINITY;
  s = 0.0f;
  for (int c = S::lane(); c < cols; c += S::width()) msAdd(m, s, toF32(xr[c]));
  rowMaxSum<kWarp>(m, s, smM, smS);
  if (isinf(m)) s = NAN;
}

// ---------------------------------------------------------------------------------------------
// Kernels (T: the element type of every float buffer, float or bf16)
// ---------------------------------------------------------------------------------------------

template <typename T, bool kWarp>
__global__ void __launch_bounds__(kMaxRowThreads)
    softmaxKernel(const T* __restrict__ x, T* __restrict__ out, int64_t rows, int cols) {
  using S = RowSched<kWarp>;
  __shared__ float smM[32], smS[32];
  for (int64_t row = S::first(); row < rows; row += S::step()) {
    const T* xr = x + row * cols;
    T* outr = out + row * cols;
    float m, s;
    rowSoftmaxStats<T, kWarp>(xr, cols, m, s, smM, smS);
    const float inv = 1.0f / s;
    for (int c = S::lane(); c < cols; c += S::width()) {
      outr[c] = fromF32<T>(expf(toF32(xr[c]) - m) * inv);
    }
  }
}

template <typename T, bool kWarp>
__global__ void __launch_bounds__(kMaxRowThreads)
    softmaxBackwardKernel(const T* __restrict__ y, const T* __restrict__ dy, T* __restrict__ dx,
                          int64_t rows, int cols) {
  using S = RowSched<kWarp>;
  __shared__ float sm[32];
  for (int64_t row = S::first(); row < rows; row += S::step()) {
    const int64_t base = row * cols;
    float dot = 0.0f;
    for (int c = S::lane(); c < cols; c += S::width()) {
      dot += toF32(dy[base + c]) * toF32(y[base + c]);
    }
    dot = rowSum<kWarp>(dot, sm);
    for (int c = S::lane(); c < cols; c += S::width()) {
      const int64_t i = base + c;
      dx[i] = fromF32<T>(toF32(y[i]) * (toF32(dy[i]) - dot));
    }
  }
}

/**
 * out = x · rstd · w per row (rmsNorm); with kAdd the row is first x + residual, stored in `sum`
 * (rounded to T), and out and rstd are rmsNorm of the stored sum (addRmsNorm: the values of add,
 * then rmsNorm, in every dtype). Without kAdd, residual and sum are unused (null).
 */
template <typename T, bool kWarp, bool kAdd>
__global__ void __launch_bounds__(kMaxRowThreads)
    normRowsKernel(const T* __restrict__ x, const T* __restrict__ residual,
                   const T* __restrict__ weight, T* __restrict__ sum, T* __restrict__ out,
                   T* __restrict__ rstdOut, int64_t rows, int cols, float eps) {
  using S = RowSched<kWarp>;
  __shared__ float sm[32];
  for (int64_t row = S::first(); row < rows; row += S::step()) {
    const int64_t base = row * cols;
    float sumSquares = 0.0f;
    for (int c = S::lane(); c < cols; c += S::width()) {
      float v = toF32(x[base + c]);
      if constexpr (kAdd) {
        const T stored = fromF32<T>(v + toF32(residual[base + c]));
        sum[base + c] = stored;
        v = toF32(stored);
      }
      sumSquares += v * v;
    }
    sumSquares = rowSum<kWarp>(sumSquares, sm);
    const float rstd = 1.0f / sqrtf(sumSquares / static_cast<float>(cols) + eps);
    if (S::lane() == 0) rstdOut[row] = fromF32<T>(rstd);
    for (int c = S::lane(); c < cols; c += S::width()) {
      const int64_t i = base + c;
      const float v = toF32(kAdd ? sum[i] : x[i]);
      out[i] = fromF32<T>(v * rstd * toF32(weight[c]));
    }
  }
}

/** dx[r] = rstd · w ⊙ dy − x · rstd³ · mean(x ⊙ w ⊙ dy). dweight is a separate kernel. */
template <typename T, bool kWarp>
__global__ void __launch_bounds__(kMaxRowThreads)
    rmsNormBackwardKernel(const T* __restrict__ x, const T* __restrict__ weight,
                          const T* __restrict__ rstdIn, const T* __restrict__ dy,
                          T* __restrict__ dx, int64_t rows, int cols) {
  using S = RowSched<kWarp>;
  __shared__ float sm[32];
  for (int64_t row = S::first(); row < rows; row += S::step()) {
    const int64_t base = row * cols;
    const float rstd = toF32(rstdIn[row]);
    float sum = 0.0f;
    for (int c = S::lane(); c < cols; c += S::width()) {
      sum += toF32(x[base + c]) * toF32(weight[c]) * toF32(dy[base + c]);
    }
    sum = rowSum<kWarp>(sum, sm);
    const float mean = sum / static_cast<float>(cols);
    const float rstdCubed = rstd * rstd * rstd;
    for (int c = S::lane(); c < cols; c += S::width()) {
      const int64_t i = base + c;
      dx[i] = fromF32<T>(rstd * toF32(weight[c]) * toF32(dy[i]) -
                         toF32(x[i]) * rstdCubed * mean);
    }
  }
}

constexpr int kColTile = 32;  // columns per block (threadIdx.x)
constexpr int kRowLanes = 8;  // row lanes per block (threadIdx.y)

/**
 * partial[chunk, c] = Σ_{r in chunk} dy[r, c] · x[r, c] · rstd[r]. Block (32, 8): 32 columns,
 * 8 interleaved row lanes, reduced in a fixed order. With one chunk `partial` is dweight itself
 * (P = T), else float32 scratch (P = float).
 */
template <typename T, typename P>
__global__ void __launch_bounds__(kColTile * kRowLanes)
    rmsNormDweightPartialKernel(const T* __restrict__ x, const T* __restrict__ dy,
                                const T* __restrict__ rstd, P* __restrict__ partial, int64_t rows,
                                int cols, int64_t rowsPerChunk) {
  __shared__ float sm[kRowLanes][kColTile + 1];
  const int c = blockIdx.x * kColTile + threadIdx.x;
  const int64_t r0 = static_cast<int64_t>(blockIdx.y) * rowsPerChunk;
  const int64_t r1 = min(rows, r0 + rowsPerChunk);
  float acc = 0.0f;
  if (c < cols) {
    for (int64_t r = r0 + threadIdx.y; r < r1; r += kRowLanes) {
      const int64_t i = r * cols + c;
      acc += toF32(dy[i]) * toF32(x[i]) * toF32(rstd[r]);
    }
  }
  sm[threadIdx.y][threadIdx.x] = acc;
  __syncthreads();
  if (threadIdx.y == 0 && c < cols) {
    float total = 0.0f;
#pragma unroll
    for (int k = 0; k < kRowLanes; ++k) total += sm[k][threadIdx.x];
    partial[static_cast<int64_t>(blockIdx.y) * cols + c] = fromF32<P>(total);
  }
}

/** out[c] = Σ_k partial[k, c] over `chunks` chunks, in order; out is T (float or bf16). */
template <typename T>
__global__ void sumChunksKernel(const float* __restrict__ partial, T* __restrict__ out, int cols,
                                int chunks) {
  for (int64_t c = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; c < cols;
       c += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    float total = 0.0f;
    for (int k = 0; k < chunks; ++k) total += partial[static_cast<int64_t>(k) * cols + c];
    out[c] = fromF32<T>(total);
  }
}

/** Lowest row whose target is neither ignoreIndex nor in [0, classes); *bad starts at ~0. */
__global__ void checkTargetsKernel(const int* __restrict__ targets, int64_t rows, int64_t classes,
                                   int64_t ignoreIndex, unsigned long long* bad) {
  for (int64_t r = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; r < rows;
       r += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t t = targets[r];
    if (t != ignoreIndex && (t < 0 || t >= classes)) {
      atomicMin(bad, static_cast<unsigned long long>(r));
    }
  }
}

/** lse[r] = logsumexp(logits[r]); loss[r] = lse[r] − logits[r, t] or 0 for an ignored row. */
template <typename T, bool kWarp>
__global__ void __launch_bounds__(kMaxRowThreads)
    crossEntropyKernel(const T* __restrict__ logits, const int* __restrict__ targets,
                       T* __restrict__ loss, T* __restrict__ lse, int64_t rows, int classes,
                       int64_t ignoreIndex) {
  using S = RowSched<kWarp>;
  __shared__ float smM[32], smS[32];
  for (int64_t row = S::first(); row < rows; row += S::step()) {
    const T* xr = logits + row * classes;
    float m, s;
    rowSoftmaxStats<T, kWarp>(xr, classes, m, s, smM, smS);
    if (S::lane() == 0) {
      // An empty row: log Σ over nothing = −inf, as the reference (−inf + log 0).
      const float rowLse = classes == 0 ? -INFINITY : m + logf(s);
      lse[row] = fromF32<T>(rowLse);
      const int64_t t = targets[row];
      loss[row] = fromF32<T>(t == ignoreIndex ? 0.0f : rowLse - toF32(xr[t]));
    }
  }
}

/** dlogits[r, c] = dloss[r] · (exp(logits[r, c] − lse[r]) − [c == t_r]); 0 for ignored rows. */
template <typename T, bool kWarp>
__global__ void __launch_bounds__(kMaxRowThreads)
    crossEntropyBackwardKernel(const T* __restrict__ logits, const int* __restrict__ targets,
                               const T* __restrict__ lse, const T* __restrict__ dloss,
                               T* __restrict__ dlogits, int64_t rows, int classes,
                               int64_t ignoreIndex) {
  using S = RowSched<kWarp>;
  for (int64_t row = S::first(); row < rows; row += S::step()) {
    const T* xr = logits + row * classes;
    T* dr = dlogits + row * classes;
    const int64_t t = targets[row];
    if (t == ignoreIndex) {
      for (int c = S::lane(); c < classes; c += S::width()) dr[c] = fromF32<T>(0.0f);
      continue;
    }
    const float rowLse = toF32(lse[row]);
    const float rowDloss = toF32(dloss[row]);
    for (int c = S::lane(); c < classes; c += S::width()) {
      const float p = expf(toF32(xr[c]) - rowLse);
      dr[c] = fromF32<T>(rowDloss * (p - (c == t ? 1.0f : 0.0f)));
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Launch helpers
// ---------------------------------------------------------------------------------------------

/** Threads of a block that owns one row of `cols` > 1024 elements. */
int rowBlockThreads(int64_t cols) {
  if (cols <= 2048) return 128;
  if (cols <= 4096) return 256;
  return kMaxRowThreads;
}

/** Rows up to which each row gets a block of its own (a decode step's one row per sequence). */
constexpr int64_t kFewRows = 32;

/** Block size for a few rows: about 4 columns per thread, a multiple of 32, at most 512. */
int fewRowThreads(int64_t cols) {
  const int64_t threads = ((cols + 3) / 4 + 31) / 32 * 32;
  return static_cast<int>(std::min<int64_t>(std::max<int64_t>(threads, 32), kMaxRowThreads));
}

/**
 * Launches `warpKernel` (a warp per row) when cols ≤ 1024, else `blockKernel` (a block per row),
 * with the same arguments; at most kFewRows rows take `blockKernel` at any width, with a block
 * sized to the row (one warp walking a 768-wide row alone took ~17 µs of a 130m decode step's
 * addRmsNorm, the most of any kernel there). rows > 0, cols > 0.
 */
template <typename... P, typename... A>
void launchRows(void (*warpKernel)(P...), void (*blockKernel)(P...), int64_t rows, int64_t cols,
                const char* name, A... args) {
  cudaStream_t s = bmojo::stream();
  if (rows <= kFewRows) {
    blockKernel<<<static_cast<unsigned>(rows), fewRowThreads(cols), 0, s>>>(args...);
  } else if (cols <= 1024) {
    const int64_t blocks = std::min<int64_t>((rows + kWarpRowsPerBlock - 1) / kWarpRowsPerBlock,
                                             kMaxGrid);
    warpKernel<<<static_cast<unsigned>(blocks), kWarpRowThreads, 0, s>>>(args...);
  } else {
    const int64_t blocks = std::min<int64_t>(rows, kMaxGrid);
    blockKernel<<<static_cast<unsigned>(blocks), rowBlockThreads(cols), 0, s>>>(args...);
  }
  bmojo::checkLaunch(name);
}

/**
 * Throws std::range_error, as the reference does, for the first target that is neither in
 * [0, classes) nor ignoreIndex. Synchronises the stream (the result must reach the host before
 * anything is written).
 */
void checkTargets(const char* kernel, const int* targets, int64_t rows, int64_t classes,
                  int64_t ignoreIndex) {
  if (rows == 0) return;
  cudaStream_t s = bmojo::stream();
  Scratch flag(sizeof(unsigned long long));
  auto* bad = flag.as<unsigned long long>();
  bmojo::check(cudaMemsetAsync(bad, 0xff, sizeof(unsigned long long), s), kernel);
  checkTargetsKernel<<<bmojo::blocksFor(rows, 256), 256, 0, s>>>(targets, rows, classes,
                                                                   ignoreIndex, bad);
  bmojo::checkLaunch(kernel);
  unsigned long long firstBad = 0;
  bmojo::check(cudaMemcpyAsync(&firstBad, bad, sizeof firstBad, cudaMemcpyDeviceToHost, s), kernel);
  bmojo::check(cudaStreamSynchronize(s), kernel);
  if (firstBad == ~0ULL) return;

  int target = 0;
  bmojo::check(cudaMemcpyAsync(&target, targets + firstBad, sizeof target, cudaMemcpyDeviceToHost,
                               s),
               kernel);
  bmojo::check(cudaStreamSynchronize(s), kernel);
  const std::string n = std::to_string(classes);
  throw std::range_error(std::string(kernel) + ": target " + std::to_string(target) + " at row " +
                         std::to_string(firstBad) + " is out of range for " + n +
                         " classes; targets must be in [0, " + n + ") or equal ignoreIndex (" +
                         std::to_string(ignoreIndex) + ")");
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Entries
// ---------------------------------------------------------------------------------------------

void kernel_softmax(bmojo::Args& a) {
  bmojo::withFloatElem(bmojo::readFloatDType(a, "softmax"), [&](auto elem) {
    using T = typename decltype(elem)::type;
    const auto* x = a.buf<const T>();
    auto* out = a.buf<T>();
    const int64_t rows = a.i64();
    const int64_t cols = a.i64();
    checkSizes(rows, cols, "softmax");
    if (rows == 0 || cols == 0) return;
    launchRows(softmaxKernel<T, true>, softmaxKernel<T, false>, rows, cols, "softmax", x, out,
               rows, static_cast<int>(cols));
  });
}

void kernel_softmaxBackward(bmojo::Args& a) {
  bmojo::withFloatElem(bmojo::readFloatDType(a, "softmaxBackward"), [&](auto elem) {
    using T = typename decltype(elem)::type;
    const auto* y = a.buf<const T>();
    const auto* dy = a.buf<const T>();
    auto* dx = a.buf<T>();
    const int64_t rows = a.i64();
    const int64_t cols = a.i64();
    checkSizes(rows, cols, "softmaxBackward");
    if (rows == 0 || cols == 0) return;
    launchRows(softmaxBackwardKernel<T, true>, softmaxBackwardKernel<T, false>, rows, cols,
               "softmaxBackward", y, dy, dx, rows, static_cast<int>(cols));
  });
}

void kernel_rmsNorm(bmojo::Args& a) {
  bmojo::withFloatElem(bmojo::readFloatDType(a, "rmsNorm"), [&](auto elem) {
    using T = typename decltype(elem)::type;
    const auto* x = a.buf<const T>();
    const auto* weight = a.buf<const T>();
    auto* out = a.buf<T>();
    auto* rstd = a.buf<T>();
    const int64_t rows = a.i64();
    const int64_t cols = a.i64();
    const float eps = a.f32();
    checkSizes(rows, cols, "rmsNorm");
    if (rows == 0) return;
    // cols == 0 still writes rstd (NaN, as the reference's 1 / sqrt(0 / 0 + eps)).
    launchRows(normRowsKernel<T, true, false>, normRowsKernel<T, false, false>, rows, cols,
               "rmsNorm", x, static_cast<const T*>(nullptr), weight, static_cast<T*>(nullptr),
               out, rstd, rows, static_cast<int>(cols), eps);
  });
}

void kernel_addRmsNorm(bmojo::Args& a) {
  bmojo::withFloatElem(bmojo::readFloatDType(a, "addRmsNorm"), [&](auto elem) {
    using T = typename decltype(elem)::type;
    const auto* x = a.buf<const T>();
    const auto* residual = a.buf<const T>();
    const auto* weight = a.buf<const T>();
    auto* sum = a.buf<T>();
    auto* out = a.buf<T>();
    auto* rstd = a.buf<T>();
    const int64_t rows = a.i64();
    const int64_t cols = a.i64();
    const float eps = a.f32();
    checkSizes(rows, cols, "addRmsNorm");
    if (rows == 0) return;
    launchRows(normRowsKernel<T, true, true>, normRowsKernel<T, false, true>, rows, cols,
               "addRmsNorm", x, residual, weight, sum, out, rstd, rows, static_cast<int>(cols),
               eps);
  });
}

void kernel_rmsNormBackward(bmojo::Args& a) {
  bmojo::withFloatElem(bmojo::readFloatDType(a, "rmsNormBackward"), [&](auto elem) {
    using T = typename decltype(elem)::type;
    const auto* x = a.buf<const T>();
    const auto* weight = a.buf<const T>();
    const auto* rstd = a.buf<const T>();
    const auto* dy = a.buf<const T>();
    auto* dx = a.buf<T>();
    auto* dweight = a.buf<T>();
    const int64_t rows = a.i64();
    const int64_t cols = a.i64();
    checkSizes(rows, cols, "rmsNormBackward");
    if (cols == 0) return;
    cudaStream_t s = bmojo::stream();
    if (rows == 0) {  // dweight is a sum over no rows
      bmojo::check(cudaMemsetAsync(dweight, 0, cols * sizeof(T), s), "rmsNormBackward");
      return;
    }
    const int icols = static_cast<int>(cols);
    launchRows(rmsNormBackwardKernel<T, true>, rmsNormBackwardKernel<T, false>, rows, cols,
               "rmsNormBackward", x, weight, rstd, dy, dx, rows, icols);

    // dweight: row chunks × 32-column tiles (~1024 blocks), then a fixed-order sum over chunks.
    const int64_t colBlocks = (cols + kColTile - 1) / kColTile;
    const int64_t maxChunks = std::min<int64_t>((rows + 63) / 64, 65535);  // ≥ 64 rows a chunk
    int64_t chunks = std::max<int64_t>(1, std::min<int64_t>(maxChunks, 1024 / colBlocks));
    const int64_t rowsPerChunk = (rows + chunks - 1) / chunks;
    chunks = (rows + rowsPerChunk - 1) / rowsPerChunk;
    const dim3 grid(static_cast<unsigned>(colBlocks), static_cast<unsigned>(chunks));
    const dim3 block(kColTile, kRowLanes);
    if (chunks == 1) {
      rmsNormDweightPartialKernel<<<grid, block, 0, s>>>(x, dy, rstd, dweight, rows, icols,
                                                         rowsPerChunk);
      bmojo::checkLaunch("rmsNormBackward (dweight)");
      return;
    }
    Scratch partial(static_cast<size_t>(chunks) * cols * sizeof(float));
    rmsNormDweightPartialKernel<<<grid, block, 0, s>>>(x, dy, rstd, partial.as<float>(), rows,
                                                       icols, rowsPerChunk);
    bmojo::checkLaunch("rmsNormBackward (dweight partials)");
    sumChunksKernel<<<bmojo::blocksFor(cols, 256), 256, 0, s>>>(partial.as<float>(), dweight,
                                                                icols, static_cast<int>(chunks));
    bmojo::checkLaunch("rmsNormBackward (dweight sum)");
  });
}

void kernel_crossEntropy(bmojo::Args& a) {
  bmojo::withFloatElem(bmojo::readFloatDType(a, "crossEntropy"), [&](auto elem) {
    using T = typename decltype(elem)::type;
    const auto* logits = a.buf<const T>();
    const auto* targets = a.buf<const int>();
    auto* loss = a.buf<T>();
    auto* lse = a.buf<T>();
    const int64_t rows = a.i64();
    const int64_t classes = a.i64();
    const int64_t ignoreIndex = a.i64();
    checkSizes(rows, classes, "crossEntropy");
    if (rows == 0) return;
    checkTargets("crossEntropy", targets, rows, classes, ignoreIndex);
    launchRows(crossEntropyKernel<T, true>, crossEntropyKernel<T, false>, rows, classes,
               "crossEntropy", logits, targets, loss, lse, rows, static_cast<int>(classes),
               ignoreIndex);
  });
}

void kernel_crossEntropyBackward(bmojo::Args& a) {
  bmojo::withFloatElem(bmojo::readFloatDType(a, "crossEntropyBackward"), [&](auto elem) {
    using T = typename decltype(elem)::type;
    const auto* logits = a.buf<const T>();
    const auto* targets = a.buf<const int>();
    const auto* lse = a.buf<const T>();
    const auto* dloss = a.buf<const T>();
    auto* dlogits = a.buf<T>();
    const int64_t rows = a.i64();
    const int64_t classes = a.i64();
    const int64_t ignoreIndex = a.i64();
    checkSizes(rows, classes, "crossEntropyBackward");
    if (rows == 0) return;
    checkTargets("crossEntropyBackward", targets, rows, classes, ignoreIndex);
    if (classes == 0) return;
    launchRows(crossEntropyBackwardKernel<T, true>, crossEntropyBackwardKernel<T, false>, rows,
               classes, "crossEntropyBackward", logits, targets, lse, dloss, dlogits, rows,
               static_cast<int>(classes), ignoreIndex);
  });
}
