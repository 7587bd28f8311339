/**
 * Elementwise kernels on the wasm module (src/wat/elementwise.wat): float32 unary maps and their
 * backward, float32 broadcasting arithmetic, the float32 AdamW step, and strided copies of 4-byte
 * dtypes. Strided spaces are collapsed first (as `collapseAxes` does); those of rank ≤ 3 run in
 * wasm, the rest (and the ops listed as delegated in the README) on the reference kernels.
 */
import type {
  AdamwArgs,
  BinaryArgs,
  CopyArgs,
  SiluMulArgs,
  UnaryArgs,
  UnaryBackwardArgs,
} from "@bmojo/tensor";
import type { Runtime } from "../runtime.js";

/** Elements per task unit of unary, unary_bwd and adamw (1024 in the WAT). */
const UNIT = 1024;
/** Below this many elements an elementwise kernel runs on the calling thread. */
const PARALLEL_ELEMENTS = 1 << 16;

const UNARY_CODES: Partial<Record<UnaryArgs["op"], number>> = {
  neg: 0,
  abs: 1,
  exp: 2,
  sqrt: 3,
  rsqrt: 4,
  square: 5,
  reciprocal: 6,
  sigmoid: 7,
  silu: 8,
  softplus: 9,
  relu: 10,
};

const BINARY_CODES: Partial<Record<BinaryArgs["op"], number>> = {
  add: 0,
  sub: 1,
  mul: 2,
  div: 3,
  maximum: 4,
  minimum: 5,
};

function runUnits(rt: Runtime, task: "unary" | "unary_bwd" | "adamw", size: number): void {
  const units = Math.ceil(size / UNIT);
  const parallel = size >= PARALLEL_ELEMENTS;
  rt.pool.run(task, units, Math.max(1, Math.ceil(units / (4 * rt.pool.threads))), parallel);
}

export function unaryF32(rt: Runtime, a: UnaryArgs): void {
  const code = UNARY_CODES[a.op];
  if (code === undefined || a.size === 0) {
    rt.reference.unary(a);
    return;
  }
  const args = rt.argv;
  args[0] = code;
  args[1] = rt.ptr(a.x);
  args[2] = rt.ptr(a.out);
  args[3] = a.size;
  runUnits(rt, "unary", a.size);
}

export function unaryBackwardF32(rt: Runtime, a: UnaryBackwardArgs): void {
  const code = UNARY_CODES[a.op];
  if (code === undefined || a.op === "abs" || a.size === 0) {
    rt.reference.unaryBackward(a);
    return;
  }
  const args = rt.argv;
  args[0] = code;
  args[1] = rt.ptr(a.x);
  args[2] = rt.ptr(a.dy);
  args[3] = rt.ptr(a.dx);
  args[4] = a.size;
  runUnits(rt, "unary_bwd", a.size);
}

/**
 * The collapsed space (as `collapseAxes` computes it) of a rank-≤3 walk, padded to rank 3 with
 * leading extents of 1: extents in slots 0 … 2, the strides of operand 0 in 3 … 5, of operand 1
 * in 6 … 8 (and of a contiguous third operand, merged alongside, in 9 … 11). Reused, so a call
 * allocates nothing.
 */
const space = new Int32Array(12);

/**
 * Collapses the space of `shape` walked with strides s0 and s1 (and, when `contiguous`, a third
 * operand with the contiguous strides of `shape`) into `space`. False when an extent is 0 or
 * more than three axes remain.
 */
function collapse3(
  shape: readonly number[],
  s0: readonly number[],
  s1: readonly number[],
  contiguous: boolean,
): boolean {
  let rank = 0;
  let rest = 1;
  for (let d = 0; d < shape.length; d++) rest *= shape[d];
  if (rest === 0) return false;
  for (let d = 0; d < shape.length; d++) {
    const extent = shape[d];
    rest /= extent;
    if (extent === 1) continue;
    const last = rank - 1;
    if (
      rank > 0 &&
      space[3 + last] === s0[d] * extent &&
      space[6 + last] === s1[d] * extent &&
      (!contiguous || space[9 + last] === rest * extent)
    ) {
      space[last] *= extent;
      space[3 + last] = s0[d];
      space[6 + last] = s1[d];
      space[9 + last] = rest;
      continue;
    }
    if (rank === 3) return false;
    space[rank] = extent;
    space[3 + rank] = s0[d];
    space[6 + rank] = s1[d];
    space[9 + rank] = rest;
    rank++;
  }
  // Pad to rank 3: move the axes to the end, leading extents 1 with stride 0.
  const pad = 3 - rank;
  for (let d = 2; d >= 0; d--) {
    const from = d - pad;
    for (let o = 0; o < 12; o += 3) space[o + d] = from >= 0 ? space[o + from] : o === 0 ? 1 : 0;
  }
  return true;
}

/** Columns per binary task: long rows are split so that one big map runs on every thread. */
const BINARY_BLOCK = 8192;

/** Rows of the collapsed space (blocks of rows' columns, for binary) run in parallel when big. */
function runRows(rt: Runtime, task: "binary" | "copy", tasks: number): void {
  const parallel = tasks > 1 && space[0] * space[1] * space[2] >= PARALLEL_ELEMENTS;
  rt.pool.run(task, tasks, Math.max(1, Math.ceil(tasks / (4 * rt.pool.threads))), parallel);
}

export function binaryF32(rt: Runtime, a: BinaryArgs): void {
  const code = BINARY_CODES[a.op];
  const rank = a.shape.length;
  if (
    code === undefined ||
    a.aStrides.length !== rank ||
    a.bStrides.length !== rank ||
    !collapse3(a.shape, a.aStrides, a.bStrides, true)
  ) {
    rt.reference.binary(a);
    return;
  }
  const args = rt.argv;
  args[0] = code;
  args[1] = rt.ptr(a.a);
  args[2] = rt.ptr(a.b);
  args[3] = rt.ptr(a.out);
  for (let i = 0; i < 9; i++) args[4 + i] = space[i];
  const blocks = Math.ceil(space[2] / BINARY_BLOCK);
  args[13] = BINARY_BLOCK;
  args[14] = blocks;
  runRows(rt, "binary", space[0] * space[1] * blocks);
}

/** float32 siluMul as two passes in one call: the wasm silu into out, then out · up in place. */
export function siluMulF32(rt: Runtime, a: SiluMulArgs): void {
  if (a.size === 0) return;
  unaryF32(rt, { op: "silu", dtype: "float32", x: a.gate, out: a.out, size: a.size });
  binaryF32(rt, {
    op: "mul",
    dtype: "float32",
    a: a.out,
    b: a.up,
    out: a.out,
    shape: [a.size],
    aStrides: [1],
    bStrides: [1],
  });
}

export function copy4(rt: Runtime, a: CopyArgs): void {
  const rank = a.shape.length;
  if (
    a.x === a.out ||
    a.xStrides.length !== rank ||
    a.outStrides.length !== rank ||
    !collapse3(a.shape, a.xStrides, a.outStrides, false)
  ) {
    rt.reference.copy(a);
    return;
  }
  const args = rt.argv;
  args[0] = rt.ptr(a.x) + 4 * a.xOffset;
  args[1] = rt.ptr(a.out) + 4 * a.outOffset;
  for (let i = 0; i < 9; i++) args[2 + i] = space[i];
  runRows(rt, "copy", space[0] * space[1]);
}

export function adamwF32(rt: Runtime, a: AdamwArgs): void {
  const { size, lr, beta1, beta2, eps, weightDecay, step } = a;
  if (!Number.isInteger(step) || step < 1 || size === 0) {
    rt.reference.adamw(a);
    return;
  }
  const args = rt.argv;
  args[0] = rt.ptr(a.param);
  args[1] = rt.ptr(a.grad);
  args[2] = rt.ptr(a.m);
  args[3] = rt.ptr(a.v);
  args[4] = size;
  const f = rt.argf;
  f[5] = beta1;
  f[6] = beta2;
  f[7] = eps;
  f[8] = 1 - lr * weightDecay;
  f[9] = lr / (1 - beta1 ** step);
  f[10] = Math.sqrt(1 - beta2 ** step);
  runUnits(rt, "adamw", size);
}
