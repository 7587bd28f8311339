// The tile ranges the attention kernels share (attention.cu's SIMT kernels, attention_mma*.cuh's
// tensor-core ones): which key tiles a query tile reads, and which query tiles read a key tile.
#pragma once

#include <cstddef>

namespace bmojo {

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
