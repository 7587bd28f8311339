import { Random } from "@bmojo/tensor";
import { describe, expect, it } from "vitest";
import { Attention, type AttentionConfig, resolveAttentionConfig } from "../src/index.js";

const shapes = (layer: Attention) => layer.namedParameters().map(([n, t]) => [n, t.shape]);

describe("Attention parameters", () => {
  it("names q/k/v/o_proj.weight [d, d] each for multi-head attention, no biases", () => {
    const layer = new Attention({ dModel: 12, heads: 3 }, { rng: new Random(0) });
    expect(shapes(layer)).toEqual([
      ["q_proj.weight", [12, 12]],
      ["k_proj.weight", [12, 12]],
      ["v_proj.weight", [12, 12]],
      ["o_proj.weight", [12, 12]],
    ]);
    expect(layer.headDim).toBe(4);
    expect(layer.window).toBe(Number.POSITIVE_INFINITY);
    expect(layer.numParameters()).toBe(4 * 144);
    expect(layer.q_proj.bias).toBeNull();
  });

  it("gives k/v_proj [Hkv·Dh, d] with grouped-query heads", () => {
    const layer = new Attention({ dModel: 16, heads: 4, kvHeads: 2 }, { rng: new Random(0) });
    expect(shapes(layer)).toEqual([
      ["q_proj.weight", [16, 16]],
      ["k_proj.weight", [8, 16]],
      ["v_proj.weight", [8, 16]],
      ["o_proj.weight", [16, 16]],
    ]);
    const mqa = new Attention({ dModel: 16, heads: 4, kvHeads: 1 }, { rng: new Random(0) });
    expect(mqa.k_proj.weight.shape).toEqual([4, 16]);
  });

  it("creates float64 parameters when asked", () => {
    const layer = new Attention({ dModel: 4, heads: 2 }, { rng: new Random(0), dtype: "float64" });
    expect(layer.namedParameters().every(([, t]) => t.dtype === "float64")).toBe(true);
  });
});

describe("config validation", () => {
  const cases: [AttentionConfig, RegExp][] = [
    [{ dModel: 0, heads: 1 }, /Attention: dModel must be a positive integer, got 0/],
    [{ dModel: 8, heads: 0 }, /Attention: heads must be a positive integer/],
    [{ dModel: 8, heads: 2.5 }, /Attention: heads must be a positive integer/],
    [{ dModel: 10, heads: 4 }, /Attention: dModel \(10\) must be a multiple of heads \(4\)/],
    [{ dModel: 12, heads: 4, kvHeads: 3 }, /Attention: kvHeads \(3\) must divide heads \(4\)/],
    [{ dModel: 12, heads: 4, kvHeads: 0 }, /Attention: kvHeads must be a positive integer/],
    [{ dModel: 8, heads: 2, window: 0 }, /Attention: window must be an integer ≥ 1 or Infinity/],
    [{ dModel: 8, heads: 2, window: 2.5 }, /Attention: window must be/],
    [{ dModel: 8, heads: 2, window: Number.NaN }, /Attention: window must be/],
    [
      { dModel: 6, heads: 2, rope: true },
      /Attention: rope needs an even head dimension \(dModel \/ heads = 3\)/,
    ],
    [{ dModel: 8, heads: 2, rope: true, ropeTheta: 0 }, /Attention: ropeTheta must be/],
  ];
  it.each(cases)("rejects %j", (config, message) => {
    expect(() => resolveAttentionConfig(config)).toThrow(message);
    expect(() => new Attention(config, { rng: new Random(0) })).toThrow(message);
  });

  it("fills defaults", () => {
    expect(resolveAttentionConfig({ dModel: 8, heads: 2 })).toEqual({
      dModel: 8,
      heads: 2,
      kvHeads: 2,
      headDim: 4,
      window: Number.POSITIVE_INFINITY,
      rope: false,
      ropeTheta: 10000,
    });
    // An odd head dimension is fine without RoPE.
    expect(resolveAttentionConfig({ dModel: 6, heads: 2 }).headDim).toBe(3);
  });
});
