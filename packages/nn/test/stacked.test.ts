import { Random, assignHost, memory, tidy } from "@bmojo/tensor";
import { describe, expect, it } from "vitest";
import { Linear, StackedLinears, SwiGLU } from "../src/index.js";

const host = (t: { dataSync(): ArrayLike<number> }) => Array.from(t.dataSync());

describe("StackedLinears", () => {
  const rng = new Random(4);
  const layers = [4, 6, 2].map((out) => new Linear(5, out, { rng }));
  const x = rng.normal([1, 3, 5]);

  it("gives each layer's output from one product", () => {
    const stacked = new StackedLinears(layers);
    tidy(() => {
      const outs = stacked.forward(x);
      outs.forEach((out, i) => {
        expect(out.shape).toEqual([1, 3, layers[i].outFeatures]);
        const want = host(layers[i].forward(x));
        for (const [j, v] of host(out).entries()) expect(v).toBeCloseTo(want[j], 6);
      });
    });
    stacked.dispose();
  });

  it("restacks after a weight is written in place, and frees its weight on dispose", () => {
    const stacked = new StackedLinears(layers);
    tidy(() => stacked.forward(x));
    const before = memory().numTensors;
    assignHost(layers[1].weight, new Float32Array(30).fill(0.5));
    const out = tidy(() => host(stacked.forward(x)[1]));
    const want = tidy(() => host(layers[1].forward(x)));
    for (const [j, v] of out.entries()) expect(v).toBeCloseTo(want[j], 6);
    expect(memory().numTensors).toBe(before); // the old stacked weight was freed
    stacked.dispose();
    expect(memory().numTensors).toBe(before - 1);
  });

  it("rejects biased layers and layers of different input widths", () => {
    expect(() => new StackedLinears([new Linear(3, 2, { rng, bias: true }), layers[0]])).toThrow(
      /bias-free/,
    );
    expect(() => new StackedLinears([new Linear(3, 2, { rng }), layers[0]])).toThrow(
      /inFeatures 3/,
    );
  });
});

describe("SwiGLU.step", () => {
  it("equals forward", () => {
    const rng = new Random(5);
    const mlp = new SwiGLU(8, 16, { rng });
    const x = rng.normal([2, 8]);
    const [a, b] = tidy(() => [host(mlp.step(x)), host(mlp.forward(x))]);
    for (const [j, v] of a.entries()) expect(v).toBeCloseTo(b[j], 6);
    const before = memory().numTensors;
    mlp.dispose();
    expect(before - memory().numTensors).toBe(4); // three weights and the stacked one
  });
});
