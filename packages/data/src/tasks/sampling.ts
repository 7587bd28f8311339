/**
 * Randomness for the task generators: a pooled stream of uniforms over a `Random`, and the
 * without-replacement samplers the recipes need. Nothing here allocates per drawn value.
 */
import type { Random } from "@bmojo/tensor";

const EMPTY = new Float64Array(0);

/**
 * Uniforms in [0, 1) (53 bits) taken from `rng` in chunks of `chunk` values, so generators that
 * need a data-dependent number of draws still call the stream once per chunk. Leftover values of
 * the last chunk are discarded, so the values drawn depend only on the stream's state at creation.
 */
export class UniformStream {
  private buffer: ArrayLike<number> = EMPTY;
  private index = 0;

  constructor(
    private readonly rng: Random,
    private readonly chunk: number,
  ) {}

  /** The next uniform in [0, 1). */
  next(): number {
    if (this.index === this.buffer.length) {
      this.buffer = this.rng.uniformArray(this.chunk, 0, 1, "float64");
      this.index = 0;
    }
    return this.buffer[this.index++];
  }

  /** A uniform integer in [0, n). */
  int(n: number): number {
    const k = Math.floor(this.next() * n);
    return k < n ? k : n - 1; // u·n can round up to n when u is within 2^-53 of 1
  }
}

/** A stream sized for `batch` examples of about `perExample` uniforms each. */
export function uniformStream(rng: Random, batch: number, perExample: number): UniformStream {
  const want = Math.ceil(batch * perExample) + 16;
  return new UniformStream(rng, Math.min(Math.max(want, 64), 1 << 16));
}

/**
 * Writes `count` distinct entries of `pool` in uniformly random order to `out[offset..]`
 * (a partial Fisher–Yates shuffle), then undoes its swaps so `pool` is unchanged on return.
 * `swaps` needs room for `count` entries.
 */
export function sampleDistinct(
  u: UniformStream,
  pool: Int32Array,
  count: number,
  out: Int32Array,
  offset: number,
  swaps: Int32Array,
): void {
  const n = pool.length;
  for (let i = 0; i < count; i++) {
    const j = i + u.int(n - i);
    swaps[i] = j;
    const picked = pool[j];
    pool[j] = pool[i];
    pool[i] = picked;
    out[offset + i] = picked;
  }
  for (let i = count - 1; i >= 0; i--) {
    const j = swaps[i];
    const t = pool[j];
    pool[j] = pool[i];
    pool[i] = t;
  }
}

/**
 * Successive sampling without replacement: `count` distinct indices of `weights`, each drawn with
 * probability proportional to its weight among the indices not drawn yet (the distribution of
 * numpy's `choice(n, count, replace=False, p=weights/sum)`), written to `out[0..count)` in draw
 * order. `scratch` (same length as `weights`) is overwritten. Weights must be positive.
 */
export function sampleWeighted(
  u: UniformStream,
  weights: Float64Array,
  count: number,
  out: Int32Array,
  scratch: Float64Array,
): void {
  scratch.set(weights);
  const n = weights.length;
  let total = 0;
  for (let i = 0; i < n; i++) total += weights[i];
  for (let c = 0; c < count; c++) {
    let target = u.next() * total;
    let picked = -1;
    let lastLive = -1;
    for (let i = 0; i < n; i++) {
      const w = scratch[i];
      if (w === 0) continue;
      lastLive = i;
      target -= w;
      if (target < 0) {
        picked = i;
        break;
      }
    }
    if (picked < 0) picked = lastLive; // rounding left the draw past the last live weight
    out[c] = picked;
    total -= scratch[picked];
    scratch[picked] = 0;
  }
}

/** 0, 1, …, n−1 shifted by `start`, as an Int32Array. */
export function range(start: number, n: number): Int32Array {
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) out[i] = start + i;
  return out;
}
