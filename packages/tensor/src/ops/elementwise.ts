/** Elementwise ops: unary maps, broadcasting binary maps, comparisons, where, cast. */
import type { ArithmeticOp, BinaryOp, ComparisonOp, UnaryOp } from "../backend/kernels.js";
import { type DType, assertDType, isFloat } from "../dtype.js";
import { tidy } from "../engine.js";
import { broadcastShapes, broadcastStrides, formatShape, shapesEqual } from "../shape.js";
import type { Tensor } from "../tensor.js";
import { full } from "./creation.js";
import {
  assertBackendDType,
  assertDTypeIs,
  backendOf,
  emptyTensor,
  kernel,
  recordGrad,
} from "./internal.js";
import { sumTo } from "./reduction.js";

type Operand = Tensor | number;

const INT_UNARY: ReadonlySet<UnaryOp> = new Set(["neg", "abs", "sign", "square"]);
const NO_GRAD_UNARY: ReadonlySet<UnaryOp> = new Set(["sign", "floor"]);

function unary(op: UnaryOp, x: Tensor): Tensor {
  const backend = backendOf(op, x);
  if (!isFloat(x.dtype) && !INT_UNARY.has(op)) {
    throw new TypeError(
      `${op}: needs a float tensor, got ${x.dtype}; cast it first with cast(x, "float32").`,
    );
  }
  const out = emptyTensor(x.shape, x.dtype, backend);
  if (x.size > 0)
    kernel(
      backend,
      "unary",
    )({ op, dtype: x.dtype, x: x.storage.id, out: out.storage.id, size: x.size });
  // sign and floor have a zero gradient: leaving them off the tape gives exactly that.
  if (isFloat(x.dtype) && !NO_GRAD_UNARY.has(op)) {
    recordGrad(op, [x], [out], [x], ([dy], [xs]) => [unaryBackward(op, xs, dy)]);
  }
  return out;
}

/** dy · f'(x) through the unaryBackward kernel. */
function unaryBackward(op: UnaryOp, x: Tensor, dy: Tensor): Tensor {
  const dx = emptyTensor(x.shape, x.dtype, x.backend);
  if (x.size > 0) {
    kernel(
      x.backend,
      "unaryBackward",
    )({
      op,
      dtype: x.dtype,
      x: x.storage.id,
      dy: dy.storage.id,
      dx: dx.storage.id,
      size: x.size,
    });
  }
  return dx;
}

export const neg = (x: Tensor): Tensor => unary("neg", x);
export const abs = (x: Tensor): Tensor => unary("abs", x);
export const sign = (x: Tensor): Tensor => unary("sign", x);
export const exp = (x: Tensor): Tensor => unary("exp", x);
export const log = (x: Tensor): Tensor => unary("log", x);
export const sqrt = (x: Tensor): Tensor => unary("sqrt", x);
export const rsqrt = (x: Tensor): Tensor => unary("rsqrt", x);
export const square = (x: Tensor): Tensor => unary("square", x);
export const reciprocal = (x: Tensor): Tensor => unary("reciprocal", x);
export const sin = (x: Tensor): Tensor => unary("sin", x);
export const cos = (x: Tensor): Tensor => unary("cos", x);
export const tanh = (x: Tensor): Tensor => unary("tanh", x);
export const sigmoid = (x: Tensor): Tensor => unary("sigmoid", x);
export const silu = (x: Tensor): Tensor => unary("silu", x);
export const softplus = (x: Tensor): Tensor => unary("softplus", x);
export const relu = (x: Tensor): Tensor => unary("relu", x);
export const floor = (x: Tensor): Tensor => unary("floor", x);

/**
 * silu(gate) · up for two float tensors of one shape (SwiGLU's gating): one `siluMul` kernel where
 * the backend has it, else `silu` then `mul` (the same values: silu is rounded to the dtype before
 * the product either way). Differentiable in both.
 */
export function siluMul(gate: Tensor, up: Tensor): Tensor {
  const op = "siluMul";
  const backend = backendOf(op, gate, up);
  assertFloatPair(op, gate, up);
  if (!shapesEqual(gate.shape, up.shape)) {
    throw new RangeError(
      `${op}: gate ${formatShape(gate.shape)} and up ${formatShape(up.shape)} must have one shape (no broadcasting).`,
    );
  }
  if (backend.kernels.siluMul === undefined) return tidy(() => mul(silu(gate), up));
  const out = emptyTensor(gate.shape, gate.dtype, backend);
  if (gate.size > 0) {
    kernel(
      backend,
      op,
    )({
      dtype: gate.dtype,
      gate: gate.storage.id,
      up: up.storage.id,
      out: out.storage.id,
      size: gate.size,
    });
  }
  recordGrad(op, [gate, up], [out], [gate, up], ([dy], [g, u]) => [
    unaryBackward("silu", g, mul(dy, u)),
    mul(dy, silu(g)),
  ]);
  return out;
}

function assertFloatPair(op: string, gate: Tensor, up: Tensor): void {
  if (!isFloat(gate.dtype) || gate.dtype !== up.dtype) {
    throw new TypeError(
      `${op}: gate and up must be float tensors of one dtype, got ${gate.dtype} and ${up.dtype}; cast them first.`,
    );
  }
}

/** Turns a number operand into a scalar tensor like the other operand. */
function operands(op: string, a: Operand, b: Operand): [Tensor, Tensor] {
  if (typeof a === "number" && typeof b === "number") {
    throw new TypeError(`${op}: at least one operand must be a tensor.`);
  }
  const like = (typeof a === "number" ? b : a) as Tensor;
  like.assertAlive(op);
  const toTensor = (v: Operand): Tensor =>
    typeof v === "number" ? full([], v, { dtype: like.dtype, backend: like.backend }) : v;
  return [toTensor(a), toTensor(b)];
}

function binary(op: BinaryOp, aIn: Operand, bIn: Operand): Tensor {
  const [a, b] = operands(op, aIn, bIn);
  const backend = backendOf(op, a, b);
  if (a.dtype !== b.dtype) {
    throw new TypeError(
      `${op}: dtypes differ (a is ${a.dtype}, b is ${b.dtype}); cast one first, e.g. cast(b, "${a.dtype}").`,
    );
  }
  const shape = broadcastShapes(op, a.shape, b.shape);
  const comparison = (COMPARISONS as readonly string[]).includes(op);
  const out = emptyTensor(shape, comparison ? "int32" : a.dtype, backend);
  if (out.size > 0) {
    kernel(
      backend,
      "binary",
    )({
      op,
      dtype: a.dtype,
      a: a.storage.id,
      b: b.storage.id,
      out: out.storage.id,
      shape,
      aStrides: broadcastStrides(a.shape, shape),
      bStrides: broadcastStrides(b.shape, shape),
    });
  }
  if (!comparison && isFloat(a.dtype)) recordBinaryGrad(op as ArithmeticOp, a, b, out);
  return out;
}

function recordBinaryGrad(op: ArithmeticOp, a: Tensor, b: Tensor, out: Tensor): void {
  const fit = (g: Tensor, like: Tensor): Tensor => sumTo(g, like.shape);
  switch (op) {
    case "add":
      recordGrad(op, [a, b], [out], [], ([dy]) => [fit(dy, a), fit(dy, b)]);
      return;
    case "sub":
      recordGrad(op, [a, b], [out], [], ([dy]) => [fit(dy, a), fit(neg(dy), b)]);
      return;
    case "mul":
      recordGrad(op, [a, b], [out], [a, b], ([dy], [as, bs]) => [
        fit(mul(dy, bs), a),
        fit(mul(dy, as), b),
      ]);
      return;
    case "div":
      recordGrad(op, [a, b], [out], [a, b], ([dy], [as, bs]) => [
        fit(div(dy, bs), a),
        fit(neg(div(mul(dy, as), square(bs))), b),
      ]);
      return;
    case "pow":
      // d/da a^b = b·a^(b−1); d/db a^b = a^b · log(a) (defined for a > 0).
      recordGrad(op, [a, b], [out], [a, b, out], ([dy], [as, bs, outs]) => [
        fit(mul(dy, mul(bs, pow(as, sub(bs, 1)))), a),
        fit(mul(dy, mul(outs, log(as))), b),
      ]);
      return;
    case "maximum":
    case "minimum": {
      // The winner takes the gradient; ties split it evenly.
      const wins: ComparisonOp = op === "maximum" ? "gt" : "lt";
      recordGrad(op, [a, b], [out], [a, b], ([dy], [as, bs]) => {
        const aShare = add(
          cast(binary(wins, as, bs), dy.dtype),
          mul(cast(binary("eq", as, bs), dy.dtype), 0.5),
        );
        return [fit(mul(dy, aShare), a), fit(mul(dy, sub(1, aShare)), b)];
      });
      return;
    }
  }
}

export const add = (a: Operand, b: Operand): Tensor => binary("add", a, b);
export const sub = (a: Operand, b: Operand): Tensor => binary("sub", a, b);
export const mul = (a: Operand, b: Operand): Tensor => binary("mul", a, b);
export const div = (a: Operand, b: Operand): Tensor => binary("div", a, b);
export const pow = (a: Operand, b: Operand): Tensor => binary("pow", a, b);
export const maximum = (a: Operand, b: Operand): Tensor => binary("maximum", a, b);
export const minimum = (a: Operand, b: Operand): Tensor => binary("minimum", a, b);

const COMPARISONS: readonly ComparisonOp[] = ["eq", "ne", "lt", "le", "gt", "ge"];
/** Comparisons return int32 tensors of 0 and 1. */
export const equal = (a: Operand, b: Operand): Tensor => binary("eq", a, b);
export const notEqual = (a: Operand, b: Operand): Tensor => binary("ne", a, b);
export const less = (a: Operand, b: Operand): Tensor => binary("lt", a, b);
export const lessEqual = (a: Operand, b: Operand): Tensor => binary("le", a, b);
export const greater = (a: Operand, b: Operand): Tensor => binary("gt", a, b);
export const greaterEqual = (a: Operand, b: Operand): Tensor => binary("ge", a, b);

/** `cond ? a : b` elementwise with broadcasting; cond is int32 (nonzero = true). */
export function where(cond: Tensor, aIn: Operand, bIn: Operand): Tensor {
  const [a, b] = operands("where", aIn, bIn);
  const backend = backendOf("where", cond, a, b);
  assertDTypeIs("where", "cond", cond, "int32");
  if (a.dtype !== b.dtype) {
    throw new TypeError(`where: a is ${a.dtype} but b is ${b.dtype}; cast one first.`);
  }
  const shape = broadcastShapes("where", broadcastShapes("where", cond.shape, a.shape), b.shape);
  const out = emptyTensor(shape, a.dtype, backend);
  if (out.size > 0) {
    kernel(
      backend,
      "where",
    )({
      dtype: a.dtype,
      cond: cond.storage.id,
      a: a.storage.id,
      b: b.storage.id,
      out: out.storage.id,
      shape,
      condStrides: broadcastStrides(cond.shape, shape),
      aStrides: broadcastStrides(a.shape, shape),
      bStrides: broadcastStrides(b.shape, shape),
    });
  }
  if (isFloat(a.dtype)) {
    recordGrad("where", [cond, a, b], [out], [cond], ([dy], [c]) => {
      const zero = full([], 0, { dtype: dy.dtype, backend: dy.backend });
      return [null, sumTo(where(c, dy, zero), a.shape), sumTo(where(c, zero, dy), b.shape)];
    });
  }
  return out;
}

/** Element type conversion (float → int32 truncates toward zero). Gradients flow float → float. */
export function cast(x: Tensor, dtype: DType): Tensor {
  assertDType(dtype, "cast");
  const backend = backendOf("cast", x);
  assertBackendDType(backend, dtype, "cast");
  const out = emptyTensor(x.shape, dtype, backend);
  if (x.size > 0)
    kernel(
      backend,
      "cast",
    )({ from: x.dtype, to: dtype, x: x.storage.id, out: out.storage.id, size: x.size });
  if (isFloat(x.dtype) && isFloat(dtype)) {
    recordGrad("cast", [x], [out], [], ([dy]) => [cast(dy, x.dtype)]);
  }
  return out;
}

/** A copy with its own buffer. */
export function clone(x: Tensor): Tensor {
  return cast(x, x.dtype);
}
