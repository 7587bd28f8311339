/** gather (embedding lookup) and its adjoint scatterAdd. */
import { isFloat } from "../dtype.js";
import { normalizeAxis, sizeOf } from "../shape.js";
import type { Tensor } from "../tensor.js";
import { full } from "./creation.js";
import {
  assertDTypeIs,
  backendOf,
  copyUntracked,
  emptyTensor,
  kernel,
  recordGrad,
  scatterLayout,
} from "./internal.js";

/**
 * Rows of `table` along `axis` picked by int32 `indices` (any shape):
 * table [...pre, rows, ...post] → [...pre, ...indices.shape, ...post].
 * An index outside [0, rows) is a RangeError.
 */
export function gather(table: Tensor, indices: Tensor, axis = 0): Tensor {
  const backend = backendOf("gather", table, indices);
  assertDTypeIs("gather", "indices", indices, "int32");
  const ax = normalizeAxis("gather", axis, table.rank);
  const pre = table.shape.slice(0, ax);
  const post = table.shape.slice(ax + 1);
  const rows = table.shape[ax];
  const out = emptyTensor([...pre, ...indices.shape, ...post], table.dtype, backend);
  if (out.size > 0) {
    kernel(
      backend,
      "gather",
    )({
      dtype: table.dtype,
      table: table.storage.id,
      indices: indices.storage.id,
      out: out.storage.id,
      outer: sizeOf(pre),
      rows,
      inner: sizeOf(post),
      count: indices.size,
    });
  }
  if (isFloat(table.dtype)) {
    recordGrad("gather", [table, indices], [out], [indices], ([dy], [idx]) => {
      const zero = full(table.shape, 0, { dtype: table.dtype, backend: dy.backend });
      const dTable = scatterAdd(zero, idx, dy, ax);
      zero.dispose();
      return [dTable, null];
    });
  }
  return out;
}

/**
 * `target` plus `updates` added at the rows `indices` along `axis` (repeated indices accumulate):
 * updates has the shape gather(target, indices, axis) would return. Returns a new tensor.
 */
export function scatterAdd(target: Tensor, indices: Tensor, updates: Tensor, axis = 0): Tensor {
  const backend = backendOf("scatterAdd", target, indices, updates);
  const layout = scatterLayout("scatterAdd", target, indices, updates, axis);
  const ax = normalizeAxis("scatterAdd", axis, target.rank);
  const out = copyUntracked(target);
  if (updates.size > 0) {
    kernel(
      backend,
      "scatterAdd",
    )({
      dtype: target.dtype,
      updates: updates.storage.id,
      indices: indices.storage.id,
      out: out.storage.id,
      ...layout,
    });
  }
  if (isFloat(target.dtype)) {
    recordGrad("scatterAdd", [target, indices, updates], [out], [indices], ([dy], [idx]) => [
      dy,
      null,
      gather(dy, idx, ax),
    ]);
  }
  return out;
}
