/**
 * In-place writes for caches and checkpoint loading. Not recorded on the gradient tape: use them
 * on state (KV caches, optimiser moments, loaded weights), never inside a loss you differentiate.
 */
import { allocTyped, storageArray } from "../dtype.js";
import { formatShape, shapesEqual, stridesOf } from "../shape.js";
import type { Tensor } from "../tensor.js";
import { backendOf, kernel, scatterLayout, stridedCopy } from "./internal.js";

/** Copies `value` into `target` (same shape and dtype), in place. */
export function assign(target: Tensor, value: Tensor): void {
  backendOf("assign", target, value);
  if (!shapesEqual(target.shape, value.shape) || target.dtype !== value.dtype) {
    throw new RangeError(
      `assign: value is ${value.dtype} ${formatShape(value.shape)} but target is ${target.dtype} ${formatShape(target.shape)}; they must match.`,
    );
  }
  stridedCopy(value, target, { shape: value.shape });
  target.storage.bump();
}

/**
 * Copies `value` into the block of `target` that starts at `begin` (one entry per axis; value has
 * the same rank), in place. E.g. writing one token's keys into slot p of a [B, H, L, Dh] cache:
 * assignSlice(cache, kNew /* [B, H, 1, Dh] *\/, [0, 0, p, 0]).
 */
export function assignSlice(target: Tensor, value: Tensor, begin: readonly number[]): void {
  backendOf("assignSlice", target, value);
  if (value.dtype !== target.dtype) {
    throw new TypeError(
      `assignSlice: value is ${value.dtype} but target is ${target.dtype}; cast it first.`,
    );
  }
  const fits =
    value.rank === target.rank &&
    begin.length === target.rank &&
    begin.every((b, i) => Number.isInteger(b) && b >= 0 && b + value.shape[i] <= target.shape[i]);
  if (!fits) {
    throw new RangeError(
      `assignSlice: a ${formatShape(value.shape)} block at [${begin.join(", ")}] does not fit in target ${formatShape(target.shape)}.`,
    );
  }
  const outStrides = stridesOf(target.shape);
  const outOffset = begin.reduce((acc, b, i) => acc + b * outStrides[i], 0);
  stridedCopy(value, target, { shape: value.shape, outStrides, outOffset });
  target.storage.bump();
}

/**
 * Writes `updates` into the rows `indices` (int32, any shape; values in [0, rows)) of `target`
 * along `axis`, in place: the scatter counterpart of gather, so updates has the shape
 * gather(target, indices, axis) returns. The indices may live on the device, e.g. the cache slot
 * of a captured decode step. Give distinct indices: a repeated one receives one of its updates.
 */
export function assignRows(target: Tensor, indices: Tensor, updates: Tensor, axis = 0): void {
  const backend = backendOf("assignRows", target, indices, updates);
  const layout = scatterLayout("assignRows", target, indices, updates, axis);
  if (updates.size > 0) {
    kernel(
      backend,
      "scatter",
    )({
      dtype: target.dtype,
      updates: updates.storage.id,
      indices: indices.storage.id,
      out: target.storage.id,
      ...layout,
    });
  }
  target.storage.bump();
}

/** Writes host values into `target` in place (same element count), e.g. loaded weights. */
export function assignHost(target: Tensor, values: ArrayLike<number> & { length: number }): void {
  target.assertAlive("assignHost");
  if (values.length !== target.size) {
    throw new RangeError(
      `assignHost: ${values.length} values for a tensor of ${target.size} elements ${formatShape(target.shape)}.`,
    );
  }
  const data = allocTyped(target.dtype, values.length);
  data.set(values);
  if (data.length > 0) target.backend.write(target.storage.id, storageArray(target.dtype, data));
  target.storage.bump();
}
