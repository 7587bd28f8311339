/**
 * The fixed, strictly causal predictor of B'MOJO's innovation selection (DESIGN §4,
 * conventions.md "B'MOJO layer"):
 *
 *   ŷ_t = (y_{t−1} + y_{t−2} + … + y_{t−k'}) / k',   k' = min(k, t),   ŷ_0 = 0.
 *
 * It has no weights. The paper calls it "a running weighted average … implemented with short 1D
 * grouped causal convolutions"; the uniform 1/k' mean over the last k outputs is DESIGN §4's
 * default reading of that sentence.
 */
import { type Tensor, add, div, pad, slice, tensor, tidy, zerosLike } from "@bmojo/tensor";

/** The predictor length DESIGN §4 fixes as the default (k = 4). */
export const DEFAULT_PREDICTOR_LENGTH = 4;

/** Throws unless `k` is a positive integer; `where` names the argument in the message. */
export function assertPredictorLength(k: number, where: string): void {
  if (!Number.isInteger(k) || k < 1) {
    throw new RangeError(
      `${where} must be a positive integer (the number of previous outputs the predictor averages), got ${k}.`,
    );
  }
}

/**
 * The divisor of the running mean at position t: k' = min(k, t), and 1 at t = 0 (where the sum is
 * empty and ŷ_0 = 0, so any non-zero divisor gives the same result).
 */
export function predictorCount(t: number, predictorLength: number): number {
  return t === 0 ? 1 : Math.min(predictorLength, t);
}

/**
 * ŷ for every position of `y` [B, L, d] (same shape and dtype), as tensor ops:
 * `S = shift_1(y) + shift_2(y) + … + shift_k(y)` (added left to right; `shift_j` moves the sequence
 * j steps later and fills the first j positions with zeros; shifts with j ≥ L are all zero and
 * skipped), then `ŷ = S / k'` with k' broadcast over [1, L, 1].
 *
 * The summation order is part of the contract: `InnovationTracker` repeats it element by element
 * so the recurrent and parallel forms agree to the last bit on the reference backend.
 *
 * Records gradients like any composition of ops; `innovationScores` calls it under `noGrad`.
 */
export function causalMeanPrediction(y: Tensor, predictorLength: number): Tensor {
  const [batch, length, dim] = y.shape;
  const shifts = Math.min(predictorLength, length - 1);
  if (shifts <= 0) return zerosLike(y);
  return tidy(() => {
    let acc: Tensor | null = null;
    for (let j = 1; j <= shifts; j++) {
      const shifted = pad(slice(y, [0, 0, 0], [batch, length - j, dim]), [
        [0, 0],
        [j, 0],
        [0, 0],
      ]);
      acc = acc === null ? shifted : add(acc, shifted);
    }
    const counts = new Float64Array(length);
    for (let t = 0; t < length; t++) counts[t] = predictorCount(t, predictorLength);
    const divisor = tensor(counts, [1, length, 1], { dtype: y.dtype, backend: y.backend });
    return div(acc as Tensor, divisor);
  });
}
