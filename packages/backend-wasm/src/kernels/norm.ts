/** float32 rmsNorm, addRmsNorm and rmsNorm's backward on the wasm kernels (src/wat/norm.wat). */
import type { AddRmsNormArgs, RmsNormArgs, RmsNormBackwardArgs } from "@bmojo/tensor";
import type { Runtime } from "../runtime.js";
import { binaryF32 } from "./elementwise.js";

/** Below this many elements rmsNorm runs on the calling thread. */
const PARALLEL_ELEMENTS = 1 << 16;

export function rmsNormF32(rt: Runtime, a: RmsNormArgs): void {
  const { rows, cols } = a;
  if (rows === 0 || cols === 0) {
    rt.reference.rmsNorm(a);
    return;
  }
  const args = rt.argv;
  args[0] = rt.ptr(a.x);
  args[1] = rt.ptr(a.weight);
  args[2] = rt.ptr(a.out);
  args[3] = rt.ptr(a.rstd);
  args[4] = cols;
  rt.argf[5] = a.eps;
  const parallel = rows > 1 && rows * cols >= PARALLEL_ELEMENTS;
  rt.pool.run("rms_fwd", rows, Math.max(1, Math.ceil(rows / (4 * rt.pool.threads))), parallel);
}

/**
 * float32 addRmsNorm as two passes in one call: the wasm add into sum, then the wasm rmsNorm of the
 * stored sum (so exactly the values of add then rmsNorm on this backend, without the op layer's
 * second call).
 */
export function addRmsNormF32(rt: Runtime, a: AddRmsNormArgs): void {
  const { rows, cols } = a;
  if (rows === 0 || cols === 0) {
    rt.reference.addRmsNorm(a);
    return;
  }
  const size = rows * cols;
  binaryF32(rt, {
    op: "add",
    dtype: "float32",
    a: a.x,
    b: a.residual,
    out: a.sum,
    shape: [size],
    aStrides: [1],
    bStrides: [1],
  });
  rmsNormF32(rt, {
    dtype: "float32",
    x: a.sum,
    weight: a.weight,
    out: a.out,
    rstd: a.rstd,
    rows,
    cols,
    eps: a.eps,
  });
}

/** Rows per part of rmsNormBackward: at least this many, and at most 64 parts in all. */
const PART_ROWS = 16;
const MAX_PARTS = 64;
/** Below this many elements rmsNormBackward (which streams its rows) runs on the calling thread. */
const PARALLEL_BACKWARD = 1 << 18;

/**
 * float32 rmsNormBackward: a task per part of the rows (at most 64 parts, a number that does not
 * depend on the threads, so neither does the result), each writing dx for its rows and its own
 * partial row of dweight; the partial rows are summed here.
 */
export function rmsNormBackwardF32(rt: Runtime, a: RmsNormBackwardArgs): void {
  const { rows, cols } = a;
  if (rows === 0 || cols === 0) {
    rt.reference.rmsNormBackward(a);
    return;
  }
  const partRows = Math.max(PART_ROWS, Math.ceil(rows / MAX_PARTS));
  const parts = Math.ceil(rows / partRows);
  const partials = rt.heap.alloc(4 * parts * cols);
  try {
    const args = rt.argv;
    args[0] = rt.ptr(a.x);
    args[1] = rt.ptr(a.weight);
    args[2] = rt.ptr(a.rstd);
    args[3] = rt.ptr(a.dy);
    args[4] = rt.ptr(a.dx);
    args[5] = rt.ptr(partials);
    args[6] = cols;
    args[7] = rows;
    args[8] = partRows;
    const parallel = parts > 1 && rows * cols >= PARALLEL_BACKWARD;
    rt.pool.run("rms_bwd", parts, 1, parallel);
    rt.sumRows(rt.ptr(partials), parts, cols, rt.ptr(a.dweight));
  } finally {
    rt.heap.free(partials);
  }
}
