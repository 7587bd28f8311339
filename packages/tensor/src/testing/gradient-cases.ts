/**
 * Gradient checks of every differentiable op through the public API: the backend's analytic
 * gradients (float64 where the backend has it, else float32) against central finite differences
 * of the same function evaluated on the reference backend in float64.
 */
import { valueAndGrad } from "../autodiff.js";
import type { Backend } from "../backend/backend.js";
import type { UnaryOp } from "../backend/kernels.js";
import type { DType } from "../dtype.js";
import { tidy } from "../engine.js";
import { attention } from "../ops/attention-op.js";
import * as ew from "../ops/elementwise.js";
import { gather, scatterAdd } from "../ops/indexing.js";
import { matmul } from "../ops/matmul.js";
import { addRmsNorm, crossEntropy, logSoftmax, rmsNorm, softmax } from "../ops/nn-ops.js";
import { rope } from "../ops/rope-op.js";
import { logSumExp, max, mean, min, sum } from "../ops/reduction.js";
import { causalConv1d, selectiveScan } from "../ops/sequence-ops.js";
import * as so from "../ops/shape-ops.js";
import { Random } from "../random.js";
import type { Tensor } from "../tensor.js";
import { assertClose } from "./compare.js";
import { type InputSpec, drawInput, isIntInput, seedOf, toTensor } from "./inputs.js";
import type { ConformanceCase, ConformanceContext, Tolerance } from "./types.js";

interface GradSpec {
  readonly name: string;
  readonly inputs: readonly InputSpec[];
  /** The function under test; each output is weighted by fixed random weights and summed. */
  readonly fn: (x: Record<string, Tensor>) => Tensor | readonly Tensor[];
}

const FD_EPS = 1e-6;
const GRAD_TOL: Record<"float32" | "float64", Tolerance> = {
  float64: { atol: 1e-6, rtol: 1e-5 },
  float32: { atol: 2e-3, rtol: 2e-2 },
};

const input = (
  name: string,
  shape: readonly number[],
  kind?: InputSpec["kind"],
  constant?: boolean,
): InputSpec => ({
  name,
  shape,
  kind,
  constant,
});

const asList = (out: Tensor | readonly Tensor[]): readonly Tensor[] =>
  Array.isArray(out) ? out : [out as Tensor];

/** Σ_i Σ(out_i ⊙ w_i) for outputs of fn on `backend`. */
function weightedLoss(
  spec: GradSpec,
  x: Record<string, Tensor>,
  weights: readonly Float64Array[],
  dtype: DType,
  backend: Backend,
): Tensor {
  const outs = asList(spec.fn(x));
  let total: Tensor | null = null;
  outs.forEach((o, i) => {
    const w = toTensor(input("w", o.shape), weights[i], dtype, backend);
    const term = sum(ew.mul(o, w));
    total = total === null ? term : ew.add(total, term);
  });
  if (total === null) throw new Error(`${spec.name}: fn returned no outputs`);
  return total;
}

async function checkGradient(spec: GradSpec, ctx: ConformanceContext): Promise<void> {
  const dtype: "float32" | "float64" = ctx.backend.dtypes.includes("float64")
    ? "float64"
    : "float32";
  const rng = new Random(seedOf(spec.name));
  const host = spec.inputs.map((s) => drawInput(s, rng));
  const make = (backend: Backend, d: DType, values = host): Record<string, Tensor> =>
    Object.fromEntries(spec.inputs.map((s, i) => [s.name, toTensor(s, values[i], d, backend)]));

  // Output shapes fix the weights.
  const weights = tidy(() => asList(spec.fn(make(ctx.reference, "float64")))).map((o) => {
    const w = rng.normalArray(o.size, 0, 1, "float64") as Float64Array;
    o.dispose();
    return w;
  });
  const diffIndices = spec.inputs.flatMap((s, i) => (isIntInput(s) || s.constant ? [] : [i]));

  // Analytic gradients on the backend under test.
  const analytic = await (async () => {
    const all = make(ctx.backend, dtype);
    const params = diffIndices.map((i) => all[spec.inputs[i].name]);
    const f = valueAndGrad((p: Tensor[]) => {
      const x = { ...all };
      diffIndices.forEach((i, j) => {
        x[spec.inputs[i].name] = p[j];
      });
      return weightedLoss(spec, x, weights, dtype, ctx.backend);
    });
    const { value, grads } = f(params);
    const data = await Promise.all(grads.map((g) => g.data()));
    value.dispose();
    for (const t of [...Object.values(all), ...grads]) t.dispose();
    return data;
  })();

  // Central differences on the reference in float64.
  const lossAt = (values: (Float64Array | Int32Array)[]): number =>
    tidy(() =>
      weightedLoss(
        spec,
        make(ctx.reference, "float64", values),
        weights,
        "float64",
        ctx.reference,
      ).item(),
    );
  diffIndices.forEach((i, j) => {
    const base = host[i] as Float64Array;
    const numeric = new Float64Array(base.length);
    for (let e = 0; e < base.length; e++) {
      const plus = base.slice();
      const minus = base.slice();
      plus[e] += FD_EPS;
      minus[e] -= FD_EPS;
      const withValue = (v: Float64Array) => host.map((h, k) => (k === i ? v : h));
      numeric[e] = (lossAt(withValue(plus)) - lossAt(withValue(minus))) / (2 * FD_EPS);
    }
    assertClose(
      `${spec.name} d/d${spec.inputs[i].name} (${dtype})`,
      analytic[j],
      numeric,
      GRAD_TOL[dtype],
    );
  });
}

const UNARY_GRAD: readonly [UnaryOp, InputSpec["kind"]][] = [
  ["neg", "normal"],
  ["abs", "nonzero"],
  ["exp", "normal"],
  ["log", "positive"],
  ["sqrt", "positive"],
  ["rsqrt", "positive"],
  ["square", "normal"],
  ["reciprocal", "positive"],
  ["sin", "normal"],
  ["cos", "normal"],
  ["tanh", "normal"],
  ["sigmoid", "normal"],
  ["silu", "normal"],
  ["softplus", { values: [-30, -2, -0.5, 0, 0.7, 3, 19.5, 21, 25] }],
  ["relu", "nonzero"],
];

const UNARY_FN: Record<UnaryOp, (x: Tensor) => Tensor> = {
  neg: ew.neg,
  abs: ew.abs,
  sign: ew.sign,
  exp: ew.exp,
  log: ew.log,
  sqrt: ew.sqrt,
  rsqrt: ew.rsqrt,
  square: ew.square,
  reciprocal: ew.reciprocal,
  sin: ew.sin,
  cos: ew.cos,
  tanh: ew.tanh,
  sigmoid: ew.sigmoid,
  silu: ew.silu,
  softplus: ew.softplus,
  relu: ew.relu,
  floor: ew.floor,
};

function specs(): GradSpec[] {
  const list: GradSpec[] = [];
  for (const [op, kind] of UNARY_GRAD) {
    const shape = typeof kind === "object" && "values" in kind ? [kind.values.length] : [2, 3];
    list.push({
      name: `grad/${op}`,
      inputs: [input("x", shape, kind)],
      fn: ({ x }) => UNARY_FN[op](x),
    });
  }
  const binaries: [
    string,
    (a: Tensor, b: Tensor) => Tensor,
    number[],
    number[],
    InputSpec["kind"],
    InputSpec["kind"],
  ][] = [
    ["add", ew.add, [2, 3], [3], "normal", "normal"],
    ["sub", ew.sub, [2, 1], [1, 3], "normal", "normal"],
    ["mul", ew.mul, [2, 3], [2, 3], "normal", "normal"],
    ["div", ew.div, [3], [2, 3], "normal", "positive"],
    ["pow", ew.pow, [2, 3], [3], "positive", "normal"],
    ["maximum", ew.maximum, [2, 3], [3], "normal", "normal"],
    ["minimum", ew.minimum, [2, 1], [2, 3], "normal", "normal"],
  ];
  for (const [name, fn, sa, sb, ka, kb] of binaries) {
    list.push({
      name: `grad/${name} [${sa}]×[${sb}]`,
      inputs: [input("a", sa, ka), input("b", sb, kb)],
      fn: ({ a, b }) => fn(a, b),
    });
  }
  list.push(
    {
      name: "grad/where (broadcast)",
      inputs: [
        input("cond", [2, 3], { values: [1, 0, 1, 0, 0, 1], int: true }),
        input("a", [2, 3]),
        input("b", [3]),
      ],
      fn: ({ cond, a, b }) => ew.where(cond, a, b),
    },
    { name: "grad/clone", inputs: [input("x", [4])], fn: ({ x }) => ew.clone(x) },
    { name: "grad/sum axis 1", inputs: [input("x", [2, 3, 4])], fn: ({ x }) => sum(x, 1) },
    {
      name: "grad/sum axes [0,2] keepDims",
      inputs: [input("x", [2, 3, 4])],
      fn: ({ x }) => sum(x, [0, 2], true),
    },
    { name: "grad/mean axis -1", inputs: [input("x", [3, 5])], fn: ({ x }) => mean(x, -1) },
    { name: "grad/max axis 2", inputs: [input("x", [2, 3, 4])], fn: ({ x }) => max(x, 2) },
    { name: "grad/min axis 0", inputs: [input("x", [3, 4])], fn: ({ x }) => min(x, 0) },
    { name: "grad/logSumExp", inputs: [input("x", [3, 5])], fn: ({ x }) => logSumExp(x, -1) },
    {
      name: "grad/reshape",
      inputs: [input("x", [2, 6])],
      fn: ({ x }) => ew.mul(so.reshape(x, [3, 4]), so.reshape(x, [3, 4])),
    },
    {
      name: "grad/transpose [1,2,0]",
      inputs: [input("x", [2, 3, 4])],
      fn: ({ x }) => so.transpose(x, [1, 2, 0]),
    },
    {
      name: "grad/slice",
      inputs: [input("x", [3, 5])],
      fn: ({ x }) => so.slice(x, [1, 2], [2, -1]),
    },
    {
      name: "grad/pad",
      inputs: [input("x", [2, 3])],
      fn: ({ x }) =>
        so.pad(x, [
          [1, 0],
          [0, 2],
        ]),
    },
    {
      name: "grad/concat axis 1",
      inputs: [input("a", [2, 3]), input("b", [2, 1])],
      fn: ({ a, b }) => so.concat([a, b, a], 1),
    },
    {
      name: "grad/stack + split",
      inputs: [input("a", [4]), input("b", [4])],
      fn: ({ a, b }) => so.split(so.stack([a, b], 1), [1, 3], 0),
    },
    {
      name: "grad/broadcastTo",
      inputs: [input("x", [3, 1])],
      fn: ({ x }) => so.broadcastTo(x, [2, 3, 4]),
    },
    {
      name: "grad/matmul",
      inputs: [input("a", [2, 3]), input("b", [3, 4])],
      fn: ({ a, b }) => matmul(a, b),
    },
    {
      name: "grad/matmul transposeA transposeB",
      inputs: [input("a", [3, 2]), input("b", [4, 3])],
      fn: ({ a, b }) => matmul(a, b, { transposeA: true, transposeB: true }),
    },
    {
      name: "grad/matmul batch × shared weight",
      inputs: [input("x", [2, 3, 4]), input("w", [5, 4])],
      fn: ({ x, w }) => matmul(x, w, { transposeB: true }),
    },
    {
      name: "grad/matmul broadcast batch",
      inputs: [input("a", [2, 1, 3, 4]), input("b", [3, 4, 2])],
      fn: ({ a, b }) => matmul(a, b),
    },
    {
      name: "grad/gather rows (repeats)",
      inputs: [input("table", [5, 3]), input("idx", [2, 2], { values: [4, 0, 4, 2], int: true })],
      fn: ({ table, idx }) => gather(table, idx),
    },
    {
      name: "grad/gather axis 1",
      inputs: [input("table", [2, 4, 3]), input("idx", [3], { values: [3, 3, 1], int: true })],
      fn: ({ table, idx }) => gather(table, idx, 1),
    },
    {
      name: "grad/scatterAdd",
      inputs: [
        input("target", [4, 2]),
        input("idx", [3], { values: [1, 3, 1], int: true }),
        input("updates", [3, 2]),
      ],
      fn: ({ target, idx, updates }) => ew.mul(scatterAdd(target, idx, updates), target),
    },
    { name: "grad/softmax last axis", inputs: [input("x", [3, 5])], fn: ({ x }) => softmax(x) },
    { name: "grad/softmax axis 0", inputs: [input("x", [3, 4])], fn: ({ x }) => softmax(x, 0) },
    { name: "grad/logSoftmax", inputs: [input("x", [2, 5])], fn: ({ x }) => logSoftmax(x) },
    {
      name: "grad/rmsNorm",
      inputs: [input("x", [3, 5]), input("w", [5])],
      fn: ({ x, w }) => rmsNorm(x, w),
    },
    {
      name: "grad/addRmsNorm (sum and out)",
      inputs: [input("x", [3, 5]), input("r", [3, 5]), input("w", [5])],
      fn: ({ x, r, w }) => {
        const { sum, out } = addRmsNorm(x, r, w);
        return [sum, out];
      },
    },
    {
      name: "grad/siluMul",
      inputs: [input("gate", [2, 7]), input("up", [2, 7])],
      fn: ({ gate, up }) => ew.siluMul(gate, up),
    },
    {
      name: "grad/rope (tables constant)",
      inputs: [
        input("x", [2, 2, 3, 4]),
        input("cos", [5, 2], undefined, true),
        input("sin", [5, 2], undefined, true),
      ],
      fn: ({ x, cos, sin }) => rope(x, cos, sin, 1),
    },
    {
      name: "grad/crossEntropy mean with ignored targets",
      inputs: [input("logits", [4, 5]), input("t", [4], { values: [1, -100, 4, 0], int: true })],
      fn: ({ logits, t }) => crossEntropy(logits, t),
    },
    {
      name: "grad/crossEntropy none",
      inputs: [input("logits", [2, 3, 4]), input("t", [2, 3], { int: [0, 4] })],
      fn: ({ logits, t }) => crossEntropy(logits, t, { reduction: "none" }),
    },
    {
      name: "grad/causalConv1d silu + bias + initialState",
      inputs: [
        input("x", [2, 5, 3]),
        input("w", [3, 4]),
        input("bias", [3]),
        input("h0", [2, 3, 3]),
      ],
      fn: ({ x, w, bias, h0 }) =>
        causalConv1d(x, w, { bias, initialState: h0, activation: "silu" }).out,
    },
    {
      name: "grad/causalConv1d plain",
      inputs: [input("x", [1, 6, 2]), input("w", [2, 3])],
      fn: ({ x, w }) => causalConv1d(x, w).out,
    },
    {
      name: "grad/selectiveScan all options",
      inputs: [
        input("u", [2, 4, 3]),
        input("delta", [2, 4, 3]),
        input("A", [3, 2], "negative"),
        input("B", [2, 4, 2]),
        input("C", [2, 4, 2]),
        input("D", [3]),
        input("z", [2, 4, 3]),
        input("bias", [3]),
        input("h0", [2, 3, 2]),
      ],
      fn: ({ u, delta, A, B, C, D, z, bias, h0 }) => {
        const r = selectiveScan(u, delta, A, B, C, {
          D,
          z,
          deltaBias: bias,
          deltaSoftplus: true,
          initialState: h0,
        });
        return [r.out, r.lastState];
      },
    },
    {
      name: "grad/selectiveScan plain",
      inputs: [
        input("u", [1, 5, 2]),
        input("delta", [1, 5, 2], "positive"),
        input("A", [2, 3], "negative"),
        input("B", [1, 5, 3]),
        input("C", [1, 5, 3]),
      ],
      fn: ({ u, delta, A, B, C }) => selectiveScan(u, delta, A, B, C).out,
    },
    {
      name: "grad/attention GQA window 2",
      inputs: [input("q", [1, 4, 5, 3]), input("k", [1, 2, 5, 3]), input("v", [1, 2, 5, 3])],
      fn: ({ q, k, v }) => attention(q, k, v, { window: 2 }).out,
    },
    {
      name: "grad/attention window 3 + memory (partly masked) + queryOffset",
      inputs: [
        input("q", [2, 2, 4, 3]),
        input("k", [2, 1, 6, 3]),
        input("v", [2, 1, 6, 3]),
        input("mk", [2, 1, 2, 2, 3]),
        input("mv", [2, 1, 2, 2, 3]),
        input("mask", [2, 2, 2], { values: [1, 0, 1, 1, 0, 0, 1, 1], int: true }),
      ],
      fn: ({ q, k, v, mk, mv, mask }) =>
        attention(q, k, v, { window: 3, memory: { k: mk, v: mv, mask, chunkSize: 3 } }).out,
    },
  );
  return list;
}

/** One gradient case per differentiable op (and per notable configuration). */
export function gradientCases(): ConformanceCase[] {
  return specs().map((spec) => ({
    name: spec.name,
    group: "gradient" as const,
    run: (ctx: ConformanceContext) => checkGradient(spec, ctx),
  }));
}
