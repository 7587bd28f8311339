/** Shared test helpers: a seeded PRNG and the plain-JS float64 reference of innovation scores. */

/** mulberry32: a small deterministic PRNG returning floats in [0, 1). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `n` uniform values in [lo, hi). */
export function uniform(seed: number, n: number, lo = -1, hi = 1): Float64Array {
  const r = rng(seed);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = lo + (hi - lo) * r();
  return out;
}

/** `n` small integer scores in [0, levels): many ties. */
export function integerScores(seed: number, n: number, levels: number): Float64Array {
  const r = rng(seed);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.floor(r() * levels);
  return out;
}

/**
 * ε [B·L] for y [B, L, d] (row-major), written as the definition in float64:
 * ŷ_t = mean(y_{t−1..t−k'}), k' = min(k, t), ŷ_0 = 0;  ε_t = ‖y_t − ŷ_t‖₂.
 */
export function referenceScores(
  y: ArrayLike<number>,
  batch: number,
  length: number,
  dim: number,
  k: number,
): Float64Array {
  const out = new Float64Array(batch * length);
  for (let b = 0; b < batch; b++) {
    for (let t = 0; t < length; t++) {
      const kp = Math.min(k, t);
      let sq = 0;
      for (let i = 0; i < dim; i++) {
        let mean = 0;
        for (let j = 1; j <= kp; j++) mean += y[(b * length + t - j) * dim + i];
        if (kp > 0) mean /= kp;
        const diff = y[(b * length + t) * dim + i] - mean;
        sq += diff * diff;
      }
      out[b * length + t] = Math.sqrt(sq);
    }
  }
  return out;
}

/** The largest |a − b| / max(|b|, floor) over two equal-length arrays. */
export function maxRelError(a: ArrayLike<number>, b: ArrayLike<number>, floor = 1e-30): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    const err = Math.abs(a[i] - b[i]) / Math.max(Math.abs(b[i]), floor);
    if (Number.isNaN(err)) return Number.NaN; // fails any toBeLessThan
    if (err > worst) worst = err;
  }
  return worst;
}
