// Runtime state shared with the kernel files that need more than a stream (matmul's cuBLAS).
#pragma once

#include <cublas_v2.h>

namespace bmojo {

/** The backend's cuBLAS handle, bound to stream(). */
cublasHandle_t blasHandle();

}  // namespace bmojo
