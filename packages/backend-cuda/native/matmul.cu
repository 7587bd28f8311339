// Batched matmul through cuBLAS (strided batched GEMM), row-major in, row-major out. float32
// storage: strict float32, TF32 or bf16 products (inputs rounded into scratch copies); bfloat16
// storage: bf16 operands and output straight into cuBLAS. Both accumulate in float32. Products
// with at most 8 rows against a transposed B (decode's x · Wᵀ) take a warp-per-column kernel.
//
// Row-major out[m, n] is column-major outᵀ [n, m] = op(B)ᵀ · op(A)ᵀ, so cuBLAS is called with the
// operands swapped: no transpose flag where the row-major operand is used as stored.
#include <cuda_bf16.h>

#include "common.cuh"
#include "device_state.cuh"

namespace {

const char* blasStatusName(cublasStatus_t s) {
  switch (s) {
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "CUBLAS_STATUS_ARCH_MISMATCH";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
    default: return "cuBLAS error";
  }
}

// Skinny products (decode: a handful of rows against a weight used transposed, x · Wᵀ) are
// memory-bound and short; cuBLAS spends more host time choosing a kernel than the GPU spends
// running it. Warps stream the columns' rows of B once for all m rows of A: one warp per column
// when there are many columns, else kGemvWarps warps per column, each over a quarter of k (partial
// sums added in warp order through shared memory), so that a few long columns (x_proj: 80 columns
// of 1536) still keep enough loads in flight.
constexpr int kGemvMaxRows = 8;
constexpr int kGemvWarps = 4;
/** Columns up to which (with k ≥ kGemvSplitMinK) a column gets all kGemvWarps warps of a block. */
constexpr int64_t kGemvSplitMaxColumns = 1024;
constexpr int64_t kGemvSplitMinK = 512;

/** kVec elements of T loaded as one 16-byte word: 4 floats or 8 bf16, widened to float32. */
template <typename T>
struct Pack;
template <>
struct Pack<float> {
  static constexpr int kSize = 4;
  __device__ __forceinline__ static void load(const float* p, int64_t q, float (&v)[kSize]) {
    const float4 w = __ldg(reinterpret_cast<const float4*>(p) + q);
    v[0] = w.x, v[1] = w.y, v[2] = w.z, v[3] = w.w;
  }
};
template <>
struct Pack<bmojo::bf16> {
  static constexpr int kSize = 8;
  __device__ __forceinline__ static void load(const bmojo::bf16* p, int64_t q, float (&v)[kSize]) {
    const uint4 w = __ldg(reinterpret_cast<const uint4*>(p) + q);
    const unsigned words[4] = {w.x, w.y, w.z, w.w};
#pragma unroll
    for (int e = 0; e < 4; e++) {
      v[2 * e] = __uint_as_float(words[e] << 16);
      v[2 * e + 1] = __uint_as_float(words[e] & 0xffff0000u);
    }
  }
};

// T: the stored element type (float, or bf16 read into float32); accumulation is float32.
template <typename T, bool kVec, int kSplit>
__global__ void __launch_bounds__(kGemvWarps * 32)
    gemvTransB(const T* __restrict__ A, const T* __restrict__ B, T* __restrict__ out, int m,
               int64_t n, int64_t k, int64_t aStride, int64_t bStride) {
  constexpr int kColumnsPerBlock = kGemvWarps / kSplit;
  constexpr int kPack = Pack<T>::kSize;
  __shared__ float partial[kGemvWarps][kGemvMaxRows];
  const int lane = threadIdx.x & 31;
  const int warp = threadIdx.x >> 5;
  const int part = warp % kSplit;
  const int64_t j = static_cast<int64_t>(blockIdx.x) * kColumnsPerBlock + warp / kSplit;
  const bool active = j < n;  // no early return: the split path reaches a barrier
  const int64_t batch = blockIdx.y;
  const T* a = A + batch * aStride;
  const T* b = B + batch * bStride + (active ? j : 0) * k;
  float acc[kGemvMaxRows];
#pragma unroll
  for (int i = 0; i < kGemvMaxRows; i++) acc[i] = 0.0f;
  const int64_t units = kVec ? k / kPack : k;
  const int64_t chunk = (units + kSplit - 1) / kSplit;
  const int64_t lo = part * chunk;
  const int64_t hi = active ? (lo + chunk < units ? lo + chunk : units) : 0;
  if (kVec) {
#pragma unroll 4
    for (int64_t q = lo + lane; q < hi; q += 32) {
      float w[kPack];
      Pack<T>::load(b, q, w);
#pragma unroll
      for (int i = 0; i < kGemvMaxRows; i++) {
        if (i < m) {
          float x[kPack];
          Pack<T>::load(a + i * k, q, x);
          float dot = x[0] * w[0];
#pragma unroll
          for (int e = 1; e < kPack; e++) dot += x[e] * w[e];
          acc[i] += dot;
        }
      }
    }
  } else {
#pragma unroll 4
    for (int64_t q = lo + lane; q < hi; q += 32) {
      const float w = bmojo::toF32(b[q]);
#pragma unroll
      for (int i = 0; i < kGemvMaxRows; i++) {
        if (i < m) acc[i] += bmojo::toF32(a[i * k + q]) * w;
      }
    }
  }
#pragma unroll
  for (int i = 0; i < kGemvMaxRows; i++) {
    if (i < m) {
      float v = acc[i];
      for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
      acc[i] = v;
    }
  }
  if constexpr (kSplit == 1) {
    if (active && lane == 0) {
#pragma unroll
      for (int i = 0; i < kGemvMaxRows; i++) {
        if (i < m) out[(batch * m + i) * n + j] = bmojo::fromF32<T>(acc[i]);
      }
    }
  } else {
    if (lane == 0) {
#pragma unroll
      for (int i = 0; i < kGemvMaxRows; i++) partial[warp][i] = acc[i];
    }
    __syncthreads();
    if (active && part == 0 && lane == 0) {
#pragma unroll
      for (int i = 0; i < kGemvMaxRows; i++) {
        if (i < m) {
          float v = partial[warp][i];
          for (int s = 1; s < kSplit; s++) v += partial[warp + s][i];
          out[(batch * m + i) * n + j] = bmojo::fromF32<T>(v);
        }
      }
    }
  }
}

bool gemvEligible(bool transA, bool transB, int64_t batch, int64_t m) {
  return transB && !transA && m <= kGemvMaxRows && batch <= 65535;
}

template <typename T, int kSplit>
void launchGemv(bool vec, const T* A, const T* B, T* out, int64_t batch, int64_t m, int64_t n,
                int64_t k, int64_t aStride, int64_t bStride) {
  constexpr int kColumnsPerBlock = kGemvWarps / kSplit;
  const dim3 grid(static_cast<unsigned>((n + kColumnsPerBlock - 1) / kColumnsPerBlock),
                  static_cast<unsigned>(batch));
  const int mi = static_cast<int>(m);
  if (vec) {
    gemvTransB<T, true, kSplit><<<grid, kGemvWarps * 32, 0, bmojo::stream()>>>(A, B, out, mi, n, k, aStride, bStride);
  } else {
    gemvTransB<T, false, kSplit><<<grid, kGemvWarps * 32, 0, bmojo::stream()>>>(A, B, out, mi, n, k, aStride, bStride);
  }
}

template <typename T>
void gemv(const T* A, const T* B, T* out, int64_t batch, int64_t m, int64_t n, int64_t k,
          int64_t aStride, int64_t bStride) {
  constexpr int kPack = Pack<T>::kSize;
  const bool vec = k % kPack == 0 && aStride % kPack == 0 && bStride % kPack == 0 && bmojo::aligned16(A) &&
                   bmojo::aligned16(B);
  if (n <= kGemvSplitMaxColumns && k >= kGemvSplitMinK) {
    launchGemv<T, kGemvWarps>(vec, A, B, out, batch, m, n, k, aStride, bStride);
  } else {
    launchGemv<T, 1>(vec, A, B, out, batch, m, n, k, aStride, bStride);
  }
  bmojo::checkLaunch("matmul (skinny kernel)");
}

/** The marshaller's precision codes (src/kernels/matmul.ts). */
enum MatmulPrecision : int { kFloat32 = 0, kTf32 = 1, kBf16 = 2 };

__global__ void toBf16(const float* __restrict__ in, __nv_bfloat16* __restrict__ out, int64_t n) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    out[i] = __float2bfloat16_rn(in[i]);
  }
}

/** Elements an operand's batched extent spans: batch blocks of `block` at `stride` (0 = shared). */
int64_t spanOf(int64_t batch, int64_t stride, int64_t block) {
  return stride == 0 ? block : (batch - 1) * stride + block;
}

/** A bf16 copy of `n` floats in scratch memory (rounded to nearest even). */
void roundToBf16(const float* in, const bmojo::Scratch& out, int64_t n) {
  const int threads = 256;
  const int64_t blocks = std::min<int64_t>((n + threads - 1) / threads, 65535);
  toBf16<<<static_cast<unsigned>(blocks), threads, 0, bmojo::stream()>>>(in, out.as<__nv_bfloat16>(), n);
  bmojo::checkLaunch("matmul (rounding to bf16)");
}

/** A bf16-storage product: bf16 operands and output, float32 accumulation (the precision code
 *  does not apply: the operands are bf16 already). */
cublasStatus_t gemmBf16(cublasOperation_t opA, cublasOperation_t opB, const void* A, const void* B, void* out,
                        int64_t batch, int64_t m, int64_t n, int64_t k, int64_t lda, int64_t ldb,
                        int64_t aStride, int64_t bStride) {
  const float alpha = 1.0f, beta = 0.0f;
  return cublasGemmStridedBatchedEx(
      bmojo::blasHandle(), opB, opA, static_cast<int>(n), static_cast<int>(m), static_cast<int>(k), &alpha, B,
      CUDA_R_16BF, static_cast<int>(ldb), bStride, A, CUDA_R_16BF, static_cast<int>(lda), aStride, &beta, out,
      CUDA_R_16BF, static_cast<int>(n), m * n, static_cast<int>(batch), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
}

}  // namespace

// Args: dtype, a, b, out, batch, m, n, k, transA, transB, aBatchStride, bBatchStride, precision
void kernel_matmul(bmojo::Args& a) {
  const bmojo::DType dtype = a.dtype();
  void* A = a.buf();
  void* B = a.buf();
  void* out = a.buf();
  const int64_t batch = a.i64(), m = a.i64(), n = a.i64(), k = a.i64();
  const bool transA = a.flag(), transB = a.flag();
  const int64_t aStride = a.i64(), bStride = a.i64();
  const int precision = a.i32();
  if (dtype != bmojo::F32 && dtype != bmojo::BF16) {
    throw std::invalid_argument("matmul: the cuda backend multiplies float32 and bfloat16 only");
  }
  const bool bf16 = dtype == bmojo::BF16;
  if (batch == 0 || m == 0 || n == 0) return;
  if (k == 0) {
    const size_t bytes = static_cast<size_t>(bmojo::elemBytes(dtype)) * batch * m * n;
    bmojo::check(cudaMemsetAsync(out, 0, bytes, bmojo::stream()), "matmul (k = 0)");
    return;
  }
  if (gemvEligible(transA, transB, batch, m)) {
    if (bf16) {
      gemv(static_cast<const bmojo::bf16*>(A), static_cast<const bmojo::bf16*>(B), static_cast<bmojo::bf16*>(out),
           batch, m, n, k, aStride, bStride);
    } else {
      gemv(static_cast<const float*>(A), static_cast<const float*>(B), static_cast<float*>(out), batch, m, n, k,
           aStride, bStride);
    }
    return;
  }
  const float alpha = 1.0f, beta = 0.0f;
  const cublasOperation_t opB = transB ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cublasOperation_t opA = transA ? CUBLAS_OP_T : CUBLAS_OP_N;
  const int64_t ldb = transB ? k : n;
  const int64_t lda = transA ? m : k;
  cublasStatus_t s;
  if (bf16) {
    s = gemmBf16(opA, opB, A, B, out, batch, m, n, k, lda, ldb, aStride, bStride);
  } else if (precision == kBf16) {
    const int64_t aSpan = spanOf(batch, aStride, m * k), bSpan = spanOf(batch, bStride, k * n);
    bmojo::Scratch a16(sizeof(__nv_bfloat16) * aSpan), b16(sizeof(__nv_bfloat16) * bSpan);
    roundToBf16(static_cast<const float*>(A), a16, aSpan);
    roundToBf16(static_cast<const float*>(B), b16, bSpan);
    s = cublasGemmStridedBatchedEx(
        bmojo::blasHandle(), opB, opA, static_cast<int>(n), static_cast<int>(m), static_cast<int>(k), &alpha,
        b16.ptr, CUDA_R_16BF, static_cast<int>(ldb), bStride, a16.ptr, CUDA_R_16BF, static_cast<int>(lda), aStride,
        &beta, out, CUDA_R_32F, static_cast<int>(n), m * n, static_cast<int>(batch), CUBLAS_COMPUTE_32F,
        CUBLAS_GEMM_DEFAULT);
  } else {
    const cublasComputeType_t compute = precision == kTf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
    s = cublasGemmStridedBatchedEx(
        bmojo::blasHandle(), opB, opA, static_cast<int>(n), static_cast<int>(m), static_cast<int>(k), &alpha, B,
        CUDA_R_32F, static_cast<int>(ldb), bStride, A, CUDA_R_32F, static_cast<int>(lda), aStride, &beta, out,
        CUDA_R_32F, static_cast<int>(n), m * n, static_cast<int>(batch), compute, CUBLAS_GEMM_DEFAULT);
  }
  if (s != CUBLAS_STATUS_SUCCESS) {
    throw std::runtime_error(std::string("matmul: cublasGemmStridedBatchedEx failed with ") + blasStatusName(s));
  }
}
