/** A tiny B'MOJO learns a copy task on the CPU within a fixed number of steps. */
import { AdamW, clipGradNorm, cosineSchedule } from "@bmojo/nn";
import { Random, type Tensor, tensor, tidy, valueAndGrad } from "@bmojo/tensor";
import { describe, expect, it } from "vitest";
import { LanguageModel } from "../src/index.js";

/** Sequences "a b c d e | a b c d e": the second half copies the first; only it is scored. */
function copyBatch(rng: Random, batch: number, half: number, vocab: number) {
  const length = 2 * half + 1;
  const sep = vocab - 1;
  const ids = new Int32Array(batch * length);
  const targets = new Int32Array(batch * length).fill(-100);
  for (let b = 0; b < batch; b++) {
    const symbols = rng.intArray(half, 0, vocab - 1);
    const row = [...symbols, sep, ...symbols];
    row.forEach((s, t) => {
      ids[b * length + t] = s;
    });
    for (let t = half; t < length - 1; t++) targets[b * length + t] = row[t + 1];
  }
  return { ids: tensor(ids, [batch, length]), targets: tensor(targets, [batch, length]) };
}

describe("training", () => {
  it("the copy-task loss of a tiny B'MOJO falls below a third of its start in 300 steps", () => {
    const vocab = 12;
    const model = new LanguageModel({
      vocabSize: vocab,
      dModel: 32,
      heads: 2,
      window: 8,
      layers: "bmojo,bmojo",
      bmojo: { eideticTokens: 4, fadingTokens: 1 },
      ssm: { dState: 8 },
      seed: 1,
    });
    const optimizer = new AdamW(model.parameters(), {
      lr: 5e-3,
      weightDecay: 0,
      groups: [{ name: "ssm", match: /\.ssm\./, lr: 1e-2 }],
    });
    const schedule = cosineSchedule({ warmupSteps: 10, totalSteps: 300, minRatio: 0.1 });
    const rng = new Random(2);
    const losses: number[] = [];
    // The loss calls the model directly; the tape follows the parameter tensors passed in.
    const step = valueAndGrad((_params: Record<string, Tensor>, ids: Tensor, targets: Tensor) =>
      model.loss(ids, targets),
    );
    for (let s = 1; s <= 300; s++) {
      tidy(() => {
        const { ids, targets } = copyBatch(rng, 8, 4, vocab);
        const { value, grads } = step(model.parameters(), ids, targets);
        losses.push(value.item());
        const clipped = clipGradNorm(grads, 1);
        optimizer.step(clipped.grads, schedule(s));
      });
    }
    const first = losses.slice(0, 5).reduce((a, b) => a + b) / 5;
    const last = losses.slice(-5).reduce((a, b) => a + b) / 5;
    console.log(`copy task: loss ${first.toFixed(3)} -> ${last.toFixed(3)}`);
    expect(last).toBeLessThan(first / 3);
  });
});
