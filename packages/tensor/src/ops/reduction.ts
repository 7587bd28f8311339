/** Reductions over axes: sum, mean, max, min, argmax, argmin, and sumTo (un-broadcasting). */
import type { ReduceOp } from "../backend/kernels.js";
import { isFloat } from "../dtype.js";
import { tidy } from "../engine.js";
import {
  type Shape,
  formatShape,
  normalizeAxes,
  normalizeAxis,
  shapesEqual,
  sizeOf,
} from "../shape.js";
import type { Tensor } from "../tensor.js";
import { add, cast, div, equal, exp, log, mul, sub } from "./elementwise.js";
import { assertFloat, backendOf, emptyTensor, kernel, recordGrad } from "./internal.js";
import { broadcastTo, reshape, transpose } from "./shape-ops.js";

type Axes = number | readonly number[] | undefined;

/** Runs the reduce kernel over `axes` (sorted, unique), returning the keepDims-shaped result. */
function reduceKernel(op: ReduceOp, x: Tensor, axes: number[]): Tensor {
  const backend = backendOf(op, x);
  const keptShape = x.shape.map((d, i) => (axes.includes(i) ? 1 : d));
  const contiguous = axes.length === 0 || axes[axes.length - 1] - axes[0] === axes.length - 1;
  let source = x;
  let outer: number;
  let size: number;
  let inner: number;
  if (contiguous) {
    const first = axes[0] ?? x.rank;
    const last = axes[axes.length - 1] ?? x.rank - 1;
    outer = sizeOf(x.shape.slice(0, first));
    size = sizeOf(x.shape.slice(first, last + 1));
    inner = sizeOf(x.shape.slice(last + 1));
  } else {
    // Move the reduced axes to the end, then reduce them as one trailing block.
    const keptAxes = x.shape.map((_, i) => i).filter((i) => !axes.includes(i));
    source = transpose(x, [...keptAxes, ...axes]);
    size = sizeOf(axes.map((a) => x.shape[a]));
    outer = x.size / Math.max(size, 1);
    inner = 1;
  }
  if (size === 0 && op !== "sum") {
    throw new RangeError(`${op}: cannot reduce an empty axis (shape ${formatShape(x.shape)}).`);
  }
  const outDType = op === "argmax" || op === "argmin" ? "int32" : x.dtype;
  const out = emptyTensor(keptShape, outDType, backend);
  if (size === 0) {
    kernel(backend, "fill")({ dtype: outDType, out: out.storage.id, value: 0, size: out.size });
  } else if (out.size > 0) {
    kernel(
      backend,
      "reduce",
    )({ op, dtype: x.dtype, x: source.storage.id, out: out.storage.id, outer, size, inner });
  }
  if (source !== x) source.dispose();
  return out;
}

function finish(kept: Tensor, x: Tensor, axes: number[], keepDims: boolean): Tensor {
  if (keepDims) return kept;
  const shape = x.shape.filter((_, i) => !axes.includes(i));
  const out = reshape(kept, shape);
  kept.dispose();
  return out;
}

export function sum(x: Tensor, axes?: Axes, keepDims = false): Tensor {
  const ax = normalizeAxes("sum", axes, x.rank);
  const kept = reduceKernel("sum", x, ax);
  if (isFloat(x.dtype)) {
    recordGrad("sum", [x], [kept], [], ([dy]) => [broadcastTo(dy, x.shape)]);
  }
  return finish(kept, x, ax, keepDims);
}

export function mean(x: Tensor, axes?: Axes, keepDims = false): Tensor {
  assertFloat("mean", "x", x);
  const ax = normalizeAxes("mean", axes, x.rank);
  const kept = reduceKernel("mean", x, ax);
  const count = sizeOf(ax.map((a) => x.shape[a]));
  recordGrad("mean", [x], [kept], [], ([dy]) => [broadcastTo(div(dy, count), x.shape)]);
  return finish(kept, x, ax, keepDims);
}

function extremum(op: "max" | "min", x: Tensor, axes: Axes, keepDims: boolean): Tensor {
  const ax = normalizeAxes(op, axes, x.rank);
  const kept = reduceKernel(op, x, ax);
  if (isFloat(x.dtype)) {
    // The gradient goes to the elements equal to the extremum, split evenly among ties.
    recordGrad(op, [x], [kept], [x, kept], ([dy], [xs, ys]) => {
      const mask = cast(equal(xs, ys), xs.dtype);
      const ties = sum(mask, ax, true);
      return [mul(mask, div(dy, ties))];
    });
  }
  return finish(kept, x, ax, keepDims);
}

export function max(x: Tensor, axes?: Axes, keepDims = false): Tensor {
  return extremum("max", x, axes, keepDims);
}

export function min(x: Tensor, axes?: Axes, keepDims = false): Tensor {
  return extremum("min", x, axes, keepDims);
}

/** Index of the largest element along `axis` (int32; the first one on ties). */
export function argmax(x: Tensor, axis = -1, keepDims = false): Tensor {
  const a = normalizeAxis("argmax", axis, x.rank);
  return finish(reduceKernel("argmax", x, [a]), x, [a], keepDims);
}

/** Index of the smallest element along `axis` (int32; the first one on ties). */
export function argmin(x: Tensor, axis = -1, keepDims = false): Tensor {
  const a = normalizeAxis("argmin", axis, x.rank);
  return finish(reduceKernel("argmin", x, [a]), x, [a], keepDims);
}

/** log Σ exp(x) along `axes`, computed stably (max-shifted). */
export function logSumExp(x: Tensor, axes?: Axes, keepDims = false): Tensor {
  assertFloat("logSumExp", "x", x);
  const ax = normalizeAxes("logSumExp", axes, x.rank);
  return tidy(() => {
    const m = max(x, ax, true);
    const kept = add(log(sum(exp(sub(x, m)), ax, true)), m);
    return keepDims
      ? kept
      : reshape(
          kept,
          x.shape.filter((_, i) => !ax.includes(i)),
        );
  });
}

/**
 * Sums `g` down to `shape`, undoing broadcasting: the gradient of an op whose input of `shape`
 * was broadcast to g's shape.
 */
export function sumTo(g: Tensor, shape: Shape): Tensor {
  if (shapesEqual(g.shape, shape)) return g;
  const lead = g.rank - shape.length;
  if (lead < 0) {
    throw new RangeError(
      `sumTo: cannot sum ${formatShape(g.shape)} down to the larger shape ${formatShape(shape)}.`,
    );
  }
  const axes: number[] = [];
  for (let i = 0; i < g.rank; i++) {
    if (i < lead || (shape[i - lead] === 1 && g.shape[i] !== 1)) axes.push(i);
  }
  const reduced = axes.length > 0 ? sum(g, axes, true) : g;
  return reshape(reduced, shape);
}
