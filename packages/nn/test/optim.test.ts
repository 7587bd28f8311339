import { type Tensor, memory, tensor, tidy } from "@bmojo/tensor";
import { describe, expect, it } from "vitest";
import { AdamW } from "../src/index.js";

const f64 = (values: number[]): Tensor => tensor(values, [values.length], { dtype: "float64" });
const read = (t: Tensor): number[] => Array.from(t.dataSync());

/** torch.optim.AdamW's single-tensor update, written out in float64 (the test's reference). */
function torchAdamW(
  p: number,
  grads: number[],
  { lr, beta1 = 0.9, beta2 = 0.95, eps = 1e-8, wd = 0.1 }: Record<string, number>,
): { p: number; m: number; v: number }[] {
  let m = 0;
  let v = 0;
  const out = [];
  for (let step = 1; step <= grads.length; step++) {
    const g = grads[step - 1];
    p *= 1 - lr * wd; // param.mul_(1 - lr * weight_decay)
    m += (g - m) * (1 - beta1); // exp_avg.lerp_(grad, 1 - beta1)
    v = v * beta2 + (1 - beta2) * g * g; // exp_avg_sq.mul_(beta2).addcmul_(grad, grad, 1 - beta2)
    const denom = Math.sqrt(v) / Math.sqrt(1 - beta2 ** step) + eps;
    p -= (lr / (1 - beta1 ** step)) * (m / denom); // param.addcdiv_(exp_avg, denom, -step_size)
    out.push({ p, m, v });
  }
  return out;
}

describe("AdamW", () => {
  it("matches a hand-computed PyTorch AdamW sequence over 3 steps (defaults β=(0.9, 0.95), wd=0.1)", () => {
    const w = f64([1, -2]);
    const opt = new AdamW({ w }, { lr: 0.1 });
    const gradSeq = [
      [0.5, 3],
      [-0.25, 0],
      [1, -1.5],
    ];
    // Step 1 by hand for w[0]: p = 1·(1 − 0.01) = 0.99; m = 0.05; v = 0.0125;
    // m̂ = 0.05/0.1 = 0.5, sqrt(v̂) = sqrt(0.0125/0.05) = 0.5 → p = 0.99 − 0.1·0.5/(0.5 + 1e-8).
    const expected = [
      { p: [0.890000002, -2.0799999996666667], m: [0.05, 0.3], v: [0.0125, 0.45] },
      { p: [0.8542630578558273, -2.1270647740269784], m: [0.02, 0.27], v: [0.015, 0.4275] },
      { p: [0.7808459348967066, -2.1237904899320132], m: [0.118, 0.093], v: [0.06425, 0.518625] },
    ];
    for (let i = 0; i < 3; i++) {
      tidy(() => opt.step({ w: f64(gradSeq[i]) }));
      expect(opt.stepCount).toBe(i + 1);
      const { m, v } = opt.state().moments.w;
      for (let j = 0; j < 2; j++) {
        expect(read(w)[j]).toBeCloseTo(expected[i].p[j], 12);
        expect(read(m)[j]).toBeCloseTo(expected[i].m[j], 12);
        expect(read(v)[j]).toBeCloseTo(expected[i].v[j], 12);
      }
    }
    // And the same numbers from the written-out reference.
    const ref = torchAdamW(-2, [3, 0, -1.5], { lr: 0.1 });
    expect(read(w)[1]).toBeCloseTo(ref[2].p, 14);
    opt.dispose();
  });

  it("gives each group its own lr and weight decay; the first matching group wins", () => {
    const init = [0.5, -1, 2];
    const params = {
      "layers.0.mixer.A_log": f64(init),
      "layers.0.mixer.attn.q_proj.weight": f64(init),
      "layers.0.norm1.weight": f64(init),
    };
    const opt = new AdamW(params, {
      lr: 0.01,
      betas: [0.9, 0.999],
      weightDecay: 0.1,
      groups: [
        { name: "no-decay", match: (n) => n.includes("norm"), weightDecay: 0 },
        { name: "ssm", match: /\.mixer\.(A_log|D|dt_proj|x_proj|conv1d)/, lr: 0.001 },
        { name: "never", match: /norm/, lr: 5 }, // shadowed by "no-decay"
      ],
    });
    expect(opt.groupOf("layers.0.mixer.A_log")).toBe("ssm");
    expect(opt.groupOf("layers.0.mixer.attn.q_proj.weight")).toBe("default");
    expect(opt.groupOf("layers.0.norm1.weight")).toBe("no-decay");
    expect(() => opt.groupOf("nope")).toThrow("no parameter named nope");

    const g = [0.3, -0.7, 0.1];
    for (let step = 0; step < 2; step++) {
      tidy(() => opt.step(Object.fromEntries(Object.keys(params).map((n) => [n, f64(g)]))));
    }
    const check = (name: keyof typeof params, hyper: Record<string, number>) => {
      const got = read(params[name]);
      init.forEach((p0, i) => {
        const ref = torchAdamW(p0, [g[i], g[i]], { beta2: 0.999, ...hyper });
        expect(got[i]).toBeCloseTo(ref[1].p, 13);
      });
    };
    check("layers.0.mixer.A_log", { lr: 0.001, wd: 0.1 });
    check("layers.0.mixer.attn.q_proj.weight", { lr: 0.01, wd: 0.1 });
    check("layers.0.norm1.weight", { lr: 0.01, wd: 0 });
    // Different lr → genuinely different updates (about 10× apart; decay compounds slightly).
    const moved = (name: keyof typeof params) => Math.abs(read(params[name])[0] - init[0]);
    const ratio = moved("layers.0.mixer.attn.q_proj.weight") / moved("layers.0.mixer.A_log");
    expect(ratio).toBeGreaterThan(9.9);
    expect(ratio).toBeLessThan(10.1);
    opt.dispose();
  });

  it("multiplies every group's lr by lrScale", () => {
    const a = f64([1, 2]);
    const b = f64([1, 2]);
    const opt = new AdamW(
      { a, b },
      { lr: 0.1, groups: [{ name: "slow", match: /^b$/, lr: 0.02 }] },
    );
    tidy(() => opt.step({ a: f64([1, -1]), b: f64([1, -1]) }, 0.25));
    const refA = torchAdamW(1, [1], { lr: 0.025 });
    const refB = torchAdamW(1, [1], { lr: 0.005 });
    expect(read(a)[0]).toBeCloseTo(refA[0].p, 14);
    expect(read(b)[0]).toBeCloseTo(refB[0].p, 14);
    expect(() => opt.step({ a: f64([0, 0]), b: f64([0, 0]) }, -1)).toThrow(
      "lrScale must be a finite number ≥ 0, got -1",
    );
    opt.dispose();
  });

  it("works in float32 with moments on the parameter's dtype, created lazily and kept past tidy", () => {
    const w = tensor([1, -2], [2]);
    const opt = new AdamW({ w }, { lr: 0.1 });
    expect(opt.state()).toEqual({ step: 0, moments: {} });
    tidy(() => opt.step({ w: tensor([0.5, 3], [2]) }));
    const { m, v } = opt.state().moments.w;
    expect(m.dtype).toBe("float32");
    expect(m.isDisposed).toBe(false);
    expect(read(v)[1]).toBeCloseTo(0.45, 6);
    expect(read(w)[0]).toBeCloseTo(0.890000002, 6);
    const before = memory().numTensors;
    opt.dispose();
    expect(memory().numTensors).toBe(before - 2);
    expect(m.isDisposed).toBe(true);
  });

  it("names the parameter when a gradient is missing, unknown or misshapen, and changes nothing", () => {
    const params = { "a.weight": f64([1, 2]), "b.bias": f64([3]) };
    const opt = new AdamW(params, { lr: 0.1 });
    const good = { "a.weight": f64([1, 1]), "b.bias": f64([1]) };
    expect(() => opt.step({ "a.weight": good["a.weight"] })).toThrow("missing gradient for b.bias");
    expect(() => opt.step({ ...good, "c.weight": f64([1]) })).toThrow(
      "gradient for unknown parameter c.weight",
    );
    expect(() => opt.step({ ...good, "a.weight": f64([1, 1, 1]) })).toThrow(
      "gradient of a.weight has shape [3] but the parameter has [2]",
    );
    expect(() => opt.step({ ...good, "b.bias": tensor([1], [1]) })).toThrow(
      "gradient of b.bias is float32 but the parameter is float64",
    );
    expect(read(params["a.weight"])).toEqual([1, 2]);
    expect(opt.stepCount).toBe(0);
    expect(() => new AdamW({ ids: tensor(new Int32Array([1])) }, { lr: 1 })).toThrow(
      "parameter ids is int32",
    );
    expect(() => new AdamW({}, { lr: -1 })).toThrow(
      "AdamW: lr must be a finite number ≥ 0, got -1",
    );
    expect(() => new AdamW({}, { lr: 1, betas: [0.9, 1] })).toThrow(
      "betas must be two numbers in [0, 1)",
    );
    expect(() => new AdamW({}, { lr: 1, groups: [{ name: "default", match: /x/ }] })).toThrow(
      "groups[0].name",
    );
  });

  it("resumes from state()/loadState() exactly", () => {
    const gradSeq = [
      [0.5, -1],
      [2, 0.25],
      [-0.75, 1],
    ];
    const straight = f64([1, -1]);
    const optA = new AdamW({ w: straight }, { lr: 0.05 });
    for (const g of gradSeq) tidy(() => optA.step({ w: f64(g) }));

    const first = f64([1, -1]);
    const optB = new AdamW({ w: first }, { lr: 0.05 });
    for (const g of gradSeq.slice(0, 2)) tidy(() => optB.step({ w: f64(g) }));
    const saved = optB.state();
    const resumed = f64(read(first));
    const optC = new AdamW({ w: resumed }, { lr: 0.05 });
    optC.loadState(saved);
    optB.dispose(); // optC holds copies
    expect(optC.stepCount).toBe(2);
    tidy(() => optC.step({ w: f64(gradSeq[2]) }));
    expect(read(resumed)).toEqual(read(straight));

    expect(() => optC.loadState({ step: 1, moments: {} })).toThrow("no moments for w");
    expect(() =>
      optC.loadState({
        step: 1,
        moments: { w: { m: f64([0]), v: f64([0, 0]) }, x: { m: f64([0]), v: f64([0]) } },
      }),
    ).toThrow(
      "the state does not match: m of w is float64 [1] but the parameter is float64 [2]; unknown parameter x.",
    );
    expect(optC.stepCount).toBe(3);
    optA.dispose();
    optC.dispose();
  });
});
