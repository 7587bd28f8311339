import { Random, type Tensor, tensor } from "@bmojo/tensor";
import type { LanguageModel } from "../src/index.js";

/** Deterministic token ids [batch, length] below `vocab`. */
export function randomIds(batch: number, length: number, vocab: number, seed = 1): Tensor {
  return tensor(new Random(seed).intArray(batch * length, 0, vocab), [batch, length]);
}

/** Logits of every position through prefill(first `prefix`) and then one step per token. */
export async function recurrentLogits(
  model: LanguageModel,
  ids: Tensor,
  prefix: number,
): Promise<Float64Array> {
  const [batch, length] = ids.shape;
  const vocab = model.config.vocabSize;
  const host = ids.dataSync();
  const out = new Float64Array(batch * length * vocab);
  const cache = model.createCache(batch);
  const write = (t: number, values: ArrayLike<number>, b: number, offset: number) => {
    for (let v = 0; v < vocab; v++) out[(b * length + t) * vocab + v] = values[offset + v];
  };
  if (prefix > 0) {
    const head = tensor(
      Int32Array.from(
        { length: batch * prefix },
        (_, i) => host[Math.floor(i / prefix) * length + (i % prefix)],
      ),
      [batch, prefix],
    );
    const logits = (await model.prefill(head, cache)).dataSync();
    for (let b = 0; b < batch; b++)
      for (let t = 0; t < prefix; t++) write(t, logits, b, (b * prefix + t) * vocab);
  }
  for (let t = prefix; t < length; t++) {
    const step = tensor(
      Int32Array.from({ length: batch }, (_, b) => host[b * length + t]),
      [batch],
    );
    const logits = (await model.step(step, cache)).dataSync();
    for (let b = 0; b < batch; b++) write(t, logits, b, b * vocab);
  }
  model.disposeCache(cache);
  return out;
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst;
}

/** A small config of every block kind's knobs: 2 heads of 8, window 4, 3 eidetic + 2 fading tokens. */
export const SMALL = {
  vocabSize: 23,
  dModel: 16,
  heads: 2,
  window: 4,
  bmojo: { eideticTokens: 3, fadingTokens: 2 },
  ssm: { dState: 4 },
};
