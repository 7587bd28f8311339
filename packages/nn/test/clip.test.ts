import { type Tensor, tensor, tidy } from "@bmojo/tensor";
import { describe, expect, it } from "vitest";
import { clipGradNorm, clipGradNormAsync } from "../src/index.js";

const read = (t: Tensor): number[] => Array.from(t.dataSync());
const globalNorm = (grads: Record<string, Tensor>): number =>
  Math.sqrt(
    Object.values(grads).reduce((acc, g) => acc + read(g).reduce((a, x) => a + x * x, 0), 0),
  );

describe("clipGradNorm", () => {
  const make = () => ({
    a: tensor([3, -4], [2], { dtype: "float64" }),
    b: tensor([[12]], [1, 1], { dtype: "float64" }),
    empty: tensor([], [0], { dtype: "float64" }),
  });

  it("computes the global L2 norm and scales to maxNorm (PyTorch's factor)", () => {
    const grads = make();
    const { grads: clipped, norm } = clipGradNorm(grads, 6.5);
    expect(norm).toBeCloseTo(13, 14); // sqrt(9 + 16 + 144)
    const factor = 6.5 / (13 + 1e-6);
    expect(read(clipped.a)[0]).toBeCloseTo(3 * factor, 14);
    expect(read(clipped.b)[0]).toBeCloseTo(12 * factor, 14);
    expect(clipped.b.shape).toEqual([1, 1]);
    expect(globalNorm(clipped)).toBeCloseTo(6.5, 6);
    // Inputs untouched; outputs are new tensors.
    expect(read(grads.a)).toEqual([3, -4]);
    expect(clipped.a).not.toBe(grads.a);
  });

  it("returns the same tensors when the norm is within maxNorm", () => {
    const grads = make();
    const result = clipGradNorm(grads, 20);
    expect(result.norm).toBeCloseTo(13, 14);
    expect(result.grads).toBe(grads);
  });

  it("works in float32, across dtypes, inside tidy, and async", async () => {
    const mixed = { a: tensor([3, 4]), b: tensor([12], [1], { dtype: "float64" }) };
    const out = tidy(() => clipGradNorm(mixed, 1.3));
    expect(out.norm).toBeCloseTo(13, 5);
    expect(out.grads.a.isDisposed).toBe(false);
    expect(globalNorm(out.grads)).toBeCloseTo(1.3, 5);
    const asyncResult = await clipGradNormAsync(make(), 6.5);
    expect(asyncResult.norm).toBeCloseTo(13, 14);
    expect(globalNorm(asyncResult.grads)).toBeCloseTo(6.5, 6);
    expect(clipGradNorm({}, 1)).toEqual({ grads: {}, norm: 0 });
  });

  it("validates maxNorm", () => {
    expect(() => clipGradNorm(make(), 0)).toThrow(
      "clipGradNorm: maxNorm must be a finite number > 0, got 0.",
    );
  });
});
