/**
 * Finite-difference gradient checks (float64) on tiny instances of every layer and a whole model:
 * valueAndGrad against central differences of loss = Σ w ⊙ output for fixed random w.
 */
import { Random, type Tensor, assignHost, mul, sum, valueAndGrad } from "@bmojo/tensor";
import { describe, expect, it } from "vitest";
import { BMojoLayer, Block, LanguageModel, resolveConfig } from "../src/index.js";

const EPS = 1e-6;

function checkGradients(
  params: Record<string, Tensor>,
  input: Tensor | null,
  forward: () => Tensor,
  options: { maxEntriesPerTensor?: number } = {},
): void {
  const probe = forward();
  const w = new Random(77).normal(probe.shape, { dtype: "float64" });
  probe.dispose();
  const loss = () => sum(mul(forward(), w));
  const tree: Record<string, Tensor> = input ? { ...params, __input: input } : params;
  const { grads } = valueAndGrad((_params: Record<string, Tensor>) => loss())(tree);
  const limit = options.maxEntriesPerTensor ?? Number.POSITIVE_INFINITY;
  for (const [name, t] of Object.entries(tree)) {
    const base = Float64Array.from(t.dataSync());
    const analytic = grads[name].dataSync();
    const stride = Math.max(1, Math.floor(base.length / limit));
    for (let i = 0; i < base.length; i += stride) {
      const at = (delta: number) => {
        const moved = base.slice();
        moved[i] += delta;
        assignHost(t, moved);
        const value = loss().item();
        assignHost(t, base);
        return value;
      };
      const numeric = (at(EPS) - at(-EPS)) / (2 * EPS);
      const tol = 1e-6 + 1e-5 * Math.abs(numeric);
      if (Math.abs(analytic[i] - numeric) > tol) {
        throw new Error(`d/d${name}[${i}]: analytic ${analytic[i]} vs numeric ${numeric}`);
      }
    }
  }
}

const dims = { dModel: 8, heads: 2, kvHeads: 2 };
const ssm = { dState: 3, dConv: 3, expand: 2 };

describe("gradients match finite differences (float64)", () => {
  for (const positions of ["none", "rope"] as const) {
    it(`B'MOJO layer (positions ${positions}): every parameter and the input (memory tokens partly masked)`, () => {
      const layer = new BMojoLayer(
        {
          ...dims,
          window: 3,
          fadingTokens: 1,
          eideticTokens: 2,
          predictorLength: 2,
          ssm,
          positions,
        },
        { rng: new Random(1), dtype: "float64" },
      );
      const u = new Random(2).normal([2, 7, 8], { dtype: "float64" });
      checkGradients(layer.parameters(), u, () => layer.forward(u));
    });
  }

  for (const kind of ["mamba", "attention", "swa", "bmojo-f"] as const) {
    it(`${kind} block with its MLP`, () => {
      const config = resolveConfig({
        vocabSize: 5,
        ...dims,
        window: 3,
        ssm,
        layers: [kind],
        dtype: "float64",
        mlpHidden: 6,
      });
      const block = new Block({ kind, mlp: true }, config, {
        rng: new Random(3),
        dtype: "float64",
      });
      const x = new Random(4).normal([1, 6, 8], { dtype: "float64" });
      checkGradients(block.parameters(), x, () => block.forward(x));
    });
  }

  it("a whole B'MOJO language model (sampled entries of every parameter)", () => {
    const model = new LanguageModel({
      vocabSize: 7,
      ...dims,
      window: 3,
      ssm,
      layers: "bmojo,mamba",
      bmojo: { eideticTokens: 2 },
      mlpHidden: 6,
      dtype: "float64",
      seed: 5,
    });
    const ids = new Random(6).int([2, 7], 0, 7);
    const targets = new Random(7).int([2, 7], 0, 7);
    const { grads } = valueAndGrad(() => model.loss(ids, targets))(model.parameters());
    expect(Object.keys(grads)).toEqual(Object.keys(model.parameters()));
    checkGradients(model.parameters(), null, () => model.forward(ids), { maxEntriesPerTensor: 6 });
  });
});
