/**
 * Reference cpu backend primitives (elementwise, reduce, matmul, copy, gather) checked against
 * naive re-computations written out in the test.
 */
import { describe, expect, it } from "vitest";
import {
  ARITHMETIC_OPS,
  type ArithmeticOp,
  type BufferId,
  COMPARISON_OPS,
  type ComparisonOp,
  type ReduceOp,
  UNARY_OPS,
  type UnaryOp,
} from "../src/backend/kernels.js";
import { copy } from "../src/backends/cpu/copy.js";
import {
  binary,
  cast,
  fill,
  unary,
  unaryBackward,
  where,
} from "../src/backends/cpu/elementwise.js";
import { gather, scatterAdd } from "../src/backends/cpu/gather.js";
import { matmul } from "../src/backends/cpu/matmul.js";
import { reduce } from "../src/backends/cpu/reduce.js";
import { CpuStore } from "../src/backends/cpu/store.js";
import { type DType, bytesPerElement } from "../src/dtype.js";

// ---------------------------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------------------------

function put(s: CpuStore, dtype: DType, data: ArrayLike<number>): BufferId {
  const id = s.alloc(data.length * bytesPerElement(dtype));
  s.view(id, dtype).set(data);
  return id;
}

/** A buffer of `size` elements filled with a sentinel, to catch unwritten / overwritten slots. */
function blank(s: CpuStore, dtype: DType, size: number, sentinel = -12345): BufferId {
  const id = s.alloc(size * bytesPerElement(dtype));
  s.view(id, dtype).fill(sentinel);
  return id;
}

function read(s: CpuStore, id: BufferId, dtype: DType, size: number): number[] {
  return Array.from(s.view(id, dtype).subarray(0, size));
}

/** Deterministic pseudo-random numbers in [lo, hi). */
function rng(seed: number): (lo?: number, hi?: number) => number {
  let state = seed >>> 0;
  return (lo = -1, hi = 1) => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return lo + ((hi - lo) * state) / 2 ** 32;
  };
}

function randomArray(size: number, seed: number, lo = -1, hi = 1): number[] {
  const next = rng(seed);
  return Array.from({ length: size }, () => next(lo, hi));
}

function contiguous(shape: readonly number[]): number[] {
  const strides: number[] = [];
  let stride = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    strides[d] = stride;
    stride *= shape[d];
  }
  return strides;
}

/** All multi-indices of `shape` in row-major order. */
function multiIndices(shape: readonly number[]): number[][] {
  const result: number[][] = [];
  const total = shape.reduce((p, d) => p * d, 1);
  for (let flat = 0; flat < total; flat++) {
    const index: number[] = [];
    let rest = flat;
    for (let d = shape.length - 1; d >= 0; d--) {
      index[d] = rest % shape[d];
      rest = Math.floor(rest / shape[d]);
    }
    result.push(index);
  }
  return result;
}

function dot(index: readonly number[], strides: readonly number[]): number {
  let sum = 0;
  for (let d = 0; d < index.length; d++) sum += index[d] * strides[d];
  return sum;
}

function expectClose(
  actual: readonly number[],
  expected: readonly number[],
  rtol: number,
  atol = 0,
) {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i];
    const e = expected[i];
    if (Number.isNaN(e)) {
      expect(a, `element ${i}`).toBeNaN();
      continue;
    }
    if (!Number.isFinite(e)) {
      expect(a, `element ${i}`).toBe(e);
      continue;
    }
    const tol = atol + rtol * Math.abs(e);
    if (!(Math.abs(a - e) <= tol)) {
      throw new Error(`element ${i}: got ${a}, expected ${e} (tolerance ${tol})`);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// unary
// ---------------------------------------------------------------------------------------------

/** Straightforward definitions (as in the kernels.ts spec). */
const UNARY_REFERENCE: Record<UnaryOp, (x: number) => number> = {
  neg: (x) => -x,
  abs: (x) => Math.abs(x),
  sign: (x) => Math.sign(x),
  exp: (x) => Math.exp(x),
  log: (x) => Math.log(x),
  sqrt: (x) => Math.sqrt(x),
  rsqrt: (x) => 1 / Math.sqrt(x),
  square: (x) => x * x,
  reciprocal: (x) => 1 / x,
  sin: (x) => Math.sin(x),
  cos: (x) => Math.cos(x),
  tanh: (x) => Math.tanh(x),
  sigmoid: (x) => 1 / (1 + Math.exp(-x)),
  silu: (x) => x / (1 + Math.exp(-x)),
  softplus: (x) => (x > 20 ? x : Math.log(1 + Math.exp(x))),
  relu: (x) => Math.max(x, 0),
  floor: (x) => Math.floor(x),
};

/** Ops whose domain is x > 0 (tested on positive points only). */
const POSITIVE_DOMAIN: readonly UnaryOp[] = ["log", "sqrt", "rsqrt"];

function runUnary(s: CpuStore, op: UnaryOp, dtype: DType, xs: readonly number[]): number[] {
  const x = put(s, dtype, xs);
  const out = blank(s, dtype, xs.length);
  unary(s, { op, dtype, x, out, size: xs.length });
  return read(s, out, dtype, xs.length);
}

describe("unary", () => {
  const general = [-3.7, -2, -1.25, -0.5, -0.1, 0.3, 0.75, 1, 1.5, 2.2, 4.9];
  const positive = [0.01, 0.2, 0.5, 1, 2, 3.3, 10, 123.4];

  for (const op of UNARY_OPS) {
    const xs = POSITIVE_DOMAIN.includes(op) ? positive : general;
    it(`${op} matches its definition in float64 and float32`, () => {
      const s = new CpuStore();
      const ref = UNARY_REFERENCE[op];
      expectClose(runUnary(s, op, "float64", xs), xs.map(ref), 1e-14, 1e-15);
      const xs32 = xs.map(Math.fround);
      expectClose(
        runUnary(s, op, "float32", xs32),
        xs32.map((x) => Math.fround(ref(x))),
        1.5e-7,
        1e-30,
      );
    });
  }

  it("handles special values and extremes", () => {
    const s = new CpuStore();
    expect(runUnary(s, "sigmoid", "float64", [-800, 800, 0])).toEqual([0, 1, 0.5]);
    expect(runUnary(s, "sigmoid", "float64", [-40])[0]).toBeCloseTo(Math.exp(-40), 40);
    expect(runUnary(s, "sigmoid", "float64", [-40])[0]).toBeGreaterThan(0);
    expect(runUnary(s, "silu", "float64", [-800, 800])).toEqual([-0, 800]);
    expect(runUnary(s, "softplus", "float64", [30, 20.5, 1000])).toEqual([30, 20.5, 1000]);
    const tiny = runUnary(s, "softplus", "float64", [-50])[0];
    expect(tiny / Math.exp(-50)).toBeCloseTo(1, 12);
    expect(runUnary(s, "sign", "float64", [0, -0, 3, -2])).toEqual([0, -0, 1, -1]);
    expect(runUnary(s, "relu", "float64", [0, -0, -1, 2])).toEqual([0, 0, 0, 2]);
    expect(runUnary(s, "relu", "float64", [Number.NaN])[0]).toBeNaN();
    expect(runUnary(s, "floor", "float64", [-1.5, -1, 1.5, 2])).toEqual([-2, -1, 1, 2]);
    expect(runUnary(s, "reciprocal", "float64", [0, -0])).toEqual([Infinity, -Infinity]);
    expect(runUnary(s, "rsqrt", "float64", [4, 0])).toEqual([0.5, Infinity]);
    expect(runUnary(s, "log", "float64", [0, -1])[0]).toBe(-Infinity);
  });

  it("supports neg, abs, sign, square on int32 with C int32 wrapping", () => {
    const s = new CpuStore();
    const min = -(2 ** 31);
    const max = 2 ** 31 - 1;
    const xs = [0, 5, -7, max, min, 46341, 65536];
    expect(runUnary(s, "neg", "int32", xs)).toEqual([0, -5, 7, -max, min, -46341, -65536]);
    expect(runUnary(s, "abs", "int32", xs)).toEqual([0, 5, 7, max, min, 46341, 65536]);
    expect(runUnary(s, "sign", "int32", xs)).toEqual([0, 1, -1, 1, -1, 1, 1]);
    expect(runUnary(s, "square", "int32", xs)).toEqual(xs.map((x) => Math.imul(x, x)));
    expect(runUnary(s, "square", "int32", [65536, 46341])).toEqual([0, -2147479015]);
  });

  it("rejects float-only ops on int32 with a TypeError naming kernel, op and dtype", () => {
    const s = new CpuStore();
    for (const op of UNARY_OPS) {
      if (["neg", "abs", "sign", "square"].includes(op)) continue;
      expect(() => runUnary(s, op, "int32", [1, 2])).toThrow(TypeError);
      expect(() => runUnary(s, op, "int32", [1, 2])).toThrow(new RegExp(`unary.*"${op}".*int32`));
    }
  });

  it("writes exactly `size` elements", () => {
    const s = new CpuStore();
    const x = put(s, "float32", [1, 2, 3, 4]);
    const out = blank(s, "float32", 4);
    unary(s, { op: "neg", dtype: "float32", x, out, size: 2 });
    expect(read(s, out, "float32", 4)).toEqual([-1, -2, -12345, -12345]);
  });
});

// ---------------------------------------------------------------------------------------------
// unaryBackward
// ---------------------------------------------------------------------------------------------

describe("unaryBackward", () => {
  /** Points away from kinks and inside each op's domain. */
  const general = [-3.1, -1.7, -0.6, -0.2, 0.15, 0.4, 0.9, 1.3, 2.6, 4.2];
  const positive = [0.05, 0.3, 0.8, 1.1, 2.5, 7];

  for (const op of UNARY_OPS) {
    it(`${op}' matches central finite differences in float64`, () => {
      const s = new CpuStore();
      const xs = POSITIVE_DOMAIN.includes(op) ? positive : general;
      const dys = randomArray(xs.length, 7, 0.5, 2);
      const x = put(s, "float64", xs);
      const dy = put(s, "float64", dys);
      const dx = blank(s, "float64", xs.length);
      unaryBackward(s, { op, dtype: "float64", x, dy, dx, size: xs.length });
      const got = read(s, dx, "float64", xs.length);

      const h = 1e-6;
      const plus = runUnary(
        s,
        op,
        "float64",
        xs.map((v) => v + h),
      );
      const minus = runUnary(
        s,
        op,
        "float64",
        xs.map((v) => v - h),
      );
      const expected = xs.map((_, i) => (dys[i] * (plus[i] - minus[i])) / (2 * h));
      if (op === "sign" || op === "floor") {
        expect(got).toEqual(xs.map(() => 0));
        expect(expected).toEqual(xs.map(() => 0)); // the points avoid the jumps
      } else {
        expectClose(got, expected, 1e-6, 1e-8);
      }
    });
  }

  it("uses the documented conventions at kinks", () => {
    const s = new CpuStore();
    const x = put(s, "float64", [0, 0, 0, 25]);
    const dy = put(s, "float64", [3, 3, 3, 2]);
    const dx = blank(s, "float64", 4);
    unaryBackward(s, { op: "relu", dtype: "float64", x, dy, dx, size: 3 });
    expect(read(s, dx, "float64", 3)).toEqual([0, 0, 0]);
    unaryBackward(s, { op: "abs", dtype: "float64", x, dy, dx, size: 3 });
    expect(read(s, dx, "float64", 3).map(Math.abs)).toEqual([0, 0, 0]);
    // softplus' = sigmoid, and exactly 1 above the x > 20 switch-over (where softplus(x) = x).
    unaryBackward(s, { op: "softplus", dtype: "float64", x, dy, dx, size: 4 });
    expect(read(s, dx, "float64", 4)).toEqual([1.5, 1.5, 1.5, 2]);
  });

  it("is finite for extreme sigmoid / silu / softplus inputs", () => {
    const s = new CpuStore();
    const xs = [-800, 800];
    const x = put(s, "float64", xs);
    const dy = put(s, "float64", [1, 1]);
    const dx = blank(s, "float64", 2);
    for (const op of ["sigmoid", "silu", "softplus", "tanh"] as const) {
      unaryBackward(s, { op, dtype: "float64", x, dy, dx, size: 2 });
      for (const v of read(s, dx, "float64", 2)) expect(Number.isFinite(v)).toBe(true);
    }
  });

  it("float32 agrees with float64 to float32 precision", () => {
    const s = new CpuStore();
    const xs = [0.15, 0.4, 0.9, 1.3, 2.6].map(Math.fround);
    const dys = [1, -2, 0.5, 3, -1];
    for (const op of UNARY_OPS) {
      const results = (["float32", "float64"] as const).map((dtype) => {
        const dx = blank(s, dtype, xs.length);
        unaryBackward(s, {
          op,
          dtype,
          x: put(s, dtype, xs),
          dy: put(s, dtype, dys),
          dx,
          size: xs.length,
        });
        return read(s, dx, dtype, xs.length);
      });
      expectClose(
        results[0],
        results[1].map((v) => Math.fround(v)),
        1e-6,
        1e-30,
      );
    }
  });

  it("rejects int32", () => {
    const s = new CpuStore();
    const x = put(s, "int32", [1]);
    expect(() =>
      unaryBackward(s, { op: "neg", dtype: "int32", x, dy: x, dx: blank(s, "int32", 1), size: 1 }),
    ).toThrow(/unaryBackward.*"neg".*int32/);
  });
});

// ---------------------------------------------------------------------------------------------
// binary, where
// ---------------------------------------------------------------------------------------------

const ARITHMETIC_REFERENCE: Record<ArithmeticOp, (a: number, b: number) => number> = {
  add: (a, b) => a + b,
  sub: (a, b) => a - b,
  mul: (a, b) => a * b,
  div: (a, b) => a / b,
  pow: (a, b) => a ** b,
  maximum: (a, b) => Math.max(a, b),
  minimum: (a, b) => Math.min(a, b),
};

const COMPARISON_REFERENCE: Record<ComparisonOp, (a: number, b: number) => boolean> = {
  eq: (a, b) => a === b,
  ne: (a, b) => a !== b,
  lt: (a, b) => a < b,
  le: (a, b) => a <= b,
  gt: (a, b) => a > b,
  ge: (a, b) => a >= b,
};

/** Strides of an operand of shape `inShape` broadcast (numpy rules) to `outShape`. */
function broadcastStrides(inShape: readonly number[], outShape: readonly number[]): number[] {
  const own = contiguous(inShape);
  const offset = outShape.length - inShape.length;
  return outShape.map((_, d) => {
    const i = d - offset;
    return i < 0 || inShape[i] === 1 ? 0 : own[i];
  });
}

/** out[index] = f(a[index·aStrides], b[index·bStrides]) computed by the naive definition. */
function naiveBinary(
  shape: readonly number[],
  a: readonly number[],
  aStrides: readonly number[],
  b: readonly number[],
  bStrides: readonly number[],
  f: (x: number, y: number) => number,
): number[] {
  return multiIndices(shape).map((idx) => f(a[dot(idx, aStrides)], b[dot(idx, bStrides)]));
}

function runBinary(
  s: CpuStore,
  op: ArithmeticOp | ComparisonOp,
  dtype: DType,
  shape: number[],
  av: readonly number[],
  aStrides: number[],
  bv: readonly number[],
  bStrides: number[],
): number[] {
  const size = shape.reduce((p, d) => p * d, 1);
  const outDType: DType = (COMPARISON_OPS as readonly string[]).includes(op) ? "int32" : dtype;
  const out = blank(s, outDType, Math.max(size, 1));
  const a = put(s, dtype, av);
  const b = put(s, dtype, bv);
  binary(s, { op, dtype, a, b, out, shape, aStrides, bStrides });
  return read(s, out, outDType, size);
}

describe("binary", () => {
  const shape = [2, 4, 3];
  const aShape = [2, 1, 3];
  const bShape = [4, 1];
  const aStrides = broadcastStrides(aShape, shape);
  const bStrides = broadcastStrides(bShape, shape);

  it("broadcast strides of [2,1,3] and [4,1] against [2,4,3] are as expected", () => {
    expect(aStrides).toEqual([3, 0, 1]);
    expect(bStrides).toEqual([0, 1, 0]);
  });

  for (const dtype of ["float64", "float32"] as const) {
    for (const op of ARITHMETIC_OPS) {
      it(`${op} broadcasts [2,1,3] with [4,1] (${dtype})`, () => {
        const s = new CpuStore();
        const round = dtype === "float32" ? Math.fround : (v: number) => v;
        const av = randomArray(6, 1, 0.1, 3).map(round);
        const bv = [-1.5, 0.5, 2, 3].map(round);
        const got = runBinary(s, op, dtype, shape, av, aStrides, bv, bStrides);
        const want = naiveBinary(shape, av, aStrides, bv, bStrides, ARITHMETIC_REFERENCE[op]);
        expectClose(got, want.map(round), dtype === "float32" ? 1e-7 : 0);
      });
    }
  }

  for (const op of COMPARISON_OPS) {
    it(`${op} writes int32 0/1 for float and int32 inputs`, () => {
      const s = new CpuStore();
      const av = [1, 2, 3, 2, 2, Number.NaN];
      const bv = [2, 2, 1, 3];
      const ref = (x: number, y: number) => (COMPARISON_REFERENCE[op](x, y) ? 1 : 0);
      for (const dtype of ["float32", "float64"] as const) {
        const got = runBinary(s, op, dtype, shape, av, aStrides, bv, bStrides);
        expect(got).toEqual(naiveBinary(shape, av, aStrides, bv, bStrides, ref));
      }
      const ai = [1, 2, 3, 2, 2, -7];
      const got = runBinary(s, op, "int32", shape, ai, aStrides, bv, bStrides);
      expect(got).toEqual(naiveBinary(shape, ai, aStrides, bv, bStrides, ref));
    });
  }

  it("int32 arithmetic wraps like C and div truncates toward zero (x / 0 = 0)", () => {
    const s = new CpuStore();
    const max = 2 ** 31 - 1;
    const min = -(2 ** 31);
    const av = [max, min, 7, -7, 7, -7, 123456789, 5, 2, 2, 3, min];
    const bv = [1, -1, 2, 2, -2, -2, 987654321, 0, 10, -1, 3, -1];
    const n = av.length;
    const run = (op: ArithmeticOp) => runBinary(s, op, "int32", [n], av, [1], bv, [1]);
    expect(run("add")).toEqual(av.map((a, i) => (a + bv[i]) | 0));
    expect(run("add")[0]).toBe(min);
    expect(run("sub")[1]).toBe(min + 1);
    expect(runBinary(s, "sub", "int32", [1], [min], [1], [1], [1])).toEqual([max]);
    expect(run("mul")).toEqual(av.map((a, i) => Math.imul(a, bv[i])));
    expect(run("div")).toEqual([max, min, 3, -3, -3, 3, 0, 0, 0, -2, 1, min]);
    expect(run("pow")).toEqual(av.map((a, i) => (a ** bv[i]) | 0));
    expect(run("pow").slice(8, 11)).toEqual([1024, 0, 27]);
    expect(run("maximum")).toEqual(av.map((a, i) => Math.max(a, bv[i])));
    expect(run("minimum")).toEqual(av.map((a, i) => Math.min(a, bv[i])));
  });

  it("int32 ops broadcast too", () => {
    const s = new CpuStore();
    const av = [1, -2, 3, 4, 5, -6];
    const bv = [10, 20, -30, 40];
    const got = runBinary(s, "mul", "int32", shape, av, aStrides, bv, bStrides);
    expect(got).toEqual(naiveBinary(shape, av, aStrides, bv, bStrides, (a, b) => a * b));
  });

  it("handles strided (transposed) operands, rank 0, scalars and empty shapes", () => {
    const s = new CpuStore();
    // a is a [4,3] buffer read transposed as [3,4]; b is a scalar broadcast everywhere.
    const av = randomArray(12, 3);
    const got = runBinary(s, "sub", "float64", [3, 4], av, [1, 3], [0.5], [0, 0]);
    expect(got).toEqual(naiveBinary([3, 4], av, [1, 3], [0.5], [0, 0], (a, b) => a - b));
    // rank 0
    expect(runBinary(s, "mul", "float64", [], [3], [], [4], [])).toEqual([12]);
    // an extent of 0 writes nothing
    const out = blank(s, "float64", 2);
    binary(s, {
      op: "add",
      dtype: "float64",
      a: put(s, "float64", [1]),
      b: put(s, "float64", [1]),
      out,
      shape: [2, 0],
      aStrides: [0, 0],
      bStrides: [0, 0],
    });
    expect(read(s, out, "float64", 2)).toEqual([-12345, -12345]);
    // size-1 axes with arbitrary strides, 4-d
    const shape4 = [2, 1, 3, 2];
    const a4 = randomArray(12, 4);
    const b4 = randomArray(6, 5);
    const a4Strides = [6, 999, 2, 1];
    const b4Strides = [0, 999, 2, 1];
    expect(runBinary(s, "div", "float64", shape4, a4, a4Strides, b4, b4Strides)).toEqual(
      naiveBinary(shape4, a4, a4Strides, b4, b4Strides, (a, b) => a / b),
    );
  });
});

describe("where", () => {
  it("selects with broadcasting cond [3,1], a [1,4], b scalar", () => {
    const s = new CpuStore();
    const shape = [3, 4];
    const condV = [1, 0, -5];
    const aV = [1, 2, 3, 4];
    const bV = [-9];
    const condStrides = broadcastStrides([3, 1], shape);
    const aStrides = broadcastStrides([1, 4], shape);
    const bStrides = broadcastStrides([], shape);
    for (const dtype of ["float32", "float64", "int32"] as const) {
      const out = blank(s, dtype, 12);
      where(s, {
        dtype,
        cond: put(s, "int32", condV),
        a: put(s, dtype, aV),
        b: put(s, dtype, bV),
        out,
        shape,
        condStrides,
        aStrides,
        bStrides,
      });
      const want = multiIndices(shape).map((idx) =>
        condV[dot(idx, condStrides)] !== 0 ? aV[dot(idx, aStrides)] : bV[dot(idx, bStrides)],
      );
      expect(read(s, out, dtype, 12)).toEqual(want);
    }
  });

  it("works at rank 0", () => {
    const s = new CpuStore();
    const out = blank(s, "float64", 1);
    where(s, {
      dtype: "float64",
      cond: put(s, "int32", [0]),
      a: put(s, "float64", [1]),
      b: put(s, "float64", [2]),
      out,
      shape: [],
      condStrides: [],
      aStrides: [],
      bStrides: [],
    });
    expect(read(s, out, "float64", 1)).toEqual([2]);
  });
});

// ---------------------------------------------------------------------------------------------
// cast, fill
// ---------------------------------------------------------------------------------------------

describe("cast", () => {
  it("float → int32 truncates toward zero, saturates, and maps NaN to 0", () => {
    const s = new CpuStore();
    const xs = [
      1.9,
      -1.9,
      0.5,
      -0.5,
      -0,
      7,
      -7,
      2147483648.5,
      -3e9,
      Number.NaN,
      Infinity,
      -Infinity,
    ];
    const want = [1, -1, 0, 0, 0, 7, -7, 2147483647, -2147483648, 0, 2147483647, -2147483648];
    for (const from of ["float32", "float64"] as const) {
      const out = blank(s, "int32", xs.length);
      cast(s, { from, to: "int32", x: put(s, from, xs), out, size: xs.length });
      const got = read(s, out, "int32", xs.length);
      // float32 cannot hold 2147483648.5 exactly; it still saturates.
      expect(got).toEqual(want);
    }
  });

  it("int32 → float, float64 → float32, float32 → float64 and same-dtype copies", () => {
    const s = new CpuStore();
    const ints = [0, -3, 16777217, 2147483647];
    const out32 = blank(s, "float32", 4);
    cast(s, { from: "int32", to: "float32", x: put(s, "int32", ints), out: out32, size: 4 });
    expect(read(s, out32, "float32", 4)).toEqual(ints.map(Math.fround));
    const out64 = blank(s, "float64", 4);
    cast(s, { from: "int32", to: "float64", x: put(s, "int32", ints), out: out64, size: 4 });
    expect(read(s, out64, "float64", 4)).toEqual(ints);

    const doubles = [0.1, -1 / 3, 1e-50, 1e300];
    cast(s, { from: "float64", to: "float32", x: put(s, "float64", doubles), out: out32, size: 4 });
    expect(read(s, out32, "float32", 4)).toEqual(doubles.map(Math.fround));
    cast(s, { from: "float32", to: "float64", x: out32, out: out64, size: 4 });
    expect(read(s, out64, "float64", 4)).toEqual(doubles.map(Math.fround));

    const outInt = blank(s, "int32", 4);
    cast(s, { from: "int32", to: "int32", x: put(s, "int32", ints), out: outInt, size: 3 });
    expect(read(s, outInt, "int32", 4)).toEqual([0, -3, 16777217, -12345]);
  });
});

describe("fill", () => {
  it("writes the value to the first `size` elements of any dtype", () => {
    const s = new CpuStore();
    for (const dtype of ["float32", "float64", "int32"] as const) {
      const out = blank(s, dtype, 5);
      fill(s, { dtype, out, value: 3, size: 4 });
      expect(read(s, out, dtype, 5)).toEqual([3, 3, 3, 3, -12345]);
    }
    const out = blank(s, "float32", 2);
    fill(s, { dtype: "float32", out, value: 0.1, size: 2 });
    expect(read(s, out, "float32", 2)).toEqual([Math.fround(0.1), Math.fround(0.1)]);
  });
});

// ---------------------------------------------------------------------------------------------
// reduce
// ---------------------------------------------------------------------------------------------

function naiveReduce(
  op: ReduceOp,
  x: readonly number[],
  outer: number,
  size: number,
  inner: number,
): number[] {
  const out: number[] = [];
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      const column: number[] = [];
      for (let r = 0; r < size; r++) column.push(x[(o * size + r) * inner + i]);
      let result: number;
      switch (op) {
        case "sum":
          result = column.reduce((p, v) => p + v, 0);
          break;
        case "mean":
          result = column.reduce((p, v) => p + v, 0) / size;
          break;
        case "max":
          result = Math.max(...column);
          break;
        case "min":
          result = Math.min(...column);
          break;
        case "argmax":
          result = column.indexOf(Math.max(...column));
          break;
        case "argmin":
          result = column.indexOf(Math.min(...column));
          break;
      }
      out.push(result);
    }
  }
  return out;
}

function runReduce(
  s: CpuStore,
  op: ReduceOp,
  dtype: DType,
  xs: readonly number[],
  outer: number,
  size: number,
  inner: number,
): number[] {
  const outDType: DType = op === "argmax" || op === "argmin" ? "int32" : dtype;
  const out = blank(s, outDType, outer * inner);
  reduce(s, { op, dtype, x: put(s, dtype, xs), out, outer, size, inner });
  return read(s, out, outDType, outer * inner);
}

describe("reduce", () => {
  const layouts: [number, number, number][] = [
    [2, 3, 4],
    [3, 1, 5],
    [1, 7, 1],
    [4, 5, 1],
    [1, 1, 1],
    [2, 9, 3],
  ];
  const ops: ReduceOp[] = ["sum", "mean", "max", "min", "argmax", "argmin"];

  for (const [outer, size, inner] of layouts) {
    it(`all ops on [${outer}, ${size}, ${inner}] in float64, float32 and int32`, () => {
      const s = new CpuStore();
      const n = outer * size * inner;
      const xs = randomArray(n, outer * 100 + size * 10 + inner, -5, 5);
      for (const op of ops) {
        expectClose(
          runReduce(s, op, "float64", xs, outer, size, inner),
          naiveReduce(op, xs, outer, size, inner),
          1e-14,
          1e-14,
        );
        const xs32 = xs.map(Math.fround);
        const want32 = naiveReduce(op, xs32, outer, size, inner).map((v) =>
          op.startsWith("arg") ? v : Math.fround(v),
        );
        expectClose(runReduce(s, op, "float32", xs32, outer, size, inner), want32, 1e-7, 1e-7);
        if (op !== "mean") {
          const ints = xs.map((v) => Math.round(v * 1000));
          expect(runReduce(s, op, "int32", ints, outer, size, inner)).toEqual(
            naiveReduce(op, ints, outer, size, inner),
          );
        }
      }
    });
  }

  it("argmax / argmin return the first index on ties", () => {
    const s = new CpuStore();
    expect(runReduce(s, "argmax", "float64", [1, 3, 3, 2], 1, 4, 1)).toEqual([1]);
    expect(runReduce(s, "argmin", "float64", [2, 0, 5, 0], 1, 4, 1)).toEqual([1]);
    expect(runReduce(s, "argmax", "int32", [7, 7, 7], 1, 3, 1)).toEqual([0]);
    // [1, 3, 2] viewed as outer 1, size 3, inner 2 with ties per column
    const xs = [4, 1, 4, 1, 0, 1];
    expect(runReduce(s, "argmax", "float32", xs, 1, 3, 2)).toEqual([0, 0]);
    expect(runReduce(s, "argmin", "float32", xs, 1, 3, 2)).toEqual([2, 0]);
    expect(runReduce(s, "argmax", "float64", [-0, 0], 1, 2, 1)).toEqual([0]);
  });

  it("propagates NaN: max/min give NaN, argmax/argmin pick the first NaN", () => {
    const s = new CpuStore();
    const xs = [1, Number.NaN, 5, Number.NaN];
    expect(runReduce(s, "max", "float64", xs, 1, 4, 1)[0]).toBeNaN();
    expect(runReduce(s, "min", "float64", xs, 1, 4, 1)[0]).toBeNaN();
    expect(runReduce(s, "argmax", "float64", xs, 1, 4, 1)).toEqual([1]);
    expect(runReduce(s, "argmin", "float64", xs, 1, 4, 1)).toEqual([1]);
  });

  it("int32 sum wraps, float32 sum accumulates in float64", () => {
    const s = new CpuStore();
    expect(runReduce(s, "sum", "int32", [2 ** 31 - 1, 1, 5], 1, 3, 1)).toEqual([-(2 ** 31) + 5]);
    const many = new Array<number>(1 << 16).fill(Math.fround(0.1));
    const got = runReduce(s, "sum", "float32", many, 1, many.length, 1)[0];
    expect(got).toBe(Math.fround(many.length * Math.fround(0.1)));
  });

  it("rejects mean on int32", () => {
    const s = new CpuStore();
    expect(() => runReduce(s, "mean", "int32", [1, 2], 1, 2, 1)).toThrow(TypeError);
    expect(() => runReduce(s, "mean", "int32", [1, 2], 1, 2, 1)).toThrow(/reduce.*"mean".*int32/);
  });
});

// ---------------------------------------------------------------------------------------------
// matmul
// ---------------------------------------------------------------------------------------------

interface MatmulCase {
  batch: number;
  m: number;
  n: number;
  k: number;
  transA: boolean;
  transB: boolean;
  aBatchStride: number;
  bBatchStride: number;
}

function naiveMatmul(c: MatmulCase, a: readonly number[], b: readonly number[]): number[] {
  const out: number[] = [];
  const opA = new Float64Array(c.m * c.k); // op(a[bi]) as row-major [m, k]
  const opB = new Float64Array(c.k * c.n); // op(b[bi]) as row-major [k, n]
  for (let bi = 0; bi < c.batch; bi++) {
    for (let i = 0; i < c.m; i++)
      for (let p = 0; p < c.k; p++)
        opA[i * c.k + p] = a[bi * c.aBatchStride + (c.transA ? p * c.m + i : i * c.k + p)];
    for (let p = 0; p < c.k; p++)
      for (let j = 0; j < c.n; j++)
        opB[p * c.n + j] = b[bi * c.bBatchStride + (c.transB ? j * c.k + p : p * c.n + j)];
    for (let i = 0; i < c.m; i++) {
      for (let j = 0; j < c.n; j++) {
        let sum = 0;
        for (let p = 0; p < c.k; p++) sum += opA[i * c.k + p] * opB[p * c.n + j];
        out.push(sum);
      }
    }
  }
  return out;
}

/** Runs one case in `dtype` and checks it against the float64 naive triple loop. */
function checkMatmul(c: MatmulCase, dtype: "float32" | "float64", seed: number) {
  const s = new CpuStore();
  const aBatches = c.aBatchStride === 0 ? 1 : c.batch;
  const bBatches = c.bBatchStride === 0 ? 1 : c.batch;
  const round = dtype === "float32" ? Math.fround : (v: number) => v;
  const av = randomArray(Math.max(aBatches * c.m * c.k, 1), seed).map(round);
  const bv = randomArray(Math.max(bBatches * c.k * c.n, 1), seed + 1).map(round);
  const size = c.batch * c.m * c.n;
  const out = blank(s, dtype, size + 1);
  matmul(s, { dtype, a: put(s, dtype, av), b: put(s, dtype, bv), out, ...c });
  const got = read(s, out, dtype, size + 1);
  expect(got[size]).toBe(-12345); // nothing written past the end
  const want = naiveMatmul(c, av, bv);
  // |error| ≤ ~k·eps·Σ|a||b|; the inputs are in [-1, 1).
  const eps = dtype === "float32" ? 2 ** -23 : 2 ** -52;
  expectClose(got.slice(0, size), want, eps, 2 * (c.k + 1) * eps);
}

describe("matmul", () => {
  const sizes: [number, number, number][] = [
    [1, 1, 1],
    [3, 5, 7],
    [37, 29, 41],
    [2, 1, 9],
    [1, 6, 1],
  ];
  for (const [m, n, k] of sizes) {
    for (const transA of [false, true]) {
      for (const transB of [false, true]) {
        it(`${m}×${n}×${k} transA=${transA} transB=${transB}, batched, in float64 and float32`, () => {
          const base = { m, n, k, transA, transB };
          checkMatmul(
            { ...base, batch: 1, aBatchStride: m * k, bBatchStride: k * n },
            "float64",
            1,
          );
          checkMatmul(
            { ...base, batch: 3, aBatchStride: m * k, bBatchStride: k * n },
            "float64",
            2,
          );
          checkMatmul({ ...base, batch: 3, aBatchStride: 0, bBatchStride: k * n }, "float64", 3);
          checkMatmul({ ...base, batch: 2, aBatchStride: m * k, bBatchStride: 0 }, "float32", 4);
          checkMatmul({ ...base, batch: 2, aBatchStride: 0, bBatchStride: 0 }, "float32", 5);
        });
      }
    }
  }

  it("crosses every cache-block boundary (m, n > 256, k > 128, odd sizes)", () => {
    for (const [transA, transB] of [
      [false, false],
      [true, true],
    ] as const) {
      checkMatmul(
        { batch: 1, m: 261, n: 259, k: 131, transA, transB, aBatchStride: 0, bBatchStride: 0 },
        "float32",
        9,
      );
    }
    checkMatmul(
      {
        batch: 2,
        m: 130,
        n: 300,
        k: 131,
        transA: true,
        transB: false,
        aBatchStride: 0,
        bBatchStride: 131 * 300,
      },
      "float64",
      10,
    );
  });

  it("writes zeros when k = 0 and nothing when m, n or batch is 0", () => {
    const s = new CpuStore();
    const a = put(s, "float32", [1]);
    const out = blank(s, "float32", 6);
    const base = { dtype: "float32" as const, a, b: a, out, transA: false, transB: false };
    matmul(s, { ...base, batch: 1, m: 2, n: 3, k: 0, aBatchStride: 0, bBatchStride: 0 });
    expect(read(s, out, "float32", 6)).toEqual([0, 0, 0, 0, 0, 0]);
    s.view(out, "float32").fill(7);
    matmul(s, { ...base, batch: 1, m: 0, n: 3, k: 2, aBatchStride: 0, bBatchStride: 0 });
    matmul(s, { ...base, batch: 0, m: 2, n: 3, k: 2, aBatchStride: 0, bBatchStride: 0 });
    expect(read(s, out, "float32", 6)).toEqual([7, 7, 7, 7, 7, 7]);
  });

  it("rejects int32", () => {
    const s = new CpuStore();
    const a = put(s, "int32", [1]);
    expect(() =>
      matmul(s, {
        dtype: "int32",
        a,
        b: a,
        out: blank(s, "int32", 1),
        batch: 1,
        m: 1,
        n: 1,
        k: 1,
        transA: false,
        transB: false,
        aBatchStride: 0,
        bBatchStride: 0,
      }),
    ).toThrow(/matmul.*int32/);
  });
});

// ---------------------------------------------------------------------------------------------
// copy
// ---------------------------------------------------------------------------------------------

/** The naive definition of copy, applied to a plain array copy of out. */
function naiveCopy(
  x: readonly number[],
  out: readonly number[],
  shape: readonly number[],
  xStrides: readonly number[],
  xOffset: number,
  outStrides: readonly number[],
  outOffset: number,
): number[] {
  const result = out.slice();
  for (const idx of multiIndices(shape)) {
    result[outOffset + dot(idx, outStrides)] = x[xOffset + dot(idx, xStrides)];
  }
  return result;
}

describe("copy", () => {
  it("transposes [3,4] → [4,3]", () => {
    const s = new CpuStore();
    const xs = Array.from({ length: 12 }, (_, i) => i);
    const out = blank(s, "float32", 12);
    copy(s, {
      dtype: "float32",
      x: put(s, "float32", xs),
      out,
      shape: [4, 3],
      xStrides: [1, 4],
      xOffset: 0,
      outStrides: [3, 1],
      outOffset: 0,
    });
    expect(read(s, out, "float32", 12)).toEqual([0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11]);
  });

  it("slices a window of x into an offset region of out, leaving the rest", () => {
    const s = new CpuStore();
    // x is [4, 6]; take x[1:3, 2:5] (shape [2, 3]) into out [4, 5] at (1, 1).
    const xs = Array.from({ length: 24 }, (_, i) => i + 100);
    const args = {
      shape: [2, 3],
      xStrides: [6, 1],
      xOffset: 1 * 6 + 2,
      outStrides: [5, 1],
      outOffset: 1 * 5 + 1,
    };
    for (const dtype of ["float64", "int32"] as const) {
      const out = blank(s, dtype, 20);
      copy(s, { dtype, x: put(s, dtype, xs), out, ...args });
      const want = naiveCopy(
        xs,
        new Array<number>(20).fill(-12345),
        args.shape,
        args.xStrides,
        args.xOffset,
        args.outStrides,
        args.outOffset,
      );
      expect(read(s, out, dtype, 20)).toEqual(want);
      expect(want.slice(6, 9)).toEqual([108, 109, 110]);
    }
  });

  it("permutes 4-d, materialises broadcasts, and handles rank 0 and empty shapes", () => {
    const s = new CpuStore();
    const xs = randomArray(2 * 3 * 4 * 5, 11);
    // out[a, b, c, d] = x[c, a, d, b] with x [4, 2, 5, 3]
    const shape = [2, 3, 4, 5];
    const xStrides = [15, 1, 30, 3];
    const out = blank(s, "float64", 120);
    copy(s, {
      dtype: "float64",
      x: put(s, "float64", xs),
      out,
      shape,
      xStrides,
      xOffset: 0,
      outStrides: contiguous(shape),
      outOffset: 0,
    });
    expect(read(s, out, "float64", 120)).toEqual(
      naiveCopy(xs, new Array<number>(120).fill(0), shape, xStrides, 0, contiguous(shape), 0),
    );

    // broadcast x [3] along a new leading axis of 2, and a size-1 axis
    const bOut = blank(s, "float32", 6);
    copy(s, {
      dtype: "float32",
      x: put(s, "float32", [1, 2, 3]),
      out: bOut,
      shape: [2, 1, 3],
      xStrides: [0, 0, 1],
      xOffset: 0,
      outStrides: [3, 3, 1],
      outOffset: 0,
    });
    expect(read(s, bOut, "float32", 6)).toEqual([1, 2, 3, 1, 2, 3]);

    // rank 0: one element, at the offsets
    const one = blank(s, "int32", 3);
    copy(s, {
      dtype: "int32",
      x: put(s, "int32", [5, 6, 7]),
      out: one,
      shape: [],
      xStrides: [],
      xOffset: 2,
      outStrides: [],
      outOffset: 1,
    });
    expect(read(s, one, "int32", 3)).toEqual([-12345, 7, -12345]);

    // an extent of 0 copies nothing
    copy(s, {
      dtype: "int32",
      x: put(s, "int32", [5]),
      out: one,
      shape: [3, 0],
      xStrides: [1, 1],
      xOffset: 0,
      outStrides: [1, 1],
      outOffset: 0,
    });
    expect(read(s, one, "int32", 3)).toEqual([-12345, 7, -12345]);

    // reversed (negative) strides
    const rev = blank(s, "float64", 4);
    copy(s, {
      dtype: "float64",
      x: put(s, "float64", [1, 2, 3, 4]),
      out: rev,
      shape: [4],
      xStrides: [-1],
      xOffset: 3,
      outStrides: [1],
      outOffset: 0,
    });
    expect(read(s, rev, "float64", 4)).toEqual([4, 3, 2, 1]);
  });
});

// ---------------------------------------------------------------------------------------------
// gather, scatterAdd
// ---------------------------------------------------------------------------------------------

describe("gather / scatterAdd", () => {
  const outer = 2;
  const rows = 5;
  const inner = 3;
  const indices = [4, 0, 4, 2];
  const count = indices.length;

  it("gather picks rows of the middle axis", () => {
    const s = new CpuStore();
    const table = Array.from({ length: outer * rows * inner }, (_, i) => i);
    for (const dtype of ["float32", "float64", "int32"] as const) {
      const out = blank(s, dtype, outer * count * inner);
      gather(s, {
        dtype,
        table: put(s, dtype, table),
        indices: put(s, "int32", indices),
        out,
        outer,
        rows,
        inner,
        count,
      });
      const want: number[] = [];
      for (let o = 0; o < outer; o++)
        for (const idx of indices)
          for (let i = 0; i < inner; i++) want.push(table[(o * rows + idx) * inner + i]);
      expect(read(s, out, dtype, outer * count * inner)).toEqual(want);
    }
  });

  it("scatterAdd accumulates repeated rows and is the adjoint of gather", () => {
    const s = new CpuStore();
    const tableV = randomArray(outer * rows * inner, 21);
    const updatesV = randomArray(outer * count * inner, 22);

    const gathered = blank(s, "float64", outer * count * inner);
    gather(s, {
      dtype: "float64",
      table: put(s, "float64", tableV),
      indices: put(s, "int32", indices),
      out: gathered,
      outer,
      rows,
      inner,
      count,
    });
    const scattered = blank(s, "float64", outer * rows * inner, 0);
    scatterAdd(s, {
      dtype: "float64",
      updates: put(s, "float64", updatesV),
      indices: put(s, "int32", indices),
      out: scattered,
      outer,
      rows,
      inner,
      count,
    });

    const g = read(s, gathered, "float64", outer * count * inner);
    const sc = read(s, scattered, "float64", outer * rows * inner);
    // <gather(T), U> = <T, scatterAdd(U)>
    const lhs = g.reduce((p, v, i) => p + v * updatesV[i], 0);
    const rhs = sc.reduce((p, v, i) => p + v * tableV[i], 0);
    expect(lhs).toBeCloseTo(rhs, 12);

    // explicit expectation: naive accumulation in order of j
    const want = new Array<number>(outer * rows * inner).fill(0);
    for (let o = 0; o < outer; o++)
      for (let j = 0; j < count; j++)
        for (let i = 0; i < inner; i++)
          want[(o * rows + indices[j]) * inner + i] += updatesV[(o * count + j) * inner + i];
    expect(sc).toEqual(want);
    // row 1 and 3 are never indexed
    expect(sc.slice(inner, 2 * inner)).toEqual([0, 0, 0]);
  });

  it("scatterAdd adds into existing contents; int32 wraps", () => {
    const s = new CpuStore();
    const out = put(s, "int32", [2 ** 31 - 1, 10, 20]);
    scatterAdd(s, {
      dtype: "int32",
      updates: put(s, "int32", [1, 5, 6]),
      indices: put(s, "int32", [0, 2, 2]),
      out,
      outer: 1,
      rows: 3,
      inner: 1,
      count: 3,
    });
    expect(read(s, out, "int32", 3)).toEqual([-(2 ** 31), 10, 31]);
  });

  it("validates every index before writing anything", () => {
    const s = new CpuStore();
    const table = put(s, "float32", new Array<number>(outer * rows * inner).fill(1));
    const bad = put(s, "int32", [0, 1, 2, 7]);
    const out = blank(s, "float32", outer * count * inner);
    const args = { dtype: "float32" as const, indices: bad, out, outer, rows, inner, count };
    expect(() => gather(s, { ...args, table })).toThrow(RangeError);
    expect(() => gather(s, { ...args, table })).toThrow(
      "gather: index 7 at position 3 is out of range for 5 rows; indices must be in [0, 5)",
    );
    expect(read(s, out, "float32", outer * count * inner).every((v) => v === -12345)).toBe(true);

    const negative = put(s, "int32", [-1, 9]);
    expect(() => gather(s, { ...args, indices: negative, count: 2, table })).toThrow(
      "gather: index -1 at position 0 is out of range for 5 rows; indices must be in [0, 5)",
    );

    const sOut = blank(s, "float32", outer * rows * inner);
    expect(() =>
      scatterAdd(s, {
        ...args,
        updates: put(s, "float32", new Array<number>(outer * count * inner).fill(1)),
        out: sOut,
      }),
    ).toThrow(
      "scatterAdd: index 7 at position 3 is out of range for 5 rows; indices must be in [0, 5)",
    );
    expect(read(s, sOut, "float32", outer * rows * inner).every((v) => v === -12345)).toBe(true);
  });
});
