// Rotary position embedding (rotate-half) over x [rows, length, headDim], float32: see RopeArgs
// in @bmojo/tensor (packages/tensor/src/backend/kernels.ts) and the reference
// packages/tensor/src/backends/cpu/rope.ts. One thread per rotated pair (row, t, i < half); the
// cos/sin tables are [positions, half], read at row positionOffset + t.
#include <cstdint>
#include <stdexcept>
#include <string>

#include "common.cuh"

namespace {

constexpr int kThreads = 256;

__global__ void ropeKernel(const float* __restrict__ x, const float* __restrict__ cosT,
                           const float* __restrict__ sinT, float* __restrict__ out, int64_t pairs,
                           int64_t length, int64_t half, int64_t offset, float sign) {
  for (int64_t p = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; p < pairs;
       p += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t i = p % half;
    const int64_t rowT = p / half;  // row · length + t
    const int64_t table = (offset + rowT % length) * half + i;
    const float c = cosT[table];
    const float s = sign * sinT[table];
    const int64_t base = rowT * 2 * half;
    const float x1 = x[base + i];
    const float x2 = x[base + i + half];
    out[base + i] = x1 * c - x2 * s;
    out[base + i + half] = x2 * c + x1 * s;
  }
}

}  // namespace

void kernel_rope(bmojo::Args& a) {
  if (a.dtype() != bmojo::F32) {
    throw std::invalid_argument("rope: the cuda backend implements this kernel for float32 only");
  }
  const auto* x = a.buf<const float>();
  const auto* cosT = a.buf<const float>();
  const auto* sinT = a.buf<const float>();
  auto* out = a.buf<float>();
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
  ropeKernel<<<bmojo::blocksFor(pairs, kThreads), kThreads, 0, bmojo::stream()>>>(
      x, cosT, sinT, out, pairs, length, half, offset, inverse ? -1.0f : 1.0f);
  bmojo::checkLaunch("rope");
}
