/** The README example, as written there (package imports point at the sources), with its printed values asserted. */
import { Random, concat, reshape, slice, tensor, tidy } from "@bmojo/tensor";
import { expect, it } from "vitest";
import { Attention } from "../src/index.js";

it("runs the README example", () => {
  const logs: unknown[][] = [];
  const log = (...args: unknown[]) => logs.push(args);

  // --- README example start ---
  const swa = new Attention(
    { dModel: 64, heads: 8, kvHeads: 2, window: 16, rope: true },
    { rng: new Random(0) },
  );
  const x = new Random(1).normal([2, 40, 64]); // [batch, length, dModel]

  // Parallel form (training): every position at once.
  const y = swa.forward(x);
  log(
    y.shape,
    swa.namedParameters().map(([name, t]) => `${name} [${t.shape}]`),
  );

  // Recurrent form: prefill 30 tokens into a cache, then decode the rest one at a time.
  const cache = swa.createCache(2, 1024); // window 16 < 1024: a RingKVCache of 16 slots
  const head = swa.prefill(slice(x, [0, 0, 0], [2, 30, 64]), cache);
  const outs = [head];
  for (let t = 30; t < 40; t++) {
    const step = tidy(() => swa.step(reshape(slice(x, [0, t, 0], [2, 1, 64]), [2, 64]), cache).out);
    outs.push(reshape(step, [2, 1, 64]));
  }
  const decoded = concat(outs, 1);
  const diff = decoded.sub(y).abs().max().item();
  log(cache.kind, cache.position, cache.bytes(), diff < 1e-5);
  cache.dispose();

  const tokens = new Random(2).normal([2, 3, 4, 64]); // [batch, chunks C, slots M, dModel]
  const { k, v } = swa.projectKeysValues(tokens); // each [2, Hkv 2, 3, 4, Dh 8]
  const mask = tensor(new Int32Array(2 * 3 * 4).fill(1), [2, 3, 4]); // int32 [B, C, M], 0 = empty
  const out = swa.forward(slice(x, [0, 0, 0], [2, 30, 64]), {
    memory: { k, v, mask, chunkSize: 10 },
  });
  log(k.shape, out.shape);
  // --- README example end ---

  expect(logs[0]).toEqual([
    [2, 40, 64],
    [
      "q_proj.weight [64,64]",
      "k_proj.weight [16,64]",
      "v_proj.weight [16,64]",
      "o_proj.weight [64,64]",
    ],
  ]);
  expect(logs[1]).toEqual(["ring", 40, 4096, true]);
  expect(logs[2]).toEqual([
    [2, 2, 3, 4, 8],
    [2, 30, 64],
  ]);
});
