/** The shared shapes of the synthetic tasks: batches, the accuracy result and the task interface. */
import type { Random } from "@bmojo/tensor";

/** One batch of examples, host arrays, row-major [batch, length]. */
export interface TaskBatch {
  inputs: Int32Array;
  targets: Int32Array;
  batch: number;
  length: number;
}

/** Target id of a position that is not scored (PyTorch's `ignore_index`). */
export const IGNORE_INDEX = -100;

/** Accuracy over positions whose target is not IGNORE_INDEX (the metric of every task here). */
export interface AccuracyResult {
  correct: number;
  total: number;
  /** correct / total; 0 when no position is scored. */
  accuracy: number;
}

/** The names `createTask` accepts. */
export type TaskName = "mqar" | "noisy-mqar" | "fuzzy-mqar" | "selective-copy" | "induction-heads";

/** Every task name, in the order the README lists them. */
export const TASK_NAMES: readonly TaskName[] = [
  "mqar",
  "noisy-mqar",
  "fuzzy-mqar",
  "selective-copy",
  "induction-heads",
];

/** A seeded generator of examples for one configuration of one task. */
export interface SyntheticTask {
  readonly name: TaskName;
  /** Ids are in [0, vocabSize). */
  readonly vocabSize: number;
  /** Inputs/targets length per example. */
  readonly length: number;
  /** The resolved options (defaults filled in), for reports. */
  readonly options: Readonly<Record<string, number | string | boolean>>;
  /**
   * `batch` examples drawn from `rng` (deterministic for a seed: the result depends only on the
   * stream's state when called, and the call advances the stream).
   */
  sample(rng: Random, batch: number): TaskBatch;
  /** Accuracy of predicted ids (e.g. argmax of logits) [batch·length] against targets. */
  accuracy(predictions: ArrayLike<number>, targets: ArrayLike<number>): AccuracyResult;
}
