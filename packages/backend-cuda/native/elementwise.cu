// Elementwise kernels: unary, unaryBackward, siluMul, binary, where, cast, fill, copy, adamw.
//
// The reference is the cpu backend (packages/tensor/src/backends/cpu/elementwise.ts, copy.ts,
// adamw.ts). float32 math runs in float with the accurate libdevice functions (expf, logf, tanhf,
// powf, ...; never the __expf intrinsics); int32 follows C int32 semantics with wrap-around, done
// in unsigned arithmetic so nothing is undefined behaviour.
//
// Shaped kernels (binary, where, copy) receive a shape already simplified by the marshaller
// (src/kernels/elementwise.ts: size-1 dims dropped, dims contiguous for every operand merged), so
// the rank is small. A rank ≤ 1 space runs a flat loop; otherwise every element's offsets are
// computed from its linear index with magic-number division (32-bit when the space has at most
// 2^31 − 1 elements, plain 64-bit division otherwise).
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <type_traits>

#include "common.cuh"

namespace {

constexpr int kThreads = 256;

// ---------------------------------------------------------------------------------------------
// Op codes. These mirror the order of the TypeScript op lists exported by @bmojo/tensor
// (packages/tensor/src/backend/kernels.ts); the marshaller writes the index into those lists.
// ---------------------------------------------------------------------------------------------

// UNARY_OPS order.
enum UnaryOp : int {
  kNeg = 0,
  kAbs,
  kSign,
  kExp,
  kLog,
  kSqrt,
  kRsqrt,
  kSquare,
  kReciprocal,
  kSin,
  kCos,
  kTanh,
  kSigmoid,
  kSilu,
  kSoftplus,
  kRelu,
  kFloor,
  kUnaryOpCount
};

// [...ARITHMETIC_OPS, ...COMPARISON_OPS] order.
enum BinaryOp : int {
  kAdd = 0,
  kSub,
  kMul,
  kDiv,
  kPow,
  kMaximum,
  kMinimum,
  kEq,
  kNe,
  kLt,
  kLe,
  kGt,
  kGe,
  kBinaryOpCount
};

const char* const kUnaryNames[kUnaryOpCount] = {
    "neg",     "abs",  "sign", "exp",     "log",  "sqrt",     "rsqrt", "square", "reciprocal",
    "sin",     "cos",  "tanh", "sigmoid", "silu", "softplus", "relu",  "floor"};

// ---------------------------------------------------------------------------------------------
// Host helpers
// ---------------------------------------------------------------------------------------------

using bmojo::aligned16;
using bmojo::Buf;
using bmojo::readBuf;
using bmojo::readDType;
using bmojo::readSize;
using bmojo::requireElems;
using bmojo::requireRange;

const char* dtypeName(bmojo::DType d) {
  return d == bmojo::F32 ? "float32" : d == bmojo::I32 ? "int32" : "an unknown dtype";
}


// ---------------------------------------------------------------------------------------------
// Strided index spaces
// ---------------------------------------------------------------------------------------------

/**
 * Division by a fixed divisor d (1 ≤ d ≤ 2^31 − 1) for dividends n ≤ 2^31 − 1, with one
 * multiply-high, one add and one shift (Granlund & Montgomery; as in PyTorch's IntDivider).
 * With s = ceil(log2 d) and m = floor(2^32 (2^s − d) / d) + 1 < 2^32:
 *   n / d = (umulhi(n, m) + n) >> s.
 * (umulhi(n, m) + n < 2^32 because both terms are < 2^31.)
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

constexpr int64_t kSmallLimit = std::numeric_limits<int32_t>::max();

/** A (merged) index space of rank ≥ 1 with N operands' strides, passed to kernels by value. */
template <int N>
struct Layout {
  int rank;
  int64_t shape[bmojo::kMaxDims];
  FastDiv divs[bmojo::kMaxDims];  // divs[d] divides by shape[d]; used when the space is small
  int64_t strides[N][bmojo::kMaxDims];
};

/**
 * offsets[k] = Σ_d i_d · strides[k][d], where (i_0, …, i_{rank−1}) is the row-major multi-index
 * of the linear index `linear`. kSmall: linear < 2^31 and every extent < 2^31 (32-bit fast
 * division).
 */
template <bool kSmall, int N>
__device__ __forceinline__ void offsetsOf(const Layout<N>& L, int64_t linear, int64_t (&off)[N]) {
#pragma unroll
  for (int k = 0; k < N; ++k) off[k] = 0;
  if constexpr (kSmall) {
    uint32_t rem = static_cast<uint32_t>(linear);
#pragma unroll
    for (int d = bmojo::kMaxDims - 1; d >= 1; --d) {
      if (d < L.rank) {
        uint32_t q = L.divs[d].div(rem);
        int64_t idx = static_cast<int64_t>(rem - q * static_cast<uint32_t>(L.shape[d]));
        rem = q;
#pragma unroll
        for (int k = 0; k < N; ++k) off[k] += idx * L.strides[k][d];
      }
    }
#pragma unroll
    for (int k = 0; k < N; ++k) off[k] += static_cast<int64_t>(rem) * L.strides[k][0];
  } else {
    int64_t rem = linear;
#pragma unroll
    for (int d = bmojo::kMaxDims - 1; d >= 1; --d) {
      if (d < L.rank) {
        int64_t q = rem / L.shape[d];
        int64_t idx = rem - q * L.shape[d];
        rem = q;
#pragma unroll
        for (int k = 0; k < N; ++k) off[k] += idx * L.strides[k][d];
      }
    }
#pragma unroll
    for (int k = 0; k < N; ++k) off[k] += rem * L.strides[k][0];
  }
}

/**
 * Reads `n, rank, shape[rank], strides[0][rank], …, strides[N−1][rank]` (the marshaller's
 * layout) into L. A rank-0 space (one element) becomes rank 1 of extent 1 with stride 0.
 * Returns n, the element count (0: nothing to do).
 */
template <int N>
int64_t readLayout(bmojo::Args& a, Layout<N>& L, const char* kernel) {
  int64_t n = readSize(a, kernel, "element count");
  int rank = a.i32();
  if (rank < 0 || rank > bmojo::kMaxDims) {
    throw std::invalid_argument(std::string(kernel) + ": rank " + std::to_string(rank) +
                                " after merging dims is outside [0, " +
                                std::to_string(bmojo::kMaxDims) + "]");
  }
  L = Layout<N>{};
  L.rank = rank;
  int64_t product = 1;
  for (int d = 0; d < rank; ++d) {
    L.shape[d] = a.i64();
    if (L.shape[d] < 0) throw std::range_error(std::string(kernel) + ": negative extent in shape");
    product *= L.shape[d];
  }
  for (int k = 0; k < N; ++k)
    for (int d = 0; d < rank; ++d) L.strides[k][d] = a.i64();
  if (n != 0 && product != n) {  // an empty space is written as n = 0, rank 0
    throw std::invalid_argument(std::string(kernel) + ": element count " + std::to_string(n) +
                                " does not match the shape (marshaller/ABI mismatch)");
  }
  if (rank == 0) {
    L.rank = 1;
    L.shape[0] = 1;
    for (int k = 0; k < N; ++k) L.strides[k][0] = 0;
  }
  if (n > 0 && n <= kSmallLimit) {
    for (int d = 0; d < L.rank; ++d) L.divs[d] = FastDiv::make(static_cast<uint32_t>(L.shape[d]));
  }
  return n;
}

/** Lowest and highest element offset operand k touches (base + Σ (extent−1)·stride). */
template <int N>
void operandRange(const Layout<N>& L, int k, int64_t base, int64_t& lo, int64_t& hi) {
  lo = hi = base;
  for (int d = 0; d < L.rank; ++d) {
    int64_t span = (L.shape[d] - 1) * L.strides[k][d];
    if (span < 0) lo += span;
    else hi += span;
  }
}

// ---------------------------------------------------------------------------------------------
// Generic contiguous maps (vectorised by 4 when every pointer is 16-byte aligned)
// ---------------------------------------------------------------------------------------------

template <typename T>
struct alignas(16) Vec4 {
  T v[4];
};

template <typename F, typename In, typename Out>
__global__ void map1Kernel(F f, const In* x, Out* y, int64_t n, bool vec) {
  const int64_t tid = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  int64_t start = 0;
  if (vec) {
    const int64_t n4 = n >> 2;
    const Vec4<In>* x4 = reinterpret_cast<const Vec4<In>*>(x);
    Vec4<Out>* y4 = reinterpret_cast<Vec4<Out>*>(y);
    for (int64_t i = tid; i < n4; i += stride) {
      Vec4<In> a = x4[i];
      Vec4<Out> r;
#pragma unroll
      for (int k = 0; k < 4; ++k) r.v[k] = f(a.v[k]);
      y4[i] = r;
    }
    start = n4 << 2;
  }
  for (int64_t i = start + tid; i < n; i += stride) y[i] = f(x[i]);
}

template <typename F, typename In, typename Out>
__global__ void map2Kernel(F f, const In* x, const In* z, Out* y, int64_t n, bool vec) {
  const int64_t tid = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  int64_t start = 0;
  if (vec) {
    const int64_t n4 = n >> 2;
    const Vec4<In>* x4 = reinterpret_cast<const Vec4<In>*>(x);
    const Vec4<In>* z4 = reinterpret_cast<const Vec4<In>*>(z);
    Vec4<Out>* y4 = reinterpret_cast<Vec4<Out>*>(y);
    for (int64_t i = tid; i < n4; i += stride) {
      Vec4<In> a = x4[i];
      Vec4<In> b = z4[i];
      Vec4<Out> r;
#pragma unroll
      for (int k = 0; k < 4; ++k) r.v[k] = f(a.v[k], b.v[k]);
      y4[i] = r;
    }
    start = n4 << 2;
  }
  for (int64_t i = start + tid; i < n; i += stride) y[i] = f(x[i], z[i]);
}

template <typename F, typename In, typename Out>
void launchMap1(F f, const In* x, Out* y, int64_t n, const char* what) {
  if (n <= 0) return;
  bool vec = aligned16(x) && aligned16(y) && n >= 4;
  unsigned blocks = bmojo::blocksFor(vec ? (n + 3) / 4 : n, kThreads);
  map1Kernel<<<blocks, kThreads, 0, bmojo::stream()>>>(f, x, y, n, vec);
  bmojo::checkLaunch(what);
}

template <typename F, typename In, typename Out>
void launchMap2(F f, const In* x, const In* z, Out* y, int64_t n, const char* what) {
  if (n <= 0) return;
  bool vec = aligned16(x) && aligned16(z) && aligned16(y) && n >= 4;
  unsigned blocks = bmojo::blocksFor(vec ? (n + 3) / 4 : n, kThreads);
  map2Kernel<<<blocks, kThreads, 0, bmojo::stream()>>>(f, x, z, y, n, vec);
  bmojo::checkLaunch(what);
}

// ---------------------------------------------------------------------------------------------
// unary
// ---------------------------------------------------------------------------------------------

/** Numerically stable logistic function (as the reference: no overflow of exp for large |x|). */
__device__ __forceinline__ float sigmoidf(float x) {
  if (x >= 0.f) return 1.f / (1.f + expf(-x));
  float e = expf(x);
  return e / (1.f + e);
}

__device__ __forceinline__ int32_t negI32(int32_t x) {
  return static_cast<int32_t>(0u - static_cast<uint32_t>(x));  // wraps: -(-2^31) = -2^31
}

template <int OP>
struct UnaryF32 {
  __device__ __forceinline__ float operator()(float x) const {
    if constexpr (OP == kNeg) return -x;
    else if constexpr (OP == kAbs) return fabsf(x);
    else if constexpr (OP == kSign) return x > 0.f ? 1.f : x < 0.f ? -1.f : x;  // ±0, NaN kept
    else if constexpr (OP == kExp) return expf(x);
    else if constexpr (OP == kLog) return logf(x);
    else if constexpr (OP == kSqrt) return sqrtf(x);
    else if constexpr (OP == kRsqrt) return 1.f / sqrtf(x);
    else if constexpr (OP == kSquare) return x * x;
    else if constexpr (OP == kReciprocal) return 1.f / x;
    else if constexpr (OP == kSin) return sinf(x);
    else if constexpr (OP == kCos) return cosf(x);
    else if constexpr (OP == kTanh) return tanhf(x);
    else if constexpr (OP == kSigmoid) return sigmoidf(x);
    else if constexpr (OP == kSilu) return x * sigmoidf(x);
    else if constexpr (OP == kSoftplus) return x > 20.f ? x : log1pf(expf(x));
    else if constexpr (OP == kRelu) return x > 0.f ? x : (x != x ? x : 0.f);  // Math.max(x, 0)
    else return floorf(x);                                                    // kFloor
  }
};

/** SwiGLU's gating silu(gate) · up: the unary kernel's silu, rounded to float, times up. */
struct SiluMulF32 {
  __device__ __forceinline__ float operator()(float gate, float up) const {
    return UnaryF32<kSilu>{}(gate) * up;
  }
};

/** int32 unary ops (neg, abs, sign, square), wrapping like C int32. */
template <int OP>
struct UnaryI32 {
  __device__ __forceinline__ int32_t operator()(int32_t x) const {
    if constexpr (OP == kNeg) return negI32(x);
    else if constexpr (OP == kAbs) return x < 0 ? negI32(x) : x;
    else if constexpr (OP == kSign) return (x > 0) - (x < 0);
    else {  // kSquare: Math.imul(x, x)
      uint32_t u = static_cast<uint32_t>(x);
      return static_cast<int32_t>(u * u);
    }
  }
};

template <int OP>
void runUnaryF32(const float* x, float* y, int64_t n) {
  launchMap1(UnaryF32<OP>{}, x, y, n, "unary");
}

template <int OP>
void runUnaryI32(const int32_t* x, int32_t* y, int64_t n) {
  launchMap1(UnaryI32<OP>{}, x, y, n, "unary");
}

// ---------------------------------------------------------------------------------------------
// unaryBackward (float only)
// ---------------------------------------------------------------------------------------------

template <int OP>
struct UnaryGradF32 {
  __device__ __forceinline__ float operator()(float x, float dy) const {
    if constexpr (OP == kNeg) return -dy;
    else if constexpr (OP == kAbs) return dy * (x > 0.f ? 1.f : x < 0.f ? -1.f : x);
    else if constexpr (OP == kSign || OP == kFloor) return 0.f;
    else if constexpr (OP == kExp) return dy * expf(x);
    else if constexpr (OP == kLog) return dy / x;
    else if constexpr (OP == kSqrt) return (0.5f * dy) / sqrtf(x);
    else if constexpr (OP == kRsqrt) return (-0.5f * dy) / (x * sqrtf(x));
    else if constexpr (OP == kSquare) return 2.f * x * dy;
    else if constexpr (OP == kReciprocal) return -dy / (x * x);
    else if constexpr (OP == kSin) return dy * cosf(x);
    else if constexpr (OP == kCos) return -dy * sinf(x);
    else if constexpr (OP == kTanh) {
      float t = tanhf(x);
      return dy * (1.f - t * t);
    } else if constexpr (OP == kSigmoid) {
      float s = sigmoidf(x);
      return dy * s * (1.f - s);
    } else if constexpr (OP == kSilu) {
      float s = sigmoidf(x);
      return dy * s * (1.f + x * (1.f - s));
    } else if constexpr (OP == kSoftplus) {
      return x > 20.f ? dy : dy * sigmoidf(x);
    } else {  // kRelu
      return x > 0.f ? dy : 0.f;
    }
  }
};

template <int OP>
void runUnaryGrad(const float* x, const float* dy, float* dx, int64_t n) {
  launchMap2(UnaryGradF32<OP>{}, x, dy, dx, n, "unaryBackward");
}

// ---------------------------------------------------------------------------------------------
// binary
// ---------------------------------------------------------------------------------------------

/** JavaScript ToInt32 of a double (NaN, ±Infinity → 0; otherwise truncate, wrap mod 2^32). */
__device__ __forceinline__ int32_t toInt32(double d) {
  if (!isfinite(d)) return 0;
  double m = fmod(trunc(d), 4294967296.0);  // exact; in (−2^32, 2^32)
  if (m < 0) m += 4294967296.0;
  return static_cast<int32_t>(static_cast<uint32_t>(m));
}

/**
 * int32 pow as the reference: (a ** b) | 0. Negative exponents give 0 unless |a| == 1 (0 ** −n is
 * Infinity → 0). Positive exponents square-and-multiply in double: exact whenever |a^b| ≤ 2^53.
 */
__device__ __forceinline__ int32_t powI32(int32_t a, int32_t b) {
  if (b == 0) return 1;
  if (b < 0) {
    if (a == 1) return 1;
    if (a == -1) return (b & 1) ? -1 : 1;
    return 0;
  }
  double base = static_cast<double>(a);
  double r = 1.0;
  uint32_t e = static_cast<uint32_t>(b);
  while (true) {
    if (e & 1u) r *= base;
    e >>= 1;
    if (e == 0) break;
    base *= base;
  }
  return toInt32(r);
}

/** JavaScript `a ** b` on floats: like powf except 1 ** NaN and (±1) ** ±Infinity are NaN. */
__device__ __forceinline__ float powJs(float a, float b) {
  if (b != b) return b;
  if (fabsf(a) == 1.f && isinf(b)) return __int_as_float(0x7fc00000);
  return powf(a, b);
}

template <int OP, typename T>
using BinaryOut = std::conditional_t<(OP >= kEq), int32_t, T>;

template <int OP, typename T>
struct BinaryF {
  __device__ __forceinline__ BinaryOut<OP, T> operator()(T a, T b) const {
    if constexpr (OP >= kEq) {
      if constexpr (OP == kEq) return a == b ? 1 : 0;
      else if constexpr (OP == kNe) return a != b ? 1 : 0;
      else if constexpr (OP == kLt) return a < b ? 1 : 0;
      else if constexpr (OP == kLe) return a <= b ? 1 : 0;
      else if constexpr (OP == kGt) return a > b ? 1 : 0;
      else return a >= b ? 1 : 0;  // kGe
    } else if constexpr (std::is_same_v<T, float>) {
      if constexpr (OP == kAdd) return a + b;
      else if constexpr (OP == kSub) return a - b;
      else if constexpr (OP == kMul) return a * b;
      else if constexpr (OP == kDiv) return a / b;
      else if constexpr (OP == kPow) return powJs(a, b);
      // Math.max / Math.min propagate NaN (fmaxf / fminf would drop it).
      else if constexpr (OP == kMaximum) return (a != a || b != b) ? a + b : fmaxf(a, b);
      else return (a != a || b != b) ? a + b : fminf(a, b);  // kMinimum
    } else {
      const uint32_t ua = static_cast<uint32_t>(a);
      const uint32_t ub = static_cast<uint32_t>(b);
      if constexpr (OP == kAdd) return static_cast<int32_t>(ua + ub);
      else if constexpr (OP == kSub) return static_cast<int32_t>(ua - ub);
      else if constexpr (OP == kMul) return static_cast<int32_t>(ua * ub);
      else if constexpr (OP == kDiv) {
        // Truncates toward zero; x / 0 = 0; −2^31 / −1 wraps to −2^31.
        if (b == 0) return 0;
        if (b == -1) return negI32(a);
        return a / b;
      } else if constexpr (OP == kPow) return powI32(a, b);
      else if constexpr (OP == kMaximum) return a > b ? a : b;
      else return a < b ? a : b;  // kMinimum
    }
  }
};

/** Rank ≤ 1: out[i] = f(a[i·as], b[i·bs]). */
template <int OP, typename T>
__global__ void binaryFlatKernel(const T* a, int64_t as, const T* b, int64_t bs,
                                 BinaryOut<OP, T>* out, int64_t n) {
  BinaryF<OP, T> f;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += stride) {
    out[i] = f(a[i * as], b[i * bs]);
  }
}

/** Any rank: out is contiguous over the layout (out offset = linear index). */
template <int OP, typename T, bool kSmall>
__global__ void binaryStridedKernel(const T* a, const T* b, BinaryOut<OP, T>* out, int64_t n,
                                    const Layout<2> L) {
  BinaryF<OP, T> f;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += stride) {
    int64_t off[2];
    offsetsOf<kSmall>(L, i, off);
    out[i] = f(a[off[0]], b[off[1]]);
  }
}

template <int OP, typename T>
void runBinary(const T* a, const T* b, void* outRaw, int64_t n, const Layout<2>& L) {
  using Out = BinaryOut<OP, T>;
  Out* out = static_cast<Out*>(outRaw);
  if (L.rank == 1) {
    const int64_t as = L.strides[0][0];
    const int64_t bs = L.strides[1][0];
    if (as == 1 && bs == 1) {
      launchMap2(BinaryF<OP, T>{}, a, b, out, n, "binary");
      return;
    }
    binaryFlatKernel<OP, T><<<bmojo::blocksFor(n, kThreads), kThreads, 0, bmojo::stream()>>>(
        a, as, b, bs, out, n);
  } else if (n <= kSmallLimit) {
    binaryStridedKernel<OP, T, true>
        <<<bmojo::blocksFor(n, kThreads), kThreads, 0, bmojo::stream()>>>(a, b, out, n, L);
  } else {
    binaryStridedKernel<OP, T, false>
        <<<bmojo::blocksFor(n, kThreads), kThreads, 0, bmojo::stream()>>>(a, b, out, n, L);
  }
  bmojo::checkLaunch("binary");
}

template <typename T>
void dispatchBinary(int op, const T* a, const T* b, void* out, int64_t n, const Layout<2>& L) {
  switch (op) {
#define BMOJO_BINARY_CASE(OP)              \
  case OP:                                 \
    runBinary<OP, T>(a, b, out, n, L);     \
    return;
    BMOJO_BINARY_CASE(kAdd)
    BMOJO_BINARY_CASE(kSub)
    BMOJO_BINARY_CASE(kMul)
    BMOJO_BINARY_CASE(kDiv)
    BMOJO_BINARY_CASE(kPow)
    BMOJO_BINARY_CASE(kMaximum)
    BMOJO_BINARY_CASE(kMinimum)
    BMOJO_BINARY_CASE(kEq)
    BMOJO_BINARY_CASE(kNe)
    BMOJO_BINARY_CASE(kLt)
    BMOJO_BINARY_CASE(kLe)
    BMOJO_BINARY_CASE(kGt)
    BMOJO_BINARY_CASE(kGe)
#undef BMOJO_BINARY_CASE
    default:
      throw std::invalid_argument("binary: unknown op code " + std::to_string(op));
  }
}

// ---------------------------------------------------------------------------------------------
// where (any 4-byte dtype: elements are moved as raw 32-bit words)
// ---------------------------------------------------------------------------------------------

__global__ void whereFlatKernel(const int32_t* cond, int64_t cs, const uint32_t* a, int64_t as,
                                const uint32_t* b, int64_t bs, uint32_t* out, int64_t n) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += stride) {
    out[i] = cond[i * cs] != 0 ? a[i * as] : b[i * bs];
  }
}

template <bool kSmall>
__global__ void whereStridedKernel(const int32_t* cond, const uint32_t* a, const uint32_t* b,
                                   uint32_t* out, int64_t n, const Layout<3> L) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += stride) {
    int64_t off[3];
    offsetsOf<kSmall>(L, i, off);
    out[i] = cond[off[0]] != 0 ? a[off[1]] : b[off[2]];
  }
}

// ---------------------------------------------------------------------------------------------
// copy (any 4-byte dtype)
// ---------------------------------------------------------------------------------------------

__global__ void copyFlatKernel(const uint32_t* x, int64_t xs, uint32_t* out, int64_t os,
                               int64_t n) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += stride) {
    out[i * os] = x[i * xs];
  }
}

/** x and out already point at their offsets. */
template <bool kSmall>
__global__ void copyStridedKernel(const uint32_t* x, uint32_t* out, int64_t n, const Layout<2> L) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += stride) {
    int64_t off[2];
    offsetsOf<kSmall>(L, i, off);
    out[off[1]] = x[off[0]];
  }
}

// ---------------------------------------------------------------------------------------------
// cast, fill
// ---------------------------------------------------------------------------------------------

/** float → int32 as the reference: truncate toward zero, saturate out-of-range values, NaN → 0. */
struct F32ToI32 {
  __device__ __forceinline__ int32_t operator()(float v) const {
    if (v != v) return 0;
    if (v >= 2147483647.f) return INT32_MAX;
    if (v <= -2147483648.f) return INT32_MIN;
    return static_cast<int32_t>(v);  // in range: truncation toward zero
  }
};

/** int32 → float: round to nearest even. */
struct I32ToF32 {
  __device__ __forceinline__ float operator()(int32_t v) const { return __int2float_rn(v); }
};

__global__ void fillKernel(uint32_t* out, uint32_t bits, int64_t n, bool vec) {
  const int64_t tid = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  int64_t start = 0;
  if (vec) {
    const int64_t n4 = n >> 2;
    uint4* out4 = reinterpret_cast<uint4*>(out);
    const uint4 v = make_uint4(bits, bits, bits, bits);
    for (int64_t i = tid; i < n4; i += stride) out4[i] = v;
    start = n4 << 2;
  }
  for (int64_t i = start + tid; i < n; i += stride) out[i] = bits;
}

/** JavaScript ToInt32 on the host (Int32Array.fill's conversion). */
int32_t hostToInt32(double d) {
  if (!std::isfinite(d)) return 0;
  double m = std::fmod(std::trunc(d), 4294967296.0);
  if (m < 0) m += 4294967296.0;
  return static_cast<int32_t>(static_cast<uint32_t>(m));
}

// ---------------------------------------------------------------------------------------------
// adamw
// ---------------------------------------------------------------------------------------------

struct AdamwConsts {
  float beta1, oneMinusBeta1, beta2, oneMinusBeta2;
  float decayFactor;          // 1 − lr·wd
  float stepSize;             // lr / (1 − β1^step)
  float biasCorrection2Sqrt;  // sqrt(1 − β2^step)
  float eps;
};

__global__ void adamwKernel(float* param, const float* grad, float* m, float* v, int64_t n,
                            const AdamwConsts c) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += stride) {
    const float g = grad[i];
    const float mNew = c.beta1 * m[i] + c.oneMinusBeta1 * g;
    const float vNew = c.beta2 * v[i] + c.oneMinusBeta2 * g * g;
    m[i] = mNew;
    v[i] = vNew;
    const float decayed = param[i] * c.decayFactor;
    const float denominator = sqrtf(vNew) / c.biasCorrection2Sqrt + c.eps;
    param[i] = decayed - c.stepSize * (mNew / denominator);
  }
}

}  // namespace

// =============================================================================================
// Entries
// =============================================================================================

// unary: op, dtype, x, out, size
void kernel_unary(bmojo::Args& a) {
  const int op = a.i32();
  const bmojo::DType dtype = readDType(a, "unary");
  Buf x = readBuf(a);
  Buf out = readBuf(a);
  const int64_t n = readSize(a, "unary", "size");
  if (op < 0 || op >= kUnaryOpCount) {
    throw std::invalid_argument("unary: unknown op code " + std::to_string(op));
  }
  requireElems(x, n, "unary", "x");
  requireElems(out, n, "unary", "out");
  if (n == 0) return;
  if (dtype == bmojo::I32) {
    const int32_t* xp = static_cast<const int32_t*>(x.ptr);
    int32_t* yp = static_cast<int32_t*>(out.ptr);
    switch (op) {
      case kNeg: return runUnaryI32<kNeg>(xp, yp, n);
      case kAbs: return runUnaryI32<kAbs>(xp, yp, n);
      case kSign: return runUnaryI32<kSign>(xp, yp, n);
      case kSquare: return runUnaryI32<kSquare>(xp, yp, n);
      default:
        throw std::invalid_argument(std::string("unary: op \"") + kUnaryNames[op] +
                                    "\" does not support dtype int32; int32 supports neg, abs, "
                                    "sign, square");
    }
  }
  const float* xp = static_cast<const float*>(x.ptr);
  float* yp = static_cast<float*>(out.ptr);
  switch (op) {
    case kNeg: return runUnaryF32<kNeg>(xp, yp, n);
    case kAbs: return runUnaryF32<kAbs>(xp, yp, n);
    case kSign: return runUnaryF32<kSign>(xp, yp, n);
    case kExp: return runUnaryF32<kExp>(xp, yp, n);
    case kLog: return runUnaryF32<kLog>(xp, yp, n);
    case kSqrt: return runUnaryF32<kSqrt>(xp, yp, n);
    case kRsqrt: return runUnaryF32<kRsqrt>(xp, yp, n);
    case kSquare: return runUnaryF32<kSquare>(xp, yp, n);
    case kReciprocal: return runUnaryF32<kReciprocal>(xp, yp, n);
    case kSin: return runUnaryF32<kSin>(xp, yp, n);
    case kCos: return runUnaryF32<kCos>(xp, yp, n);
    case kTanh: return runUnaryF32<kTanh>(xp, yp, n);
    case kSigmoid: return runUnaryF32<kSigmoid>(xp, yp, n);
    case kSilu: return runUnaryF32<kSilu>(xp, yp, n);
    case kSoftplus: return runUnaryF32<kSoftplus>(xp, yp, n);
    case kRelu: return runUnaryF32<kRelu>(xp, yp, n);
    case kFloor: return runUnaryF32<kFloor>(xp, yp, n);
    default: throw std::invalid_argument("unary: unknown op code " + std::to_string(op));
  }
}

// unaryBackward: op, dtype, x, dy, dx, size
void kernel_unaryBackward(bmojo::Args& a) {
  const int op = a.i32();
  const bmojo::DType dtype = readDType(a, "unaryBackward");
  Buf x = readBuf(a);
  Buf dy = readBuf(a);
  Buf dx = readBuf(a);
  const int64_t n = readSize(a, "unaryBackward", "size");
  if (op < 0 || op >= kUnaryOpCount) {
    throw std::invalid_argument("unaryBackward: unknown op code " + std::to_string(op));
  }
  if (dtype != bmojo::F32) {
    throw std::invalid_argument(std::string("unaryBackward: op \"") + kUnaryNames[op] +
                                "\" does not support dtype " + dtypeName(dtype) +
                                "; use float32");
  }
  requireElems(x, n, "unaryBackward", "x");
  requireElems(dy, n, "unaryBackward", "dy");
  requireElems(dx, n, "unaryBackward", "dx");
  if (n == 0) return;
  const float* xp = static_cast<const float*>(x.ptr);
  const float* dyp = static_cast<const float*>(dy.ptr);
  float* dxp = static_cast<float*>(dx.ptr);
  switch (op) {
    case kNeg: return runUnaryGrad<kNeg>(xp, dyp, dxp, n);
    case kAbs: return runUnaryGrad<kAbs>(xp, dyp, dxp, n);
    case kSign: return runUnaryGrad<kSign>(xp, dyp, dxp, n);
    case kExp: return runUnaryGrad<kExp>(xp, dyp, dxp, n);
    case kLog: return runUnaryGrad<kLog>(xp, dyp, dxp, n);
    case kSqrt: return runUnaryGrad<kSqrt>(xp, dyp, dxp, n);
    case kRsqrt: return runUnaryGrad<kRsqrt>(xp, dyp, dxp, n);
    case kSquare: return runUnaryGrad<kSquare>(xp, dyp, dxp, n);
    case kReciprocal: return runUnaryGrad<kReciprocal>(xp, dyp, dxp, n);
    case kSin: return runUnaryGrad<kSin>(xp, dyp, dxp, n);
    case kCos: return runUnaryGrad<kCos>(xp, dyp, dxp, n);
    case kTanh: return runUnaryGrad<kTanh>(xp, dyp, dxp, n);
    case kSigmoid: return runUnaryGrad<kSigmoid>(xp, dyp, dxp, n);
    case kSilu: return runUnaryGrad<kSilu>(xp, dyp, dxp, n);
    case kSoftplus: return runUnaryGrad<kSoftplus>(xp, dyp, dxp, n);
    case kRelu: return runUnaryGrad<kRelu>(xp, dyp, dxp, n);
    case kFloor: return runUnaryGrad<kFloor>(xp, dyp, dxp, n);
    default: throw std::invalid_argument("unaryBackward: unknown op code " + std::to_string(op));
  }
}

// siluMul: dtype, gate, up, out, size
void kernel_siluMul(bmojo::Args& a) {
  const bmojo::DType dtype = readDType(a, "siluMul");
  Buf gate = readBuf(a);
  Buf up = readBuf(a);
  Buf out = readBuf(a);
  const int64_t n = readSize(a, "siluMul", "size");
  if (dtype != bmojo::F32) {
    throw std::invalid_argument(std::string("siluMul: does not support dtype ") +
                                dtypeName(dtype) + "; use float32");
  }
  requireElems(gate, n, "siluMul", "gate");
  requireElems(up, n, "siluMul", "up");
  requireElems(out, n, "siluMul", "out");
  launchMap2(SiluMulF32{}, static_cast<const float*>(gate.ptr), static_cast<const float*>(up.ptr),
             static_cast<float*>(out.ptr), n, "siluMul");
}

// binary: op, dtype, a, b, out, n, rank, shape[rank], aStrides[rank], bStrides[rank]
// (out is contiguous over the merged shape.)
void kernel_binary(bmojo::Args& a) {
  const int op = a.i32();
  const bmojo::DType dtype = readDType(a, "binary");
  Buf A = readBuf(a);
  Buf B = readBuf(a);
  Buf out = readBuf(a);
  Layout<2> L;
  const int64_t n = readLayout(a, L, "binary");
  if (op < 0 || op >= kBinaryOpCount) {
    throw std::invalid_argument("binary: unknown op code " + std::to_string(op));
  }
  if (n == 0) return;
  int64_t lo, hi;
  operandRange(L, 0, 0, lo, hi);
  requireRange(A, lo, hi, "binary", "a");
  operandRange(L, 1, 0, lo, hi);
  requireRange(B, lo, hi, "binary", "b");
  requireElems(out, n, "binary", "out");
  if (dtype == bmojo::F32) {
    dispatchBinary<float>(op, static_cast<const float*>(A.ptr), static_cast<const float*>(B.ptr),
                          out.ptr, n, L);
  } else {
    dispatchBinary<int32_t>(op, static_cast<const int32_t*>(A.ptr),
                            static_cast<const int32_t*>(B.ptr), out.ptr, n, L);
  }
}

// where: dtype, cond, a, b, out, n, rank, shape[rank], condStrides, aStrides, bStrides
// (out is contiguous over the merged shape.)
void kernel_where(bmojo::Args& a) {
  readDType(a, "where");  // float32 and int32 are both moved as 32-bit words
  Buf C = readBuf(a);
  Buf A = readBuf(a);
  Buf B = readBuf(a);
  Buf out = readBuf(a);
  Layout<3> L;
  const int64_t n = readLayout(a, L, "where");
  if (n == 0) return;
  int64_t lo, hi;
  operandRange(L, 0, 0, lo, hi);
  requireRange(C, lo, hi, "where", "cond");
  operandRange(L, 1, 0, lo, hi);
  requireRange(A, lo, hi, "where", "a");
  operandRange(L, 2, 0, lo, hi);
  requireRange(B, lo, hi, "where", "b");
  requireElems(out, n, "where", "out");
  const int32_t* cp = static_cast<const int32_t*>(C.ptr);
  const uint32_t* ap = static_cast<const uint32_t*>(A.ptr);
  const uint32_t* bp = static_cast<const uint32_t*>(B.ptr);
  uint32_t* op = static_cast<uint32_t*>(out.ptr);
  const unsigned blocks = bmojo::blocksFor(n, kThreads);
  if (L.rank == 1) {
    whereFlatKernel<<<blocks, kThreads, 0, bmojo::stream()>>>(
        cp, L.strides[0][0], ap, L.strides[1][0], bp, L.strides[2][0], op, n);
  } else if (n <= kSmallLimit) {
    whereStridedKernel<true><<<blocks, kThreads, 0, bmojo::stream()>>>(cp, ap, bp, op, n, L);
  } else {
    whereStridedKernel<false><<<blocks, kThreads, 0, bmojo::stream()>>>(cp, ap, bp, op, n, L);
  }
  bmojo::checkLaunch("where");
}

// copy: dtype, x, out, xOffset, outOffset, n, rank, shape[rank], xStrides[rank], outStrides[rank]
void kernel_copy(bmojo::Args& a) {
  readDType(a, "copy");  // float32 and int32 are both moved as 32-bit words
  Buf x = readBuf(a);
  Buf out = readBuf(a);
  const int64_t xOffset = a.i64();
  const int64_t outOffset = a.i64();
  Layout<2> L;
  const int64_t n = readLayout(a, L, "copy");
  if (n == 0) return;
  int64_t lo, hi;
  operandRange(L, 0, xOffset, lo, hi);
  requireRange(x, lo, hi, "copy", "x");
  operandRange(L, 1, outOffset, lo, hi);
  requireRange(out, lo, hi, "copy", "out");
  const uint32_t* xp = static_cast<const uint32_t*>(x.ptr) + xOffset;
  uint32_t* op = static_cast<uint32_t*>(out.ptr) + outOffset;
  if (L.rank == 1) {
    const int64_t xs = L.strides[0][0];
    const int64_t os = L.strides[1][0];
    if (n == 1 || (xs == 1 && os == 1)) {
      if (xp != op) {
        bmojo::check(cudaMemcpyAsync(op, xp, static_cast<size_t>(n) * 4, cudaMemcpyDeviceToDevice,
                                     bmojo::stream()),
                     "copy");
      }
      return;
    }
    copyFlatKernel<<<bmojo::blocksFor(n, kThreads), kThreads, 0, bmojo::stream()>>>(xp, xs, op,
                                                                                      os, n);
  } else if (n <= kSmallLimit) {
    copyStridedKernel<true>
        <<<bmojo::blocksFor(n, kThreads), kThreads, 0, bmojo::stream()>>>(xp, op, n, L);
  } else {
    copyStridedKernel<false>
        <<<bmojo::blocksFor(n, kThreads), kThreads, 0, bmojo::stream()>>>(xp, op, n, L);
  }
  bmojo::checkLaunch("copy");
}

// cast: from, to, x, out, size
void kernel_cast(bmojo::Args& a) {
  const bmojo::DType from = readDType(a, "cast");
  const bmojo::DType to = readDType(a, "cast");
  Buf x = readBuf(a);
  Buf out = readBuf(a);
  const int64_t n = readSize(a, "cast", "size");
  requireElems(x, n, "cast", "x");
  requireElems(out, n, "cast", "out");
  if (n == 0) return;
  if (from == to) {
    if (x.ptr != out.ptr) {
      bmojo::check(cudaMemcpyAsync(out.ptr, x.ptr, static_cast<size_t>(n) * 4,
                                   cudaMemcpyDeviceToDevice, bmojo::stream()),
                   "cast");
    }
    return;
  }
  if (from == bmojo::F32) {
    launchMap1(F32ToI32{}, static_cast<const float*>(x.ptr), static_cast<int32_t*>(out.ptr), n,
               "cast");
  } else {
    launchMap1(I32ToF32{}, static_cast<const int32_t*>(x.ptr), static_cast<float*>(out.ptr), n,
               "cast");
  }
}

// fill: dtype, out, value, size
void kernel_fill(bmojo::Args& a) {
  const bmojo::DType dtype = readDType(a, "fill");
  Buf out = readBuf(a);
  const double value = a.num();
  const int64_t n = readSize(a, "fill", "size");
  requireElems(out, n, "fill", "out");
  if (n == 0) return;
  uint32_t bits;
  if (dtype == bmojo::F32) {
    float f = static_cast<float>(value);  // round to nearest, like a Float32Array store
    static_assert(sizeof(float) == sizeof(uint32_t), "float must be 32-bit");
    std::memcpy(&bits, &f, sizeof bits);
  } else {
    bits = static_cast<uint32_t>(hostToInt32(value));
  }
  const bool vec = aligned16(out.ptr) && n >= 4;
  fillKernel<<<bmojo::blocksFor(vec ? (n + 3) / 4 : n, kThreads), kThreads, 0, bmojo::stream()>>>(
      static_cast<uint32_t*>(out.ptr), bits, n, vec);
  bmojo::checkLaunch("fill");
}

// adamw: dtype, param, grad, m, v, size, lr, beta1, beta2, eps, weightDecay, step
void kernel_adamw(bmojo::Args& a) {
  const bmojo::DType dtype = readDType(a, "adamw");
  Buf param = readBuf(a);
  Buf grad = readBuf(a);
  Buf m = readBuf(a);
  Buf v = readBuf(a);
  const int64_t n = readSize(a, "adamw", "size");
  const double lr = a.num();
  const double beta1 = a.num();
  const double beta2 = a.num();
  const double eps = a.num();
  const double weightDecay = a.num();
  const double step = a.num();
  if (dtype != bmojo::F32) {
    throw std::invalid_argument(std::string("adamw: does not support dtype ") + dtypeName(dtype) +
                                "; use float32");
  }
  if (!(step >= 1) || step != std::floor(step)) {
    throw std::range_error("adamw: step must be an integer ≥ 1 (the 1-based step count), got " +
                           std::to_string(step));
  }
  requireElems(param, n, "adamw", "param");
  requireElems(grad, n, "adamw", "grad");
  requireElems(m, n, "adamw", "m");
  requireElems(v, n, "adamw", "v");
  if (n == 0) return;
  AdamwConsts c;
  c.beta1 = static_cast<float>(beta1);
  c.oneMinusBeta1 = static_cast<float>(1.0 - beta1);
  c.beta2 = static_cast<float>(beta2);
  c.oneMinusBeta2 = static_cast<float>(1.0 - beta2);
  c.decayFactor = static_cast<float>(1.0 - lr * weightDecay);
  c.stepSize = static_cast<float>(lr / (1.0 - std::pow(beta1, step)));
  c.biasCorrection2Sqrt = static_cast<float>(std::sqrt(1.0 - std::pow(beta2, step)));
  c.eps = static_cast<float>(eps);
  adamwKernel<<<bmojo::blocksFor(n, kThreads), kThreads, 0, bmojo::stream()>>>(
      static_cast<float*>(param.ptr), static_cast<const float*>(grad.ptr),
      static_cast<float*>(m.ptr), static_cast<float*>(v.ptr), n, c);
  bmojo::checkLaunch("adamw");
}
