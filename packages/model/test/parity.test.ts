/**
 * Recurrent step-by-step logits equal the parallel forward, for every block type and every preset
 * plan, over sequences spanning several chunks (window 4, length 19), from a fresh cache and after
 * a prefill.
 */
import { describe, expect, it } from "vitest";
import { LanguageModel, type ModelConfig, PLAN_NAMES, preset } from "../src/index.js";
import { SMALL, maxAbsDiff, randomIds, recurrentLogits } from "./helpers.js";

const small = SMALL;

const configs: [string, ModelConfig][] = [
  ...(["mamba", "attention", "swa", "bmojo", "bmojo-f"] as const).map(
    (kind): [string, ModelConfig] => [`block ${kind}`, { ...small, layers: [kind], seed: 3 }],
  ),
  ...PLAN_NAMES.map((plan): [string, ModelConfig] => [
    `preset ${plan} (tiny, window 4)`,
    preset(plan, "tiny", { window: 4, seed: 5 }),
  ]),
  [
    "block bmojo with RoPE",
    { ...small, layers: ["bmojo"], bmojo: { ...small.bmojo, positions: "rope" }, seed: 3 },
  ],
  [
    "block bmojo-f with RoPE",
    { ...small, layers: ["bmojo-f"], bmojo: { ...small.bmojo, positions: "rope" }, seed: 4 },
  ],
  [
    "NoPE attention and swa",
    { ...small, layers: ["attention", "swa"], positions: "none", seed: 6 },
  ],
  [
    "mixed plan with GQA, B'MOJO with RoPE",
    {
      ...small,
      heads: 4,
      kvHeads: 2,
      layers: "bmojo,swa:nomlp,mamba:mlp,attention,bmojo-f",
      bmojo: { ...small.bmojo, positions: "rope" },
      seed: 8,
    },
  ],
  [
    "mixed plan with GQA",
    {
      ...small,
      heads: 4,
      kvHeads: 2,
      layers: "bmojo,swa:nomlp,mamba:mlp,attention,bmojo-f",
      seed: 7,
    },
  ],
];

describe("recurrent step equals the parallel forward (float32, ≤ 1e-4)", () => {
  for (const [name, config] of configs) {
    it(name, async () => {
      const model = new LanguageModel(config);
      const ids = randomIds(2, 19, model.config.vocabSize);
      const parallel = model.forward(ids).dataSync();
      expect(maxAbsDiff(await recurrentLogits(model, ids, 0), parallel)).toBeLessThanOrEqual(1e-4);
      expect(maxAbsDiff(await recurrentLogits(model, ids, 10), parallel)).toBeLessThanOrEqual(1e-4);
      expect(maxAbsDiff(await recurrentLogits(model, ids, 8), parallel)).toBeLessThanOrEqual(1e-4);
    });
  }

  const float64Cases: [string, ModelConfig, number][] = [
    ["bmojo, mamba and swa", { ...small, layers: "bmojo,mamba,swa", seed: 11 }, 1],
    [
      "B'MOJO with RoPE (memory keys at their tokens' positions)",
      { ...small, layers: "bmojo,bmojo", bmojo: { ...small.bmojo, positions: "rope" }, seed: 12 },
      2,
    ],
  ];
  for (const [name, config, batch] of float64Cases) {
    it(`in float64 the two forms agree to 1e-10: ${name}`, async () => {
      const model = new LanguageModel({ ...config, dtype: "float64" });
      const ids = randomIds(batch, 17, 23, 3 + batch);
      const parallel = model.forward(ids).dataSync();
      expect(maxAbsDiff(await recurrentLogits(model, ids, 0), parallel)).toBeLessThanOrEqual(1e-10);
      expect(maxAbsDiff(await recurrentLogits(model, ids, 9), parallel)).toBeLessThanOrEqual(1e-10);
    });
  }
});
