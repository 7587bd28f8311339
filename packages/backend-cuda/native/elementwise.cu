// Elementwise kernels: unary, unaryBackward, siluMul, binary, where, cast, fill, copy, adamw.
//
// The reference is the cpu backend (packages/tensor/src/backends/cpu/elementwise.ts, copy.ts,
// adamw.ts). float32 math runs in float with the accurate libdevice functions (expf, logf, tanhf,
// powf, ...; never the __expf intrinsics); int32 follows C int32 semantics with wrap-around, done
// in unsigned arithmetic so nothing is undefined behaviour. bfloat16 elements are read into float32
// (exact), computed on with the float32 code, and each stored value is rounded to bf16 once
// (nearest, ties to even); comparisons of bf16 compare the bf16 values and write int32. Kernels
// that only move elements (where, copy, fill, same-dtype cast) move 2-byte words for bf16.
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

using bmojo::bf16;
using bmojo::fromF32;
using bmojo::toF32;

const char* dtypeName(bmojo::DType d) {
  return d == bmojo::F32    ? "float32"
         : d == bmojo::I32  ? "int32"
         : d == bmojo::BF16 ? "bfloat16"
                            : "an unknown dtype";
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
// Generic contiguous maps (16-byte vector accesses when every pointer is 16-byte aligned)
// ---------------------------------------------------------------------------------------------

/** W elements of T loaded or stored as one access of sizeof(T)·W bytes (≤ 16). */
template <typename T, int W>
struct alignas(sizeof(T) * W) Vec {
  T v[W];
};

/** Elements per vector access: 16 bytes of the wider of In and Out (4 for 4-byte types, 8 for
 *  bf16 → bf16; mixed widths such as bf16 → int32 move 8 and 16 bytes). */
template <typename In, typename Out>
constexpr int kVecWidth =
    static_cast<int>(16 / (sizeof(In) > sizeof(Out) ? sizeof(In) : sizeof(Out)));

/** y[i] = f(x[i]); In and Out are the stored element types (float, int32_t or bf16). */
template <typename F, typename In, typename Out>
__global__ void map1Kernel(F f, const In* x, Out* y, int64_t n, bool vec) {
  constexpr int W = kVecWidth<In, Out>;
  const int64_t tid = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  int64_t start = 0;
  if (vec) {
    const int64_t nv = n / W;
    const Vec<In, W>* xv = reinterpret_cast<const Vec<In, W>*>(x);
    Vec<Out, W>* yv = reinterpret_cast<Vec<Out, W>*>(y);
    for (int64_t i = tid; i < nv; i += stride) {
      Vec<In, W> a = xv[i];
      Vec<Out, W> r;
#pragma unroll
      for (int k = 0; k < W; ++k) r.v[k] = f(a.v[k]);
      yv[i] = r;
    }
    start = nv * W;
  }
  for (int64_t i = start + tid; i < n; i += stride) y[i] = f(x[i]);
}

/** y[i] = f(x[i], z[i]); In and Out as map1Kernel's. */
template <typename F, typename In, typename Out>
__global__ void map2Kernel(F f, const In* x, const In* z, Out* y, int64_t n, bool vec) {
  constexpr int W = kVecWidth<In, Out>;
  const int64_t tid = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  int64_t start = 0;
  if (vec) {
    const int64_t nv = n / W;
    const Vec<In, W>* xv = reinterpret_cast<const Vec<In, W>*>(x);
    const Vec<In, W>* zv = reinterpret_cast<const Vec<In, W>*>(z);
    Vec<Out, W>* yv = reinterpret_cast<Vec<Out, W>*>(y);
    for (int64_t i = tid; i < nv; i += stride) {
      Vec<In, W> a = xv[i];
      Vec<In, W> b = zv[i];
      Vec<Out, W> r;
#pragma unroll
      for (int k = 0; k < W; ++k) r.v[k] = f(a.v[k], b.v[k]);
      yv[i] = r;
    }
    start = nv * W;
  }
  for (int64_t i = start + tid; i < n; i += stride) y[i] = f(x[i], z[i]);
}

// (aligned16 is at least the alignment of every vector access, 8 or 16 bytes.)
template <typename F, typename In, typename Out>
void launchMap1(F f, const In* x, Out* y, int64_t n, const char* what) {
  if (n <= 0) return;
  constexpr int W = kVecWidth<In, Out>;
  bool vec = aligned16(x) && aligned16(y) && n >= W;
  unsigned blocks = bmojo::blocksFor(vec ? (n + W - 1) / W : n, kThreads);
  map1Kernel<<<blocks, kThreads, 0, bmojo::stream()>>>(f, x, y, n, vec);
  bmojo::checkLaunch(what);
}

template <typename F, typename In, typename Out>
void launchMap2(F f, const In* x, const In* z, Out* y, int64_t n, const char* what) {
  if (n <= 0) return;
  constexpr int W = kVecWidth<In, Out>;
  bool vec = aligned16(x) && aligned16(z) && aligned16(y) && n >= W;
  unsigned blocks = bmojo::blocksFor(vec ? (n + W - 1) / W : n, kThreads);
  map2Kernel<<<blocks, kThreads, 0, bmojo::stream()>>>(f, x, z, y, n, vec);
  bmojo::checkLaunch(what);
}

/** A float32 functor applied to stored float elements T (float or bf16): read into float32,
 *  computed in float32, the result stored as T (rounded once for bf16). */
template <typename F, typename T>
struct Stored1 {
  F f;
  __device__ __forceinline__ T operator()(T x) const { return fromF32<T>(f(toF32(x))); }
};

template <typename F, typename T>
struct Stored2 {
  F f;
  __device__ __forceinline__ T operator()(T x, T z) const {
    return fromF32<T>(f(toF32(x), toF32(z)));
  }
};

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

template <int OP, typename T>
void runUnaryFloat(const T* x, T* y, int64_t n) {
  launchMap1(Stored1<UnaryF32<OP>, T>{}, x, y, n, "unary");
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

template <int OP, typename T>
void runUnaryGrad(const T* x, const T* dy, T* dx, int64_t n) {
  launchMap2(Stored2<UnaryGradF32<OP>, T>{}, x, dy, dx, n, "unaryBackward");
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
    if constexpr (std::is_same_v<T, bf16>) {
      // bf16 → float32 is exact: comparisons compare the bf16 values; arithmetic runs in float32
      // and is rounded to bf16 once.
      if constexpr (OP >= kEq) return BinaryF<OP, float>{}(toF32(a), toF32(b));
      else return fromF32<bf16>(BinaryF<OP, float>{}(toF32(a), toF32(b)));
    } else if constexpr (OP >= kEq) {
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
// where (elements are moved as raw words Wd: uint32_t for float32 and int32, uint16_t for bf16)
// ---------------------------------------------------------------------------------------------

template <typename Wd>
__global__ void whereFlatKernel(const int32_t* cond, int64_t cs, const Wd* a, int64_t as,
                                const Wd* b, int64_t bs, Wd* out, int64_t n) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += stride) {
    out[i] = cond[i * cs] != 0 ? a[i * as] : b[i * bs];
  }
}

template <typename Wd, bool kSmall>
__global__ void whereStridedKernel(const int32_t* cond, const Wd* a, const Wd* b, Wd* out,
                                   int64_t n, const Layout<3> L) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += stride) {
    int64_t off[3];
    offsetsOf<kSmall>(L, i, off);
    out[i] = cond[off[0]] != 0 ? a[off[1]] : b[off[2]];
  }
}

template <typename Wd>
void runWhere(const int32_t* cp, const void* A, const void* B, void* O, int64_t n,
              const Layout<3>& L) {
  const Wd* ap = static_cast<const Wd*>(A);
  const Wd* bp = static_cast<const Wd*>(B);
  Wd* op = static_cast<Wd*>(O);
  const unsigned blocks = bmojo::blocksFor(n, kThreads);
  if (L.rank == 1) {
    whereFlatKernel<Wd><<<blocks, kThreads, 0, bmojo::stream()>>>(
        cp, L.strides[0][0], ap, L.strides[1][0], bp, L.strides[2][0], op, n);
  } else if (n <= kSmallLimit) {
    whereStridedKernel<Wd, true><<<blocks, kThreads, 0, bmojo::stream()>>>(cp, ap, bp, op, n, L);
  } else {
    whereStridedKernel<Wd, false><<<blocks, kThreads, 0, bmojo::stream()>>>(cp, ap, bp, op, n, L);
  }
  bmojo::checkLaunch("where");
}

// ---------------------------------------------------------------------------------------------
// copy (raw words Wd, as where)
// ---------------------------------------------------------------------------------------------

template <typename Wd>
__global__ void copyFlatKernel(const Wd* x, int64_t xs, Wd* out, int64_t os, int64_t n) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += stride) {
    out[i * os] = x[i * xs];
  }
}

/** x and out already point at their offsets. */
template <typename Wd, bool kSmall>
__global__ void copyStridedKernel(const Wd* x, Wd* out, int64_t n, const Layout<2> L) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += stride) {
    int64_t off[2];
    offsetsOf<kSmall>(L, i, off);
    out[off[1]] = x[off[0]];
  }
}

/** x and out are the buffers' bases; offsets and strides count elements of Wd. */
template <typename Wd>
void runCopy(const void* X, void* O, int64_t xOffset, int64_t outOffset, int64_t n,
             const Layout<2>& L) {
  const Wd* xp = static_cast<const Wd*>(X) + xOffset;
  Wd* op = static_cast<Wd*>(O) + outOffset;
  if (L.rank == 1) {
    const int64_t xs = L.strides[0][0];
    const int64_t os = L.strides[1][0];
    if (n == 1 || (xs == 1 && os == 1)) {
      if (xp != op) {
        bmojo::check(cudaMemcpyAsync(op, xp, static_cast<size_t>(n) * sizeof(Wd),
                                     cudaMemcpyDeviceToDevice, bmojo::stream()),
                     "copy");
      }
      return;
    }
    copyFlatKernel<Wd><<<bmojo::blocksFor(n, kThreads), kThreads, 0, bmojo::stream()>>>(
        xp, xs, op, os, n);
  } else if (n <= kSmallLimit) {
    copyStridedKernel<Wd, true>
        <<<bmojo::blocksFor(n, kThreads), kThreads, 0, bmojo::stream()>>>(xp, op, n, L);
  } else {
    copyStridedKernel<Wd, false>
        <<<bmojo::blocksFor(n, kThreads), kThreads, 0, bmojo::stream()>>>(xp, op, n, L);
  }
  bmojo::checkLaunch("copy");
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

/** float32 → bf16: round to nearest even. */
struct F32ToBF16 {
  __device__ __forceinline__ bf16 operator()(float v) const { return fromF32<bf16>(v); }
};

/** bf16 → float32: exact. */
struct BF16ToF32 {
  __device__ __forceinline__ float operator()(bf16 v) const { return toF32(v); }
};

/** int32 → bf16 as the reference: int → float32 (nearest even) → bf16 (nearest even); the double
 *  rounding is the reference's. */
struct I32ToBF16 {
  __device__ __forceinline__ bf16 operator()(int32_t v) const {
    return fromF32<bf16>(__int2float_rn(v));
  }
};

/** bf16 → int32: the float → int32 rule on the (exact) float32 value. */
struct BF16ToI32 {
  __device__ __forceinline__ int32_t operator()(bf16 v) const { return F32ToI32{}(toF32(v)); }
};

/** Writes the word `bits` (uint32_t or uint16_t) n times; 16-byte stores when `vec`. */
template <typename Wd>
__global__ void fillKernel(Wd* out, Wd bits, int64_t n, bool vec) {
  constexpr int kPer = static_cast<int>(16 / sizeof(Wd));
  const int64_t tid = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  int64_t start = 0;
  if (vec) {
    const int64_t nv = n / kPer;
    uint4* outv = reinterpret_cast<uint4*>(out);
    uint32_t w = bits;
    if constexpr (sizeof(Wd) == 2) w |= w << 16;
    const uint4 v = make_uint4(w, w, w, w);
    for (int64_t i = tid; i < nv; i += stride) outv[i] = v;
    start = nv * kPer;
  }
  for (int64_t i = start + tid; i < n; i += stride) out[i] = bits;
}

template <typename Wd>
void runFill(void* out, Wd bits, int64_t n) {
  constexpr int kPer = static_cast<int>(16 / sizeof(Wd));
  const bool vec = aligned16(out) && n >= kPer;
  fillKernel<Wd><<<bmojo::blocksFor(vec ? (n + kPer - 1) / kPer : n, kThreads), kThreads, 0,
                   bmojo::stream()>>>(static_cast<Wd*>(out), bits, n, vec);
  bmojo::checkLaunch("fill");
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

/** T = float or bf16: every operand is read into float32, updated in float32 and each stored
 *  value (m, v, param) rounded to T once; the update uses the unrounded mNew and vNew, as the
 *  reference computes from the values before it stores them. */
template <typename T>
__global__ void adamwKernel(T* param, const T* grad, T* m, T* v, int64_t n, const AdamwConsts c) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += stride) {
    const float g = toF32(grad[i]);
    const float mNew = c.beta1 * toF32(m[i]) + c.oneMinusBeta1 * g;
    const float vNew = c.beta2 * toF32(v[i]) + c.oneMinusBeta2 * g * g;
    m[i] = fromF32<T>(mNew);
    v[i] = fromF32<T>(vNew);
    const float decayed = toF32(param[i]) * c.decayFactor;
    const float denominator = sqrtf(vNew) / c.biasCorrection2Sqrt + c.eps;
    param[i] = fromF32<T>(decayed - c.stepSize * (mNew / denominator));
  }
}

template <typename T>
void unaryFloat(int op, const T* xp, T* yp, int64_t n) {
  switch (op) {
    case kNeg: return runUnaryFloat<kNeg>(xp, yp, n);
    case kAbs: return runUnaryFloat<kAbs>(xp, yp, n);
    case kSign: return runUnaryFloat<kSign>(xp, yp, n);
    case kExp: return runUnaryFloat<kExp>(xp, yp, n);
    case kLog: return runUnaryFloat<kLog>(xp, yp, n);
    case kSqrt: return runUnaryFloat<kSqrt>(xp, yp, n);
    case kRsqrt: return runUnaryFloat<kRsqrt>(xp, yp, n);
    case kSquare: return runUnaryFloat<kSquare>(xp, yp, n);
    case kReciprocal: return runUnaryFloat<kReciprocal>(xp, yp, n);
    case kSin: return runUnaryFloat<kSin>(xp, yp, n);
    case kCos: return runUnaryFloat<kCos>(xp, yp, n);
    case kTanh: return runUnaryFloat<kTanh>(xp, yp, n);
    case kSigmoid: return runUnaryFloat<kSigmoid>(xp, yp, n);
    case kSilu: return runUnaryFloat<kSilu>(xp, yp, n);
    case kSoftplus: return runUnaryFloat<kSoftplus>(xp, yp, n);
    case kRelu: return runUnaryFloat<kRelu>(xp, yp, n);
    case kFloor: return runUnaryFloat<kFloor>(xp, yp, n);
    default: throw std::invalid_argument("unary: unknown op code " + std::to_string(op));
  }
}

template <typename T>
void unaryGrad(int op, const T* xp, const T* dyp, T* dxp, int64_t n) {
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
  const int eb = bmojo::elemBytes(dtype);
  requireElems(x, n, "unary", "x", eb);
  requireElems(out, n, "unary", "out", eb);
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
  if (dtype == bmojo::BF16) {
    unaryFloat(op, static_cast<const bf16*>(x.ptr), static_cast<bf16*>(out.ptr), n);
  } else {
    unaryFloat(op, static_cast<const float*>(x.ptr), static_cast<float*>(out.ptr), n);
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
  if (dtype == bmojo::I32) {
    throw std::invalid_argument(std::string("unaryBackward: op \"") + kUnaryNames[op] +
                                "\" does not support dtype " + dtypeName(dtype) +
                                "; use float32 or bfloat16");
  }
  const int eb = bmojo::elemBytes(dtype);
  requireElems(x, n, "unaryBackward", "x", eb);
  requireElems(dy, n, "unaryBackward", "dy", eb);
  requireElems(dx, n, "unaryBackward", "dx", eb);
  if (n == 0) return;
  if (dtype == bmojo::BF16) {
    unaryGrad(op, static_cast<const bf16*>(x.ptr), static_cast<const bf16*>(dy.ptr),
              static_cast<bf16*>(dx.ptr), n);
  } else {
    unaryGrad(op, static_cast<const float*>(x.ptr), static_cast<const float*>(dy.ptr),
              static_cast<float*>(dx.ptr), n);
  }
}

// siluMul: dtype, gate, up, out, size
void kernel_siluMul(bmojo::Args& a) {
  const bmojo::DType dtype = readDType(a, "siluMul");
  Buf gate = readBuf(a);
  Buf up = readBuf(a);
  Buf out = readBuf(a);
  const int64_t n = readSize(a, "siluMul", "size");
  if (dtype == bmojo::I32) {
    throw std::invalid_argument(std::string("siluMul: does not support dtype ") +
                                dtypeName(dtype) + "; use float32 or bfloat16");
  }
  const int eb = bmojo::elemBytes(dtype);
  requireElems(gate, n, "siluMul", "gate", eb);
  requireElems(up, n, "siluMul", "up", eb);
  requireElems(out, n, "siluMul", "out", eb);
  if (dtype == bmojo::BF16) {
    launchMap2(Stored2<SiluMulF32, bf16>{}, static_cast<const bf16*>(gate.ptr),
               static_cast<const bf16*>(up.ptr), static_cast<bf16*>(out.ptr), n, "siluMul");
  } else {
    launchMap2(SiluMulF32{}, static_cast<const float*>(gate.ptr),
               static_cast<const float*>(up.ptr), static_cast<float*>(out.ptr), n, "siluMul");
  }
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
  const int eb = bmojo::elemBytes(dtype);
  int64_t lo, hi;
  operandRange(L, 0, 0, lo, hi);
  requireRange(A, lo, hi, "binary", "a", eb);
  operandRange(L, 1, 0, lo, hi);
  requireRange(B, lo, hi, "binary", "b", eb);
  requireElems(out, n, "binary", "out", op >= kEq ? 4 : eb);  // comparisons write int32
  if (dtype == bmojo::F32) {
    dispatchBinary<float>(op, static_cast<const float*>(A.ptr), static_cast<const float*>(B.ptr),
                          out.ptr, n, L);
  } else if (dtype == bmojo::BF16) {
    dispatchBinary<bf16>(op, static_cast<const bf16*>(A.ptr), static_cast<const bf16*>(B.ptr),
                         out.ptr, n, L);
  } else {
    dispatchBinary<int32_t>(op, static_cast<const int32_t*>(A.ptr),
                            static_cast<const int32_t*>(B.ptr), out.ptr, n, L);
  }
}

// where: dtype, cond, a, b, out, n, rank, shape[rank], condStrides, aStrides, bStrides
// (out is contiguous over the merged shape.)
void kernel_where(bmojo::Args& a) {
  const bmojo::DType dtype = readDType(a, "where");  // elements are moved as raw words
  Buf C = readBuf(a);
  Buf A = readBuf(a);
  Buf B = readBuf(a);
  Buf out = readBuf(a);
  Layout<3> L;
  const int64_t n = readLayout(a, L, "where");
  if (n == 0) return;
  const int eb = bmojo::elemBytes(dtype);
  int64_t lo, hi;
  operandRange(L, 0, 0, lo, hi);
  requireRange(C, lo, hi, "where", "cond");
  operandRange(L, 1, 0, lo, hi);
  requireRange(A, lo, hi, "where", "a", eb);
  operandRange(L, 2, 0, lo, hi);
  requireRange(B, lo, hi, "where", "b", eb);
  requireElems(out, n, "where", "out", eb);
  const int32_t* cp = static_cast<const int32_t*>(C.ptr);
  if (eb == 2) {
    runWhere<uint16_t>(cp, A.ptr, B.ptr, out.ptr, n, L);
  } else {
    runWhere<uint32_t>(cp, A.ptr, B.ptr, out.ptr, n, L);
  }
}

// copy: dtype, x, out, xOffset, outOffset, n, rank, shape[rank], xStrides[rank], outStrides[rank]
void kernel_copy(bmojo::Args& a) {
  const bmojo::DType dtype = readDType(a, "copy");  // elements are moved as raw words
  Buf x = readBuf(a);
  Buf out = readBuf(a);
  const int64_t xOffset = a.i64();
  const int64_t outOffset = a.i64();
  Layout<2> L;
  const int64_t n = readLayout(a, L, "copy");
  if (n == 0) return;
  const int eb = bmojo::elemBytes(dtype);
  int64_t lo, hi;
  operandRange(L, 0, xOffset, lo, hi);
  requireRange(x, lo, hi, "copy", "x", eb);
  operandRange(L, 1, outOffset, lo, hi);
  requireRange(out, lo, hi, "copy", "out", eb);
  if (eb == 2) {
    runCopy<uint16_t>(x.ptr, out.ptr, xOffset, outOffset, n, L);
  } else {
    runCopy<uint32_t>(x.ptr, out.ptr, xOffset, outOffset, n, L);
  }
}

// cast: from, to, x, out, size
void kernel_cast(bmojo::Args& a) {
  const bmojo::DType from = readDType(a, "cast");
  const bmojo::DType to = readDType(a, "cast");
  Buf x = readBuf(a);
  Buf out = readBuf(a);
  const int64_t n = readSize(a, "cast", "size");
  requireElems(x, n, "cast", "x", bmojo::elemBytes(from));
  requireElems(out, n, "cast", "out", bmojo::elemBytes(to));
  if (n == 0) return;
  if (from == to) {
    if (x.ptr != out.ptr) {
      const size_t bytes = static_cast<size_t>(n) * bmojo::elemBytes(from);
      bmojo::check(
          cudaMemcpyAsync(out.ptr, x.ptr, bytes, cudaMemcpyDeviceToDevice, bmojo::stream()),
          "cast");
    }
    return;
  }
  const void* xp = x.ptr;  // every other pair of float32, int32 and bf16 converts
  void* yp = out.ptr;
  if (from == bmojo::F32 && to == bmojo::I32) {
    launchMap1(F32ToI32{}, static_cast<const float*>(xp), static_cast<int32_t*>(yp), n, "cast");
  } else if (from == bmojo::I32 && to == bmojo::F32) {
    launchMap1(I32ToF32{}, static_cast<const int32_t*>(xp), static_cast<float*>(yp), n, "cast");
  } else if (from == bmojo::F32 && to == bmojo::BF16) {
    launchMap1(F32ToBF16{}, static_cast<const float*>(xp), static_cast<bf16*>(yp), n, "cast");
  } else if (from == bmojo::BF16 && to == bmojo::F32) {
    launchMap1(BF16ToF32{}, static_cast<const bf16*>(xp), static_cast<float*>(yp), n, "cast");
  } else if (from == bmojo::I32 && to == bmojo::BF16) {
    launchMap1(I32ToBF16{}, static_cast<const int32_t*>(xp), static_cast<bf16*>(yp), n, "cast");
  } else {  // bf16 → int32
    launchMap1(BF16ToI32{}, static_cast<const bf16*>(xp), static_cast<int32_t*>(yp), n, "cast");
  }
}

// fill: dtype, out, value, size
void kernel_fill(bmojo::Args& a) {
  const bmojo::DType dtype = readDType(a, "fill");
  Buf out = readBuf(a);
  const double value = a.num();
  const int64_t n = readSize(a, "fill", "size");
  requireElems(out, n, "fill", "out", bmojo::elemBytes(dtype));
  if (n == 0) return;
  if (dtype == bmojo::BF16) {
    // The float32 kernel's value (the double rounded to float32, as a Float32Array store), rounded
    // to bf16 once: the reference's Float32Array fill of the widened buffer, then its settle.
    const bf16 h = fromF32<bf16>(static_cast<float>(value));
    uint16_t bits16;
    static_assert(sizeof(bf16) == sizeof(uint16_t), "bf16 must be 16-bit");
    std::memcpy(&bits16, &h, sizeof bits16);
    runFill<uint16_t>(out.ptr, bits16, n);
    return;
  }
  uint32_t bits;
  if (dtype == bmojo::F32) {
    float f = static_cast<float>(value);  // round to nearest, like a Float32Array store
    static_assert(sizeof(float) == sizeof(uint32_t), "float must be 32-bit");
    std::memcpy(&bits, &f, sizeof bits);
  } else {
    bits = static_cast<uint32_t>(hostToInt32(value));
  }
  runFill<uint32_t>(out.ptr, bits, n);
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
  if (dtype == bmojo::I32) {
    throw std::invalid_argument(std::string("adamw: does not support dtype ") + dtypeName(dtype) +
                                "; use float32 or bfloat16");
  }
  if (!(step >= 1) || step != std::floor(step)) {
    throw std::range_error("adamw: step must be an integer ≥ 1 (the 1-based step count), got " +
                           std::to_string(step));
  }
  const int eb = bmojo::elemBytes(dtype);
  requireElems(param, n, "adamw", "param", eb);
  requireElems(grad, n, "adamw", "grad", eb);
  requireElems(m, n, "adamw", "m", eb);
  requireElems(v, n, "adamw", "v", eb);
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
  const unsigned blocks = bmojo::blocksFor(n, kThreads);
  if (dtype == bmojo::BF16) {
    adamwKernel<bf16><<<blocks, kThreads, 0, bmojo::stream()>>>(
        static_cast<bf16*>(param.ptr), static_cast<const bf16*>(grad.ptr),
        static_cast<bf16*>(m.ptr), static_cast<bf16*>(v.ptr), n, c);
  } else {
    adamwKernel<float><<<blocks, kThreads, 0, bmojo::stream()>>>(
        static_cast<float*>(param.ptr), static_cast<const float*>(grad.ptr),
        static_cast<float*>(m.ptr), static_cast<float*>(v.ptr), n, c);
  }
  bmojo::checkLaunch("adamw");
}
