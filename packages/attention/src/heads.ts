/** Splitting projections into heads and merging them back (head h = features h·Dh … (h+1)·Dh−1). */
import { type Tensor, reshape, transpose } from "@bmojo/tensor";

/** [B, L, H·Dh] → [B, H, L, Dh]; with one token or one head the order is unchanged (no copy). */
export function splitHeads(x: Tensor, heads: number): Tensor {
  const [batch, length, width] = x.shape;
  if (length === 1 || heads === 1) return reshape(x, [batch, heads, length, width / heads]);
  const split = reshape(x, [batch, length, heads, width / heads]);
  const out = transpose(split, [0, 2, 1, 3]);
  split.dispose();
  return out;
}

/** [B, H, L, Dh] → [B, L, H·Dh]; with one token or one head the order is unchanged (no copy). */
export function mergeHeads(x: Tensor): Tensor {
  const [batch, heads, length, headDim] = x.shape;
  if (length === 1 || heads === 1) return reshape(x, [batch, length, heads * headDim]);
  const moved = transpose(x, [0, 2, 1, 3]);
  const out = reshape(moved, [batch, length, heads * headDim]);
  moved.dispose();
  return out;
}

/** Memory tokens' projections [B, C, M, Hkv·Dh] → [B, Hkv, C, M, Dh]. */
export function splitMemoryHeads(x: Tensor, kvHeads: number): Tensor {
  const [batch, chunks, slots, width] = x.shape;
  const split = reshape(x, [batch, chunks, slots, kvHeads, width / kvHeads]);
  const out = transpose(split, [0, 3, 1, 2, 4]);
  split.dispose();
  return out;
}
