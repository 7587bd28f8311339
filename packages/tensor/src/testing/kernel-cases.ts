/**
 * Kernel conformance cases: every kernel of the kernel table (forward and backward) on a grid of
 * shapes, options and dtypes, run on the backend under test and on the reference cpu backend with
 * the same deterministic host inputs, every output compared.
 *
 * Backward kernels that take forward outputs (softmax's y, rmsNorm's rstd, crossEntropy's lse,
 * attention's out and lse) get them from the REFERENCE forward, and both backends' backward
 * kernels get the same values, so a backward comparison is independent of forward differences.
 */
import { broadcastShapes, broadcastStrides, sizeOf } from "../shape.js";
import {
  ARITHMETIC_OPS,
  type AttentionMemory,
  type BinaryOp,
  type BufferId,
  COMPARISON_OPS,
  type ConvActivation,
  type KernelName,
  OPTIONAL_KERNELS,
  REDUCE_OPS,
  type ReduceOp,
  UNARY_OPS,
  type UnaryOp,
} from "../backend/kernels.js";
import {
  type DType,
  type FloatDType,
  type TypedArray,
  allocTyped,
  dtypeOfTypedArray,
  encodeBfloat16,
} from "../dtype.js";
import { Random } from "../random.js";
import { ConformanceMismatch } from "./compare.js";
import { type KernelCall, type OutputSpec, compareKernel, runKernel } from "./run-kernel.js";
import {
  type ConformanceCase,
  type ConformanceContext,
  SkipCase,
  type Tolerance,
  requireDType,
} from "./types.js";

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

const FLOAT_DTYPES: readonly FloatDType[] = ["float32", "float64", "bfloat16"];

/**
 * float32 tolerances looser than TOLERANCE.float32, for kernels whose outputs are long chains or
 * sums of products (a backend accumulating in float32 legitimately differs by more than 1e-5).
 */
const F32_TOLERANCE: Partial<Record<KernelName, Tolerance>> = {
  matmul: { atol: 1e-4, rtol: 1e-4 },
  selectiveScan: { atol: 1e-4, rtol: 1e-3 },
  selectiveScanBackward: { atol: 1e-4, rtol: 1e-3 },
  attentionBackward: { atol: 1e-4, rtol: 1e-3 },
};

/**
 * bfloat16 tolerances looser than TOLERANCE.bfloat16: attention on tensor cores multiplies the
 * probabilities rounded to bfloat16 by V (as FlashAttention does), an error of about 2^-9 of
 * Σ p·|v| that outputs near zero (averages of signed values) show against their own size; its
 * backward rounds P and dS before their products, sums over up to a window of queries.
 */
const BF16_TOLERANCE: Partial<Record<KernelName, Tolerance>> = {
  attention: { atol: 4e-3, rtol: 1e-2 },
  attentionBackward: { atol: 8e-3, rtol: 1e-2 },
};

/** The tolerance of `kernel`'s float outputs: undefined means TOLERANCE[dtype]. */
function toleranceOf(kernel: KernelName, dtype: DType): Tolerance | undefined {
  if (dtype === "float32") return F32_TOLERANCE[kernel];
  return dtype === "bfloat16" ? BF16_TOLERANCE[kernel] : undefined;
}

/** A stable seed from a case name (FNV-1a), so every case has its own inputs. */
function caseSeed(name: string): number {
  let h = 2166136261;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 16777619);
  return h >>> 0;
}

function toDType(values: ArrayLike<number>, dtype: DType): TypedArray {
  const out = allocTyped(dtype, values.length);
  out.set(values);
  return out;
}

function mapValues(values: TypedArray, f: (v: number) => number): TypedArray {
  const mapped = allocTyped(dtypeOfTypedArray(values), values.length);
  for (let i = 0; i < values.length; i++) mapped[i] = f(values[i]);
  return mapped;
}

/** Overwrites the first elements with `specials` when there is room for them and more. */
function withSpecials(values: TypedArray, specials: readonly number[]): TypedArray {
  if (values.length > specials.length) values.set(specials);
  return values;
}

/** Deterministic host inputs of one case; `dtype` is the case's float (or int32) element type. */
class Inputs {
  private readonly random: Random;

  constructor(
    seed: number,
    readonly dtype: DType,
  ) {
    this.random = new Random(seed);
  }

  /** Uniform in [low, high), as a float dtype (bfloat16: float32 values rounded to bfloat16). */
  uniform(size: number, low: number, high: number, dtype: DType = this.dtype): TypedArray {
    if (dtype === "int32") throw new TypeError("Inputs.uniform: use integers() for int32");
    return this.random.uniformArray(size, low, high, dtype);
  }

  /** Normal with mean 0, as a float dtype (bfloat16 rounded as `uniform`). */
  normal(size: number, std = 1, dtype: DType = this.dtype): TypedArray {
    if (dtype === "int32") throw new TypeError("Inputs.normal: use integers() for int32");
    return this.random.normalArray(size, 0, std, dtype);
  }

  /** int32 values in [low, high). */
  int(size: number, low: number, high: number): Int32Array {
    return this.random.intArray(size, low, high);
  }

  /** Integers in [low, high) stored as `dtype`: exact in every dtype, with many ties. */
  integers(size: number, low: number, high: number, dtype: DType = this.dtype): TypedArray {
    return toDType(this.random.intArray(size, low, high), dtype);
  }

  /** Magnitudes in [low, high) with random signs (away from zero). */
  signed(size: number, low: number, high: number, dtype: DType = this.dtype): TypedArray {
    const signs = this.random.intArray(size, 0, 2);
    if (dtype === "int32") {
      const m = this.random.intArray(size, low, high);
      return Int32Array.from(m, (v, i) => (signs[i] === 0 ? -v : v));
    }
    const m = this.uniform(size, low, high, dtype);
    for (let i = 0; i < size; i++) if (signs[i] === 0) m[i] = -m[i];
    return m;
  }
}

/**
 * A kernel case named `kernel/<kernel> <dtypes joined by ->> <config>`. It skips unless the
 * backend stores every dtype in `dtypes`; its inputs come from a Random seeded by its name. When
 * its float dtype is bfloat16 (no float32 or float64 among `dtypes`), its Float32Array inputs and
 * float32 outputs are stored as bfloat16.
 */
function kernelCase(
  kernel: KernelName,
  dtypes: DType | readonly DType[],
  config: string,
  body: (ctx: ConformanceContext, inp: Inputs) => Promise<void>,
): ConformanceCase {
  const list: readonly DType[] = typeof dtypes === "string" ? [dtypes] : dtypes;
  const name = `kernel/${kernel} ${list.join("->")}${config === "" ? "" : ` ${config}`}`;
  return {
    name,
    group: "kernel",
    run: async (ctx) => {
      if (OPTIONAL_KERNELS.has(kernel) && ctx.backend.kernels[kernel] === undefined) {
        throw new SkipCase(
          `backend '${ctx.backend.name}' leaves out the optional ${kernel} kernel (the core composes it)`,
        );
      }
      for (const dtype of list) requireDType(ctx, dtype);
      const bfloat16 =
        list.includes("bfloat16") && !list.includes("float32") && !list.includes("float64");
      await body(
        bfloat16 ? { ...ctx, floatDType: "bfloat16" } : ctx,
        new Inputs(caseSeed(name), list[0]),
      );
    },
  };
}

const fmt = (shape: readonly number[]): string => `[${shape.join(",")}]`;

/** The id of an optional input/output, or null when the call does not have it. */
function optional(ids: Readonly<Record<string, BufferId>>, name: string): BufferId | null {
  return Object.hasOwn(ids, name) ? ids[name] : null;
}

/** `entries` when `flag`, else nothing (for optional inputs and outputs). */
function when<T>(flag: boolean, entries: Record<string, T>): Record<string, T> {
  return flag ? entries : {};
}

const out = (dtype: DType, size: number): OutputSpec => ({ dtype, size });
const inPlace = (init: TypedArray): OutputSpec => ({
  dtype: dtypeOfTypedArray(init),
  size: init.length,
  init,
});

// ---------------------------------------------------------------------------------------------
// Elementwise: unary, unaryBackward, binary, where, cast, fill
// ---------------------------------------------------------------------------------------------

const SIZES = [1, 7, 257];

/** Where each unary op is drawn from: uniform in [low, high) (signed: magnitudes with signs). */
interface UnaryDomain {
  low: number;
  high: number;
  signed?: boolean;
  specials?: readonly number[];
}

const UNARY_DOMAINS: Record<UnaryOp, UnaryDomain> = {
  neg: { low: -3, high: 3, specials: [0] },
  abs: { low: -3, high: 3, specials: [0, -1.5, 1.5] },
  sign: { low: -3, high: 3, specials: [0, -2, 2] },
  exp: { low: -5, high: 5 },
  log: { low: 0.05, high: 10 },
  sqrt: { low: 0.05, high: 10 },
  rsqrt: { low: 0.05, high: 10 },
  square: { low: -3, high: 3 },
  reciprocal: { low: 0.1, high: 4, signed: true },
  sin: { low: -6, high: 6 },
  cos: { low: -6, high: 6 },
  tanh: { low: -8, high: 8 },
  sigmoid: { low: -12, high: 12 },
  silu: { low: -12, high: 12 },
  softplus: { low: -25, high: 30, specials: [0, -0.5, 0.5, 19.5, 20.5, 25] },
  relu: { low: -3, high: 3, specials: [0, -1, 1] },
  floor: { low: -5, high: 5, specials: [-2, 0, 3, -0.5] },
};

const INT32_UNARY_OPS: readonly UnaryOp[] = ["neg", "abs", "sign", "square"];

function unaryInput(inp: Inputs, op: UnaryOp, size: number): TypedArray {
  if (inp.dtype === "int32") return withSpecials(inp.int(size, -1000, 1000), [0, -1, 1]);
  const d = UNARY_DOMAINS[op];
  const x = d.signed ? inp.signed(size, d.low, d.high) : inp.uniform(size, d.low, d.high);
  return withSpecials(x, d.specials ?? []);
}

function unaryCases(): ConformanceCase[] {
  const cases: ConformanceCase[] = [];
  const configs: [UnaryOp, DType][] = [
    ...UNARY_OPS.flatMap((op) => FLOAT_DTYPES.map((dtype): [UnaryOp, DType] => [op, dtype])),
    ...INT32_UNARY_OPS.map((op): [UnaryOp, DType] => [op, "int32"]),
  ];
  for (const [op, dtype] of configs) {
    for (const size of SIZES) {
      cases.push(
        kernelCase("unary", dtype, `${op} size=${size}`, async (ctx, inp) => {
          await compareKernel(ctx, "unary", {
            inputs: { x: unaryInput(inp, op, size) },
            outputs: { out: out(dtype, size) },
            args: (ids) => ({ op, dtype, x: ids.x, out: ids.out, size }),
          });
        }),
      );
    }
  }
  for (const op of UNARY_OPS) {
    for (const dtype of FLOAT_DTYPES) {
      for (const size of SIZES) {
        cases.push(
          kernelCase("unaryBackward", dtype, `${op} size=${size}`, async (ctx, inp) => {
            await compareKernel(ctx, "unaryBackward", {
              inputs: { x: unaryInput(inp, op, size), dy: inp.normal(size) },
              outputs: { dx: out(dtype, size) },
              args: (ids) => ({ op, dtype, x: ids.x, dy: ids.dy, dx: ids.dx, size }),
            });
          }),
        );
      }
    }
  }
  return cases;
}

const BINARY_SHAPES: readonly [readonly number[], readonly number[]][] = [
  [[7], [7]],
  [
    [2, 1, 3],
    [4, 1],
  ],
  [[], [5]],
  [
    [3, 1],
    [1, 4],
  ],
  [[1], [1]],
];

const isComparison = (op: BinaryOp): boolean => (COMPARISON_OPS as readonly string[]).includes(op);

/** Operands of a binary op: integer-valued (ties) for comparisons, positive base for pow, nonzero divisors. */
function binaryOperands(
  inp: Inputs,
  op: BinaryOp,
  aSize: number,
  bSize: number,
): [TypedArray, TypedArray] {
  const int = inp.dtype === "int32";
  if (isComparison(op)) return [inp.integers(aSize, -2, 3), inp.integers(bSize, -2, 3)];
  if (op === "pow") return [inp.uniform(aSize, 0.2, 3), inp.uniform(bSize, -2, 2)];
  const a = int ? inp.int(aSize, -50, 50) : inp.uniform(aSize, -3, 3);
  if (op === "div") return [a, int ? inp.signed(bSize, 1, 10) : inp.signed(bSize, 0.5, 3)];
  return [a, int ? inp.int(bSize, -50, 50) : inp.uniform(bSize, -3, 3)];
}

function binaryCases(): ConformanceCase[] {
  const ops: readonly BinaryOp[] = [...ARITHMETIC_OPS, ...COMPARISON_OPS];
  const cases: ConformanceCase[] = [];
  for (const op of ops) {
    const dtypes: readonly DType[] = op === "pow" ? FLOAT_DTYPES : [...FLOAT_DTYPES, "int32"];
    for (const dtype of dtypes) {
      for (const [aShape, bShape] of BINARY_SHAPES) {
        const shape = broadcastShapes("binary", aShape, bShape);
        const outDType: DType = isComparison(op) ? "int32" : dtype;
        cases.push(
          kernelCase(
            "binary",
            dtype,
            `${op} a=${fmt(aShape)} b=${fmt(bShape)}`,
            async (ctx, inp) => {
              const [a, b] = binaryOperands(inp, op, sizeOf(aShape), sizeOf(bShape));
              await compareKernel(ctx, "binary", {
                inputs: { a, b },
                outputs: { out: out(outDType, sizeOf(shape)) },
                args: (ids) => ({
                  op,
                  dtype,
                  a: ids.a,
                  b: ids.b,
                  out: ids.out,
                  shape,
                  aStrides: broadcastStrides(aShape, shape),
                  bStrides: broadcastStrides(bShape, shape),
                }),
              });
            },
          ),
        );
      }
    }
  }
  return cases;
}

const WHERE_SHAPES: readonly (readonly (readonly number[])[])[] = [
  [[6], [6], [6]],
  [
    [3, 1],
    [1, 4],
    [3, 4],
  ],
  [[2, 1, 4], [4], []],
  [[], [2, 3], [1, 3]],
  [[1], [1], [1]],
];

function whereCases(): ConformanceCase[] {
  return WHERE_SHAPES.flatMap(([condShape, aShape, bShape]) =>
    (["float32", "float64", "bfloat16", "int32"] as const).map((dtype) => {
      const shape = broadcastShapes("where", broadcastShapes("where", condShape, aShape), bShape);
      const config = `cond=${fmt(condShape)} a=${fmt(aShape)} b=${fmt(bShape)}`;
      return kernelCase("where", dtype, config, async (ctx, inp) => {
        const values = (size: number) =>
          dtype === "int32" ? inp.int(size, -100, 100) : inp.normal(size);
        await compareKernel(ctx, "where", {
          // cond in {-1, 0, 1}: any nonzero selects a.
          inputs: {
            cond: inp.int(sizeOf(condShape), -1, 2),
            a: values(sizeOf(aShape)),
            b: values(sizeOf(bShape)),
          },
          outputs: { out: out(dtype, sizeOf(shape)) },
          args: (ids) => ({
            dtype,
            cond: ids.cond,
            a: ids.a,
            b: ids.b,
            out: ids.out,
            shape,
            condStrides: broadcastStrides(condShape, shape),
            aStrides: broadcastStrides(aShape, shape),
            bStrides: broadcastStrides(bShape, shape),
          }),
        });
      });
    }),
  );
}

const CAST_PAIRS: readonly [DType, DType][] = [
  ["float32", "int32"],
  ["float64", "int32"],
  ["int32", "float32"],
  ["float32", "float64"],
  ["float64", "float32"],
  ["int32", "int32"],
  ["float32", "bfloat16"],
  ["bfloat16", "float32"],
  ["bfloat16", "int32"],
  ["int32", "bfloat16"],
  ["bfloat16", "bfloat16"],
];

/**
 * Finite float32 values that round to bfloat16 in every way: ties to even both ways (1 + 2^-8 →
 * 1, 1 + 3·2^-8 → 1 + 2^-6), just above a tie, a negative tie, the largest values that stay
 * finite, a subnormal, −0. (Infinities and NaN: the dtype tests.)
 */
const BFLOAT16_ROUNDING = [
  1 + 2 ** -8,
  1 + 3 * 2 ** -8,
  1 + 2 ** -8 + 2 ** -20,
  -(1 + 2 ** -8),
  3.38e38,
  -3.38e38,
  1e-40,
  -0,
];

function castCases(): ConformanceCase[] {
  return CAST_PAIRS.flatMap(([from, to]) =>
    [1, 37].map((size) =>
      kernelCase("cast", [from, to], `size=${size}`, async (ctx, inp) => {
        // Floats: negatives and fractions (truncation toward zero). Ints: beyond 2^24 (rounding).
        // float32 → bfloat16 also gets the rounding corner cases; a bfloat16 input of a mixed
        // pair travels as bfloat16 patterns.
        const x =
          from === "int32"
            ? withSpecials(
                inp.int(size, -(2 ** 30), 2 ** 30),
                [0, -1, 16777217, -2147483648, 2147483647],
              )
            : withSpecials(
                inp.uniform(size, -100, 100),
                from === "float32" && to === "bfloat16"
                  ? BFLOAT16_ROUNDING
                  : [-0.5, -1.9, 2.7, 0, -3, 0.999],
              );
        await compareKernel(ctx, "cast", {
          inputs: { x: from === "bfloat16" && to === "float32" ? encodeBfloat16(x) : x },
          outputs: { out: out(to, size) },
          args: (ids) => ({ from, to, x: ids.x, out: ids.out, size }),
        });
      }),
    ),
  );
}

function fillCases(): ConformanceCase[] {
  const values: Record<DType, number> = { float32: -2.5, float64: 0.1, int32: -7, bfloat16: 0.1 };
  return (["float32", "int32", "float64", "bfloat16"] as const).flatMap((dtype) =>
    [1, 33].map((size) =>
      kernelCase("fill", dtype, `size=${size} value=${values[dtype]}`, async (ctx) => {
        await compareKernel(ctx, "fill", {
          inputs: {},
          outputs: { out: out(dtype, size) },
          args: (ids) => ({ dtype, out: ids.out, value: values[dtype], size }),
        });
      }),
    ),
  );
}

// ---------------------------------------------------------------------------------------------
// reduce, matmul, copy, gather, scatterAdd, scatter
// ---------------------------------------------------------------------------------------------

const REDUCE_SHAPES: readonly [number, number, number][] = [
  [1, 1, 1],
  [3, 5, 1],
  [1, 7, 4],
  [2, 3, 5],
];
const INT32_REDUCE_OPS: readonly ReduceOp[] = ["sum", "max", "min", "argmax", "argmin"];

function reduceCases(): ConformanceCase[] {
  const configs: [ReduceOp, DType][] = [
    ...REDUCE_OPS.flatMap((op) => FLOAT_DTYPES.map((dtype): [ReduceOp, DType] => [op, dtype])),
    ...INT32_REDUCE_OPS.map((op): [ReduceOp, DType] => [op, "int32"]),
  ];
  return configs.flatMap(([op, dtype]) =>
    REDUCE_SHAPES.map(([outer, size, inner]) =>
      kernelCase(
        "reduce",
        dtype,
        `${op} [outer,size,inner]=${fmt([outer, size, inner])}`,
        async (ctx, inp) => {
          const n = outer * size * inner;
          // Extremes on small integers, so ties occur (argmax/argmin must return the first index).
          const x =
            op === "sum" || op === "mean"
              ? dtype === "int32"
                ? inp.int(n, -1000, 1000)
                : inp.uniform(n, -2, 2)
              : inp.integers(n, -2, 3);
          const outDType: DType = op === "argmax" || op === "argmin" ? "int32" : dtype;
          await compareKernel(ctx, "reduce", {
            inputs: { x },
            outputs: { out: out(outDType, outer * inner) },
            args: (ids) => ({ op, dtype, x: ids.x, out: ids.out, outer, size, inner }),
          });
        },
      ),
    ),
  );
}

const MATMUL_SIZES: readonly [number, number, number][] = [
  [1, 1, 1],
  [3, 5, 7],
  // One row and a few rows against a long k that is a multiple of 4 but not of 8 (decode's x·Wᵀ;
  // backends special-case these shapes, e.g. with GEMV kernels that take k in pairs of vectors).
  [1, 24, 36],
  [5, 24, 36],
  // Few columns against k ≥ 512 (decode's x_proj: 80 columns of 1536): GEMV kernels may split k
  // of one column over several warps; 516 takes vectors, 514 scalars.
  [1, 13, 516],
  [3, 7, 514],
  [17, 13, 33],
  [64, 48, 40],
];

/** Batch layouts: batch count and whether a / b are broadcast (batch stride 0). */
const MATMUL_BATCHES: readonly {
  batch: number;
  aShared: boolean;
  bShared: boolean;
  label: string;
}[] = [
  { batch: 1, aShared: false, bShared: false, label: "batch=1" },
  { batch: 3, aShared: false, bShared: false, label: "batch=3" },
  { batch: 3, aShared: false, bShared: true, label: "batch=3(b broadcast)" },
  { batch: 2, aShared: true, bShared: false, label: "batch=2(a broadcast)" },
];

function matmulCases(): ConformanceCase[] {
  const cases: ConformanceCase[] = [];
  for (const dtype of FLOAT_DTYPES) {
    for (const { batch, aShared, bShared, label } of MATMUL_BATCHES) {
      for (const [m, n, k] of MATMUL_SIZES) {
        for (const transA of [false, true]) {
          for (const transB of [false, true]) {
            const trans = `${transA ? " transA" : ""}${transB ? " transB" : ""}`;
            const config = `${label} m=${m} n=${n} k=${k}${trans}`;
            const aBatchStride = aShared ? 0 : m * k;
            const bBatchStride = bShared ? 0 : k * n;
            cases.push(
              kernelCase("matmul", dtype, config, async (ctx, inp) => {
                await compareKernel(
                  ctx,
                  "matmul",
                  {
                    inputs: {
                      a: inp.normal(aBatchStride * (batch - 1) + m * k),
                      b: inp.normal(bBatchStride * (batch - 1) + k * n),
                    },
                    outputs: { out: out(dtype, batch * m * n) },
                    args: (ids) => ({
                      dtype,
                      a: ids.a,
                      b: ids.b,
                      out: ids.out,
                      batch,
                      m,
                      n,
                      k,
                      transA,
                      transB,
                      aBatchStride,
                      bBatchStride,
                    }),
                  },
                  toleranceOf("matmul", dtype),
                );
              }),
            );
          }
        }
      }
    }
  }
  return cases;
}

interface CopyConfig {
  label: string;
  xSize: number;
  outSize: number;
  shape: readonly number[];
  xStrides: readonly number[];
  xOffset: number;
  outStrides: readonly number[];
  outOffset: number;
  /** out holds values before the copy (only a region of it is written). */
  prefilled: boolean;
}

const COPY_CONFIGS: readonly CopyConfig[] = [
  {
    label: "transpose [2,3,4] perm (2,0,1)",
    xSize: 24,
    outSize: 24,
    shape: [4, 2, 3],
    xStrides: [1, 12, 4],
    xOffset: 0,
    outStrides: [6, 3, 1],
    outOffset: 0,
    prefilled: false,
  },
  {
    label: "slice [5,6][1:4,2:5]",
    xSize: 30,
    outSize: 9,
    shape: [3, 3],
    xStrides: [6, 1],
    xOffset: 8,
    outStrides: [3, 1],
    outOffset: 0,
    prefilled: false,
  },
  {
    label: "broadcast [3] to [4,3]",
    xSize: 3,
    outSize: 12,
    shape: [4, 3],
    xStrides: [0, 1],
    xOffset: 0,
    outStrides: [3, 1],
    outOffset: 0,
    prefilled: false,
  },
  {
    label: "region [2,3] into [5,7] at (2,3)",
    xSize: 6,
    outSize: 35,
    shape: [2, 3],
    xStrides: [3, 1],
    xOffset: 0,
    outStrides: [7, 1],
    outOffset: 17,
    prefilled: true,
  },
  {
    label: "rank 0",
    xSize: 4,
    outSize: 3,
    shape: [],
    xStrides: [],
    xOffset: 2,
    outStrides: [],
    outOffset: 1,
    prefilled: true,
  },
];

function copyCases(): ConformanceCase[] {
  return COPY_CONFIGS.flatMap((c) =>
    (["float32", "float64", "bfloat16", "int32"] as const).map((dtype) =>
      kernelCase("copy", dtype, c.label, async (ctx, inp) => {
        const values = (size: number) =>
          dtype === "int32" ? inp.int(size, -1000, 1000) : inp.normal(size);
        const x = values(c.xSize);
        await compareKernel(ctx, "copy", {
          inputs: { x },
          outputs: { out: c.prefilled ? inPlace(values(c.outSize)) : out(dtype, c.outSize) },
          args: (ids) => ({
            dtype,
            x: ids.x,
            out: ids.out,
            shape: c.shape,
            xStrides: c.xStrides,
            xOffset: c.xOffset,
            outStrides: c.outStrides,
            outOffset: c.outOffset,
          }),
        });
      }),
    ),
  );
}

/** [outer, rows, inner, count] */
const GATHER_SHAPES: readonly [number, number, number, number][] = [
  [1, 5, 3, 4],
  [2, 7, 1, 9],
  [3, 1, 2, 2],
];

/** Random indices in [0, rows), with a repeat (the last equals the first). */
function gatherIndices(inp: Inputs, count: number, rows: number): Int32Array {
  const indices = inp.int(count, 0, rows);
  if (count > 1) indices[count - 1] = indices[0];
  return indices;
}

const gatherConfig = ([outer, rows, inner, count]: readonly number[]) =>
  `outer=${outer} rows=${rows} inner=${inner} count=${count}`;

/**
 * A float32 case of an index kernel given indices with rows, then −1, at position 2: each run must
 * fail with an Error whose message says "out of range".
 */
function indexErrorCase<K extends "gather" | "scatter">(
  name: K,
  shape: readonly [number, number, number, number],
  draw: (inp: Inputs, count: number, rows: number) => Int32Array,
  spec: (inp: Inputs, indices: Int32Array) => KernelCall<K>,
): ConformanceCase {
  const [, rows, , count] = shape;
  return kernelCase(
    name,
    "float32",
    `${gatherConfig(shape)} index out of range`,
    async (ctx, inp) => {
      for (const bad of [rows, -1]) {
        const indices = draw(inp, count, rows);
        indices[2] = bad;
        let error: unknown = null;
        try {
          await runKernel(ctx.backend, name, spec(inp, indices));
        } catch (err) {
          error = err;
        }
        if (!(error instanceof Error) || !error.message.includes("out of range")) {
          const got = error instanceof Error ? `${error.name}: ${error.message}` : "no error";
          throw new ConformanceMismatch(
            `${name}.error: index ${bad} at position 2 (rows ${rows}) must throw an Error whose message contains "out of range"; got ${got}`,
          );
        }
      }
    },
  );
}

function gatherCases(): ConformanceCase[] {
  const cases = GATHER_SHAPES.flatMap((shape) => {
    const [outer, rows, inner, count] = shape;
    return (["float32", "float64", "bfloat16", "int32"] as const).map((dtype) =>
      kernelCase("gather", dtype, gatherConfig(shape), async (ctx, inp) => {
        const size = outer * rows * inner;
        await compareKernel(ctx, "gather", {
          inputs: {
            table: dtype === "int32" ? inp.int(size, -1000, 1000) : inp.normal(size),
            indices: gatherIndices(inp, count, rows),
          },
          outputs: { out: out(dtype, outer * count * inner) },
          args: gatherArgs(dtype, shape),
        });
      }),
    );
  });

  // An index outside [0, rows) must make the kernel fail, on every backend.
  const [outer, rows, inner, count] = [2, 7, 1, 9];
  cases.push(
    indexErrorCase("gather", [outer, rows, inner, count], gatherIndices, (inp, indices) => ({
      inputs: { table: inp.normal(outer * rows * inner), indices },
      outputs: { out: out("float32", outer * count * inner) },
      args: gatherArgs("float32", [outer, rows, inner, count]),
    })),
  );
  return cases;
}

/** gather's arguments for buffers `ids` of `shape`. */
function gatherArgs(dtype: DType, [outer, rows, inner, count]: readonly number[]) {
  return (ids: Record<string, number>) => ({
    dtype,
    table: ids.table,
    indices: ids.indices,
    out: ids.out,
    outer,
    rows,
    inner,
    count,
  });
}

/** scatterAdd's and scatter's arguments (the same layout) for buffers `ids` of `shape`. */
function scatterArgs(dtype: DType, [outer, rows, inner, count]: readonly number[]) {
  return (ids: Record<string, number>) => ({
    dtype,
    updates: ids.updates,
    indices: ids.indices,
    out: ids.out,
    outer,
    rows,
    inner,
    count,
  });
}

/**
 * Cases of a kernel that writes updates into rows of out in place (scatterAdd, scatter): per
 * shape and dtype, updates, the rows `indicesOf` draws and out's starting values.
 */
function rowWriteCases(
  kernel: "scatterAdd" | "scatter",
  shapes: readonly (readonly [number, number, number, number])[],
  dtypes: readonly DType[],
  indicesOf: (inp: Inputs, count: number, rows: number) => Int32Array,
): ConformanceCase[] {
  return shapes.flatMap((shape) => {
    const [outer, rows, inner, count] = shape;
    return dtypes.map((dtype) =>
      kernelCase(kernel, dtype, gatherConfig(shape), async (ctx, inp) => {
        const draw = (size: number) =>
          dtype === "int32" ? inp.int(size, -1000, 1000) : inp.normal(size);
        await compareKernel(ctx, kernel, {
          inputs: {
            updates: draw(outer * count * inner),
            indices: indicesOf(inp, count, rows),
          },
          outputs: { out: inPlace(draw(outer * rows * inner)) },
          args: scatterArgs(dtype, shape),
        });
      }),
    );
  });
}

function scatterAddCases(): ConformanceCase[] {
  return rowWriteCases("scatterAdd", GATHER_SHAPES, FLOAT_DTYPES, gatherIndices);
}

/**
 * [outer, rows, inner, count], count ≤ rows: scatter's indices are distinct. The last is a decode
 * step's cache write: one slot of a [B·Hkv, capacity, Dh] cache.
 */
const SCATTER_SHAPES: readonly [number, number, number, number][] = [
  [1, 5, 3, 4],
  [2, 7, 1, 5],
  [3, 1, 2, 1],
  [4, 300, 32, 1],
];

/** `count` distinct indices in [0, rows), in random order. */
function distinctIndices(inp: Inputs, count: number, rows: number): Int32Array {
  const order = Int32Array.from({ length: rows }, (_, i) => i);
  const swaps = inp.int(rows, 0, rows);
  for (let i = rows - 1; i > 0; i--) {
    const j = swaps[i] % (i + 1);
    [order[i], order[j]] = [order[j], order[i]];
  }
  return order.slice(0, count);
}

function scatterCases(): ConformanceCase[] {
  const cases = rowWriteCases(
    "scatter",
    SCATTER_SHAPES,
    ["float32", "float64", "bfloat16", "int32"],
    distinctIndices,
  );
  const shape = [2, 7, 1, 5] as const;
  const [outer, rows, inner, count] = shape;
  cases.push(
    indexErrorCase("scatter", shape, distinctIndices, (inp, indices) => ({
      inputs: { updates: inp.normal(outer * count * inner), indices },
      outputs: { out: out("float32", outer * rows * inner) },
      args: scatterArgs("float32", shape),
    })),
  );
  return cases;
}

// ---------------------------------------------------------------------------------------------
// softmax, rmsNorm, crossEntropy (+ backward)
// ---------------------------------------------------------------------------------------------

const ROW_SHAPES: readonly [number, number][] = [
  [1, 1],
  [3, 7],
  [5, 33],
  // More rows than a GPU backend gives a block each (cuda: 32): its warp-per-row path.
  [40, 33],
];

function softmaxCases(): ConformanceCase[] {
  return FLOAT_DTYPES.flatMap((dtype) =>
    ROW_SHAPES.flatMap(([rows, cols]) => {
      const config = `rows=${rows} cols=${cols}`;
      /** Normal values, and the last row (when rows > 1) with large values in ±50. */
      const logits = (inp: Inputs) => {
        const x = inp.normal(rows * cols, 2);
        if (rows > 1) x.set(inp.uniform(cols, -50, 50), (rows - 1) * cols);
        return x;
      };
      const forward = (x: TypedArray) => ({
        inputs: { x },
        outputs: { out: out(dtype, rows * cols) },
        args: (ids: Readonly<Record<string, BufferId>>) => ({
          dtype,
          x: ids.x,
          out: ids.out,
          rows,
          cols,
        }),
      });
      return [
        kernelCase("softmax", dtype, config, async (ctx, inp) => {
          await compareKernel(ctx, "softmax", forward(logits(inp)));
        }),
        kernelCase("softmaxBackward", dtype, config, async (ctx, inp) => {
          const { out: y } = await runKernel(
            ctx.reference,
            "softmax",
            forward(logits(inp)),
            ctx.floatDType,
          );
          await compareKernel(ctx, "softmaxBackward", {
            inputs: { y, dy: inp.normal(rows * cols) },
            outputs: { dx: out(dtype, rows * cols) },
            args: (ids) => ({ dtype, y: ids.y, dy: ids.dy, dx: ids.dx, rows, cols }),
          });
        }),
      ];
    }),
  );
}

const RMS_NORM_SHAPES: readonly [number, number][] = [
  [1, 1],
  [4, 7],
  [3, 64],
  [1, 768], // a decode step's row at the 130m width
  [40, 33], // more rows than a GPU backend gives a block each (cuda: 32)
];

/** [rows, length, headDim, positionOffset, table positions] */
const ROPE_SHAPES: readonly [number, number, number, number, number][] = [
  [3, 5, 8, 2, 10],
  [2, 1, 16, 37, 40], // one decode token at position 37
  [1, 4, 2, 0, 4], // one pair
  [4, 3, 6, 1, 6], // half = 3 (not a multiple of 4)
];

function ropeCases(): ConformanceCase[] {
  return FLOAT_DTYPES.flatMap((dtype) =>
    ROPE_SHAPES.flatMap(([rows, length, headDim, positionOffset, positions]) =>
      [false, true].map((inverse) =>
        kernelCase(
          "rope",
          dtype,
          `rows=${rows} length=${length} headDim=${headDim} offset=${positionOffset}${inverse ? " inverse" : ""}`,
          async (ctx, inp) => {
            const half = headDim / 2;
            const angles = inp.uniform(positions * half, -Math.PI, Math.PI);
            await compareKernel(ctx, "rope", {
              inputs: {
                x: inp.normal(rows * length * headDim),
                cos: angles.map(Math.cos),
                sin: angles.map(Math.sin),
              },
              outputs: { out: out(dtype, rows * length * headDim) },
              args: (ids) => ({
                dtype,
                x: ids.x,
                cos: ids.cos,
                sin: ids.sin,
                out: ids.out,
                rows,
                length,
                headDim,
                positionOffset,
                inverse,
              }),
            });
          },
        ),
      ),
    ),
  );
}

function rmsNormCases(): ConformanceCase[] {
  const eps = 1e-5;
  return FLOAT_DTYPES.flatMap((dtype) =>
    RMS_NORM_SHAPES.flatMap(([rows, cols]) => {
      const config = `rows=${rows} cols=${cols} eps=${eps}`;
      const forward = (x: TypedArray, weight: TypedArray) => ({
        inputs: { x, weight },
        outputs: { out: out(dtype, rows * cols), rstd: out(dtype, rows) },
        args: (ids: Readonly<Record<string, BufferId>>) => ({
          dtype,
          x: ids.x,
          weight: ids.weight,
          out: ids.out,
          rstd: ids.rstd,
          rows,
          cols,
          eps,
        }),
      });
      return [
        kernelCase("rmsNorm", dtype, config, async (ctx, inp) => {
          await compareKernel(
            ctx,
            "rmsNorm",
            forward(inp.normal(rows * cols), inp.uniform(cols, 0.5, 1.5)),
          );
        }),
        kernelCase("rmsNormBackward", dtype, config, async (ctx, inp) => {
          const x = inp.normal(rows * cols);
          const weight = inp.uniform(cols, 0.5, 1.5);
          const { rstd } = await runKernel(
            ctx.reference,
            "rmsNorm",
            forward(x, weight),
            ctx.floatDType,
          );
          await compareKernel(ctx, "rmsNormBackward", {
            inputs: { x, weight, rstd, dy: inp.normal(rows * cols) },
            outputs: { dx: out(dtype, rows * cols), dweight: out(dtype, cols) },
            args: (ids) => ({
              dtype,
              x: ids.x,
              weight: ids.weight,
              rstd: ids.rstd,
              dy: ids.dy,
              dx: ids.dx,
              dweight: ids.dweight,
              rows,
              cols,
            }),
          });
        }),
      ];
    }),
  );
}

/** addRmsNorm's shapes: rmsNorm's, and rows wider than one warp's share (block-per-row kernels). */
const ADD_RMS_NORM_SHAPES: readonly [number, number][] = [...RMS_NORM_SHAPES, [2, 1500]];

function addRmsNormCases(): ConformanceCase[] {
  const eps = 1e-5;
  return FLOAT_DTYPES.flatMap((dtype) =>
    ADD_RMS_NORM_SHAPES.map(([rows, cols]) =>
      kernelCase("addRmsNorm", dtype, `rows=${rows} cols=${cols} eps=${eps}`, async (ctx, inp) => {
        const size = rows * cols;
        await compareKernel(ctx, "addRmsNorm", {
          inputs: {
            x: inp.normal(size),
            residual: inp.normal(size),
            weight: inp.uniform(cols, 0.5, 1.5),
          },
          outputs: { sum: out(dtype, size), out: out(dtype, size), rstd: out(dtype, rows) },
          args: (ids) => ({
            dtype,
            x: ids.x,
            residual: ids.residual,
            weight: ids.weight,
            sum: ids.sum,
            out: ids.out,
            rstd: ids.rstd,
            rows,
            cols,
            eps,
          }),
        });
      }),
    ),
  );
}

function siluMulCases(): ConformanceCase[] {
  return FLOAT_DTYPES.flatMap((dtype) =>
    SIZES.map((size) =>
      kernelCase("siluMul", dtype, `size=${size}`, async (ctx, inp) => {
        await compareKernel(ctx, "siluMul", {
          inputs: { gate: inp.uniform(size, -8, 8), up: inp.normal(size) },
          outputs: { out: out(dtype, size) },
          args: (ids) => ({ dtype, gate: ids.gate, up: ids.up, out: ids.out, size }),
        });
      }),
    ),
  );
}

interface CrossEntropyConfig {
  rows: number;
  classes: number;
  ignoreIndex: number;
  /** Rows whose target is set to ignoreIndex. */
  ignoredRows: readonly number[];
}

const CROSS_ENTROPY_CONFIGS: readonly CrossEntropyConfig[] = [
  { rows: 1, classes: 2, ignoreIndex: -100, ignoredRows: [] },
  { rows: 6, classes: 11, ignoreIndex: -100, ignoredRows: [1, 4] },
  { rows: 4, classes: 33, ignoreIndex: -100, ignoredRows: [2] },
  { rows: 6, classes: 11, ignoreIndex: 0, ignoredRows: [0, 3] },
  { rows: 40, classes: 33, ignoreIndex: -100, ignoredRows: [5] },
];

function crossEntropyCases(): ConformanceCase[] {
  return FLOAT_DTYPES.flatMap((dtype) =>
    CROSS_ENTROPY_CONFIGS.flatMap(({ rows, classes, ignoreIndex, ignoredRows }) => {
      const config = `rows=${rows} classes=${classes} ignoreIndex=${ignoreIndex} ignored=${ignoredRows.length}`;
      const draw = (inp: Inputs) => {
        const logits = inp.normal(rows * classes, 3);
        const targets = inp.int(rows, 0, classes);
        for (const r of ignoredRows) targets[r] = ignoreIndex;
        return { logits, targets };
      };
      const forward = (logits: TypedArray, targets: Int32Array) => ({
        inputs: { logits, targets },
        outputs: { loss: out(dtype, rows), lse: out(dtype, rows) },
        args: (ids: Readonly<Record<string, BufferId>>) => ({
          dtype,
          logits: ids.logits,
          targets: ids.targets,
          loss: ids.loss,
          lse: ids.lse,
          rows,
          classes,
          ignoreIndex,
        }),
      });
      return [
        kernelCase("crossEntropy", dtype, config, async (ctx, inp) => {
          const { logits, targets } = draw(inp);
          await compareKernel(ctx, "crossEntropy", forward(logits, targets));
        }),
        kernelCase("crossEntropyBackward", dtype, config, async (ctx, inp) => {
          const { logits, targets } = draw(inp);
          const { lse } = await runKernel(
            ctx.reference,
            "crossEntropy",
            forward(logits, targets),
            ctx.floatDType,
          );
          await compareKernel(ctx, "crossEntropyBackward", {
            inputs: { logits, targets, lse, dloss: inp.uniform(rows, 0.1, 1) },
            outputs: { dlogits: out(dtype, rows * classes) },
            args: (ids) => ({
              dtype,
              logits: ids.logits,
              targets: ids.targets,
              lse: ids.lse,
              dloss: ids.dloss,
              dlogits: ids.dlogits,
              rows,
              classes,
              ignoreIndex,
            }),
          });
        }),
      ];
    }),
  );
}

// ---------------------------------------------------------------------------------------------
// causalConv1d (+ backward, step)
// ---------------------------------------------------------------------------------------------

/** [batch, length, channels, kernelSize]; the last has length < kernelSize − 1. */
const CONV_SHAPES: readonly [number, number, number, number][] = [
  [1, 1, 1, 1],
  [2, 5, 3, 4],
  [2, 9, 4, 3],
  [1, 3, 2, 4],
];

interface ConvOptions {
  activation: ConvActivation;
  bias: boolean;
  initialState: boolean;
  finalState: boolean;
}

const CONV_OPTIONS: readonly ConvOptions[] = [
  { activation: "none", bias: false, initialState: false, finalState: false },
  { activation: "silu", bias: true, initialState: false, finalState: true },
  { activation: "none", bias: true, initialState: true, finalState: true },
  { activation: "silu", bias: false, initialState: true, finalState: true },
  { activation: "silu", bias: true, initialState: true, finalState: false },
];

function convLabel(o: ConvOptions, withFinalState: boolean): string {
  return [
    o.activation,
    o.bias ? "bias" : "",
    o.initialState ? "initialState" : "",
    withFinalState && o.finalState ? "finalState" : "",
  ]
    .filter((s) => s !== "")
    .join(" ");
}

function causalConv1dCases(): ConformanceCase[] {
  const cases: ConformanceCase[] = [];
  for (const dtype of FLOAT_DTYPES) {
    for (const [batch, length, channels, kernelSize] of CONV_SHAPES) {
      const dims = `B=${batch} L=${length} C=${channels} K=${kernelSize}`;
      const stateSize = batch * (kernelSize - 1) * channels;
      const sizes = { batch, length, channels, kernelSize };
      const draw = (inp: Inputs, o: ConvOptions) => ({
        x: inp.normal(batch * length * channels),
        weight: inp.normal(channels * kernelSize, 0.5),
        ...when(o.bias, { bias: inp.normal(channels, 0.5) }),
        ...when(o.initialState, { initialState: inp.normal(stateSize) }),
      });
      for (const o of CONV_OPTIONS) {
        cases.push(
          kernelCase("causalConv1d", dtype, `${dims} ${convLabel(o, true)}`, async (ctx, inp) => {
            await compareKernel(ctx, "causalConv1d", {
              inputs: draw(inp, o),
              outputs: {
                out: out(dtype, batch * length * channels),
                ...when(o.finalState, { finalState: out(dtype, stateSize) }),
              },
              args: (ids) => ({
                dtype,
                x: ids.x,
                weight: ids.weight,
                bias: optional(ids, "bias"),
                initialState: optional(ids, "initialState"),
                out: ids.out,
                finalState: optional(ids, "finalState"),
                activation: o.activation,
                ...sizes,
              }),
            });
          }),
          kernelCase(
            "causalConv1dBackward",
            dtype,
            `${dims} ${convLabel(o, false)}`,
            async (ctx, inp) => {
              await compareKernel(ctx, "causalConv1dBackward", {
                inputs: { ...draw(inp, o), dy: inp.normal(batch * length * channels) },
                outputs: {
                  dx: out(dtype, batch * length * channels),
                  dweight: out(dtype, channels * kernelSize),
                  ...when(o.bias, { dbias: out(dtype, channels) }),
                  ...when(o.initialState, { dInitialState: out(dtype, stateSize) }),
                },
                args: (ids) => ({
                  dtype,
                  x: ids.x,
                  weight: ids.weight,
                  bias: optional(ids, "bias"),
                  initialState: optional(ids, "initialState"),
                  dy: ids.dy,
                  dx: ids.dx,
                  dweight: ids.dweight,
                  dbias: optional(ids, "dbias"),
                  dInitialState: optional(ids, "dInitialState"),
                  activation: o.activation,
                  ...sizes,
                }),
              });
            },
          ),
        );
      }
    }
  }
  return cases;
}

const CONV_STEP_OPTIONS: readonly { activation: ConvActivation; bias: boolean }[] = [
  { activation: "none", bias: false },
  { activation: "silu", bias: true },
  { activation: "silu", bias: false },
];

function causalConv1dStepCases(): ConformanceCase[] {
  return FLOAT_DTYPES.flatMap((dtype) =>
    CONV_SHAPES.flatMap(([batch, , channels, kernelSize]) =>
      CONV_STEP_OPTIONS.map(({ activation, bias }) =>
        kernelCase(
          "causalConv1dStep",
          dtype,
          `B=${batch} C=${channels} K=${kernelSize} ${activation}${bias ? " bias" : ""}`,
          async (ctx, inp) => {
            await compareKernel(ctx, "causalConv1dStep", {
              inputs: {
                x: inp.normal(batch * channels),
                weight: inp.normal(channels * kernelSize, 0.5),
                ...when(bias, { bias: inp.normal(channels, 0.5) }),
              },
              outputs: {
                out: out(dtype, batch * channels),
                state: inPlace(inp.normal(batch * (kernelSize - 1) * channels)),
              },
              args: (ids) => ({
                dtype,
                x: ids.x,
                state: ids.state,
                weight: ids.weight,
                bias: optional(ids, "bias"),
                out: ids.out,
                batch,
                channels,
                kernelSize,
                activation,
              }),
            });
          },
        ),
      ),
    ),
  );
}

// ---------------------------------------------------------------------------------------------
// selectiveScan (+ backward, step)
// ---------------------------------------------------------------------------------------------

/** [batch, length, channels E, stateSize N] */
const SCAN_SHAPES: readonly [number, number, number, number][] = [
  [1, 1, 1, 1],
  [2, 5, 3, 4],
  [1, 17, 4, 8],
  [2, 9, 5, 16],
];

interface ScanOptions {
  label: string;
  D: boolean;
  z: boolean;
  deltaBias: boolean;
  deltaSoftplus: boolean;
  initialState: boolean;
}

const SCAN_OPTIONS: readonly ScanOptions[] = [
  {
    label: "plain",
    D: false,
    z: false,
    deltaBias: false,
    deltaSoftplus: false,
    initialState: false,
  },
  { label: "D z", D: true, z: true, deltaBias: false, deltaSoftplus: false, initialState: false },
  {
    label: "deltaBias softplus",
    D: false,
    z: false,
    deltaBias: true,
    deltaSoftplus: true,
    initialState: false,
  },
  {
    label: "D z deltaBias softplus initialState",
    D: true,
    z: true,
    deltaBias: true,
    deltaSoftplus: true,
    initialState: true,
  },
];

/**
 * Inputs of a scan over `tokens` tokens per batch element (length, or 1 for the step): delta is
 * normal·0.5 before a softplus or uniform in [0.01, 0.2) without one; A = −exp(uniform(−1, 1)).
 */
function scanInputs(
  inp: Inputs,
  o: ScanOptions,
  batch: number,
  tokens: number,
  channels: number,
  stateSize: number,
): Record<string, TypedArray> {
  const tokenE = batch * tokens * channels;
  const tokenN = batch * tokens * stateSize;
  return {
    u: inp.normal(tokenE),
    delta: o.deltaSoftplus ? inp.normal(tokenE, 0.5) : inp.uniform(tokenE, 0.01, 0.2),
    A: mapValues(inp.uniform(channels * stateSize, -1, 1), (v) => -Math.exp(v)),
    B: inp.normal(tokenN),
    C: inp.normal(tokenN),
    ...when(o.D, { D: inp.normal(channels) }),
    ...when(o.z, { z: inp.normal(tokenE) }),
    ...when(o.deltaBias, { deltaBias: inp.uniform(channels, -0.5, 0.5) }),
  };
}

/** The ScanInputs part of the arguments (buffer ids of the per-token inputs and options). */
function scanArgs(ids: Readonly<Record<string, BufferId>>, o: ScanOptions) {
  return {
    u: ids.u,
    delta: ids.delta,
    A: ids.A,
    B: ids.B,
    C: ids.C,
    D: optional(ids, "D"),
    z: optional(ids, "z"),
    deltaBias: optional(ids, "deltaBias"),
    deltaSoftplus: o.deltaSoftplus,
  };
}

function selectiveScanCases(): ConformanceCase[] {
  const cases: ConformanceCase[] = [];
  for (const dtype of FLOAT_DTYPES) {
    for (const [batch, length, channels, stateSize] of SCAN_SHAPES) {
      const dims = `B=${batch} L=${length} E=${channels} N=${stateSize}`;
      const sizes = { batch, length, channels, stateSize };
      const tokenE = batch * length * channels;
      const states = batch * channels * stateSize;
      for (const o of SCAN_OPTIONS) {
        const draw = (inp: Inputs) => ({
          ...scanInputs(inp, o, batch, length, channels, stateSize),
          ...when(o.initialState, { initialState: inp.normal(states) }),
        });
        cases.push(
          kernelCase("selectiveScan", dtype, `${dims} ${o.label}`, async (ctx, inp) => {
            await compareKernel(
              ctx,
              "selectiveScan",
              {
                inputs: draw(inp),
                outputs: { out: out(dtype, tokenE), lastState: out(dtype, states) },
                args: (ids) => ({
                  dtype,
                  ...scanArgs(ids, o),
                  initialState: optional(ids, "initialState"),
                  out: ids.out,
                  lastState: ids.lastState,
                  ...sizes,
                }),
              },
              toleranceOf("selectiveScan", dtype),
            );
          }),
        );
        for (const dLastState of [false, true]) {
          const config = `${dims} ${o.label}${dLastState ? " dLastState" : ""}`;
          cases.push(
            kernelCase("selectiveScanBackward", dtype, config, async (ctx, inp) => {
              await compareKernel(
                ctx,
                "selectiveScanBackward",
                {
                  inputs: {
                    ...draw(inp),
                    dOut: inp.normal(tokenE),
                    ...when(dLastState, { dLastState: inp.normal(states) }),
                  },
                  outputs: {
                    du: out(dtype, tokenE),
                    ddelta: out(dtype, tokenE),
                    dA: out(dtype, channels * stateSize),
                    dB: out(dtype, batch * length * stateSize),
                    dC: out(dtype, batch * length * stateSize),
                    ...when(o.D, { dD: out(dtype, channels) }),
                    ...when(o.z, { dz: out(dtype, tokenE) }),
                    ...when(o.deltaBias, { dDeltaBias: out(dtype, channels) }),
                    ...when(o.initialState, { dInitialState: out(dtype, states) }),
                  },
                  args: (ids) => ({
                    dtype,
                    ...scanArgs(ids, o),
                    initialState: optional(ids, "initialState"),
                    dOut: ids.dOut,
                    dLastState: optional(ids, "dLastState"),
                    du: ids.du,
                    ddelta: ids.ddelta,
                    dA: ids.dA,
                    dB: ids.dB,
                    dC: ids.dC,
                    dD: optional(ids, "dD"),
                    dz: optional(ids, "dz"),
                    dDeltaBias: optional(ids, "dDeltaBias"),
                    dInitialState: optional(ids, "dInitialState"),
                    ...sizes,
                  }),
                },
                toleranceOf("selectiveScanBackward", dtype),
              );
            }),
          );
        }
      }
    }
  }
  return cases;
}

function selectiveScanStepCases(): ConformanceCase[] {
  // The step always starts from (and updates) a state, so initialState is not an option here.
  const options = SCAN_OPTIONS.map((o) =>
    o.initialState ? { ...o, initialState: false, label: o.label.replace(" initialState", "") } : o,
  );
  // [inputs' dtype, state's dtype]: the state also float32 with bfloat16 inputs (mixed precision
  // keeps h in float32); those inputs travel as bfloat16 patterns.
  const pairs: [FloatDType, FloatDType][] = [
    ...FLOAT_DTYPES.map((d): [FloatDType, FloatDType] => [d, d]),
    ["bfloat16", "float32"],
  ];
  return pairs.flatMap(([dtype, stateDType]) =>
    SCAN_SHAPES.flatMap(([batch, , channels, stateSize]) =>
      options.map((o) =>
        kernelCase(
          "selectiveScanStep",
          stateDType === dtype ? dtype : [dtype, stateDType],
          `B=${batch} E=${channels} N=${stateSize} ${o.label}${stateDType === dtype ? "" : " (float32 state)"}`,
          async (ctx, inp) => {
            const inputs = scanInputs(inp, o, batch, 1, channels, stateSize);
            const mixed = stateDType !== dtype;
            await compareKernel(
              ctx,
              "selectiveScanStep",
              {
                inputs: mixed
                  ? Object.fromEntries(
                      Object.entries(inputs).map(([k, v]) => [k, encodeBfloat16(v)]),
                    )
                  : inputs,
                outputs: {
                  out: out(dtype, batch * channels),
                  state: inPlace(inp.normal(batch * channels * stateSize, 1, stateDType)),
                },
                args: (ids) => ({
                  dtype,
                  ...(mixed ? { stateDType } : {}),
                  ...scanArgs(ids, o),
                  state: ids.state,
                  out: ids.out,
                  batch,
                  channels,
                  stateSize,
                }),
              },
              toleranceOf("selectiveScan", dtype),
            );
          },
        ),
      ),
    ),
  );
}

// ---------------------------------------------------------------------------------------------
// attention (+ backward)
// ---------------------------------------------------------------------------------------------

interface AttentionShape {
  batch: number;
  heads: number;
  kvHeads: number;
  queryLength: number;
  keyLength: number;
  headDim: number;
  queryOffset: number;
}

const attentionShape = (
  [batch, heads, kvHeads, queryLength, keyLength, headDim]: readonly number[],
  queryOffset: number,
): AttentionShape => ({ batch, heads, kvHeads, queryLength, keyLength, headDim, queryOffset });

const ATTENTION_SHAPES: readonly AttentionShape[] = [
  attentionShape([1, 1, 1, 1, 1, 1], 0),
  attentionShape([2, 4, 2, 7, 7, 8], 0),
  attentionShape([1, 4, 1, 9, 9, 3], 0),
  attentionShape([2, 2, 2, 3, 10, 5], 7),
  attentionShape([1, 2, 2, 1, 6, 4], 5), // one decode query
  // Decode steps over long key ranges (backends split the keys across blocks and merge):
  // GQA with three queries, Dh 256, and a Dh padded to the next power of two.
  attentionShape([2, 4, 2, 3, 300, 64], 297),
  attentionShape([1, 2, 1, 1, 200, 256], 199),
  attentionShape([1, 3, 3, 2, 150, 48], 140),
];

/**
 * Prefill tiles at the head dims GPU backends run on tensor cores in bfloat16: two query tiles of
 * 64 (the second partial) with GQA, and Dh 128 continuing at an offset; float32 and bfloat16, a
 * window of a third of the keys and all of them, without memory and with B'MOJO-like chunks.
 */
const ATTENTION_TILE_SHAPES: readonly AttentionShape[] = [
  attentionShape([1, 4, 2, 70, 70, 64], 0),
  attentionShape([1, 2, 1, 40, 60, 128], 20),
];

/** Memory layouts: chunkSize, slots, and whether one more chunk than the queries read exists. */
const ATTENTION_MEMORIES: readonly ({
  chunkSize: number;
  slots: number;
  extraChunk: boolean;
} | null)[] = [
  null,
  { chunkSize: 4, slots: 2, extraChunk: false },
  { chunkSize: 3, slots: 3, extraChunk: true },
];

const ATTENTION_TILE_MEMORIES: typeof ATTENTION_MEMORIES = [
  null,
  { chunkSize: 32, slots: 8, extraChunk: false },
];

interface MemoryLayout {
  chunks: number;
  slots: number;
  chunkSize: number;
}

/**
 * Memory inputs: k, v [B, Hkv, chunks, slots, Dh] normal; mask [B, chunks, slots] in {0, 1, 2}
 * (nonzero = valid) with one chunk all invalid (the first chunk the queries read when they read
 * more than one, else the extra chunk) and at least one valid slot in every other chunk.
 */
function memoryInputs(inp: Inputs, s: AttentionShape, m: MemoryLayout, allInvalid: number) {
  const { batch, kvHeads, headDim } = s;
  const { chunks, slots } = m;
  const mask = inp.int(batch * chunks * slots, 0, 3);
  for (let b = 0; b < batch; b++) {
    for (let c = 0; c < chunks; c++) {
      const start = (b * chunks + c) * slots;
      const row = mask.subarray(start, start + slots);
      if (c === allInvalid) row.fill(0);
      else if (row.every((v) => v === 0)) row[(b + c) % slots] = 1;
    }
  }
  const size = batch * kvHeads * chunks * slots * headDim;
  return { memK: inp.normal(size), memV: inp.normal(size), memMask: mask };
}

function attentionCases(): ConformanceCase[] {
  // Long key ranges add a window between the short ones and the whole range.
  const windows = (keyLength: number) => [
    ...new Set([1, 3, ...(keyLength > 12 ? [Math.floor(keyLength / 3)] : []), keyLength]),
  ];
  return [
    ...attentionCasesOf(FLOAT_DTYPES, ATTENTION_SHAPES, windows, ATTENTION_MEMORIES),
    ...attentionCasesOf(
      ["float32", "bfloat16"],
      ATTENTION_TILE_SHAPES,
      (keyLength) => [Math.floor(keyLength / 3), keyLength],
      ATTENTION_TILE_MEMORIES,
    ),
  ];
}

/** Forward and backward cases of every dtype × shape × window × memory layout. */
function attentionCasesOf(
  dtypes: readonly FloatDType[],
  shapes: readonly AttentionShape[],
  windowsOf: (keyLength: number) => number[],
  memories: typeof ATTENTION_MEMORIES,
): ConformanceCase[] {
  const cases: ConformanceCase[] = [];
  for (const dtype of dtypes) {
    for (const s of shapes) {
      const { batch, heads, kvHeads, queryLength, keyLength, headDim, queryOffset } = s;
      const qSize = batch * heads * queryLength * headDim;
      const kvSize = batch * kvHeads * keyLength * headDim;
      const dims = `B=${batch} H=${heads} Hkv=${kvHeads} Lq=${queryLength} Lk=${keyLength} Dh=${headDim} queryOffset=${queryOffset}`;
      const scale = 1 / Math.sqrt(headDim);
      for (const window of windowsOf(keyLength)) {
        for (const mem of memories) {
          const firstRead = mem === null ? 0 : Math.floor(queryOffset / mem.chunkSize);
          const lastRead =
            mem === null ? 0 : Math.floor((queryOffset + queryLength - 1) / mem.chunkSize);
          const layout: MemoryLayout | null =
            mem === null
              ? null
              : {
                  chunks: lastRead + 1 + (mem.extraChunk ? 1 : 0),
                  slots: mem.slots,
                  chunkSize: mem.chunkSize,
                };
          const allInvalid = lastRead > firstRead ? firstRead : mem?.extraChunk ? lastRead + 1 : -1;
          const memLabel =
            layout === null
              ? "no memory"
              : `memory(chunkSize=${layout.chunkSize} slots=${layout.slots} chunks=${layout.chunks})`;
          const config = `${dims} window=${window} ${memLabel}`;

          const draw = (inp: Inputs) => ({
            q: inp.normal(qSize),
            k: inp.normal(kvSize),
            v: inp.normal(kvSize),
            ...(layout === null ? {} : memoryInputs(inp, s, layout, allInvalid)),
          });
          const shapeArgs = (ids: Readonly<Record<string, BufferId>>) => ({
            dtype,
            q: ids.q,
            k: ids.k,
            v: ids.v,
            memory:
              layout === null
                ? null
                : ({
                    k: ids.memK,
                    v: ids.memV,
                    mask: ids.memMask,
                    ...layout,
                  } satisfies AttentionMemory),
            batch,
            heads,
            kvHeads,
            queryLength,
            keyLength,
            headDim,
            window,
            queryOffset,
            scale,
          });
          const forward = (inputs: Record<string, TypedArray>) => ({
            inputs,
            outputs: { out: out(dtype, qSize), lse: out(dtype, batch * heads * queryLength) },
            args: (ids: Readonly<Record<string, BufferId>>) => ({
              ...shapeArgs(ids),
              out: ids.out,
              lse: ids.lse,
            }),
          });
          const memorySize =
            layout === null ? 0 : batch * kvHeads * layout.chunks * layout.slots * headDim;

          cases.push(
            kernelCase("attention", dtype, config, async (ctx, inp) => {
              await compareKernel(
                ctx,
                "attention",
                forward(draw(inp)),
                toleranceOf("attention", dtype),
              );
            }),
            kernelCase("attentionBackward", dtype, config, async (ctx, inp) => {
              const inputs = draw(inp);
              const { out: o, lse } = await runKernel(
                ctx.reference,
                "attention",
                forward(inputs),
                ctx.floatDType,
              );
              await compareKernel(
                ctx,
                "attentionBackward",
                {
                  inputs: { ...inputs, out: o, lse, dOut: inp.normal(qSize) },
                  outputs: {
                    dq: out(dtype, qSize),
                    dk: out(dtype, kvSize),
                    dv: out(dtype, kvSize),
                    ...when(layout !== null, {
                      dMemK: out(dtype, memorySize),
                      dMemV: out(dtype, memorySize),
                    }),
                  },
                  args: (ids) => ({
                    ...shapeArgs(ids),
                    out: ids.out,
                    lse: ids.lse,
                    dOut: ids.dOut,
                    dq: ids.dq,
                    dk: ids.dk,
                    dv: ids.dv,
                    dMemK: optional(ids, "dMemK"),
                    dMemV: optional(ids, "dMemV"),
                  }),
                },
                toleranceOf("attentionBackward", dtype),
              );
            }),
          );
        }
      }
    }
  }
  return cases;
}

// ---------------------------------------------------------------------------------------------
// adamw
// ---------------------------------------------------------------------------------------------

function adamwCases(): ConformanceCase[] {
  const hyper = { lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8 };
  return FLOAT_DTYPES.flatMap((dtype) =>
    [1, 7, 100].flatMap((size) =>
      [1, 5].flatMap((step) =>
        [0, 0.1].map((weightDecay) =>
          kernelCase(
            "adamw",
            dtype,
            `size=${size} step=${step} weightDecay=${weightDecay}`,
            async (ctx, inp) => {
              await compareKernel(ctx, "adamw", {
                inputs: { grad: inp.normal(size) },
                outputs: {
                  param: inPlace(inp.normal(size)),
                  m: inPlace(inp.normal(size, 0.1)),
                  v: inPlace(inp.uniform(size, 0, 0.01)),
                },
                args: (ids) => ({
                  dtype,
                  param: ids.param,
                  grad: ids.grad,
                  m: ids.m,
                  v: ids.v,
                  size,
                  weightDecay,
                  step,
                  ...hyper,
                }),
              });
            },
          ),
        ),
      ),
    ),
  );
}

// ---------------------------------------------------------------------------------------------

/** Every kernel case: each of the 26 kernels on its grid of shapes, options and dtypes. */
export function kernelCases(): ConformanceCase[] {
  return [
    ...unaryCases(),
    ...binaryCases(),
    ...whereCases(),
    ...reduceCases(),
    ...matmulCases(),
    ...copyCases(),
    ...gatherCases(),
    ...scatterAddCases(),
    ...scatterCases(),
    ...castCases(),
    ...fillCases(),
    ...softmaxCases(),
    ...rmsNormCases(),
    ...addRmsNormCases(),
    ...siluMulCases(),
    ...ropeCases(),
    ...crossEntropyCases(),
    ...causalConv1dCases(),
    ...causalConv1dStepCases(),
    ...selectiveScanCases(),
    ...selectiveScanStepCases(),
    ...attentionCases(),
    ...adamwCases(),
  ];
}
