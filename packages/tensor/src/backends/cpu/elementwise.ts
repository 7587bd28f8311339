/**
 * Elementwise kernels of the reference cpu backend (unary, unaryBackward, binary, where, cast,
 * fill), plus the strided-iteration helper `forEachRow` shared with `copy`.
 *
 * Hot loops never branch on the op name: the op is resolved once per call, to one loop per op
 * (unary) or to one row function per op (binary), and the broadcasting n-d walk is an odometer
 * over all axes but the last, whose row is a tight loop.
 */
import { collapseAxes } from "../../backend/strided.js";
import { stridesOf } from "../../shape.js";
import type {
  ArithmeticOp,
  BinaryArgs,
  BufferId,
  CastArgs,
  ComparisonOp,
  FillArgs,
  SiluMulArgs,
  UnaryArgs,
  UnaryBackwardArgs,
  UnaryOp,
  WhereArgs,
} from "../../backend/kernels.js";
import type { DType, TypedArray } from "../../dtype.js";
import type { CpuStore, FloatArray } from "./store.js";

// ---------------------------------------------------------------------------------------------
// Shared helpers
// ---------------------------------------------------------------------------------------------

/** A float view of `id`, or a TypeError naming the kernel, op and dtype when `dtype` is int32. */
export function requireFloat(
  s: CpuStore,
  id: BufferId,
  dtype: DType,
  kernel: string,
  op?: string,
): FloatArray {
  if (dtype === "int32") {
    const what = op === undefined ? kernel : `${kernel}: op "${op}"`;
    throw new TypeError(
      `cpu backend: ${what} does not support dtype int32; use float32, float64 or bfloat16`,
    );
  }
  return s.float(id, dtype);
}

/** Numerically stable logistic function (no overflow of exp for large |x|). */
function sigmoid(x: number): number {
  if (x >= 0) return 1 / (1 + Math.exp(-x));
  const e = Math.exp(x);
  return e / (1 + e);
}

/**
 * Odometer over every axis of `shape` but the last (rank ≥ 1). For each row it calls
 * `row(offsets)`, where `offsets[o] = base[o] + Σ_{d<rank-1} i_d · strides[o][d]`; the callee walks
 * the last axis itself. `offsets` is one array reused for every row (do not keep it).
 */
export function forEachRow(
  shape: readonly number[],
  strides: readonly (readonly number[])[],
  base: readonly number[],
  row: (offsets: readonly number[]) => void,
): void {
  const outerRank = shape.length - 1;
  const operands = strides.length;
  const offsets = base.slice();
  const index = new Array<number>(outerRank).fill(0);
  let rows = 1;
  for (let d = 0; d < outerRank; d++) rows *= shape[d];
  for (let r = 0; r < rows; r++) {
    row(offsets);
    // Advance the multi-index by one, carrying from the last outer axis.
    for (let d = outerRank - 1; d >= 0; d--) {
      if (++index[d] < shape[d]) {
        for (let o = 0; o < operands; o++) offsets[o] += strides[o][d];
        break;
      }
      index[d] = 0;
      for (let o = 0; o < operands; o++) offsets[o] -= strides[o][d] * (shape[d] - 1);
    }
  }
}

function checkRank(kernel: string, shape: readonly number[], strides: readonly number[]): void {
  if (strides.length !== shape.length) {
    throw new RangeError(
      `cpu backend: ${kernel}: strides [${strides.join(", ")}] do not match shape [${shape.join(", ")}]`,
    );
  }
}

// ---------------------------------------------------------------------------------------------
// unary
// ---------------------------------------------------------------------------------------------

/** Unary ops defined on int32 (C int32 semantics: results wrap modulo 2^32). */
const INT32_UNARY_OPS: readonly UnaryOp[] = ["neg", "abs", "sign", "square"];

/**
 * `out[i] = f(x[i])`. int32 supports neg, abs, sign, square, wrapping like C int32 (neg and abs of
 * -2^31 give -2^31).
 */
export function unary(s: CpuStore, a: UnaryArgs): void {
  const { op, dtype, size } = a;
  if (dtype === "int32") {
    if (!INT32_UNARY_OPS.includes(op)) {
      throw new TypeError(
        `cpu backend: unary: op "${op}" does not support dtype int32; int32 supports ${INT32_UNARY_OPS.join(", ")}`,
      );
    }
    unaryInt32(op, s.int32(a.x), s.int32(a.out), size);
    return;
  }
  const x = requireFloat(s, a.x, dtype, "unary", op);
  const y = requireFloat(s, a.out, dtype, "unary", op);
  switch (op) {
    case "neg":
      for (let i = 0; i < size; i++) y[i] = -x[i];
      return;
    case "abs":
      for (let i = 0; i < size; i++) y[i] = Math.abs(x[i]);
      return;
    case "sign":
      for (let i = 0; i < size; i++) y[i] = Math.sign(x[i]);
      return;
    case "exp":
      for (let i = 0; i < size; i++) y[i] = Math.exp(x[i]);
      return;
    case "log":
      for (let i = 0; i < size; i++) y[i] = Math.log(x[i]);
      return;
    case "sqrt":
      for (let i = 0; i < size; i++) y[i] = Math.sqrt(x[i]);
      return;
    case "rsqrt":
      for (let i = 0; i < size; i++) y[i] = 1 / Math.sqrt(x[i]);
      return;
    case "square":
      for (let i = 0; i < size; i++) {
        const v = x[i];
        y[i] = v * v;
      }
      return;
    case "reciprocal":
      for (let i = 0; i < size; i++) y[i] = 1 / x[i];
      return;
    case "sin":
      for (let i = 0; i < size; i++) y[i] = Math.sin(x[i]);
      return;
    case "cos":
      for (let i = 0; i < size; i++) y[i] = Math.cos(x[i]);
      return;
    case "tanh":
      for (let i = 0; i < size; i++) y[i] = Math.tanh(x[i]);
      return;
    case "sigmoid":
      for (let i = 0; i < size; i++) y[i] = sigmoid(x[i]);
      return;
    case "silu":
      for (let i = 0; i < size; i++) {
        const v = x[i];
        y[i] = v * sigmoid(v);
      }
      return;
    case "softplus":
      for (let i = 0; i < size; i++) {
        const v = x[i];
        y[i] = v > 20 ? v : Math.log1p(Math.exp(v));
      }
      return;
    case "relu":
      // Math.max keeps NaN as NaN (and maps -0 to 0).
      for (let i = 0; i < size; i++) y[i] = Math.max(x[i], 0);
      return;
    case "floor":
      for (let i = 0; i < size; i++) y[i] = Math.floor(x[i]);
      return;
    default:
      throw unknownOp("unary", op);
  }
}

function unaryInt32(op: UnaryOp, x: Int32Array, y: Int32Array, size: number): void {
  switch (op) {
    case "neg":
      for (let i = 0; i < size; i++) y[i] = -x[i] | 0;
      return;
    case "abs":
      for (let i = 0; i < size; i++) y[i] = Math.abs(x[i]) | 0;
      return;
    case "sign":
      for (let i = 0; i < size; i++) y[i] = Math.sign(x[i]);
      return;
    case "square":
      for (let i = 0; i < size; i++) y[i] = Math.imul(x[i], x[i]);
      return;
    default:
      throw unknownOp("unary", op);
  }
}

function unknownOp(kernel: string, op: string): Error {
  return new TypeError(`cpu backend: ${kernel}: unknown op "${op}"`);
}

/**
 * `out[i] = silu(gate[i]) · up[i]`, silu rounded to dtype first (as unary silu, then mul; in
 * bfloat16, to float32: bfloat16 kernels compute in float32).
 */
export function siluMul(s: CpuStore, a: SiluMulArgs): void {
  const { dtype, size } = a;
  const gate = requireFloat(s, a.gate, dtype, "siluMul");
  const up = s.float(a.up, dtype);
  const out = s.float(a.out, dtype);
  const round = dtype === "float64" ? (v: number) => v : Math.fround;
  for (let i = 0; i < size; i++) {
    const v = gate[i];
    out[i] = round(v * sigmoid(v)) * up[i];
  }
}

// ---------------------------------------------------------------------------------------------
// unaryBackward
// ---------------------------------------------------------------------------------------------

/**
 * `dx[i] = dy[i] * f'(x[i])`, float only. Conventions at kinks: abs'(0) = sign(0) = 0,
 * relu'(0) = 0; sign' = floor' = 0 everywhere (dx is written as 0). softplus' = sigmoid, and
 * exactly 1 for x > 20 where softplus is the identity.
 */
export function unaryBackward(s: CpuStore, a: UnaryBackwardArgs): void {
  const { op, dtype, size } = a;
  const x = requireFloat(s, a.x, dtype, "unaryBackward", op);
  const dy = requireFloat(s, a.dy, dtype, "unaryBackward", op);
  const dx = requireFloat(s, a.dx, dtype, "unaryBackward", op);
  switch (op) {
    case "neg":
      for (let i = 0; i < size; i++) dx[i] = -dy[i];
      return;
    case "abs":
      for (let i = 0; i < size; i++) dx[i] = dy[i] * Math.sign(x[i]);
      return;
    case "sign":
    case "floor":
      dx.fill(0, 0, size);
      return;
    case "exp":
      for (let i = 0; i < size; i++) dx[i] = dy[i] * Math.exp(x[i]);
      return;
    case "log":
      for (let i = 0; i < size; i++) dx[i] = dy[i] / x[i];
      return;
    case "sqrt":
      for (let i = 0; i < size; i++) dx[i] = (0.5 * dy[i]) / Math.sqrt(x[i]);
      return;
    case "rsqrt":
      // d/dx x^(-1/2) = -1/2 · x^(-3/2)
      for (let i = 0; i < size; i++) {
        const v = x[i];
        dx[i] = (-0.5 * dy[i]) / (v * Math.sqrt(v));
      }
      return;
    case "square":
      for (let i = 0; i < size; i++) dx[i] = 2 * x[i] * dy[i];
      return;
    case "reciprocal":
      for (let i = 0; i < size; i++) {
        const v = x[i];
        dx[i] = -dy[i] / (v * v);
      }
      return;
    case "sin":
      for (let i = 0; i < size; i++) dx[i] = dy[i] * Math.cos(x[i]);
      return;
    case "cos":
      for (let i = 0; i < size; i++) dx[i] = -dy[i] * Math.sin(x[i]);
      return;
    case "tanh":
      for (let i = 0; i < size; i++) {
        const t = Math.tanh(x[i]);
        dx[i] = dy[i] * (1 - t * t);
      }
      return;
    case "sigmoid":
      for (let i = 0; i < size; i++) {
        const sg = sigmoid(x[i]);
        dx[i] = dy[i] * sg * (1 - sg);
      }
      return;
    case "silu":
      // d/dx x·σ(x) = σ(x) · (1 + x · (1 − σ(x)))
      for (let i = 0; i < size; i++) {
        const v = x[i];
        const sg = sigmoid(v);
        dx[i] = dy[i] * sg * (1 + v * (1 - sg));
      }
      return;
    case "softplus":
      // softplus is the identity above 20, so its derivative there is exactly 1.
      for (let i = 0; i < size; i++) dx[i] = x[i] > 20 ? dy[i] : dy[i] * sigmoid(x[i]);
      return;
    case "relu":
      for (let i = 0; i < size; i++) dx[i] = x[i] > 0 ? dy[i] : 0;
      return;
    default:
      throw unknownOp("unaryBackward", op);
  }
}

// ---------------------------------------------------------------------------------------------
// binary
// ---------------------------------------------------------------------------------------------

/**
 * One row of a broadcasting map: `out[o + t] = f(a[ai + t·as], b[bi + t·bs])` for t < len.
 * Selected once per call, so the element loop inside never branches on the op.
 */
type BinaryRow = (
  a: TypedArray,
  ai: number,
  as: number,
  b: TypedArray,
  bi: number,
  bs: number,
  out: TypedArray,
  o: number,
  len: number,
) => void;

/** Float arithmetic: plain IEEE double arithmetic, rounded on store for float32. */
const FLOAT_ARITHMETIC: Record<ArithmeticOp, BinaryRow> = {
  add(a, ai, as, b, bi, bs, out, o, len) {
    for (const end = o + len; o < end; o++, ai += as, bi += bs) out[o] = a[ai] + b[bi];
  },
  sub(a, ai, as, b, bi, bs, out, o, len) {
    for (const end = o + len; o < end; o++, ai += as, bi += bs) out[o] = a[ai] - b[bi];
  },
  mul(a, ai, as, b, bi, bs, out, o, len) {
    for (const end = o + len; o < end; o++, ai += as, bi += bs) out[o] = a[ai] * b[bi];
  },
  div(a, ai, as, b, bi, bs, out, o, len) {
    for (const end = o + len; o < end; o++, ai += as, bi += bs) out[o] = a[ai] / b[bi];
  },
  pow(a, ai, as, b, bi, bs, out, o, len) {
    for (const end = o + len; o < end; o++, ai += as, bi += bs) out[o] = a[ai] ** b[bi];
  },
  // Math.max / Math.min propagate NaN.
  maximum(a, ai, as, b, bi, bs, out, o, len) {
    for (const end = o + len; o < end; o++, ai += as, bi += bs) out[o] = Math.max(a[ai], b[bi]);
  },
  minimum(a, ai, as, b, bi, bs, out, o, len) {
    for (const end = o + len; o < end; o++, ai += as, bi += bs) out[o] = Math.min(a[ai], b[bi]);
  },
};

/**
 * int32 arithmetic with C int32 semantics: add/sub/mul wrap modulo 2^32; div truncates toward zero
 * and defines x / 0 = 0 (and -2^31 / -1 wraps to -2^31); pow is `a ** b` (Math.pow) then `| 0`
 * (so negative exponents give 0 unless the base is ±1).
 */
const INT32_ARITHMETIC: Record<ArithmeticOp, BinaryRow> = {
  add(a, ai, as, b, bi, bs, out, o, len) {
    for (const end = o + len; o < end; o++, ai += as, bi += bs) out[o] = (a[ai] + b[bi]) | 0;
  },
  sub(a, ai, as, b, bi, bs, out, o, len) {
    for (const end = o + len; o < end; o++, ai += as, bi += bs) out[o] = (a[ai] - b[bi]) | 0;
  },
  mul(a, ai, as, b, bi, bs, out, o, len) {
    for (const end = o + len; o < end; o++, ai += as, bi += bs) out[o] = Math.imul(a[ai], b[bi]);
  },
  div(a, ai, as, b, bi, bs, out, o, len) {
    for (const end = o + len; o < end; o++, ai += as, bi += bs) {
      const divisor = b[bi];
      out[o] = divisor === 0 ? 0 : (a[ai] / divisor) | 0;
    }
  },
  pow(a, ai, as, b, bi, bs, out, o, len) {
    for (const end = o + len; o < end; o++, ai += as, bi += bs) {
      out[o] = (a[ai] ** b[bi]) | 0;
    }
  },
  maximum(a, ai, as, b, bi, bs, out, o, len) {
    for (const end = o + len; o < end; o++, ai += as, bi += bs) out[o] = Math.max(a[ai], b[bi]);
  },
  minimum(a, ai, as, b, bi, bs, out, o, len) {
    for (const end = o + len; o < end; o++, ai += as, bi += bs) out[o] = Math.min(a[ai], b[bi]);
  },
};

/** Comparisons write int32 1 or 0 for any input dtype (IEEE: NaN compares unequal to all). */
const COMPARISON: Record<ComparisonOp, BinaryRow> = {
  eq(a, ai, as, b, bi, bs, out, o, len) {
    for (const end = o + len; o < end; o++, ai += as, bi += bs) out[o] = a[ai] === b[bi] ? 1 : 0;
  },
  ne(a, ai, as, b, bi, bs, out, o, len) {
    for (const end = o + len; o < end; o++, ai += as, bi += bs) out[o] = a[ai] !== b[bi] ? 1 : 0;
  },
  lt(a, ai, as, b, bi, bs, out, o, len) {
    for (const end = o + len; o < end; o++, ai += as, bi += bs) out[o] = a[ai] < b[bi] ? 1 : 0;
  },
  le(a, ai, as, b, bi, bs, out, o, len) {
    for (const end = o + len; o < end; o++, ai += as, bi += bs) out[o] = a[ai] <= b[bi] ? 1 : 0;
  },
  gt(a, ai, as, b, bi, bs, out, o, len) {
    for (const end = o + len; o < end; o++, ai += as, bi += bs) out[o] = a[ai] > b[bi] ? 1 : 0;
  },
  ge(a, ai, as, b, bi, bs, out, o, len) {
    for (const end = o + len; o < end; o++, ai += as, bi += bs) out[o] = a[ai] >= b[bi] ? 1 : 0;
  },
};

function isComparison(op: string): op is ComparisonOp {
  return Object.hasOwn(COMPARISON, op);
}

/**
 * Broadcasting binary map over `shape` (out contiguous). Arithmetic keeps `dtype`; comparisons
 * read `dtype` and write int32 0/1.
 */
export function binary(s: CpuStore, args: BinaryArgs): void {
  const { op, dtype, shape } = args;
  checkRank("binary", shape, args.aStrides);
  checkRank("binary", shape, args.bStrides);
  let rowFn: BinaryRow;
  let outDType: DType = dtype;
  if (isComparison(op)) {
    rowFn = COMPARISON[op];
    outDType = "int32";
  } else {
    const table = dtype === "int32" ? INT32_ARITHMETIC : FLOAT_ARITHMETIC;
    if (!Object.hasOwn(table, op)) throw unknownOp("binary", op);
    rowFn = table[op];
  }
  const a = s.view(args.a, dtype);
  const b = s.view(args.b, dtype);
  const out = s.view(args.out, outDType);

  const space = collapseAxes(shape, [args.aStrides, args.bStrides, stridesOf(shape)]);
  if (space === null) return;
  const rank = space.shape.length;
  if (rank === 0) {
    rowFn(a, 0, 0, b, 0, 0, out, 0, 1);
    return;
  }
  const [aStrides, bStrides] = space.strides;
  const len = space.shape[rank - 1];
  const aStep = aStrides[rank - 1];
  const bStep = bStrides[rank - 1];
  forEachRow(space.shape, space.strides, [0, 0, 0], (offsets) => {
    rowFn(a, offsets[0], aStep, b, offsets[1], bStep, out, offsets[2], len);
  });
}

// ---------------------------------------------------------------------------------------------
// where
// ---------------------------------------------------------------------------------------------

/** `out = cond != 0 ? a : b`, broadcasting like `binary`; cond int32, a/b/out any `dtype`. */
export function where(s: CpuStore, args: WhereArgs): void {
  const { dtype, shape } = args;
  checkRank("where", shape, args.condStrides);
  checkRank("where", shape, args.aStrides);
  checkRank("where", shape, args.bStrides);
  const cond = s.int32(args.cond);
  const a = s.view(args.a, dtype);
  const b = s.view(args.b, dtype);
  const out = s.view(args.out, dtype);

  const space = collapseAxes(shape, [
    args.condStrides,
    args.aStrides,
    args.bStrides,
    stridesOf(shape),
  ]);
  if (space === null) return;
  const rank = space.shape.length;
  if (rank === 0) {
    out[0] = cond[0] !== 0 ? a[0] : b[0];
    return;
  }
  const [condStrides, aStrides, bStrides] = space.strides;
  const len = space.shape[rank - 1];
  const cStep = condStrides[rank - 1];
  const aStep = aStrides[rank - 1];
  const bStep = bStrides[rank - 1];
  forEachRow(space.shape, space.strides, [0, 0, 0, 0], (offsets) => {
    let ci = offsets[0];
    let ai = offsets[1];
    let bi = offsets[2];
    for (let o = offsets[3], end = o + len; o < end; o++, ci += cStep, ai += aStep, bi += bStep) {
      out[o] = cond[ci] !== 0 ? a[ai] : b[bi];
    }
  });
}

// ---------------------------------------------------------------------------------------------
// cast, fill
// ---------------------------------------------------------------------------------------------

const INT32_MAX = 2147483647;
const INT32_MIN = -2147483648;

/**
 * Element type conversion. float → int32 truncates toward zero, saturates out-of-range values
 * (±Infinity included) to [-2^31, 2^31 − 1] and maps NaN to 0 (as WGSL's i32(f32) does).
 * int32 → float and float64 → float32 round to nearest; same-dtype is a copy.
 */
export function cast(s: CpuStore, args: CastArgs): void {
  const { from, to, size } = args;
  const x = s.view(args.x, from);
  const out = s.view(args.out, to);
  if (to === "int32" && from !== "int32") {
    for (let i = 0; i < size; i++) {
      const v = x[i];
      out[i] = v >= INT32_MAX ? INT32_MAX : v <= INT32_MIN ? INT32_MIN : v | 0;
    }
    return;
  }
  // Every other conversion is exact or round-to-nearest on store.
  for (let i = 0; i < size; i++) out[i] = x[i];
}

/** `out[i] = value` for i < size. For int32, `value` is converted like a store (ToInt32). */
export function fill(s: CpuStore, args: FillArgs): void {
  s.view(args.out, args.dtype).fill(args.value, 0, args.size);
}
