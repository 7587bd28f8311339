/** Timing statistics shared by the benchmarks. All times are in milliseconds. */

export interface TimingSummary {
  /** The raw samples, in the order they were taken. */
  samplesMs: number[];
  medianMs: number;
  bestMs: number;
  worstMs: number;
  meanMs: number;
}

/** Median of a non-empty list (the mean of the two middle values for an even count). */
export function median(values: readonly number[]): number {
  if (values.length === 0) throw new RangeError("median: no values");
  const sorted = [...values].sort((x, y) => x - y);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

export function summarize(samplesMs: readonly number[]): TimingSummary {
  if (samplesMs.length === 0) throw new RangeError("summarize: no samples");
  for (const s of samplesMs) {
    if (!Number.isFinite(s) || s < 0) {
      throw new RangeError(`summarize: samples must be finite and ≥ 0, got ${s}`);
    }
  }
  return {
    samplesMs: [...samplesMs],
    medianMs: median(samplesMs),
    bestMs: Math.min(...samplesMs),
    worstMs: Math.max(...samplesMs),
    meanMs: samplesMs.reduce((sum, s) => sum + s, 0) / samplesMs.length,
  };
}

/** Floating-point operations of an m×k by k×n matmul: 2·m·n·k (one multiply and one add each). */
export function matmulFlops(m: number, n: number, k: number): number {
  return 2 * m * n * k;
}

/** GFLOP/s for `flops` operations done in `ms` milliseconds. */
export function gflops(flops: number, ms: number): number {
  if (!(ms > 0)) throw new RangeError(`gflops: time must be > 0 ms, got ${ms}`);
  return flops / (ms * 1e6);
}

/** Milliseconds of a synchronous call. */
export function timeSync(fn: () => void): number {
  const t0 = performance.now();
  fn();
  return performance.now() - t0;
}

/** Milliseconds of an asynchronous call, up to the settlement of its promise. */
export async function timeAsync(fn: () => Promise<void>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

export interface ErrorSummary {
  /** max_i |actual[i] − expected[i]|. */
  maxAbsDiff: number;
  /** max_i |expected[i]|. */
  maxAbsExpected: number;
  /** maxAbsDiff / maxAbsExpected (maxAbsDiff itself when expected is all zeros). */
  relative: number;
}

/**
 * Largest absolute difference between two equally long arrays, and that difference relative to
 * the largest |expected|. A NaN anywhere makes the result NaN (so a `relative <= tol` check fails).
 */
export function compareArrays(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
): ErrorSummary {
  if (actual.length !== expected.length) {
    throw new RangeError(
      `compareArrays: length mismatch, actual ${actual.length} vs expected ${expected.length}`,
    );
  }
  let maxAbsDiff = 0;
  let maxAbsExpected = 0;
  let nan = false;
  for (let i = 0; i < actual.length; i++) {
    const d = Math.abs(actual[i] - expected[i]);
    if (d > maxAbsDiff) maxAbsDiff = d;
    else if (Number.isNaN(d)) nan = true;
    const e = Math.abs(expected[i]);
    if (e > maxAbsExpected) maxAbsExpected = e;
  }
  if (nan) maxAbsDiff = Number.NaN;
  const relative = maxAbsExpected > 0 ? maxAbsDiff / maxAbsExpected : maxAbsDiff;
  return { maxAbsDiff, maxAbsExpected, relative };
}
