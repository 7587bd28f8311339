/**
 * Special cases: B'MOJO with m_e = 0 is B'MOJO-F; a window ≥ the length is full causal attention;
 * the layer's eidetic selection equals a brute-force top-k over the innovation scores of its SSM
 * output; planted unpredictable tokens are exactly what the store keeps.
 */
import { innovationScores, topKBruteForce } from "@bmojo/memory";
import { Random, tensor } from "@bmojo/tensor";
import { describe, expect, it } from "vitest";
import { BMojoLayer, LanguageModel } from "../src/index.js";
import { randomIds } from "./helpers.js";

const base = { vocabSize: 19, dModel: 16, heads: 2, window: 4, ssm: { dState: 4 }, seed: 2 };

describe("special cases", () => {
  it("B'MOJO with m_e = 0 equals B'MOJO-F (same parameters, identical logits)", () => {
    const bmojo = new LanguageModel({
      ...base,
      layers: "bmojo,bmojo",
      bmojo: { eideticTokens: 0, fadingTokens: 1 },
    });
    const bmojoF = new LanguageModel({
      ...base,
      layers: "bmojo-f,bmojo-f",
      bmojo: { eideticTokens: 5, fadingTokens: 1 },
    });
    expect(Object.keys(bmojo.parameters())).toEqual(Object.keys(bmojoF.parameters()));
    const ids = randomIds(2, 13, 19);
    expect(Array.from(bmojo.forward(ids).dataSync())).toEqual(
      Array.from(bmojoF.forward(ids).dataSync()),
    );
  });

  it("sliding-window attention with window ≥ length equals full causal attention", () => {
    const swa = new LanguageModel({ ...base, layers: "swa,swa", window: 13 });
    const full = new LanguageModel({ ...base, layers: "attention,attention" });
    const ids = randomIds(2, 13, 19);
    expect(Array.from(swa.forward(ids).dataSync())).toEqual(
      Array.from(full.forward(ids).dataSync()),
    );
    const narrow = new LanguageModel({ ...base, layers: "swa,swa", window: 3 });
    expect(Array.from(narrow.forward(ids).dataSync())).not.toEqual(
      Array.from(full.forward(ids).dataSync()),
    );
  });

  it("a B'MOJO layer's eidetic slots are the brute-force top-m_e over innovation scores of its SSM output", () => {
    const layer = new BMojoLayer(
      {
        dModel: 8,
        heads: 2,
        kvHeads: 2,
        window: 5,
        fadingTokens: 1,
        eideticTokens: 3,
        predictorLength: 4,
        ssm: { dState: 4, dConv: 4, expand: 2 },
      },
      { rng: new Random(9) },
    );
    const u = new Random(10).normal([2, 23, 8]);
    layer.forward(u);
    const selection = layer.lastSelection!;
    const y = layer.ssm.forward(u).out;
    const scores = innovationScores(y, { predictorLength: 4 }).dataSync();
    for (let b = 0; b < 2; b++) {
      const row = Array.from(scores.subarray(b * 23, (b + 1) * 23));
      expect(selection.scores[b].map((s) => Math.fround(s))).toEqual(
        row.map((s) => Math.fround(s)),
      );
      selection.positions[b].forEach((chosen, c) => {
        const expected = topKBruteForce(row, c * 5, 3);
        const padded = [...expected, ...new Array(3 - expected.length).fill(-1)];
        expect(chosen).toEqual(padded);
      });
    }
  });

  it("planted unpredictable inputs are exactly what the layer's store keeps", async () => {
    // The input holds a constant level that shifts at three planted positions. With a one-step
    // predictor, only the token where a shift happens is hard to predict: the SSM output then
    // moves on slowly (small per-token changes), so the planted tokens carry the top-3 scores.
    const layer = new BMojoLayer(
      {
        dModel: 8,
        heads: 2,
        kvHeads: 2,
        window: 8,
        fadingTokens: 1,
        eideticTokens: 3,
        predictorLength: 1,
        ssm: { dState: 4, dConv: 1, expand: 2 },
      },
      { rng: new Random(4), dtype: "float64" },
    );
    const length = 41; // the parallel form's chunk 5 selects among positions < 40
    const planted = [9, 21, 33];
    const rng = new Random(12);
    const levels = [
      rng.normalArray(8, 0, 0.1, "float64"),
      ...planted.map(() => rng.normalArray(8, 0, 3, "float64")),
    ];
    const values = new Float64Array(length * 8);
    for (let t = 0; t < length; t++) {
      const level = levels[planted.filter((p) => p <= t).length];
      values.set(level, t * 8);
    }
    const u = tensor(values, [1, length, 8], { dtype: "float64" });
    const cache = layer.createCache(1);
    for (let t = 0; t < 40; t++) {
      const token = tensor(values.subarray(t * 8, (t + 1) * 8), [1, 8], { dtype: "float64" });
      (await layer.step(token, cache)).dispose();
    }
    // The last step's score is still in flight: the snapshot refuses until the layer settles.
    expect(() => BMojoLayer.eideticSnapshot(cache)).toThrow(/await layer\.settle\(cache\)/);
    await layer.settle(cache);
    expect(BMojoLayer.eideticSnapshot(cache).sequences[0].positions).toEqual(planted);
    layer.forward(u);
    expect(layer.lastSelection!.positions[0][5]).toEqual(planted);
  });
});
