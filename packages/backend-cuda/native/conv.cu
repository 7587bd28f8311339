// Depthwise causal conv1d, channels last (Mamba's causal_conv1d), float32 and bfloat16 storage.
//
// Layout: x, out, dy, dx [B, L, C]; weight [C, K]; bias [C]; states [B, K−1, C] (oldest first).
// With H = K − 1 and the extended sequence ext[b] = [initialState[b]; x[b]] (H + L rows; zeros
// for the initial rows when there is no initial state):
//   pre[b, t, c] = bias[c] + Σ_{j<K} weight[c, j] · ext[b, t + j, c],   out = act(pre)
// Elementwise kernels put c fastest so a warp reads consecutive channels.
//
// bfloat16: the kernels are templated on the element type T (float or bf16) of the floating
// buffers; values are read into float32, every sum is float32 (g = dy·act'(pre) and the per-chunk
// weight-gradient partials live in float32 scratch), and each stored value is rounded once.
//
// Argument orders (written by src/kernels/rows.ts; activation 0 = none, 1 = silu):
//   causalConv1d          dtype, x, weight, bias?, initialState?, out, finalState?,
//                         batch, length, channels, kernelSize, activation
//   causalConv1dBackward  dtype, x, weight, bias?, initialState?, dy, dx, dweight, dbias?,
//                         dInitialState?, batch, length, channels, kernelSize, activation
//   causalConv1dStep      dtype, x, state, weight, bias?, out, batch, channels, kernelSize,
//                         activation
// (? = optional buffer, −1 for null)
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "common.cuh"

namespace {

using bmojo::fromF32;
using bmojo::toF32;

constexpr int kThreads = 256;
constexpr int kColTile = 32;   // channels per block of the weight-gradient kernel (threadIdx.x)
constexpr int kRowLanes = 8;   // (b, t) lanes per block of that kernel (threadIdx.y)
constexpr int kQuantities = kRowLanes;  // gradient quantities (taps, then bias) per block
/** Below this every index of a call fits a signed 32-bit int, grid-stride steps included. */
constexpr int64_t kIndex32Limit = int64_t{1} << 30;

// ---------------------------------------------------------------------------------------------
// Host helpers
// ---------------------------------------------------------------------------------------------

/** 0 = none, 1 = silu. */
int readActivation(bmojo::Args& a, const char* kernel) {
  const int act = a.i32();
  if (act != 0 && act != 1) throw std::invalid_argument(std::string(kernel) + ": bad activation");
  return act;
}

void checkDims(int64_t batch, int64_t length, int64_t channels, int64_t kernelSize,
               const char* kernel) {
  if (batch < 0 || length < 0 || channels < 0) {
    throw std::invalid_argument(std::string(kernel) + ": negative size");
  }
  if (kernelSize < 1 || kernelSize > 1024) {
    throw std::invalid_argument(std::string(kernel) + ": kernelSize must be in [1, 1024]");
  }
}

using bmojo::Scratch;

/** Zeroes `count` elements of type T (float or bf16: both are all-zero bits). */
template <typename T>
void zeroFill(T* p, int64_t count, const char* what) {
  if (p == nullptr || count <= 0) return;
  bmojo::check(cudaMemsetAsync(p, 0, static_cast<size_t>(count) * sizeof(T), bmojo::stream()),
               what);
}

// ---------------------------------------------------------------------------------------------
// Device helpers
// ---------------------------------------------------------------------------------------------

__device__ __forceinline__ float sigmoidOf(float v) { return 1.0f / (1.0f + expf(-v)); }

__device__ __forceinline__ float activate(int act, float v) {
  return act == 1 ? v / (1.0f + expf(-v)) : v;
}

/** act'(v): 1, or silu'(v) = σ(v) · (1 + v · (1 − σ(v))). */
__device__ __forceinline__ float activateGrad(int act, float v) {
  if (act != 1) return 1.0f;
  const float sig = sigmoidOf(v);
  return sig * (1.0f + v * (1.0f - sig));
}

/**
 * ext[b, i, c] of the extended sequence as float32: row i < H from initialState (0 when null),
 * row i ≥ H is x[b, i − H]. T: the element type (float or bf16).
 */
template <typename T, typename I>
__device__ __forceinline__ float extAt(const T* __restrict__ x, const T* __restrict__ init, I b,
                                       I i, I c, I L, I C, I H) {
  if (i < H) return init == nullptr ? 0.0f : toF32(init[(b * H + i) * C + c]);
  return toF32(x[(b * L + (i - H)) * C + c]);
}

/** bias[c] + Σ_j weight[c, j] · ext[b, t + j, c], taps in order. T: float or bf16. */
template <typename T, typename I>
__device__ __forceinline__ float preActivation(const T* __restrict__ x,
                                               const T* __restrict__ weight,
                                               const T* __restrict__ bias,
                                               const T* __restrict__ init, I b, I t, I c, I L,
                                               I C, I K) {
  const I H = K - 1;
  float acc = bias == nullptr ? 0.0f : toF32(bias[c]);
  const T* w = weight + c * K;
  for (I j = 0; j < K; ++j) acc += toF32(w[j]) * extAt<T, I>(x, init, b, t + j, c, L, C, H);
  return acc;
}

// ---------------------------------------------------------------------------------------------
// Kernels
// ---------------------------------------------------------------------------------------------

/** out[b, t, c] = act(pre[b, t, c]); one thread per output, c fastest. T: float or bf16. */
template <typename T, typename I>
__global__ void __launch_bounds__(kThreads)
    convForwardKernel(const T* __restrict__ x, const T* __restrict__ weight,
                      const T* __restrict__ bias, const T* __restrict__ init,
                      T* __restrict__ out, I B, I L, I C, I K, int act) {
  const I total = B * L * C;
  for (I idx = blockIdx.x * static_cast<I>(blockDim.x) + threadIdx.x; idx < total;
       idx += static_cast<I>(gridDim.x) * blockDim.x) {
    const I c = idx % C;
    const I bt = idx / C;
    const I t = bt % L;
    const I b = bt / L;
    out[idx] =
        fromF32<T>(activate(act, preActivation<T, I>(x, weight, bias, init, b, t, c, L, C, K)));
  }
}

/** finalState[b, r, c] = ext[b, L + r, c], r < H. T: float or bf16. */
template <typename T, typename I>
__global__ void __launch_bounds__(kThreads)
    convFinalStateKernel(const T* __restrict__ x, const T* __restrict__ init,
                         T* __restrict__ finalState, I B, I L, I C, I H) {
  const I total = B * H * C;
  for (I idx = blockIdx.x * static_cast<I>(blockDim.x) + threadIdx.x; idx < total;
       idx += static_cast<I>(gridDim.x) * blockDim.x) {
    const I c = idx % C;
    const I br = idx / C;
    const I r = br % H;
    const I b = br / H;
    finalState[idx] = fromF32<T>(extAt<T, I>(x, init, b, L + r, c, L, C, H));
  }
}

/**
 * Weight / bias gradients, and g = dy · act'(pre) into `gOut` (when not null, by the blocks of
 * blockIdx.z == 0). Quantity q < K is Σ g[b, t, c] · ext[b, t + q, c] (dweight[c, q]); q == K is
 * Σ g[b, t, c] (dbias[c]). Block (32, 8): 32 channels × 8 interleaved (b, t) lanes over the rows
 * n = b·L + t of chunk blockIdx.y; blockIdx.z selects quantities [8z, 8z + 8). Results are
 * reduced over the 8 lanes in a fixed order and written to partial[chunk, q, c], or straight to
 * dweight / dbias when `direct` (one chunk). T: the buffers' element type (float or bf16); gOut
 * and partial are float32 scratch.
 */
template <typename T, typename I>
__global__ void __launch_bounds__(kColTile * kRowLanes)
    convWeightGradKernel(const T* __restrict__ x, const T* __restrict__ weight,
                         const T* __restrict__ bias, const T* __restrict__ init,
                         const T* __restrict__ dy, float* __restrict__ gOut,
                         float* __restrict__ partial, T* __restrict__ dweight,
                         T* __restrict__ dbias, I B, I L, I C, I K, int act, I rowsPerChunk,
                         int quantities, bool direct) {
  __shared__ float sm[kQuantities][kRowLanes][kColTile + 1];
  const I H = K - 1;
  const I c = static_cast<I>(blockIdx.x) * kColTile + threadIdx.x;
  const int q0 = static_cast<int>(blockIdx.z) * kQuantities;
  const I rows = B * L;
  const I n0 = static_cast<I>(blockIdx.y) * rowsPerChunk;
  const I n1 = n0 + rowsPerChunk < rows ? n0 + rowsPerChunk : rows;

  float acc[kQuantities];
#pragma unroll
  for (int k = 0; k < kQuantities; ++k) acc[k] = 0.0f;

  if (c < C) {
    I n = n0 + static_cast<I>(threadIdx.y);
    I b = n / L;
    I t = n - b * L;
    for (; n < n1; n += kRowLanes) {
      const I idx = n * C + c;  // (b·L + t)·C + c
      float g = toF32(dy[idx]);
      if (act != 0) {
        g *= activateGrad(act, preActivation<T, I>(x, weight, bias, init, b, t, c, L, C, K));
        if (gOut != nullptr && blockIdx.z == 0) gOut[idx] = g;
      }
#pragma unroll
      for (int k = 0; k < kQuantities; ++k) {
        const int q = q0 + k;
        if (q < K) {
          acc[k] += g * extAt<T, I>(x, init, b, t + q, c, L, C, H);
        } else if (q == K) {
          acc[k] += g;
        }
      }
      t += kRowLanes;
      while (t >= L) {
        t -= L;
        ++b;
      }
    }
  }

#pragma unroll
  for (int k = 0; k < kQuantities; ++k) sm[k][threadIdx.y][threadIdx.x] = acc[k];
  __syncthreads();

  // Thread (x, y) finishes quantity q0 + y of channel c.
  const int q = q0 + static_cast<int>(threadIdx.y);
  if (c < C && q < quantities) {
    float total = 0.0f;
#pragma unroll
    for (int k = 0; k < kRowLanes; ++k) total += sm[threadIdx.y][k][threadIdx.x];
    if (direct) {
      if (q < K) {
        dweight[c * K + q] = fromF32<T>(total);
      } else {
        dbias[c] = fromF32<T>(total);
      }
    } else {
      partial[(static_cast<I>(blockIdx.y) * quantities + q) * C + c] = total;
    }
  }
}

/** dweight[c, q] / dbias[c] = Σ_chunk partial[chunk, q, c], chunks in order. T: float or bf16. */
template <typename T, typename I>
__global__ void __launch_bounds__(kThreads)
    convSumChunksKernel(const float* __restrict__ partial, T* __restrict__ dweight,
                        T* __restrict__ dbias, I C, I K, int quantities, int chunks) {
  const I total = static_cast<I>(quantities) * C;
  for (I idx = blockIdx.x * static_cast<I>(blockDim.x) + threadIdx.x; idx < total;
       idx += static_cast<I>(gridDim.x) * blockDim.x) {
    const I q = idx / C;
    const I c = idx - q * C;
    float sum = 0.0f;
    for (int k = 0; k < chunks; ++k) sum += partial[static_cast<I>(k) * total + idx];
    if (q < K) {
      dweight[c * K + q] = fromF32<T>(sum);
    } else {
      dbias[c] = fromF32<T>(sum);
    }
  }
}

/**
 * dext[b, i, c] = Σ_{j<K, 0 ≤ i−j < L} g[b, i−j, c] · weight[c, j] for the extended rows
 * i ∈ [iStart, H + L): row i ≥ H is dx[b, i − H], row i < H is dInit[b, i]. T: the buffers'
 * element type (float or bf16); TG: g's (T when g is dy, float for the float32 scratch).
 */
template <typename TG, typename T, typename I>
__global__ void __launch_bounds__(kThreads)
    convInputGradKernel(const TG* __restrict__ g, const T* __restrict__ weight,
                        T* __restrict__ dx, T* __restrict__ dInit, I B, I L, I C, I K,
                        I iStart) {
  const I H = K - 1;
  const I R = H + L - iStart;  // extended rows per batch element handled here
  const I total = B * R * C;
  for (I idx = blockIdx.x * static_cast<I>(blockDim.x) + threadIdx.x; idx < total;
       idx += static_cast<I>(gridDim.x) * blockDim.x) {
    const I c = idx % C;
    const I br = idx / C;
    const I i = br % R + iStart;
    const I b = br / R;
    const T* w = weight + c * K;
    // Taps j with 0 ≤ t = i − j < L, visited with t ascending (as the reference accumulates).
    float acc = 0.0f;
    for (I j = K - 1; j >= 0; --j) {
      const I t = i - j;
      if (t >= 0 && t < L) acc += toF32(g[(b * L + t) * C + c]) * toF32(w[j]);
    }
    if (i >= H) {
      dx[(b * L + (i - H)) * C + c] = fromF32<T>(acc);
    } else {
      dInit[(b * H + i) * C + c] = fromF32<T>(acc);
    }
  }
}

/**
 * One decode step per (b, c): out = act(pre) over [state; x], then state shifts and takes x
 * (stored values are x's, so a bf16 state is exactly what rounding would store). T: float or bf16.
 */
template <typename T, typename I>
__global__ void __launch_bounds__(kThreads)
    convStepKernel(const T* __restrict__ x, T* __restrict__ state, const T* __restrict__ weight,
                   const T* __restrict__ bias, T* __restrict__ out, I B, I C, I K, int act) {
  const I H = K - 1;
  const I total = B * C;
  for (I idx = blockIdx.x * static_cast<I>(blockDim.x) + threadIdx.x; idx < total;
       idx += static_cast<I>(gridDim.x) * blockDim.x) {
    const I c = idx % C;
    const I b = idx / C;
    const T current = x[idx];
    const T* w = weight + c * K;
    T* st = state + b * H * C + c;  // st[j · C] = state[b, j, c]
    float acc = bias == nullptr ? 0.0f : toF32(bias[c]);
    for (I j = 0; j < H; ++j) acc += toF32(w[j]) * toF32(st[j * C]);
    acc += toF32(w[H]) * toF32(current);
    out[idx] = fromF32<T>(activate(act, acc));
    for (I j = 0; j + 1 < H; ++j) st[j * C] = st[(j + 1) * C];
    if (H > 0) st[(H - 1) * C] = current;
  }
}

// ---------------------------------------------------------------------------------------------
// Launch bodies, instantiated for 32- and 64-bit indices and T = float or bf16
// ---------------------------------------------------------------------------------------------

template <typename T, typename I>
void forward(const T* x, const T* weight, const T* bias, const T* init, T* out, T* finalState,
             int64_t B, int64_t L, int64_t C, int64_t K, int act) {
  cudaStream_t s = bmojo::stream();
  const int64_t total = B * L * C;
  if (total > 0) {
    convForwardKernel<T, I><<<bmojo::blocksFor(total, kThreads), kThreads, 0, s>>>(
        x, weight, bias, init, out, static_cast<I>(B), static_cast<I>(L), static_cast<I>(C),
        static_cast<I>(K), act);
    bmojo::checkLaunch("causalConv1d");
  }
  const int64_t stateTotal = B * (K - 1) * C;
  if (finalState != nullptr && stateTotal > 0) {
    convFinalStateKernel<T, I><<<bmojo::blocksFor(stateTotal, kThreads), kThreads, 0, s>>>(
        x, init, finalState, static_cast<I>(B), static_cast<I>(L), static_cast<I>(C),
        static_cast<I>(K - 1));
    bmojo::checkLaunch("causalConv1d (finalState)");
  }
}

/** dx (and dInitialState): extended rows [iStart, H + L). TG: g's element type (see the kernel). */
template <typename TG, typename T, typename I>
void inputGrad(const TG* g, const T* weight, T* dx, T* dInit, int64_t B, int64_t L, int64_t C,
               int64_t K) {
  const int64_t H = K - 1;
  const int64_t iStart = dInit != nullptr ? 0 : H;
  const int64_t total = B * (H + L - iStart) * C;
  if (total == 0) return;
  convInputGradKernel<TG, T, I>
      <<<bmojo::blocksFor(total, kThreads), kThreads, 0, bmojo::stream()>>>(
          g, weight, dx, dInit, static_cast<I>(B), static_cast<I>(L), static_cast<I>(C),
          static_cast<I>(K), static_cast<I>(iStart));
  bmojo::checkLaunch("causalConv1dBackward (dx)");
}

template <typename T, typename I>
void backward(const T* x, const T* weight, const T* bias, const T* init, const T* dy, T* dx,
              T* dweight, T* dbias, T* dInit, int64_t B, int64_t L, int64_t C, int64_t K,
              int act) {
  cudaStream_t s = bmojo::stream();
  const int64_t rows = B * L;

  // g = dy · act'(pre): dy itself without an activation, else written to float32 scratch by the
  // weight kernel and read by the input-gradient kernel.
  Scratch gScratch(act != 0 ? static_cast<size_t>(rows * C) * sizeof(float) : 0);
  float* gOut = act != 0 ? gScratch.as<float>() : nullptr;

  // Weight / bias gradients: ~1024 blocks of 32 channels × a chunk of ≥ 64 rows.
  const int quantities = static_cast<int>(K) + (dbias != nullptr ? 1 : 0);
  const int64_t colBlocks = (C + kColTile - 1) / kColTile;
  const int64_t maxChunks = std::min<int64_t>((rows + 63) / 64, 65535);
  int64_t chunks = std::max<int64_t>(1, std::min<int64_t>(maxChunks, 1024 / colBlocks));
  const int64_t rowsPerChunk = (rows + chunks - 1) / chunks;
  chunks = (rows + rowsPerChunk - 1) / rowsPerChunk;
  const bool direct = chunks == 1;
  Scratch partial(direct ? 0 : static_cast<size_t>(chunks * quantities * C) * sizeof(float));
  const dim3 grid(static_cast<unsigned>(colBlocks), static_cast<unsigned>(chunks),
                  static_cast<unsigned>((quantities + kQuantities - 1) / kQuantities));
  const dim3 block(kColTile, kRowLanes);
  convWeightGradKernel<T, I><<<grid, block, 0, s>>>(
      x, weight, bias, init, dy, gOut, partial.as<float>(), dweight, dbias, static_cast<I>(B),
      static_cast<I>(L), static_cast<I>(C), static_cast<I>(K), act, static_cast<I>(rowsPerChunk),
      quantities, direct);
  bmojo::checkLaunch("causalConv1dBackward (dweight)");
  if (!direct) {
    const int64_t total = quantities * C;
    convSumChunksKernel<T, I><<<bmojo::blocksFor(total, kThreads), kThreads, 0, s>>>(
        partial.as<const float>(), dweight, dbias, static_cast<I>(C), static_cast<I>(K),
        quantities, static_cast<int>(chunks));
    bmojo::checkLaunch("causalConv1dBackward (dweight sum)");
  }

  if (act != 0) {
    inputGrad<float, T, I>(gScratch.as<const float>(), weight, dx, dInit, B, L, C, K);
  } else {
    inputGrad<T, T, I>(dy, weight, dx, dInit, B, L, C, K);
  }
}

template <typename T, typename I>
void step(const T* x, T* state, const T* weight, const T* bias, T* out, int64_t B, int64_t C,
          int64_t K, int act) {
  const int64_t total = B * C;
  convStepKernel<T, I><<<bmojo::blocksFor(total, kThreads), kThreads, 0, bmojo::stream()>>>(
      x, state, weight, bias, out, static_cast<I>(B), static_cast<I>(C), static_cast<I>(K), act);
  bmojo::checkLaunch("causalConv1dStep");
}

/** Whether every index of a call with these sizes fits the 32-bit kernels. */
bool fits32(int64_t B, int64_t L, int64_t C, int64_t K) {
  return B * (L + K) * C < kIndex32Limit && C * (K + 1) < kIndex32Limit;
}

// The entries' bodies after the dtype. T: the element type of the buffers (float or bf16).

template <typename T>
void causalConv1d(bmojo::Args& a) {
  const auto* x = a.buf<const T>();
  const auto* weight = a.buf<const T>();
  const auto* bias = a.optBuf<const T>();
  const auto* init = a.optBuf<const T>();
  auto* out = a.buf<T>();
  auto* finalState = a.optBuf<T>();
  const int64_t B = a.i64();
  const int64_t L = a.i64();
  const int64_t C = a.i64();
  const int64_t K = a.i64();
  const int act = readActivation(a, "causalConv1d");
  checkDims(B, L, C, K, "causalConv1d");
  if (B == 0 || C == 0) return;
  if (fits32(B, L, C, K)) {
    forward<T, int32_t>(x, weight, bias, init, out, finalState, B, L, C, K, act);
  } else {
    forward<T, int64_t>(x, weight, bias, init, out, finalState, B, L, C, K, act);
  }
}

template <typename T>
void causalConv1dBackward(bmojo::Args& a) {
  const auto* x = a.buf<const T>();
  const auto* weight = a.buf<const T>();
  const auto* bias = a.optBuf<const T>();
  const auto* init = a.optBuf<const T>();
  const auto* dy = a.buf<const T>();
  auto* dx = a.buf<T>();
  auto* dweight = a.buf<T>();
  auto* dbias = a.optBuf<T>();
  auto* dInit = a.optBuf<T>();
  const int64_t B = a.i64();
  const int64_t L = a.i64();
  const int64_t C = a.i64();
  const int64_t K = a.i64();
  const int act = readActivation(a, "causalConv1dBackward");
  checkDims(B, L, C, K, "causalConv1dBackward");
  if (C == 0) return;
  if (B * L == 0) {  // sums over no positions; dx is empty
    zeroFill(dweight, C * K, "causalConv1dBackward");
    zeroFill(dbias, C, "causalConv1dBackward");
    zeroFill(dInit, B * (K - 1) * C, "causalConv1dBackward");
    return;
  }
  if (fits32(B, L, C, K)) {
    backward<T, int32_t>(x, weight, bias, init, dy, dx, dweight, dbias, dInit, B, L, C, K, act);
  } else {
    backward<T, int64_t>(x, weight, bias, init, dy, dx, dweight, dbias, dInit, B, L, C, K, act);
  }
}

template <typename T>
void causalConv1dStep(bmojo::Args& a) {
  const auto* x = a.buf<const T>();
  auto* state = a.buf<T>();
  const auto* weight = a.buf<const T>();
  const auto* bias = a.optBuf<const T>();
  auto* out = a.buf<T>();
  const int64_t B = a.i64();
  const int64_t C = a.i64();
  const int64_t K = a.i64();
  const int act = readActivation(a, "causalConv1dStep");
  checkDims(B, 1, C, K, "causalConv1dStep");
  if (B == 0 || C == 0) return;
  if (fits32(B, 1, C, K)) {
    step<T, int32_t>(x, state, weight, bias, out, B, C, K, act);
  } else {
    step<T, int64_t>(x, state, weight, bias, out, B, C, K, act);
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Entries
// ---------------------------------------------------------------------------------------------

void kernel_causalConv1d(bmojo::Args& a) {
  bmojo::withFloatElem(bmojo::readFloatDType(a, "causalConv1d"),
                       [&](auto e) { causalConv1d<typename decltype(e)::type>(a); });
}

void kernel_causalConv1dBackward(bmojo::Args& a) {
  bmojo::withFloatElem(bmojo::readFloatDType(a, "causalConv1dBackward"),
                       [&](auto e) { causalConv1dBackward<typename decltype(e)::type>(a); });
}

void kernel_causalConv1dStep(bmojo::Args& a) {
  bmojo::withFloatElem(bmojo::readFloatDType(a, "causalConv1dStep"),
                       [&](auto e) { causalConv1dStep<typename decltype(e)::type>(a); });
}
