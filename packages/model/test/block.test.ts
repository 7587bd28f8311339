/** A block's recurrent forms on their own: prefill and step against the parallel forward. */
import { Random, type Tensor, concat, memory, reshape, slice, tidy } from "@bmojo/tensor";
import { describe, expect, it } from "vitest";
import { Block, disposeMixerCache, resolveConfig } from "../src/index.js";
import { SMALL, maxAbsDiff } from "./helpers.js";

/** Prefills x[:, :5] into a fresh cache, then steps x[:, 5:]; every output, in order. */
async function recurrent(block: Block, x: Tensor): Promise<{ out: number[]; head: Tensor }> {
  const cache = block.createCache(1);
  const head = slice(x, [0, 0, 0], [1, 5, 16]);
  const prefilled = await block.prefill(head, cache);
  const out = Array.from(prefilled.dataSync());
  prefilled.dispose();
  for (let t = 5; t < x.shape[1]; t++) {
    const xt = tidy(() => reshape(slice(x, [0, t, 0], [1, 1, 16]), [1, 16]));
    const y = await block.step(xt, cache);
    out.push(...y.dataSync());
    y.dispose();
    xt.dispose();
  }
  disposeMixerCache(cache);
  return { out, head };
}

describe("Block.prefill and Block.step", () => {
  const cases = [
    ["mamba", "rope"],
    ["attention", "rope"],
    ["attention", "none"],
    ["swa", "rope"],
    ["swa", "none"],
    ["bmojo", "rope"],
  ] as const;
  for (const [kind, positions] of cases) {
    const label = positions === "none" ? `${kind} (NoPE)` : kind;
    it(`${label}: a prefill of 5 tokens and 3 steps give forward's outputs, freeing what they made`, async () => {
      const config = resolveConfig({ ...SMALL, layers: [kind], dtype: "float64", positions });
      const block = new Block({ kind, mlp: true }, config, {
        rng: new Random(5),
        dtype: "float64",
      });
      const x = new Random(6).normal([1, 8, 16], { dtype: "float64" });
      const whole = block.forward(x).dataSync();
      (await recurrent(block, x)).head.dispose(); // builds the decode paths' cached weights
      const before = memory().numTensors;
      const { out, head } = await recurrent(block, x);
      // The caller's input stays alive; the cache is gone and nothing else is left.
      expect(head.isDisposed).toBe(false);
      head.dispose();
      expect(maxAbsDiff(out, whole)).toBeLessThan(1e-12);
      expect(memory().numTensors - before).toBe(0);
    });
  }
});

describe("positions", () => {
  /** One attention block's last output over x, and over x with its first two tokens swapped. */
  function lastOutputs(positions: "rope" | "none"): [number[], number[]] {
    const config = resolveConfig({ ...SMALL, layers: ["attention"], dtype: "float64", positions });
    const block = new Block({ kind: "attention", mlp: false }, config, {
      rng: new Random(5),
      dtype: "float64",
    });
    return tidy(() => {
      const x = new Random(6).normal([1, 4, 16], { dtype: "float64" });
      const swapped = concat(
        [
          slice(x, [0, 1, 0], [1, 1, 16]),
          slice(x, [0, 0, 0], [1, 1, 16]),
          slice(x, [0, 2, 0], [1, 2, 16]),
        ],
        1,
      );
      const last = (input: Tensor) =>
        Array.from(slice(block.forward(input), [0, 3, 0], [1, 1, 16]).dataSync());
      return [last(x), last(swapped)];
    });
  }

  it("NoPE attention: the last output does not depend on the order of the tokens before it", () => {
    const [plain, swapped] = lastOutputs("none");
    expect(maxAbsDiff(plain, swapped)).toBeLessThan(1e-12);
  });

  it("RoPE attention: the same swap changes the last output", () => {
    const [plain, swapped] = lastOutputs("rope");
    expect(maxAbsDiff(plain, swapped)).toBeGreaterThan(1e-6);
  });
});
