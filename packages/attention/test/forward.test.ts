import { Random, memory as liveMemory, tensor, tidy } from "@bmojo/tensor";
import { describe, expect, it } from "vitest";
import { Attention, type AttentionConfig } from "../src/index.js";
import {
  type DenseMemory,
  denseForward,
  maxAbsDiff,
  randomInputs,
  weightsOf,
} from "./reference.js";

const B = 2;
const L = 9;

function check(
  config: AttentionConfig,
  options: { memory?: boolean; positionOffset?: number } = {},
) {
  const layer = new Attention(config, { rng: new Random(11), dtype: "float64" });
  const inputs = randomInputs(12);
  const x = inputs.normal([B, L, config.dModel], "float64");
  const spec = {
    dModel: config.dModel,
    heads: config.heads,
    kvHeads: config.kvHeads ?? config.heads,
    window: config.window ?? Number.POSITIVE_INFINITY,
    rope: config.rope ?? false,
    theta: config.ropeTheta ?? 10000,
  };
  let dense: DenseMemory | undefined;
  const chunkSize = 4;
  const chunks = Math.ceil(L / chunkSize);
  const slots = 3;
  const tokens = inputs.normal([B, chunks, slots, config.dModel], "float64");
  const mask = inputs.mask([B, chunks, slots]);
  if (options.memory) {
    dense = {
      tokens: Float64Array.from(tokens.dataSync()),
      chunks,
      slots,
      mask: Int32Array.from(mask.dataSync()),
      chunkSize,
    };
  }
  const got = tidy(() => {
    const mem = options.memory
      ? { ...layer.projectKeysValues(tokens), mask, chunkSize }
      : undefined;
    return layer.forward(x, { memory: mem, positionOffset: options.positionOffset });
  });
  expect(got.shape).toEqual([B, L, config.dModel]);
  const want = denseForward(
    weightsOf(layer),
    x.dataSync(),
    B,
    L,
    spec,
    dense,
    options.positionOffset ?? 0,
  );
  return maxAbsDiff(got.dataSync(), want);
}

describe("Attention.forward against a dense float64 reference", () => {
  it("full causal attention", () => {
    expect(check({ dModel: 12, heads: 3 })).toBeLessThan(1e-12);
  });

  it("sliding window 3 < L", () => {
    expect(check({ dModel: 12, heads: 3, window: 3 })).toBeLessThan(1e-12);
    expect(check({ dModel: 12, heads: 3, window: 1 })).toBeLessThan(1e-12);
  });

  it("a window ≥ L gives exactly full causal attention", () => {
    const x = new Random(3).normal([B, L, 8]);
    const full = new Attention({ dModel: 8, heads: 2 }, { rng: new Random(5) }).forward(x);
    for (const window of [L, L + 4]) {
      const windowed = new Attention({ dModel: 8, heads: 2, window }, { rng: new Random(5) });
      expect(Array.from(windowed.forward(x).dataSync())).toEqual(Array.from(full.dataSync()));
    }
    // and a window < L does not
    const short = new Attention({ dModel: 8, heads: 2, window: L - 1 }, { rng: new Random(5) });
    expect(maxAbsDiff(short.forward(x).dataSync(), full.dataSync())).toBeGreaterThan(1e-4);
  });

  it("grouped-query heads (heads 4, kvHeads 2), full and windowed", () => {
    expect(check({ dModel: 16, heads: 4, kvHeads: 2 })).toBeLessThan(1e-12);
    expect(check({ dModel: 16, heads: 4, kvHeads: 2, window: 4 })).toBeLessThan(1e-12);
    expect(check({ dModel: 16, heads: 4, kvHeads: 1, window: 4 })).toBeLessThan(1e-12);
  });

  it("RoPE on q and k, at position 0 and at an offset", () => {
    expect(check({ dModel: 16, heads: 2, rope: true })).toBeLessThan(1e-12);
    expect(
      check({ dModel: 16, heads: 2, rope: true, window: 3 }, { positionOffset: 37 }),
    ).toBeLessThan(1e-12);
    expect(check({ dModel: 16, heads: 4, kvHeads: 2, rope: true, ropeTheta: 100 })).toBeLessThan(
      1e-12,
    );
  });

  it("memory keys (NoPE) with partly masked slots", () => {
    expect(check({ dModel: 12, heads: 3, window: 3 }, { memory: true })).toBeLessThan(1e-12);
    expect(
      check({ dModel: 16, heads: 4, kvHeads: 2, window: 4, rope: true }, { memory: true }),
    ).toBeLessThan(1e-12);
    expect(check({ dModel: 12, heads: 3 }, { memory: true })).toBeLessThan(1e-12);
  });

  it("projectKeysValues gives [B, Hkv, C, M, Dh] = head g of k_proj/v_proj applied to each token", () => {
    const layer = new Attention(
      { dModel: 16, heads: 4, kvHeads: 2 },
      { rng: new Random(1), dtype: "float64" },
    );
    const tokens = new Random(2).normal([2, 3, 5, 16], { dtype: "float64" });
    const { k, v } = layer.projectKeysValues(tokens);
    expect(k.shape).toEqual([2, 2, 3, 5, 4]);
    expect(v.shape).toEqual([2, 2, 3, 5, 4]);
    const wk = layer.k_proj.weight.arraySync() as number[][];
    const t = tokens.arraySync() as number[][][][];
    const kk = k.arraySync() as number[][][][][];
    const [b, g, c, m, i] = [1, 1, 2, 4, 3];
    const expected = t[b][c][m].reduce((acc, xi, j) => acc + xi * wk[g * 4 + i][j], 0);
    expect(kk[b][g][c][m][i]).toBeCloseTo(expected, 12);
  });

  it("agrees in float32 within float32 precision and frees its intermediates", () => {
    const layer = new Attention(
      { dModel: 16, heads: 4, kvHeads: 2, window: 3, rope: true },
      { rng: new Random(11) },
    );
    const x = new Random(12).normal([B, L, 16]);
    layer.forward(x).dispose(); // uploads the RoPE tables (kept on the backend)
    const before = liveMemory().numTensors;
    const out = layer.forward(x);
    expect(liveMemory().numTensors).toBe(before + 1);
    const want = denseForward(weightsOf(layer), x.dataSync(), B, L, {
      dModel: 16,
      heads: 4,
      kvHeads: 2,
      window: 3,
      rope: true,
      theta: 10000,
    });
    expect(maxAbsDiff(out.dataSync(), want)).toBeLessThan(1e-5);
  });

  it("rejects bad inputs with clear errors", () => {
    const layer = new Attention({ dModel: 8, heads: 2 }, { rng: new Random(0) });
    expect(() => layer.forward(new Random(0).normal([2, 8]))).toThrow(
      "Attention.forward: input must be [batch, length, dModel] with dModel 8, got [2, 8].",
    );
    expect(() => layer.forward(new Random(0).normal([1, 3, 8]), { positionOffset: -1 })).toThrow(
      "positionOffset must be an integer ≥ 0",
    );
    const mem = {
      k: new Random(0).normal([1, 2, 2, 1, 4]),
      v: new Random(0).normal([1, 2, 2, 1, 4]),
      mask: tensor(new Int32Array([1, 1]), [1, 2, 1]),
      chunkSize: 4,
    };
    expect(() =>
      layer.forward(new Random(0).normal([1, 3, 8]), { memory: mem, positionOffset: 2 }),
    ).toThrow("positionOffset (2) must be a multiple of memory.chunkSize (4)");
  });
});
