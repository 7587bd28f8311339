/**
 * Shape ops: reshape (a view), split (views where the backend can alias a contiguous part), and
 * transpose / slice / concat / broadcastTo / pad, which move data through the strided `copy` kernel.
 */
import { bytesPerElement, isFloat } from "../dtype.js";
import {
  type Shape,
  broadcastStrides,
  formatShape,
  normalizeAxis,
  shapesEqual,
  sizeOf,
  stridesOf,
} from "../shape.js";
import { Storage, Tensor } from "../tensor.js";
import {
  aliasTensor,
  backendOf,
  emptyTensor,
  kernel,
  recordGrad,
  stridedCopy,
} from "./internal.js";
import { sumTo } from "./reduction.js";

/** Same elements, new shape (one entry may be -1). Shares the buffer: no copy. */
export function reshape(x: Tensor, shape: Shape): Tensor {
  x.assertAlive("reshape");
  const resolved = resolveReshape(x, shape);
  const out = aliasTensor(x, resolved);
  if (isFloat(x.dtype)) recordGrad("reshape", [x], [out], [], ([dy]) => [reshape(dy, x.shape)]);
  return out;
}

function resolveReshape(x: Tensor, shape: Shape): number[] {
  // One pass: the product of the given sizes, the -1 count, and whether every entry is valid.
  let known = 1;
  let unknowns = 0;
  let valid = true;
  for (const d of shape) {
    if (d === -1) unknowns++;
    else if (Number.isInteger(d) && d >= 0) known *= d;
    else valid = false;
  }
  if (valid && unknowns === 0 && known === x.size) return shape.slice();
  if (valid && unknowns === 1 && known > 0 && x.size % known === 0) {
    return shape.map((d) => (d === -1 ? x.size / known : d));
  }
  throw new RangeError(
    `reshape: cannot reshape ${formatShape(x.shape)} (${x.size} elements) to ${formatShape(shape)}; ` +
      "the sizes must match, with at most one -1.",
  );
}

/** Reorders axes; the default reverses them. */
export function transpose(x: Tensor, perm?: readonly number[]): Tensor {
  const backend = backendOf("transpose", x);
  const p = perm ?? x.shape.map((_, i) => x.rank - 1 - i);
  const valid = p.length === x.rank && [...p].sort((a, b) => a - b).every((v, i) => v === i);
  if (!valid) {
    throw new RangeError(
      `transpose: perm [${p.join(", ")}] is not a permutation of the ${x.rank} axes of ${formatShape(x.shape)}.`,
    );
  }
  const shape = p.map((a) => x.shape[a]);
  const out = emptyTensor(shape, x.dtype, backend);
  const xs = stridesOf(x.shape);
  stridedCopy(x, out, { shape, xStrides: p.map((a) => xs[a]) });
  if (isFloat(x.dtype)) {
    const inverse = new Array<number>(p.length);
    p.forEach((a, i) => {
      inverse[a] = i;
    });
    recordGrad("transpose", [x], [out], [], ([dy]) => [transpose(dy, inverse)]);
  }
  return out;
}

/**
 * The block starting at `begin` with `size` (an entry of -1 takes the rest of that axis).
 */
export function slice(x: Tensor, begin: readonly number[], size?: readonly number[]): Tensor {
  const backend = backendOf("slice", x);
  if (begin.length !== x.rank || (size !== undefined && size.length !== x.rank)) {
    throw new RangeError(
      `slice: begin [${begin.join(", ")}]${size ? ` and size [${size.join(", ")}]` : ""} must have one entry per axis of ${formatShape(x.shape)}.`,
    );
  }
  const shape = x.shape.map((d, i) => {
    const s = size?.[i] ?? -1;
    return s === -1 ? d - begin[i] : s;
  });
  x.shape.forEach((d, i) => {
    if (!Number.isInteger(begin[i]) || begin[i] < 0 || shape[i] < 0 || begin[i] + shape[i] > d) {
      throw new RangeError(
        `slice: begin ${begin[i]} with size ${shape[i]} on axis ${i} is out of bounds for ${formatShape(x.shape)}.`,
      );
    }
  });
  const xs = stridesOf(x.shape);
  const out = emptyTensor(shape, x.dtype, backend);
  stridedCopy(x, out, {
    shape,
    xStrides: xs,
    xOffset: begin.reduce((acc, b, i) => acc + b * xs[i], 0),
  });
  if (isFloat(x.dtype)) {
    recordGrad("slice", [x], [out], [], ([dy]) => [
      pad(
        dy,
        begin.map((b, i) => [b, x.shape[i] - b - shape[i]] as const),
      ),
    ]);
  }
  return out;
}

/** Zero padding: `widths[i] = [before, after]` for axis i. */
export function pad(x: Tensor, widths: readonly (readonly [number, number])[]): Tensor {
  const backend = backendOf("pad", x);
  if (
    widths.length !== x.rank ||
    widths.some(([a, b]) => !Number.isInteger(a) || !Number.isInteger(b) || a < 0 || b < 0)
  ) {
    throw new RangeError(
      `pad: widths must be one [before, after] pair of non-negative integers per axis of ${formatShape(x.shape)}.`,
    );
  }
  const shape = x.shape.map((d, i) => d + widths[i][0] + widths[i][1]);
  const out = emptyTensor(shape, x.dtype, backend);
  if (out.size > 0)
    kernel(backend, "fill")({ dtype: x.dtype, out: out.storage.id, value: 0, size: out.size });
  writeBlock(
    x,
    out,
    widths.map(([before]) => before),
  );
  if (isFloat(x.dtype)) {
    recordGrad("pad", [x], [out], [], ([dy]) => [
      slice(
        dy,
        widths.map(([before]) => before),
        x.shape,
      ),
    ]);
  }
  return out;
}

/** Copies all of `x` into `out` at offset `begin` (no gradient; used by pad and concat). */
function writeBlock(x: Tensor, out: Tensor, begin: readonly number[]): void {
  const outStrides = stridesOf(out.shape);
  const outOffset = begin.reduce((acc, b, i) => acc + b * outStrides[i], 0);
  stridedCopy(x, out, { shape: x.shape, outStrides, outOffset });
}

/** Joins tensors along `axis`; all other axes must match. */
export function concat(tensors: readonly Tensor[], axis = 0): Tensor {
  if (tensors.length === 0) throw new RangeError("concat: needs at least one tensor.");
  const backend = backendOf("concat", ...tensors);
  const first = tensors[0];
  const ax = normalizeAxis("concat", axis, first.rank);
  for (const [i, t] of tensors.entries()) {
    const ok =
      t.rank === first.rank &&
      t.dtype === first.dtype &&
      t.shape.every((d, j) => j === ax || d === first.shape[j]);
    if (!ok) {
      throw new RangeError(
        `concat: tensor ${i} is ${t.dtype} ${formatShape(t.shape)} but tensor 0 is ${first.dtype} ${formatShape(first.shape)}; ` +
          `all must share dtype and every axis except ${ax}.`,
      );
    }
  }
  const shape = [...first.shape];
  shape[ax] = tensors.reduce((acc, t) => acc + t.shape[ax], 0);
  const out = emptyTensor(shape, first.dtype, backend);
  const offsets: number[] = [];
  let offset = 0;
  for (const t of tensors) {
    offsets.push(offset);
    writeBlock(
      t,
      out,
      shape.map((_, j) => (j === ax ? offset : 0)),
    );
    offset += t.shape[ax];
  }
  if (isFloat(first.dtype)) {
    recordGrad("concat", tensors, [out], [], ([dy]) =>
      tensors.map((t, i) => {
        const begin = shape.map((_, j) => (j === ax ? offsets[i] : 0));
        return slice(dy, begin, t.shape);
      }),
    );
  }
  return out;
}

/** Stacks same-shaped tensors along a new axis. */
export function stack(tensors: readonly Tensor[], axis = 0): Tensor {
  if (tensors.length === 0) throw new RangeError("stack: needs at least one tensor.");
  const ax = normalizeAxis("stack", axis, tensors[0].rank + 1);
  const expanded = tensors.map((t) => expandDims(t, ax));
  const out = concat(expanded, ax);
  for (const e of expanded) e.dispose();
  return out;
}

/**
 * Splits along `axis` into pieces of the given sizes (or `n` equal pieces). Where every axis
 * before `axis` has size 1 and the backend supports views, the pieces share x's buffer (like
 * reshape: an in-place write to x shows in them); otherwise they are copies.
 */
export function split(x: Tensor, sizes: number | readonly number[], axis = 0): Tensor[] {
  x.assertAlive("split");
  const ax = normalizeAxis("split", axis, x.rank);
  const d = x.shape[ax];
  const list = typeof sizes === "number" ? splitEvenly(d, sizes) : sizes;
  if (list.reduce((a, b) => a + b, 0) !== d) {
    throw new RangeError(
      `split: sizes [${list.join(", ")}] do not add up to ${d}, the size of axis ${ax} of ${formatShape(x.shape)}.`,
    );
  }
  // With only 1s before the axis, each part is one contiguous range of x's buffer: a view where
  // the backend can alias it (no copy; a decode step's projections split this way), else a slice.
  const contiguous = x.shape.every((s, j) => j >= ax || s === 1);
  const inner = sizeOf(x.shape.slice(ax + 1));
  let offset = 0;
  return list.map((n) => {
    const begin = x.shape.map((_, j) => (j === ax ? offset : 0));
    const size = x.shape.map((s, j) => (j === ax ? n : s));
    const before = offset;
    offset += n;
    return (contiguous && partView(x, ax, before, size, inner)) || slice(x, begin, size);
  });
}

/**
 * Part `shape` of x starting at index `before` of axis `ax` (only 1s before it, so the part is
 * elements [before · inner, …) of x's buffer) as a view sharing x's buffer, recorded on the tape
 * like the slice it stands for; null where the backend has no view of that range.
 */
function partView(
  x: Tensor,
  ax: number,
  before: number,
  shape: number[],
  inner: number,
): Tensor | null {
  const backend = x.backend;
  const bpe = bytesPerElement(x.dtype);
  const bytes = sizeOf(shape) * bpe;
  if (backend.view === undefined || bytes === 0) return null;
  const id = backend.view(x.storage.id, before * inner * bpe, bytes);
  if (id === null) return null;
  const out = new Tensor(shape, x.dtype, new Storage(backend, id, bytes, x.storage.retain()));
  if (isFloat(x.dtype)) {
    const after = x.shape[ax] - before - shape[ax];
    recordGrad("split", [x], [out], [], ([dy]) => [
      pad(
        dy,
        x.shape.map((_, j) => (j === ax ? ([before, after] as const) : ([0, 0] as const))),
      ),
    ]);
  }
  return out;
}

function splitEvenly(d: number, n: number): number[] {
  if (!Number.isInteger(n) || n <= 0 || d % n !== 0) {
    throw new RangeError(`split: cannot split an axis of size ${d} into ${n} equal pieces.`);
  }
  return new Array<number>(n).fill(d / n);
}

/** Materialises broadcasting to `shape` (NumPy rules). */
export function broadcastTo(x: Tensor, shape: Shape): Tensor {
  const backend = backendOf("broadcastTo", x);
  if (shapesEqual(x.shape, shape)) return reshape(x, shape);
  const lead = shape.length - x.rank;
  const ok = lead >= 0 && x.shape.every((d, i) => d === 1 || d === shape[lead + i]);
  if (!ok)
    throw new RangeError(
      `broadcastTo: cannot broadcast ${formatShape(x.shape)} to ${formatShape(shape)}.`,
    );
  const out = emptyTensor(shape, x.dtype, backend);
  stridedCopy(x, out, { shape, xStrides: broadcastStrides(x.shape, shape) });
  if (isFloat(x.dtype)) recordGrad("broadcastTo", [x], [out], [], ([dy]) => [sumTo(dy, x.shape)]);
  return out;
}

/** Inserts an axis of size 1 at `axis`. */
export function expandDims(x: Tensor, axis = 0): Tensor {
  const ax = normalizeAxis("expandDims", axis, x.rank + 1);
  const shape = [...x.shape];
  shape.splice(ax, 0, 1);
  return reshape(x, shape);
}

/** Removes axes of size 1 (all of them, or the ones given). */
export function squeeze(x: Tensor, axes?: readonly number[]): Tensor {
  const drop =
    axes?.map((a) => normalizeAxis("squeeze", a, x.rank)) ??
    x.shape.flatMap((d, i) => (d === 1 ? [i] : []));
  for (const a of drop) {
    if (x.shape[a] !== 1) {
      throw new RangeError(
        `squeeze: axis ${a} of ${formatShape(x.shape)} has size ${x.shape[a]}, not 1.`,
      );
    }
  }
  return reshape(
    x,
    x.shape.filter((_, i) => !drop.includes(i)),
  );
}
