import { Random, type Tensor, assignHost, mul, sum, tidy, valueAndGrad } from "@bmojo/tensor";
import { describe, expect, it } from "vitest";
import { MAMBA_PARAMETER_NAMES, type MambaConfig } from "../src/index.js";
import { makeCase } from "./helpers.js";

const EPS = 1e-6;
const REL_TOL = 1e-5;
/**
 * Central differences in float64 carry a rounding noise of about ε·|loss|/EPS ≈ 5e-11 here, so a
 * gradient element passes when |analytic − numeric| ≤ REL_TOL · max(|analytic|, |numeric|) +
 * ABS_TOL, with ABS_TOL = 1e-9 (20× that noise; it matters only for elements below 1e-4).
 */
const ABS_TOL = 1e-9;

/** Central difference of `lossValue` in every element of `t` (restored afterwards). */
function numericGrad(t: Tensor, lossValue: () => number): Float64Array {
  const base = Float64Array.from(t.dataSync());
  const out = new Float64Array(base.length);
  const probe = Float64Array.from(base);
  for (let i = 0; i < base.length; i++) {
    probe[i] = base[i] + EPS;
    assignHost(t, probe);
    const plus = lossValue();
    probe[i] = base[i] - EPS;
    assignHost(t, probe);
    const minus = lossValue();
    probe[i] = base[i];
    out[i] = (plus - minus) / (2 * EPS);
  }
  assignHost(t, base);
  return out;
}

/** The largest |a − n| / (REL_TOL · max(|a|, |n|) + ABS_TOL): passes when ≤ 1. */
function worstRatio(a: ArrayLike<number>, n: ArrayLike<number>): number {
  let worst = 0;
  for (let i = 0; i < n.length; i++) {
    const allowed = REL_TOL * Math.max(Math.abs(a[i]), Math.abs(n[i])) + ABS_TOL;
    worst = Math.max(worst, Math.abs(a[i] - n[i]) / allowed);
  }
  return worst;
}

describe.each<[string, MambaConfig]>([
  // d 4, N 3, expand 2 → E 8, R 1, K 4; B 2, L 5.
  ["default dt init", { dModel: 4, dState: 3, expand: 2 }],
  // Larger steps make the dt_proj and A_log gradients larger, so the relative test bites there.
  ["dt in [0.2, 1]", { dModel: 4, dState: 3, expand: 2, dtMin: 0.2, dtMax: 1 }],
])("Mamba gradients, float64 central differences (%s)", (label, config) => {
  const { mamba, u } = makeCase(config, "float64", 2, 5, 9);
  const w = new Random(77).normal([2, 5, 4], { dtype: "float64" });
  type Tree = { params: Record<string, Tensor>; u: Tensor };
  const tree: Tree = { params: mamba.parameters(), u };
  const loss = (t: Tree): Tensor => sum(mul(w, mamba.forward(t.u).out));
  const lossValue = (): number => tidy(() => loss(tree).item());

  const { value, grads } = valueAndGrad(loss)(tree);
  const analytic = new Map<string, ArrayLike<number>>([
    ...Object.entries(grads.params).map(([k, g]) => [k, g.dataSync()] as const),
    ["u", grads.u.dataSync()],
  ]);

  it("the loss value matches a plain forward", () => {
    expect(value.item()).toBeCloseTo(lossValue(), 12);
  });

  it.each([...MAMBA_PARAMETER_NAMES, "u"])("%s", (name) => {
    const t = name === "u" ? u : tree.params[name];
    const a = analytic.get(name) as ArrayLike<number>;
    const n = numericGrad(t, lossValue);
    const ratio = worstRatio(a, n);
    if (process.env.SSM_REPORT) {
      let absErr = 0;
      let relErr = 0;
      for (let i = 0; i < n.length; i++) {
        absErr = Math.max(absErr, Math.abs(a[i] - n[i]));
        if (Math.abs(n[i]) > 1e-4)
          relErr = Math.max(relErr, Math.abs(a[i] - n[i]) / Math.abs(n[i]));
      }
      const biggest = n.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      console.log(
        `[ssm] grad ${label} ${name}: max abs err ${absErr.toExponential(2)}, max rel err (|g|>1e-4) ${relErr.toExponential(2)}, max |g| ${biggest.toExponential(2)}`,
      );
    }
    expect(ratio).toBeLessThanOrEqual(1);
    // Every parameter reaches the loss.
    expect(n.some((v) => Math.abs(v) > 1e-6)).toBe(true);
  });
});
