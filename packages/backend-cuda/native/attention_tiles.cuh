// What the attention kernels share (attention.cu's SIMT kernels, attention_mma*.cuh's
// tensor-core ones): staging tiles in shared memory with cp.async, and the tile ranges — which key
// tiles a query tile reads, and which query tiles read a key tile.
#pragma once

#include <cstddef>

namespace bmojo {

/** The shared-memory address of a pointer into shared memory (for cp.async and ldmatrix). */
__device__ __forceinline__ unsigned sharedAddress(const void* p) {
  return static_cast<unsigned>(__cvta_generic_to_shared(p));
}

/** 16-byte global → shared copy; when !full the 16 bytes are zero-filled and nothing is read. */
__device__ __forceinline__ void cpAsync16(unsigned dst, const void* src, bool full) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src),
               "r"(full ? 16 : 0)
               : "memory");
}

/** 4-byte global → shared copy; when !full the 4 bytes are zero-filled and nothing is read. */
__device__ __forceinline__ void cpAsync4(unsigned dst, const void* src, bool full) {
  asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(dst), "l"(src),
               "r"(full ? 4 : 0)
               : "memory");
}

__device__ __forceinline__ void cpAsyncCommit() {
  asm volatile("cp.async.commit_group;\n" ::: "memory");
}

/** Waits until at most N committed cp.async groups of this thread are still in flight. */
template <int N>
__device__ __forceinline__ void cpAsyncWait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
}

/**
 * Tiles double-buffered through cp.async, before working on tile t of `count`: issues tile t + 1
 * (`issue(t + 1)`, which commits its group) when there is one, waits until tile t has landed, and
 * syncs the block.
 */
template <typename Issue>
__device__ __forceinline__ void awaitTile(int t, int count, Issue&& issue) {
  if (t + 1 < count) {
    issue(t + 1);
    cpAsyncWait<1>();
  } else {
    cpAsyncWait<0>();
  }
  __syncthreads();
}

/** The in-context key tiles of `tile` keys (aligned to it) covering [max(0, pLo − window + 1),
 *  pHi]: the keys queries at positions pLo…pHi may see. Tile t of them starts at key
 *  (first + t)·tile. */
struct KeyTiles {
  int first;
  int count;
};
__device__ __forceinline__ KeyTiles keyTilesFor(int pLo, int pHi, int window, int tile) {
  const int first = max(0, pLo - window + 1) / tile;
  return {first, pHi / tile - first + 1};
}

/**
 * The backward's walk over the queries that see a block's keys: query rows [lo, hi] (positions
 * first…last of queries starting at position qFirst), in tiles of `tile` rows, once for each of
 * the `group` heads that share the block's key/value head; iteration `it` is head it / tiles, tile
 * it % tiles. No iterations when first > last (no query sees the keys).
 */
struct QueryTiles {
  int lo;
  int hi;
  int tiles;
  int iterations;

  __device__ __forceinline__ QueryTiles(long long first, long long last, long long qFirst, int tile,
                                        int group)
      : lo(static_cast<int>(first - qFirst)),
        hi(static_cast<int>(last - qFirst)),
        tiles(first <= last ? (hi - lo + tile) / tile : 0),
        iterations(group * tiles) {}

  /** The first query i0 and count nq of iteration `it`, and its first row in [B, H, Lq] rows of the
   *  query-shaped buffers (batch b, key/value head g). */
  __device__ __forceinline__ size_t row(int it, int tile, int b, int g, int group, int heads,
                                        int queryLength, int& i0, int& nq) const {
    const int hh = it / tiles;
    i0 = lo + (it - hh * tiles) * tile;
    nq = min(tile, hi - i0 + 1);
    return (static_cast<size_t>(b) * heads + g * group + hh) * queryLength + i0;
  }
};

}  // namespace bmojo
