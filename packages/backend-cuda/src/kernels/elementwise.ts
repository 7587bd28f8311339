/**
 * Marshallers of the elementwise, reduction and indexing kernels (native/elementwise.cu and
 * native/reduce_index.cu). Ops travel as their index in the op lists exported by @bmojo/tensor
 * (UNARY_OPS, [...ARITHMETIC_OPS, ...COMPARISON_OPS], REDUCE_OPS); the C++ enums mirror that order.
 *
 * Shaped kernels (binary, where, copy) get their index space simplified here: extent-1 axes are
 * dropped and adjacent axes that are contiguous for every operand are merged, so the kernel sees
 * a small rank (often 1, its fast path). The space is written as
 *   n, rank, shape[rank], then each operand's strides[rank]
 * with n = 0 and rank 0 for an empty space.
 */
import {
  ARITHMETIC_OPS,
  COMPARISON_OPS,
  type KernelTable,
  REDUCE_OPS,
  UNARY_OPS,
  collapseAxes,
  stridesOf,
} from "@bmojo/tensor";
import type { ArgWriter, Marshaller } from "./writer.js";

/** bmojo::kMaxDims (native/common.cuh): the most dims a shaped kernel accepts after merging. */
const MAX_DIMS = 8;

function codesOf(ops: readonly string[]): ReadonlyMap<string, number> {
  return new Map(ops.map((op, i) => [op, i]));
}

const UNARY_CODES = codesOf(UNARY_OPS);
const BINARY_CODES = codesOf([...ARITHMETIC_OPS, ...COMPARISON_OPS]);
const REDUCE_CODES = codesOf(REDUCE_OPS);

function opCode(codes: ReadonlyMap<string, number>, kernel: string, op: string): number {
  const code = codes.get(op);
  if (code === undefined) throw new TypeError(`cuda backend: ${kernel}: unknown op "${op}"`);
  return code;
}

/**
 * Writes the merged space of `shape` over `operands` (each one's strides; all take part in the
 * merge) and the strides of the first `written` operands. An operand that is not written is the
 * contiguous output, which stays contiguous over the merged shape (its offset is the linear index).
 */
function writeSpace(
  w: ArgWriter,
  kernel: string,
  shape: readonly number[],
  names: readonly string[],
  operands: readonly (readonly number[])[],
  written: number,
): void {
  for (let o = 0; o < written; o++) {
    if (operands[o].length !== shape.length) {
      throw new RangeError(
        `cuda backend: ${kernel}: ${names[o]} [${operands[o].join(", ")}] does not match shape [${shape.join(", ")}]`,
      );
    }
  }
  const space = collapseAxes(shape, operands);
  if (space === null) {
    w.num(0).num(0);
    return;
  }
  const rank = space.shape.length;
  if (rank > MAX_DIMS) {
    throw new Error(
      `cuda backend: ${kernel}: shape [${shape.join(", ")}] still has ${rank} dims after merging contiguous dims; the kernel supports at most ${MAX_DIMS}`,
    );
  }
  let n = 1;
  for (const extent of space.shape) n *= extent;
  w.num(n).num(rank).list(space.shape);
  for (let o = 0; o < written; o++) w.list(space.strides[o]);
}

type ElementwiseKernel =
  | "unary"
  | "unaryBackward"
  | "siluMul"
  | "binary"
  | "where"
  | "cast"
  | "fill"
  | "copy"
  | "adamw"
  | "reduce"
  | "gather"
  | "scatterAdd"
  | "scatter";

export const elementwiseMarshallers = {
  // op, dtype, x, out, size
  unary: (a, w) => {
    const op = opCode(UNARY_CODES, "unary", a.op);
    w.num(op).dtype(a.dtype).buf(a.x).buf(a.out).num(a.size);
  },

  // op, dtype, x, dy, dx, size
  unaryBackward: (a, w) => {
    const op = opCode(UNARY_CODES, "unaryBackward", a.op);
    w.num(op).dtype(a.dtype).buf(a.x).buf(a.dy).buf(a.dx).num(a.size);
  },

  // dtype, gate, up, out, size
  siluMul: (a, w) => {
    w.dtype(a.dtype).buf(a.gate).buf(a.up).buf(a.out).num(a.size);
  },

  // op, dtype, a, b, out, n, rank, shape[rank], aStrides[rank], bStrides[rank]
  binary: (a, w) => {
    const op = opCode(BINARY_CODES, "binary", a.op);
    w.num(op).dtype(a.dtype).buf(a.a).buf(a.b).buf(a.out);
    writeSpace(
      w,
      "binary",
      a.shape,
      ["aStrides", "bStrides"],
      [a.aStrides, a.bStrides, stridesOf(a.shape)],
      2,
    );
  },

  // dtype, cond, a, b, out, n, rank, shape[rank], condStrides[rank], aStrides[rank], bStrides[rank]
  where: (a, w) => {
    w.dtype(a.dtype).buf(a.cond).buf(a.a).buf(a.b).buf(a.out);
    writeSpace(
      w,
      "where",
      a.shape,
      ["condStrides", "aStrides", "bStrides"],
      [a.condStrides, a.aStrides, a.bStrides, stridesOf(a.shape)],
      3,
    );
  },

  // from, to, x, out, size
  cast: (a, w) => {
    w.dtype(a.from).dtype(a.to).buf(a.x).buf(a.out).num(a.size);
  },

  // dtype, out, value, size (int32: the value is converted with ToInt32 in C++)
  fill: (a, w) => {
    w.dtype(a.dtype).buf(a.out).num(a.value).num(a.size);
  },

  // dtype, x, out, xOffset, outOffset, n, rank, shape[rank], xStrides[rank], outStrides[rank]
  copy: (a, w) => {
    w.dtype(a.dtype).buf(a.x).buf(a.out).num(a.xOffset).num(a.outOffset);
    writeSpace(w, "copy", a.shape, ["xStrides", "outStrides"], [a.xStrides, a.outStrides], 2);
  },

  // dtype, param, grad, m, v, size, lr, beta1, beta2, eps, weightDecay, step
  adamw: (a, w) => {
    if (!Number.isInteger(a.step) || a.step < 1) {
      throw new RangeError(
        `adamw: step must be an integer ≥ 1 (the 1-based step count), got ${a.step}`,
      );
    }
    w.dtype(a.dtype).buf(a.param).buf(a.grad).buf(a.m).buf(a.v).num(a.size);
    w.num(a.lr).num(a.beta1).num(a.beta2).num(a.eps).num(a.weightDecay).num(a.step);
  },

  // op, dtype, x, out, outer, size, inner
  reduce: (a, w) => {
    const op = opCode(REDUCE_CODES, "reduce", a.op);
    w.num(op).dtype(a.dtype).buf(a.x).buf(a.out).num(a.outer).num(a.size).num(a.inner);
  },

  // dtype, table, indices, out, outer, rows, inner, count
  gather: (a, w) => {
    w.dtype(a.dtype).buf(a.table).buf(a.indices).buf(a.out);
    w.num(a.outer).num(a.rows).num(a.inner).num(a.count);
  },

  // dtype, updates, indices, out, outer, rows, inner, count
  scatterAdd: (a, w) => {
    w.dtype(a.dtype).buf(a.updates).buf(a.indices).buf(a.out);
    w.num(a.outer).num(a.rows).num(a.inner).num(a.count);
  },

  // dtype, updates, indices, out, outer, rows, inner, count
  scatter: (a, w) => {
    w.dtype(a.dtype).buf(a.updates).buf(a.indices).buf(a.out);
    w.num(a.outer).num(a.rows).num(a.inner).num(a.count);
  },
} satisfies { [K in ElementwiseKernel]: Marshaller<Parameters<KernelTable[K]>[0]> };
