import {
  Random,
  type Tensor,
  grad,
  matmul,
  reshape,
  slice,
  sum,
  tensor,
  tidy,
} from "@bmojo/tensor";
import { describe, expect, it } from "vitest";
import { Attention, applyRope, applyRopeAt } from "../src/index.js";
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

describe("applyRopeAt", () => {
  it("rotates each token to its own position, every head alike, as the formula does", () => {
    const x = new Random(6).normal([5, 3, 8], { dtype: "float64" });
    const at = [0, 7, 2, 2, 130];
    const got = applyRopeAt(
      x,
      tensor(Int32Array.from(at), [5], { dtype: "int32" }),
      131,
    ).dataSync();
    const want = Float64Array.from(x.dataSync());
    for (let n = 0; n < 5; n++)
      for (let h = 0; h < 3; h++)
        ropeVector(want.subarray((n * 3 + h) * 8, (n * 3 + h + 1) * 8), at[n], 10000);
    expect(maxAbsDiff(got, want)).toBeLessThan(1e-12);
  });

  it("a memory key at position p is the in-context key of the same token at p", () => {
    const attn = new Attention(
      { dModel: 8, heads: 2, rope: true },
      { rng: new Random(7), dtype: "float64" },
    );
    const tokens = new Random(8).normal([1, 1, 3, 8], { dtype: "float64" });
    const positions = tensor(Int32Array.from([4, 0, 9]), [1, 1, 3], { dtype: "int32" });
    const { k } = attn.projectKeysValues(tokens, { positions, bound: 10 });
    // In-context: k_proj of the same token, split into heads and rotated at its position.
    for (const [slot, pos] of [
      [0, 4],
      [1, 0],
      [2, 9],
    ] as const) {
      const row = tidy(() => {
        const keys = reshape(attn.k_proj.forward(tokens), [3, 2, 1, 4]); // [slot, head, 1, Dh]
        return applyRope(
          reshape(slice(keys, [slot, 0, 0, 0], [1, 2, 1, 4]), [1, 2, 1, 4]),
          pos,
        ).dataSync();
      });
      const mem = tidy(() => slice(k, [0, 0, 0, slot, 0], [1, 2, 1, 1, 4]).dataSync());
      expect(maxAbsDiff(mem, row)).toBeLessThan(1e-12);
    }
  });

  it("names bad arguments", () => {
    const x = new Random(0).normal([2, 1, 4]);
    expect(() => applyRopeAt(x, tensor([0, 1]), 2)).toThrow(
      "applyRopeAt: positions must be int32 [2] (one per token of x), got float32 [2].",
    );
    const two = tensor(Int32Array.from([0, 1]), [2], { dtype: "int32" });
    expect(() => applyRopeAt(new Random(0).normal([2, 1, 5]), two, 2)).toThrow(
      "applyRopeAt: the head dimension must be even for rotate-half RoPE, got 5.",
    );
    expect(() => applyRopeAt(x, two, 2, Number.NaN)).toThrow(
      "applyRopeAt: theta must be a finite number > 0, got NaN.",
    );
    const rope = new Attention({ dModel: 8, heads: 2, rope: true }, { rng: new Random(1) });
    const nope = new Attention({ dModel: 8, heads: 2 }, { rng: new Random(1) });
    const tokens = new Random(0).normal([1, 1, 2, 8]);
    // A RoPE attention without positions gives NoPE memory keys: the unrotated projection.
    const plain = tidy(() => {
      const { k } = rope.projectKeysValues(tokens);
      return Array.from(k.dataSync());
    });
    const projected = tidy(() => Array.from(rope.k_proj.forward(tokens).dataSync()));
    expect(plain.slice(0, 4)).toEqual(projected.slice(0, 4));
    const at = {
      positions: tensor(Int32Array.from([0, 1]), [1, 1, 2], { dtype: "int32" }),
      bound: 2,
    };
    expect(() => nope.projectKeysValues(tokens, at)).toThrow(
      "Attention.projectKeysValues: this attention is NoPE, so memory keys take no positions",
    );
  });
});
