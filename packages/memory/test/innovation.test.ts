import {
  type Tensor,
  add,
  memory,
  mul,
  sum,
  tensor,
  tidy,
  valueAndGrad,
  zeros,
} from "@bmojo/tensor";
import { describe, expect, it } from "vitest";
import { InnovationTracker, causalMeanPrediction, innovationScores } from "../src/index.js";
import { maxRelError, referenceScores, uniform } from "./helpers.js";

function scoresOf(y: Tensor, k?: number): Float64Array {
  return tidy(() => {
    const eps = innovationScores(y, k === undefined ? {} : { predictorLength: k });
    return Float64Array.from(eps.dataSync());
  });
}

describe("innovationScores", () => {
  const [B, L, D] = [2, 9, 5];
  const values = uniform(1, B * L * D);

  for (const k of [1, 2, 4]) {
    it(`matches the float64 reference loop for k = ${k} (float64 to 1e-12, float32 to 1e-5)`, () => {
      const ref = referenceScores(values, B, L, D, k);
      const y64 = tensor(values, [B, L, D], { dtype: "float64" });
      const eps64 = innovationScores(y64, { predictorLength: k });
      expect(eps64.shape).toEqual([B, L]);
      expect(eps64.dtype).toBe("float64");
      expect(maxRelError(eps64.dataSync(), ref)).toBeLessThan(1e-12);

      const y32 = tensor(values, [B, L, D], { dtype: "float32" });
      const eps32 = innovationScores(y32, { predictorLength: k });
      expect(eps32.dtype).toBe("float32");
      // y itself is rounded to float32; compare against the reference on the rounded values.
      const ref32 = referenceScores(Float32Array.from(values), B, L, D, k);
      expect(maxRelError(eps32.dataSync(), ref32)).toBeLessThan(1e-5);
      for (const t of [y64, eps64, y32, eps32]) t.dispose();
    });
  }

  it("uses k = 4 by default", () => {
    const y = tensor(values, [B, L, D], { dtype: "float64" });
    expect(maxRelError(scoresOf(y), referenceScores(values, B, L, D, 4))).toBeLessThan(1e-12);
    y.dispose();
  });

  it("ε_0 = ‖y_0‖ and, for t < k, averages only the t outputs that exist", () => {
    // One sequence, d = 2: y = (3,4), (0,0), (6,0), (1,1), (2,2), k = 4.
    const y = tensor([3, 4, 0, 0, 6, 0, 1, 1, 2, 2], [1, 5, 2], { dtype: "float64" });
    const eps = scoresOf(y, 4);
    // t=0: ŷ=0 → ‖(3,4)‖ = 5
    expect(eps[0]).toBeCloseTo(5, 14);
    // t=1: ŷ=(3,4) → ‖(−3,−4)‖ = 5
    expect(eps[1]).toBeCloseTo(5, 14);
    // t=2: ŷ=mean((0,0),(3,4))=(1.5,2) → ‖(4.5,−2)‖ = √24.25
    expect(eps[2]).toBeCloseTo(Math.sqrt(24.25), 14);
    // t=3: ŷ=mean of 3 = (3,4/3) → ‖(−2,−1/3)‖
    expect(eps[3]).toBeCloseTo(Math.hypot(-2, -1 / 3), 14);
    // t=4: ŷ=mean of 4 = (2.5,1.25) → ‖(−0.5,0.75)‖
    expect(eps[4]).toBeCloseTo(Math.hypot(-0.5, 0.75), 14);
    y.dispose();
  });

  it("k larger than the sequence, L = 1 and L = 0", () => {
    const v = uniform(3, 3 * 4);
    const y = tensor(v, [1, 3, 4], { dtype: "float64" });
    expect(maxRelError(scoresOf(y, 10), referenceScores(v, 1, 3, 4, 10))).toBeLessThan(1e-12);
    const one = tensor([3, 4], [1, 1, 2], { dtype: "float64" });
    expect(Array.from(scoresOf(one, 4))).toEqual([5]);
    const empty = zeros([2, 0, 3]);
    const eps = innovationScores(empty);
    expect(eps.shape).toEqual([2, 0]);
    for (const t of [y, one, empty, eps]) t.dispose();
  });

  it("a constant sequence has ε = ‖c‖ at t = 0 and exactly 0 afterwards", () => {
    const c = [0.5, -1.25, 2];
    const y = tensor(Array.from({ length: 6 }, () => c).flat(), [1, 6, 3]);
    const eps = scoresOf(y, 4);
    expect(eps[0]).toBeCloseTo(Math.hypot(...c), 6);
    expect(Array.from(eps.subarray(1))).toEqual([0, 0, 0, 0, 0]);
    y.dispose();
  });

  it("causalMeanPrediction is the strictly causal mean", () => {
    const y = tensor([1, 2, 4, 8, 16], [1, 5, 1], { dtype: "float64" });
    const p = causalMeanPrediction(y, 2);
    expect(Array.from(p.dataSync())).toEqual([0, 1, 1.5, 3, 6]);
    y.dispose();
    p.dispose();
  });

  it("errors name the argument and the fix", () => {
    const y2 = zeros([3, 4]);
    expect(() => innovationScores(y2)).toThrow(
      /innovationScores: y must be .*\[B, L, d\].*\[3, 4\]/,
    );
    const yi = zeros([1, 2, 3], { dtype: "int32" });
    expect(() => innovationScores(yi)).toThrow(
      /innovationScores: y must be a float \(float32, float64 or bfloat16\), got int32.*cast/,
    );
    const y = zeros([1, 2, 3]);
    expect(() => innovationScores(y, { predictorLength: 0 })).toThrow(
      /innovationScores: options.predictorLength must be a positive integer .*got 0/,
    );
    expect(() => innovationScores(y, { predictorLength: 1.5 })).toThrow(/predictorLength/);
    for (const t of [y2, yi, y]) t.dispose();
  });

  it("does not leak intermediate tensors", () => {
    const y = tensor(values, [B, L, D]);
    const before = memory().numTensors;
    const eps = innovationScores(y);
    expect(memory().numTensors).toBe(before + 1);
    eps.dispose();
    y.dispose();
  });

  it("carries no gradient: inside valueAndGrad the scores do not contribute", () => {
    const v = uniform(7, 1 * 6 * 3);
    const params = { y: tensor(v, [1, 6, 3], { dtype: "float64" }) };
    const f = valueAndGrad((p: typeof params) =>
      add(mul(sum(innovationScores(p.y)), 1000), sum(mul(p.y, 2))),
    );
    const { value, grads } = f(params);
    // The value includes the scores…
    const ref = referenceScores(v, 1, 6, 3, 4).reduce((a, b) => a + b, 0);
    const ySum = v.reduce((a, b) => a + b, 0);
    expect(value.item()).toBeCloseTo(1000 * ref + 2 * ySum, 9);
    // …but the gradient is only that of sum(2·y).
    expect(Array.from(grads.y.dataSync())).toEqual(new Array(18).fill(2));
    value.dispose();
    grads.y.dispose();
    params.y.dispose();
  });
});

describe("InnovationTracker", () => {
  for (const dtype of ["float32", "float64"] as const) {
    for (const k of [1, 2, 4, 7]) {
      it(`equals innovationScores step by step (${dtype}, k = ${k})`, () => {
        const [B, L, D] = [3, 17, 6];
        const v = uniform(100 + k, B * L * D, -2, 2);
        const y = tensor(v, [B, L, D], { dtype });
        const parallel = scoresOf(y, k);
        y.dispose();
        const tracker = new InnovationTracker(B, D, k, dtype);
        const step = dtype === "float32" ? new Float32Array(B * D) : new Float64Array(B * D);
        let worst = 0;
        let exact = true;
        for (let t = 0; t < L; t++) {
          for (let b = 0; b < B; b++) {
            for (let i = 0; i < D; i++) step[b * D + i] = v[(b * L + t) * D + i];
          }
          expect(tracker.steps).toBe(t);
          const eps = tracker.score(step);
          for (let b = 0; b < B; b++) {
            const p = parallel[b * L + t];
            worst = Math.max(worst, Math.abs(eps[b] - p) / Math.abs(p));
            if (eps[b] !== p) exact = false;
          }
        }
        expect(worst).toBeLessThanOrEqual(dtype === "float32" ? 1e-6 : 1e-12);
        // Same operations in the same order: bit-identical on the reference backend.
        expect(exact).toBe(true);
      });
    }
  }

  it("rounds float64 input to float32 in float32 mode, like a float32 tensor", () => {
    const v = uniform(5, 8 * 3);
    const y = tensor(v, [1, 8, 3], { dtype: "float32" });
    const parallel = scoresOf(y, 4);
    y.dispose();
    const tracker = new InnovationTracker(1, 3);
    for (let t = 0; t < 8; t++) {
      expect(tracker.score(v.subarray(t * 3, t * 3 + 3))[0]).toBe(parallel[t]);
    }
  });

  it("reset() starts over at t = 0; clone() branches the history; out is reused", () => {
    const tracker = new InnovationTracker(1, 2, 2, "float64");
    tracker.score(Float64Array.of(1, 1));
    tracker.score(Float64Array.of(3, 3));
    const branch = tracker.clone();
    const out = new Float64Array(1);
    // ŷ = (1+3)/2 = (2,2); y = (2,2) → 0
    expect(tracker.score(Float64Array.of(2, 2), out)).toBe(out);
    expect(out[0]).toBe(0);
    // branch has the same history
    expect(branch.score(Float64Array.of(2, 5))[0]).toBeCloseTo(3, 15);
    tracker.reset();
    expect(tracker.steps).toBe(0);
    expect(tracker.score(Float64Array.of(3, 4))[0]).toBe(5); // ε_0 = ‖y_0‖
  });

  for (const [k, steps] of [
    [4, 11],
    [4, 3],
    [3, 0],
    [1, 5],
  ] as const) {
    it(`load(last outputs, ${steps}) continues exactly like ${steps} score calls (k = ${k})`, () => {
      const [B, D, more] = [2, 5, 6];
      const total = steps + more;
      const v = uniform(7 + k, B * total * D, -2, 2);
      const row = (t: number) => {
        const r = new Float32Array(B * D);
        for (let b = 0; b < B; b++)
          r.set(v.subarray((b * total + t) * D, (b * total + t + 1) * D), b * D);
        return r;
      };
      const fed = new InnovationTracker(B, D, k);
      for (let t = 0; t < steps; t++) fed.score(row(t));
      const m = Math.min(k, steps);
      const history = new Float32Array(B * m * D);
      for (let b = 0; b < B; b++) {
        for (let r = 0; r < m; r++)
          history.set(row(steps - m + r).subarray(b * D, (b + 1) * D), (b * m + r) * D);
      }
      const loaded = new InnovationTracker(B, D, k);
      loaded.load(history, steps);
      expect(loaded.steps).toBe(steps);
      for (let t = steps; t < total; t++) {
        expect(Array.from(loaded.score(row(t)))).toEqual(Array.from(fed.score(row(t))));
      }
    });
  }

  it("load validates the history size and needs a fresh tracker", () => {
    const tracker = new InnovationTracker(2, 3, 4);
    expect(() => tracker.load(new Float32Array(5), 1)).toThrow(
      /history must hold batch · min\(k, steps\) · dim = 2 · 1 · 3 = 6 values, got 5/,
    );
    expect(() => tracker.load(new Float32Array(0), -1)).toThrow(
      /steps must be a non-negative integer/,
    );
    tracker.score(new Float32Array(6));
    expect(() => tracker.load(new Float32Array(6), 1)).toThrow(
      /already scored outputs; reset\(\) it first/,
    );
  });

  it("validates its arguments", () => {
    expect(() => new InnovationTracker(0, 4)).toThrow(/batch must be a positive integer/);
    expect(() => new InnovationTracker(1, 4, 0)).toThrow(
      /predictorLength must be a positive integer/,
    );
    const tracker = new InnovationTracker(2, 3);
    expect(() => tracker.score(new Float32Array(5))).toThrow(
      /y_t must hold batch · dim = 2 · 3 = 6 values, got 5/,
    );
    expect(() => tracker.score(new Float32Array(6), new Float64Array(1))).toThrow(
      /out must hold 2/,
    );
  });
});
