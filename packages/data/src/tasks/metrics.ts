/** The scoring helpers shared by every task: masked accuracy and argmax over logits. */
import { type AccuracyResult, IGNORE_INDEX } from "./types.js";

/**
 * Accuracy of `predictions` against `targets` over the positions whose target is not
 * IGNORE_INDEX. Both arrays must have the same length; `accuracy` is 0 when nothing is scored.
 */
export function maskedAccuracy(
  predictions: ArrayLike<number>,
  targets: ArrayLike<number>,
): AccuracyResult {
  if (predictions.length !== targets.length) {
    throw new RangeError(
      `accuracy: predictions (${predictions.length}) and targets (${targets.length}) must have the same length.`,
    );
  }
  let correct = 0;
  let total = 0;
  for (let i = 0; i < targets.length; i++) {
    const target = targets[i];
    if (target === IGNORE_INDEX) continue;
    total++;
    if (predictions[i] === target) correct++;
  }
  return { correct, total, accuracy: total === 0 ? 0 : correct / total };
}

/**
 * The index of the largest logit of each of `rows` rows of `vocab` logits (row-major). Ties go to
 * the lowest index; NaN never wins (a row of NaN gives 0).
 */
export function argmaxPredictions(
  logits: ArrayLike<number>,
  rows: number,
  vocab: number,
): Int32Array {
  if (!Number.isInteger(rows) || rows < 0 || !Number.isInteger(vocab) || vocab < 1) {
    throw new RangeError(
      `argmaxPredictions: need integers rows ≥ 0 and vocab ≥ 1, got rows ${rows}, vocab ${vocab}.`,
    );
  }
  if (logits.length !== rows * vocab) {
    throw new RangeError(
      `argmaxPredictions: logits has ${logits.length} values but rows·vocab = ${rows}·${vocab} = ${rows * vocab}.`,
    );
  }
  const out = new Int32Array(rows);
  for (let r = 0; r < rows; r++) {
    const base = r * vocab;
    let best = 0;
    let bestValue = Number.NEGATIVE_INFINITY;
    for (let v = 0; v < vocab; v++) {
      const x = logits[base + v];
      if (x > bestValue) {
        bestValue = x;
        best = v;
      }
    }
    out[r] = best;
  }
  return out;
}
