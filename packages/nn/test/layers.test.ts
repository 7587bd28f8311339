import { Random, tensor } from "@bmojo/tensor";
import { describe, expect, it } from "vitest";
import { Dropout, Embedding, Linear, Module, RMSNorm, SwiGLU, swigluHidden } from "../src/index.js";

class Pair extends Module {
  readonly a: Linear;
  readonly b: RMSNorm;
  constructor(rng: Random) {
    super();
    this.a = this.registerModule("layers.0", new Linear(3, 2, { rng, bias: true }));
    this.b = this.registerModule("norm", new RMSNorm(2));
  }
}

describe("Module", () => {
  it("names parameters by dotted path in registration order and counts them", () => {
    const m = new Pair(new Random(0));
    expect(m.namedParameters().map(([n, t]) => [n, t.shape])).toEqual([
      ["layers.0.weight", [2, 3]],
      ["layers.0.bias", [2]],
      ["norm.weight", [2]],
    ]);
    expect(m.numParameters()).toBe(10);
    expect(Object.keys(m.parameters())).toEqual([
      "layers.0.weight",
      "layers.0.bias",
      "norm.weight",
    ]);
    expect(m.eval().training).toBe(false);
    expect(m.a.training).toBe(false);
  });
});

describe("layers", () => {
  it("Linear computes x Wᵀ + b with PyTorch's init bounds", () => {
    const lin = new Linear(4, 3, { rng: new Random(1), bias: true });
    const w = lin.weight.dataSync();
    expect(Math.max(...Array.from(w, Math.abs))).toBeLessThanOrEqual(0.5);
    const x = tensor([[1, 2, 3, 4]]);
    const y = lin.forward(x).dataSync();
    const b = lin.bias!.dataSync();
    for (let o = 0; o < 3; o++) {
      let expected = b[o];
      for (let i = 0; i < 4; i++) expected += (i + 1) * w[o * 4 + i];
      expect(y[o]).toBeCloseTo(expected, 5);
    }
    expect(() => new Linear(0, 3, { rng: new Random(0) })).toThrow(
      "Linear: inFeatures must be a positive integer, got 0.",
    );
  });

  it("Embedding gathers rows; RMSNorm normalises; SwiGLU has the conventional width", () => {
    const emb = new Embedding(5, 2, { rng: new Random(2) });
    const table = emb.weight.arraySync() as number[][];
    expect(emb.forward(tensor(new Int32Array([4, 0]))).arraySync()).toEqual([table[4], table[0]]);
    const norm = new RMSNorm(2);
    const out = norm.forward(tensor([[3, 4]])).dataSync();
    const rms = Math.sqrt((9 + 16) / 2 + 1e-5);
    expect(out[0]).toBeCloseTo(3 / rms, 6);
    expect(swigluHidden(768)).toBe(2048);
    expect(swigluHidden(64)).toBe(192);
    expect(swigluHidden(8)).toBe(64);
    const mlp = new SwiGLU(4, 8, { rng: new Random(3) });
    expect(mlp.forward(tensor([[1, 0, -1, 2]])).shape).toEqual([1, 4]);
    expect(mlp.namedParameters().map(([n]) => n)).toEqual([
      "w_gate.weight",
      "w_up.weight",
      "w_down.weight",
    ]);
  });

  it("Dropout zeroes about p of the elements in training and nothing in eval", () => {
    const drop = new Dropout(0.25, new Random(4));
    const x = tensor(new Float32Array(4000).fill(1));
    const y = drop.forward(x).dataSync();
    const zeros = y.filter((v) => v === 0).length;
    expect(Math.abs(zeros / 4000 - 0.25)).toBeLessThan(0.03);
    expect(y.find((v) => v !== 0)).toBeCloseTo(1 / 0.75, 6);
    expect(drop.eval().forward(x)).toBe(x);
  });
});
