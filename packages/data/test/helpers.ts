/** Shared helpers for the task tests. */
import { IGNORE_INDEX, type TaskBatch } from "../src/index.js";

/** Row `r` of a batch as plain arrays. */
export function row(batch: TaskBatch, r: number): { inputs: number[]; targets: number[] } {
  const from = r * batch.length;
  const to = from + batch.length;
  return {
    inputs: Array.from(batch.inputs.subarray(from, to)),
    targets: Array.from(batch.targets.subarray(from, to)),
  };
}

/** Positions whose target is scored. */
export function scored(targets: ArrayLike<number>): number[] {
  const out: number[] = [];
  for (let t = 0; t < targets.length; t++) if (targets[t] !== IGNORE_INDEX) out.push(t);
  return out;
}
