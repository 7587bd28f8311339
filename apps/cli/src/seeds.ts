/**
 * Seeds derived from the run's `--seed`. Training batch `s` is drawn from its own stream,
 * `trainSeed(seed, s)`, so it depends only on (seed, step): a resumed run sees exactly the batches
 * an uninterrupted run would have. Evaluation uses `evalSeed(seed)`, a different stream, so it is
 * never scored on training batches' streams; `exampleSeed(seed)` is a third stream, for examples
 * shown to the user.
 */

/** A 32-bit avalanche mix (murmur3's finaliser). */
function mix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** A non-negative 32-bit seed from several integers (order matters). */
export function deriveSeed(...parts: number[]): number {
  let h = 0x9e3779b9;
  for (const part of parts) {
    // Safe integers up to 2^53: fold the high and low words in separately.
    const low = part >>> 0;
    const high = Math.floor(part / 2 ** 32) >>> 0;
    h = mix32(h ^ mix32(low + 0x7f4a7c15));
    h = mix32(h ^ mix32(high + 0x2545f491));
  }
  return h;
}

/** Domain tags, so that training and evaluation streams never coincide. */
const TRAIN = 1;
const EVAL = 2;
const EXAMPLE = 3;

/** The stream of training batch `step` (1-based). */
export function trainSeed(seed: number, step: number): number {
  return deriveSeed(TRAIN, seed, step);
}

/** The default stream of evaluation batches of a run with `seed`. */
export function evalSeed(seed: number): number {
  return deriveSeed(EVAL, seed);
}

/** The stream of the single example `bmojo compare` shows (neither a training nor an eval batch). */
export function exampleSeed(seed: number): number {
  return deriveSeed(EXAMPLE, seed);
}
