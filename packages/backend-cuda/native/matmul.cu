// Batched matmul through cuBLAS (strided batched GEMM), row-major in, row-major out.
//
// Row-major out[m, n] is column-major outᵀ [n, m] = op(B)ᵀ · op(A)ᵀ, so cuBLAS is called with the
// operands swapped: no transpose flag where the row-major operand is used as stored.
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

}  // namespace

// Args: dtype, a, b, out, batch, m, n, k, transA, transB, aBatchStride, bBatchStride, tf32
void kernel_matmul(bmojo::Args& a) {
  const bmojo::DType dtype = a.dtype();
  const float* A = a.buf<float>();
  const float* B = a.buf<float>();
  float* out = a.buf<float>();
  const int64_t batch = a.i64(), m = a.i64(), n = a.i64(), k = a.i64();
  const bool transA = a.flag(), transB = a.flag();
  const int64_t aStride = a.i64(), bStride = a.i64();
  const bool tf32 = a.flag();
  if (dtype != bmojo::F32) throw std::invalid_argument("matmul: the cuda backend multiplies float32 only");
  if (batch == 0 || m == 0 || n == 0) return;
  if (k == 0) {
    bmojo::check(cudaMemsetAsync(out, 0, sizeof(float) * batch * m * n, bmojo::stream()), "matmul (k = 0)");
    return;
  }
  const float alpha = 1.0f, beta = 0.0f;
  const cublasOperation_t opB = transB ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cublasOperation_t opA = transA ? CUBLAS_OP_T : CUBLAS_OP_N;
  const int64_t ldb = transB ? k : n;
  const int64_t lda = transA ? m : k;
  const cublasComputeType_t compute = tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
  cublasStatus_t s = cublasGemmStridedBatchedEx(
      bmojo::blasHandle(), opB, opA, static_cast<int>(n), static_cast<int>(m), static_cast<int>(k), &alpha, B,
      CUDA_R_32F, static_cast<int>(ldb), bStride, A, CUDA_R_32F, static_cast<int>(lda), aStride, &beta, out,
      CUDA_R_32F, static_cast<int>(n), m * n, static_cast<int>(batch), compute, CUBLAS_GEMM_DEFAULT);
  if (s != CUBLAS_STATUS_SUCCESS) {
    throw std::runtime_error(std::string("matmul: cublasGemmStridedBatchedEx failed with ") + blasStatusName(s));
  }
}
