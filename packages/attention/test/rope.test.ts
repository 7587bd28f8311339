import { Random, type Tensor, grad, matmul, sum, tensor, tidy } from "@bmojo/tensor";
import { describe, expect, it } from "vitest";
import { applyRope } from "../src/index.js";
import { maxAbsDiff, ropeVector } from "./reference.js";

/** Plain-JS RoPE of x [B, H, L, Dh] at positions offset + l. */
function ropeReference(x: Tensor, offset: number, theta = 10000): Float64Array {
  const [b, h, l, dh] = x.shape;
  const data = Float64Array.from(x.dataSync());
  for (let row = 0; row < b * h * l; row++) {
    const v = data.subarray(row * dh, (row + 1) * dh);
    ropeVector(v, offset + (row % l), theta);
  }
  return data;
}

function norms(data: ArrayLike<number>, dh: number): number[] {
  const out: number[] = [];
  for (let r = 0; r < data.length / dh; r++) {
    let acc = 0;
    for (let i = 0; i < dh; i++) acc += data[r * dh + i] ** 2;
    out.push(Math.sqrt(acc));
  }
  return out;
}

describe("applyRope", () => {
  it("matches the conventions' rotate-half formula in float64", () => {
    const x = new Random(1).normal([2, 3, 7, 8], { dtype: "float64" });
    for (const offset of [0, 5, 1000]) {
      const got = applyRope(x, offset).dataSync();
      expect(maxAbsDiff(got, ropeReference(x, offset))).toBeLessThan(1e-12);
    }
    const theta = 500;
    expect(maxAbsDiff(applyRope(x, 3, theta).dataSync(), ropeReference(x, 3, theta))).toBeLessThan(
      1e-12,
    );
  });

  it("matches in float32 to float32 precision", () => {
    const x = new Random(2).normal([1, 2, 9, 16]);
    expect(maxAbsDiff(applyRope(x, 70).dataSync(), ropeReference(x, 70))).toBeLessThan(2e-6);
  });

  it("leaves position 0 unchanged and rotates pair (0, Dh/2) by pos radians", () => {
    const x = tensor([1, 2, 3, 4], [1, 1, 1, 4], { dtype: "float64" });
    expect(Array.from(applyRope(x, 0).dataSync())).toEqual([1, 2, 3, 4]);
    const p = 2;
    const y = applyRope(x, p).dataSync();
    expect(y[0]).toBeCloseTo(1 * Math.cos(p) - 3 * Math.sin(p), 14);
    expect(y[2]).toBeCloseTo(3 * Math.cos(p) + 1 * Math.sin(p), 14);
    const a1 = p * 10000 ** (-2 / 4);
    expect(y[1]).toBeCloseTo(2 * Math.cos(a1) - 4 * Math.sin(a1), 14);
  });

  it("preserves the norm of every head vector", () => {
    const x = new Random(3).normal([2, 2, 11, 6], { dtype: "float64" });
    const before = norms(x.dataSync(), 6);
    const after = norms(applyRope(x, 17).dataSync(), 6);
    expect(maxAbsDiff(before, after)).toBeLessThan(1e-12);
  });

  it("makes q·k depend only on the position difference", () => {
    const rng = new Random(4);
    const q = rng.normal([1, 1, 1, 8], { dtype: "float64" });
    const k = rng.normal([1, 1, 1, 8], { dtype: "float64" });
    const score = (pq: number, pk: number) =>
      tidy(() => matmul(applyRope(q, pq), applyRope(k, pk), { transposeB: true }).item());
    for (const delta of [0, 3, -2, 40]) {
      const ref = score(100 + delta, 100);
      for (const base of [0, 7, 60, 2000]) {
        if (base + delta < 0) continue;
        expect(Math.abs(score(base + delta, base) - ref)).toBeLessThan(1e-10);
      }
    }
    // and it does depend on the difference
    expect(Math.abs(score(5, 0) - score(0, 0))).toBeGreaterThan(1e-3);
  });

  it("is differentiable: the gradient of Σ c⊙rope(x) is the inverse rotation of c", () => {
    const rng = new Random(5);
    const x = rng.normal([1, 2, 3, 4], { dtype: "float64" });
    const c = rng.normal([1, 2, 3, 4], { dtype: "float64" });
    const g = grad((p: Tensor) => sum(applyRope(p, 9).mul(c)))(x);
    // rope is a rotation R; d/dx Σ c·Rx = Rᵀc, and Rᵀ rotates by −angle: check R(Rᵀc) = c.
    const back = applyRope(g, 9).dataSync();
    expect(maxAbsDiff(back, c.dataSync())).toBeLessThan(1e-12);
  });

  it("rejects an odd head dimension and bad positions with clear errors", () => {
    const odd = new Random(0).normal([1, 1, 2, 5]);
    expect(() => applyRope(odd, 0)).toThrow(
      "applyRope: the head dimension must be even for rotate-half RoPE, got 5.",
    );
    const x = new Random(0).normal([1, 1, 2, 4]);
    expect(() => applyRope(x, -1)).toThrow("positionOffset must be an integer ≥ 0");
    expect(() => applyRope(new Random(0).normal([2, 4]), 0)).toThrow(
      "[batch, heads, length, headDim]",
    );
  });
});
