// Rotary position embedding (rotate-half) over x [rows, length, headDim], float32 or bfloat16: see
// RopeArgs in @bmojo/tensor (packages/tensor/src/backend/kernels.ts) and the reference
// packages/tensor/src/backends/cpu/rope.ts. One thread per rotated pair (row, t, i < half); the
// cos/sin tables are [positions, half] of the same dtype, read at row positionOffset + t. bf16
// elements are read into float32, rotated in float32, and each output rounded to bf16 once.
#include <cstdint>
#include <stdexcept>
#include <string>

#include "common.cuh"

namespace {

constexpr int kThreads = 256;

using bmojo::bf16;
using bmojo::fromF32;
using bmojo::toF32;

template <typename T>
__global__ void ropeKernel(const T* __restrict__ x, const T* __restrict__ cosT,
                           const T* __restrict__ sinT, T* __restrict__ out, int64_t pairs,
                           int64_t length, int64_t half, int64_t offset, float sign) {
  for (int64_t p = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; p < pairs;
       p += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t i = p % half;
    const int64_t rowT = p / half;  // row · length + t
    const int64_t table = (offset + rowT % length) * half + i;
    const float c = toF32(cosT[table]);
    const float s = sign * toF32(sinT[table]);
    const int64_t base = rowT * 2 * half;
    const float x1 = toF32(x[base + i]);
    const float x2 = toF32(x[base + i + half]);
    out[base + i] = fromF32<T>(x1 * c - x2 * s);
    out[base + i + half] = fromF32<T>(x2 * c + x1 * s);
  }
}

}  // namespace

// rope: dtype, x, cos, sin, out, rows, length, headDim, positionOffset, inverse
void kernel_rope(bmojo::Args& a) {
  const bmojo::DType dtype = bmojo::readDType(a, "rope");
  if (dtype == bmojo::I32) {
    throw std::invalid_argument(
        "rope: does not support dtype int32; the cuda backend implements it for float32 and "
        "bfloat16");
  }
  const bmojo::Buf x = bmojo::readBuf(a);
  const bmojo::Buf cosT = bmojo::readBuf(a);
  const bmojo::Buf sinT = bmojo::readBuf(a);
  const bmojo::Buf out = bmojo::readBuf(a);
  const int64_t rows = a.i64();
  const int64_t length = a.i64();
  const int64_t headDim = a.i64();
  const int64_t offset = a.i64();
  const bool inverse = a.flag();
  if (rows < 0 || length < 0 || headDim < 0 || headDim % 2 != 0 || offset < 0) {
    throw std::invalid_argument("rope: bad sizes (rows " + std::to_string(rows) + ", length " +
                                std::to_string(length) + ", headDim " + std::to_string(headDim) +
                                ", positionOffset " + std::to_string(offset) + ")");
  }
  const int64_t half = headDim / 2;
  const int64_t pairs = rows * length * half;
  if (pairs == 0) return;
  const int eb = bmojo::elemBytes(dtype);
  bmojo::requireElems(x, pairs * 2, "rope", "x", eb);
  bmojo::requireElems(out, pairs * 2, "rope", "out", eb);
  bmojo::requireElems(cosT, (offset + length) * half, "rope", "cos", eb);
  bmojo::requireElems(sinT, (offset + length) * half, "rope", "sin", eb);
  const unsigned blocks = bmojo::blocksFor(pairs, kThreads);
  const float sign = inverse ? -1.0f : 1.0f;
  if (dtype == bmojo::BF16) {
    ropeKernel<bf16><<<blocks, kThreads, 0, bmojo::stream()>>>(
        static_cast<const bf16*>(x.ptr), static_cast<const bf16*>(cosT.ptr),
        static_cast<const bf16*>(sinT.ptr), static_cast<bf16*>(out.ptr), pairs, length, half,
        offset, sign);
  } else {
    ropeKernel<float><<<blocks, kThreads, 0, bmojo::stream()>>>(
        static_cast<const float*>(x.ptr), static_cast<const float*>(cosT.ptr),
        static_cast<const float*>(sinT.ptr), static_cast<float*>(out.ptr), pairs, length, half,
        offset, sign);
  }
  bmojo::checkLaunch("rope");
}
