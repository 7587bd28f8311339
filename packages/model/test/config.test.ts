import { tensor } from "@bmojo/tensor";
import { describe, expect, it } from "vitest";
import {
  LanguageModel,
  PLAN_NAMES,
  inferenceStateBytes,
  parameterCount,
  preset,
  resolveConfig,
} from "../src/index.js";

describe("layer plans", () => {
  it("expands plan names and parses layer lists with :mlp / :nomlp", () => {
    expect(
      resolveConfig(preset("hybrid", "tiny", { numLayers: 4 })).layers.map(
        (l) => `${l.kind}:${l.mlp}`,
      ),
    ).toEqual(["mamba:true", "swa:true", "mamba:true", "swa:true"]);
    expect(
      resolveConfig({ vocabSize: 8, dModel: 8, layers: "mamba, bmojo:nomlp,mamba:mlp" }).layers,
    ).toEqual([
      { kind: "mamba", mlp: false },
      { kind: "bmojo", mlp: false },
      { kind: "mamba", mlp: true },
    ]);
  });

  it("invalid configs fail with errors that name the field", () => {
    const base = { vocabSize: 8, dModel: 8 };
    expect(() => resolveConfig({ ...base, layers: "mamba,gru" })).toThrow(
      'model config: layers[1]: unknown layer kind "gru"; use one of mamba, attention, swa, bmojo, bmojo-f, optionally suffixed :mlp or :nomlp.',
    );
    expect(() => resolveConfig({ ...base, layers: "bmojo:big" })).toThrow(
      'model config: layers[0]: unknown suffix in "bmojo:big"',
    );
    expect(() => resolveConfig({ ...base, layers: "bmojo" })).toThrow(
      "model config: numLayers: must be a positive integer, got undefined.",
    );
    expect(() => resolveConfig({ ...base, layers: "swa", numLayers: 2, window: 0 })).toThrow(
      "model config: window: must be a positive integer, got 0.",
    );
    expect(() =>
      resolveConfig({ ...base, layers: ["bmojo"], bmojo: { eideticTokens: -1 } }),
    ).toThrow("model config: bmojo.eideticTokens: must be a non-negative integer, got -1.");
    expect(() =>
      resolveConfig({ ...base, layers: ["bmojo"], bmojo: { eideticTokens: 0, fadingTokens: 0 } }),
    ).toThrow("model config: bmojo: fadingTokens + eideticTokens must be ≥ 1");
    expect(() => resolveConfig({ ...base, layers: ["attention"], heads: 3 })).toThrow(
      "model config: heads: must divide dModel (8), got 3.",
    );
    expect(() => resolveConfig({ ...base, layers: ["attention"], heads: 8 })).toThrow(
      "model config: heads: RoPE needs an even head size",
    );
    expect(() =>
      resolveConfig({ ...base, layers: ["attention"], positions: "alibi" as "rope" }),
    ).toThrow('model config: positions: must be one of "rope", "none", got "alibi".');
    expect(() =>
      resolveConfig({ ...base, layers: ["bmojo"], bmojo: { positions: "yes" as "rope" } }),
    ).toThrow('model config: bmojo.positions: must be one of "rope", "none", got "yes".');
    expect(() =>
      resolveConfig({ ...base, layers: ["bmojo"], heads: 8, bmojo: { positions: "rope" } }),
    ).toThrow("model config: heads: RoPE needs an even head size");
    // NoPE attention has no rotation, so an odd head size is fine.
    expect(
      resolveConfig({ ...base, layers: ["attention"], heads: 8, positions: "none" }).heads,
    ).toBe(8);
    expect(() => resolveConfig({ ...base, layers: ["mamba"], vocabSize: 0 })).toThrow(
      "model config: vocabSize: must be a positive integer, got 0.",
    );
    expect(() => preset("gpt" as "mamba")).toThrow('model config: preset: unknown plan "gpt"');
  });

  it("token ids outside the vocabulary are rejected, naming the id", () => {
    const model = new LanguageModel(preset("mamba", "tiny"));
    expect(() => model.forward(tensor(Int32Array.from([3, 70, 1, 2]), [1, 4]))).toThrow(
      "ids: token id 70 at flat position 1 is out of range for vocabSize 64; ids must be in [0, 64).",
    );
    expect(() => model.forward(tensor([[1, 2]]))).toThrow(
      "ids must be int32 token ids, got float32.",
    );
    expect(() => model.forward(tensor(Int32Array.from([1, 2])))).toThrow(
      "ids must have shape [batch, length], got [2].",
    );
  });
});

describe("sizes", () => {
  it("parameterCount and inferenceStateBytes match built models and their caches", async () => {
    for (const plan of PLAN_NAMES) {
      const config = preset(plan, "tiny", { window: 4, maxLength: 64 });
      const model = new LanguageModel(config);
      expect(parameterCount(config)).toBe(model.numParameters());
      const cache = model.createCache(1);
      expect(inferenceStateBytes(config)).toBe(model.cacheBytes(cache));
      model.disposeCache(cache);
      model.dispose();
    }
  });

  it("the 130m presets land near 130M parameters", () => {
    const counts = Object.fromEntries(
      PLAN_NAMES.map((plan) => [plan, parameterCount(preset(plan, "130m"))]),
    );
    for (const count of Object.values(counts)) {
      expect(count).toBeGreaterThan(120e6);
      expect(count).toBeLessThan(150e6);
    }
  });
});
