/**
 * Noisy MQAR, "noisy in-context recall" (MAD, `generate_in_context_recall_instance` with
 * multi_query=True), test-style targets.
 *
 * With V = vocabSize, L = length (even), nv = V − noiseVocab, P = L/2:
 *   key ids [0, ⌊nv/2⌋), value ids [⌊nv/2⌋, nv), noise ids [nv, V);
 *   inputs = one noise token, then P − 1 two-token items, then the probe key:
 *     each item is, with probability fracNoise, two uniform noise tokens, else a pair k v with k a
 *     uniform key and v its value in this sequence (a uniform value, drawn when k first appears;
 *     two keys may share a value); one uniformly chosen item is always a pair;
 *     the probe key k* is a uniform choice among the distinct keys presented;
 *   targets = IGNORE_INDEX except: at every key that was presented before, its value (multi-query
 *     recall), and at the final position (k*) the value of k*.
 * Differences from MAD: MAD's multi-query sequences are L − 1 long (inputs[:-1] of L tokens); the
 * leading noise token makes them exactly L. MAD draws the guaranteed pair among P items of which
 * only P − 1 exist; we draw it among the P − 1 (so a presented key always exists). MAD trains on
 * next-token targets everywhere; we score only the recalls (its test-time targets) throughout.
 */
import { TaskBase } from "./base.js";
import { type Resolved, check, finite, integer, resolveOptions } from "./options.js";
import type { UniformStream } from "./sampling.js";
import type { SyntheticTask, TaskName } from "./types.js";

export interface NoisyMqarOptions {
  /** Vocabulary size V, noise ids included (32). */
  vocabSize?: number;
  /** Example length L (128), even, ≥ 4. */
  length?: number;
  /** Noise ids, the top `noiseVocab` ids of the vocabulary (16), ≥ 1. */
  noiseVocab?: number;
  /** Probability that an item is noise instead of a key-value pair (0.2), in [0, 1). */
  fracNoise?: number;
}

const SPEC = {
  vocabSize: integer(32, 3),
  length: integer(128, 4),
  noiseVocab: integer(16, 1),
  fracNoise: finite(0.2),
};

class NoisyMqarTask extends TaskBase {
  readonly name: TaskName = "noisy-mqar";
  readonly vocabSize: number;
  readonly length: number;
  protected readonly uniformsPerExample: number;
  private readonly keyCount: number;
  private readonly valueCount: number;
  private readonly noiseStart: number;
  private readonly noiseCount: number;
  private readonly fracNoise: number;
  /** Value of each key in the current sequence, −1 while not presented. */
  private readonly keyValue: Int32Array;
  /** The distinct keys presented so far, in order. */
  private readonly presented: Int32Array;

  constructor(readonly options: Resolved<typeof SPEC>) {
    super();
    const { vocabSize: V, length: L, noiseVocab, fracNoise } = options;
    const task = "noisy-mqar";
    check(L % 2 === 0, task, `length (${L}) must be even`);
    const nv = V - noiseVocab;
    check(nv >= 2, task, `vocabSize - noiseVocab (${nv}) must be ≥ 2 (one key and one value id)`);
    check(fracNoise >= 0 && fracNoise < 1, task, `fracNoise (${fracNoise}) must be in [0, 1)`);
    this.vocabSize = V;
    this.length = L;
    this.keyCount = Math.floor(nv / 2);
    this.valueCount = nv - this.keyCount;
    this.noiseStart = nv;
    this.noiseCount = noiseVocab;
    this.fracNoise = fracNoise;
    this.keyValue = new Int32Array(this.keyCount);
    this.presented = new Int32Array(this.keyCount);
    this.uniformsPerExample = 1.5 * L;
  }

  protected generate(
    u: UniformStream,
    inputs: Int32Array,
    targets: Int32Array,
    offset: number,
  ): void {
    const { length: L, keyCount, valueCount, noiseStart, noiseCount, fracNoise } = this;
    const { keyValue, presented } = this;
    keyValue.fill(-1);
    let presentedCount = 0;
    const items = L / 2 - 1;
    const pairItem = u.int(items);
    inputs[offset] = noiseStart + u.int(noiseCount);
    for (let i = 0; i < items; i++) {
      const at = offset + 1 + 2 * i; // the item's first token; inputs[at − 1] predicts it
      if (i !== pairItem && fracNoise > 0 && u.next() < fracNoise) {
        inputs[at] = noiseStart + u.int(noiseCount);
        inputs[at + 1] = noiseStart + u.int(noiseCount);
        continue;
      }
      const key = u.int(keyCount);
      let value = keyValue[key];
      if (value < 0) {
        value = keyCount + u.int(valueCount);
        keyValue[key] = value;
        presented[presentedCount++] = key;
      } else {
        targets[at] = value; // a repeated key: recall its value
      }
      inputs[at] = key;
      inputs[at + 1] = value;
    }
    const probe = presented[u.int(presentedCount)];
    inputs[offset + L - 1] = probe;
    targets[offset + L - 1] = keyValue[probe];
  }
}

/** Noisy MQAR (MAD) with the given options; see the module comment for the recipe. */
export function noisyMqar(options: NoisyMqarOptions = {}): SyntheticTask {
  return new NoisyMqarTask(resolveOptions("noisy-mqar", SPEC, options));
}
