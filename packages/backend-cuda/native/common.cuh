// The ABI between the Node-API layer (runtime.cu) and the kernel files.
//
// Every kernel of the table (packages/tensor/src/backend/kernels.ts) has one host entry
//   void kernel_<name>(bmojo::Args& a);
// that reads its arguments from `a` in the order its TypeScript marshaller (src/kernels/*.ts)
// wrote them into a Float64Array, and launches on bmojo::stream(). Entries never synchronise the
// stream unless the contract demands a host-visible result (index validation). Errors are thrown
// as C++ exceptions: std::range_error becomes a JS RangeError, everything else an Error.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <stdexcept>
#include <string>

namespace bmojo {

/** The backend's one stream; every kernel and copy is issued on it. */
cudaStream_t stream();

/** Device pointer of a live buffer id; throws std::invalid_argument for an unknown id. */
void* devicePtr(int64_t id);

/** Bytes of a live buffer (the size asked for at alloc). */
size_t bufferBytes(int64_t id);

/** A scratch device allocation from the caching allocator, released with releaseScratch. */
void* acquireScratch(size_t bytes);
void releaseScratch(void* ptr);

/**
 * At least `count` uint32 counters, all zero when the stream reaches the next kernel: a kernel that
 * uses them must leave every counter it touched at zero again (no launch to clear them).
 */
unsigned* zeroedCounters(size_t count);

/**
 * Whether a program capture is open: the stream's work is recorded into a graph, not run, so an
 * entry must not synchronise or read results (index checks are the replaying caller's then).
 */
bool capturing();

/** Streaming multiprocessors of the current device (132 when the query fails). */
int smCount();

/** Scratch device memory from the caching allocator, released on scope exit. Release is safe as
 *  soon as the kernels using it are enqueued: reuse is ordered on the one stream. */
class Scratch {
 public:
  explicit Scratch(size_t bytes) : ptr(bytes > 0 ? acquireScratch(bytes) : nullptr) {}
  ~Scratch() {
    if (ptr != nullptr) releaseScratch(ptr);
  }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  template <typename T>
  T* as() const {
    return static_cast<T*>(ptr);
  }
  void* const ptr;
};

/** Throws std::runtime_error naming `what` when `e` is not cudaSuccess. */
void check(cudaError_t e, const char* what);

/** Throws after a launch when the launch failed (bad configuration, no kernel image, ...). */
inline void checkLaunch(const char* what) { check(cudaGetLastError(), what); }

/** Element types; the marshallers write these codes. */
enum DType : int { F32 = 0, I32 = 1, BF16 = 2 };

/** Bytes of one element of `d`. */
inline int elemBytes(DType d) { return d == BF16 ? 2 : 4; }

/** bfloat16 storage: values are read into float32, computed on in float32, and each stored value
 *  is rounded to bfloat16 once (nearest, ties to even), as the reference cpu backend does. */
using bf16 = __nv_bfloat16;

/** A stored float element as float32. */
__host__ __device__ __forceinline__ float toF32(float x) { return x; }
__host__ __device__ __forceinline__ float toF32(bf16 x) { return __bfloat162float(x); }

/** A float32 value stored as T (rounded to nearest even for bf16). */
template <typename T>
__host__ __device__ __forceinline__ T fromF32(float x);
template <>
__host__ __device__ __forceinline__ float fromF32<float>(float x) { return x; }
template <>
__host__ __device__ __forceinline__ bf16 fromF32<bf16>(float x) { return __float2bfloat16_rn(x); }

/** Reads marshalled arguments in order. */
class Args {
 public:
  Args(const double* values, size_t count) : v_(values), n_(count) {}
  double num() { return next(); }
  float f32() { return static_cast<float>(next()); }
  int64_t i64() { return static_cast<int64_t>(next()); }
  int i32() { return static_cast<int>(next()); }
  bool flag() { return next() != 0.0; }
  DType dtype() { return static_cast<DType>(i32()); }
  /** A buffer id → its device pointer. */
  template <typename T = void>
  T* buf() {
    return static_cast<T*>(devicePtr(i64()));
  }
  /** A buffer id or −1 (null) → device pointer or nullptr. */
  template <typename T = void>
  T* optBuf() {
    int64_t id = i64();
    return id < 0 ? nullptr : static_cast<T*>(devicePtr(id));
  }
  size_t remaining() const { return n_ - i_; }

 private:
  double next() {
    if (i_ >= n_) throw std::invalid_argument("kernel argument list is too short (marshaller/ABI mismatch)");
    return v_[i_++];
  }
  const double* v_;
  size_t n_;
  size_t i_ = 0;
};

/** A buffer read from the argument list: its device pointer and its size in bytes. */
struct Buf {
  void* ptr;
  size_t bytes;
};

inline Buf readBuf(Args& a) {
  int64_t id = a.i64();
  return {devicePtr(id), bufferBytes(id)};
}

/** Reads a dtype code, refusing codes other than float32, int32 and bfloat16. */
inline DType readDType(Args& a, const char* kernel) {
  DType d = a.dtype();
  if (d != F32 && d != I32 && d != BF16) {
    throw std::invalid_argument(std::string(kernel) + ": unknown dtype code " +
                                std::to_string(static_cast<int>(d)));
  }
  return d;
}

/**
 * Reads the dtype code of a kernel that computes on floats: float32 or bfloat16; int32 and
 * unknown codes are refused, naming `kernel`.
 */
inline DType readFloatDType(Args& a, const char* kernel) {
  const DType d = a.dtype();
  if (d != F32 && d != BF16) {
    throw std::invalid_argument(std::string(kernel) +
                                ": the cuda backend implements this kernel for float32 and bfloat16 only");
  }
  return d;
}

/** A float element type (float or bf16) carried into a generic lambda: `typename decltype(e)::type`. */
template <typename T>
struct FloatElem {
  using type = T;
};

/** Calls f(FloatElem<bf16>{}) for BF16, else f(FloatElem<float>{}) (a dtype readFloatDType read). */
template <typename F>
void withFloatElem(DType d, F&& f) {
  if (d == BF16) {
    f(FloatElem<bf16>{});
  } else {
    f(FloatElem<float>{});
  }
}

/** Reads a size, refusing negative ones. */
inline int64_t readSize(Args& a, const char* kernel, const char* what) {
  int64_t n = a.i64();
  if (n < 0) {
    throw std::range_error(std::string(kernel) + ": " + what + " must be ≥ 0, got " +
                           std::to_string(n));
  }
  return n;
}

/** Throws when elements [lo, hi] (`bytesEach` bytes each) are not inside `b`. */
inline void requireRange(const Buf& b, int64_t lo, int64_t hi, const char* kernel, const char* name,
                         int bytesEach = 4) {
  int64_t capacity = static_cast<int64_t>(b.bytes / bytesEach);
  if (lo < 0 || hi >= capacity) {
    throw std::range_error(std::string(kernel) + ": " + name + " is addressed at elements [" +
                           std::to_string(lo) + ", " + std::to_string(hi) +
                           "] but its buffer holds " + std::to_string(capacity) + " elements");
  }
}

/** Throws when a buffer holds fewer than `n` elements of `bytesEach` bytes. */
inline void requireElems(const Buf& b, int64_t n, const char* kernel, const char* name,
                         int bytesEach = 4) {
  if (n > 0) requireRange(b, 0, n - 1, kernel, name, bytesEach);
}

inline bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; }

/** Most dims a shaped kernel (binary, where, copy) accepts after the marshaller merges dims. */
constexpr int kMaxDims = 8;

/** Shape and strides passed by value to a kernel. */
struct Strided {
  int rank;
  int64_t shape[kMaxDims];
  int64_t strides[kMaxDims];
};

inline unsigned blocksFor(int64_t n, int threads) {
  int64_t b = (n + threads - 1) / threads;
  if (b < 1) b = 1;
  if (b > 65535LL * 32) b = 65535LL * 32;  // grid-stride loops cover the rest
  return static_cast<unsigned>(b);
}

}  // namespace bmojo

// Declarations of every kernel entry (defined in the kernel files).
#define BMOJO_KERNELS(X)  \
  X(unary)                \
  X(unaryBackward)        \
  X(binary)               \
  X(where)                \
  X(reduce)               \
  X(matmul)               \
  X(copy)                 \
  X(gather)               \
  X(scatterAdd)           \
  X(scatter)              \
  X(cast)                 \
  X(fill)                 \
  X(softmax)              \
  X(softmaxBackward)      \
  X(rmsNorm)              \
  X(rmsNormBackward)      \
  X(addRmsNorm)           \
  X(siluMul)              \
  X(crossEntropy)         \
  X(crossEntropyBackward) \
  X(causalConv1d)         \
  X(causalConv1dBackward) \
  X(causalConv1dStep)     \
  X(selectiveScan)        \
  X(selectiveScanBackward)\
  X(selectiveScanStep)    \
  X(attention)            \
  X(attentionBackward)    \
  X(adamw)                \
  X(rope)

#define BMOJO_DECLARE_KERNEL(name) void kernel_##name(bmojo::Args& a);
BMOJO_KERNELS(BMOJO_DECLARE_KERNEL)
#undef BMOJO_DECLARE_KERNEL
