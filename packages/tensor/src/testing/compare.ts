/** Element-wise comparison with tolerances and a readable failure message. */
import type { Tolerance } from "./types.js";

export class ConformanceMismatch extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConformanceMismatch";
  }
}

/**
 * Throws ConformanceMismatch unless every |actual − expected| ≤ atol + rtol·|expected|.
 * NaN matches NaN and ±Infinity must match exactly. The message names `what`, the count of
 * mismatches, the worst index and both values there.
 */
export function assertClose(
  what: string,
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tol: Tolerance,
): void {
  if (actual.length !== expected.length) {
    throw new ConformanceMismatch(`${what}: length ${actual.length}, expected ${expected.length}`);
  }
  let bad = 0;
  let worst = -1;
  let worstExcess = -1;
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i];
    const e = expected[i];
    if (Number.isNaN(e) && Number.isNaN(a)) continue;
    if (!Number.isFinite(e) || !Number.isFinite(a)) {
      if (a === e) continue;
      bad++;
      if (worstExcess < Number.POSITIVE_INFINITY) {
        worst = i;
        worstExcess = Number.POSITIVE_INFINITY;
      }
      continue;
    }
    const excess = Math.abs(a - e) - (tol.atol + tol.rtol * Math.abs(e));
    if (excess > 0) {
      bad++;
      if (excess > worstExcess) {
        worst = i;
        worstExcess = excess;
      }
    }
  }
  if (bad > 0) {
    throw new ConformanceMismatch(
      `${what}: ${bad} of ${actual.length} elements differ beyond atol ${tol.atol} + rtol ${tol.rtol}; ` +
        `worst at index ${worst}: got ${actual[worst]}, expected ${expected[worst]} ` +
        `(abs diff ${Math.abs(actual[worst] - expected[worst])})`,
    );
  }
}
