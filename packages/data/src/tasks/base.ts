/** The part every task shares: batch allocation, argument checks and the accuracy metric. */
import type { Random } from "@bmojo/tensor";
import { maskedAccuracy } from "./metrics.js";
import { type UniformStream, uniformStream } from "./sampling.js";
import {
  type AccuracyResult,
  IGNORE_INDEX,
  type SyntheticTask,
  type TaskBatch,
  type TaskName,
} from "./types.js";

/**
 * A task as a per-example generator: subclasses write one example at `offset` of the batch
 * arrays (inputs arrive zeroed, targets filled with IGNORE_INDEX) from a shared uniform stream.
 */
export abstract class TaskBase implements SyntheticTask {
  abstract readonly name: TaskName;
  abstract readonly vocabSize: number;
  abstract readonly length: number;
  abstract readonly options: Readonly<Record<string, number | string | boolean>>;

  /** About how many uniforms one example consumes (sizes the stream's chunks). */
  protected abstract readonly uniformsPerExample: number;

  /** Writes one example into inputs/targets[offset .. offset + length). */
  protected abstract generate(
    u: UniformStream,
    inputs: Int32Array,
    targets: Int32Array,
    offset: number,
  ): void;

  sample(rng: Random, batch: number): TaskBatch {
    if (!Number.isSafeInteger(batch) || batch < 1) {
      throw new RangeError(`${this.name}.sample: batch must be an integer ≥ 1, got ${batch}.`);
    }
    const length = this.length;
    const inputs = new Int32Array(batch * length);
    const targets = new Int32Array(batch * length).fill(IGNORE_INDEX);
    const u = uniformStream(rng, batch, this.uniformsPerExample);
    for (let b = 0; b < batch; b++) this.generate(u, inputs, targets, b * length);
    return { inputs, targets, batch, length };
  }

  accuracy(predictions: ArrayLike<number>, targets: ArrayLike<number>): AccuracyResult {
    return maskedAccuracy(predictions, targets);
  }
}
