import {
  type AttentionMemoryInput,
  Random,
  type Tensor,
  assignHost,
  mul,
  sum,
  tidy,
  valueAndGrad,
} from "@bmojo/tensor";
import { describe, expect, it } from "vitest";
import { Attention, type AttentionConfig } from "../src/index.js";
import { randomInputs } from "./reference.js";

const EPS = 1e-6;
const REL_TOL = 1e-5;

/** |analytic − numeric| relative to the larger magnitude (floored at 1e-3 for near-zero entries). */
function relError(a: number, n: number): number {
  return Math.abs(a - n) / Math.max(Math.abs(a), Math.abs(n), 1e-3);
}

/**
 * Central finite differences of loss() with respect to every element of `t`, perturbing it in
 * place; returns the largest relative error against `analytic`.
 */
function checkTensor(t: Tensor, analytic: Tensor, loss: () => number): number {
  const base = Float64Array.from(t.dataSync());
  const g = analytic.dataSync();
  let worst = 0;
  for (let i = 0; i < base.length; i++) {
    const probe = Float64Array.from(base);
    probe[i] = base[i] + EPS;
    assignHost(t, probe);
    const plus = loss();
    probe[i] = base[i] - EPS;
    assignHost(t, probe);
    const minus = loss();
    worst = Math.max(worst, relError(g[i], (plus - minus) / (2 * EPS)));
  }
  assignHost(t, base);
  return worst;
}

function gradCheck(config: AttentionConfig, withMemory: boolean): Record<string, number> {
  const layer = new Attention(config, { rng: new Random(31), dtype: "float64" });
  const inputs = randomInputs(32);
  const L = 5;
  const chunkSize = 2;
  const x = inputs.normal([2, L, config.dModel], "float64");
  const w = inputs.normal([2, L, config.dModel], "float64");
  const tokens = inputs.normal([2, 3, 2, config.dModel], "float64");
  const mask = inputs.mask([2, 3, 2]);
  const tree: Record<string, Tensor> = { ...layer.parameters(), x };
  if (withMemory) tree.tokens = tokens;
  const f = (p: Record<string, Tensor>) => {
    let memory: AttentionMemoryInput | undefined;
    if (withMemory) memory = { ...layer.projectKeysValues(p.tokens), mask, chunkSize };
    return sum(mul(w, layer.forward(p.x, { memory })));
  };
  const { value, grads } = valueAndGrad(f)(tree);
  const loss = () => tidy(() => f(tree).item());
  expect(value.item()).toBeCloseTo(loss(), 12);
  const errors: Record<string, number> = {};
  for (const [name, t] of Object.entries(tree)) errors[name] = checkTensor(t, grads[name], loss);
  return errors;
}

describe("gradients against central finite differences (float64, eps 1e-6)", () => {
  it("d=4, heads 2, L=5, window 3, RoPE on: every parameter and x", () => {
    const errors = gradCheck({ dModel: 4, heads: 2, window: 3, rope: true }, false);
    expect(Object.keys(errors)).toEqual([
      "q_proj.weight",
      "k_proj.weight",
      "v_proj.weight",
      "o_proj.weight",
      "x",
    ]);
    for (const e of Object.values(errors)) expect(e).toBeLessThan(REL_TOL);
  });

  it("with memory keys (partly masked), through projectKeysValues to k/v_proj and the tokens", () => {
    const errors = gradCheck({ dModel: 4, heads: 2, window: 3, rope: true }, true);
    expect(Object.keys(errors)).toContain("tokens");
    for (const e of Object.values(errors)) expect(e).toBeLessThan(REL_TOL);
  });

  it("grouped-query heads (heads 4, kvHeads 2), full causal, no RoPE", () => {
    const errors = gradCheck({ dModel: 8, heads: 4, kvHeads: 2 }, true);
    for (const e of Object.values(errors)) expect(e).toBeLessThan(REL_TOL);
  });
});
