/** A block's recurrent forms on their own: prefill and step against the parallel forward. */
import { Random, type Tensor, memory, reshape, slice, tidy } from "@bmojo/tensor";
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
  for (const kind of ["mamba", "attention", "swa", "bmojo"] as const) {
    it(`${kind}: a prefill of 5 tokens and 3 steps give forward's outputs, freeing what they made`, async () => {
      const config = resolveConfig({ ...SMALL, layers: [kind], dtype: "float64" });
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
