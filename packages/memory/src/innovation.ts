/**
 * Innovation scores ε_t = ‖y_t − ŷ_t‖₂: how badly the fixed causal predictor (predictor.ts)
 * predicts the SSM output y_t from the outputs before it. High ε marks an "unpredictable" token,
 * a candidate for the eidetic memory.
 *
 * Two forms that agree to the last bit on the reference backend:
 * - `innovationScores(y)`: the parallel form on a whole [B, L, d] tensor, with tensor ops (runs on
 *   any backend, carries no gradient);
 * - `InnovationTracker`: the recurrent form for decoding, one token at a time on the host, with
 *   constant memory (a ring of the last k outputs per batch element).
 */
import {
  type DType,
  type Tensor,
  cast,
  formatShape,
  noGrad,
  sqrt,
  square,
  sub,
  sum,
  tidy,
} from "@bmojo/tensor";
import {
  DEFAULT_PREDICTOR_LENGTH,
  assertPredictorLength,
  causalMeanPrediction,
  predictorCount,
} from "./predictor.js";

/** Options of `innovationScores`. */
export interface InnovationOptions {
  /** k, the number of previous SSM outputs the predictor averages. Default 4 (DESIGN §4). */
  predictorLength?: number;
}

/** The float dtypes innovation scores are computed in (the dtype of y). */
export type InnovationDType = Extract<DType, "float32" | "float64">;

/**
 * ε [B, L] for SSM outputs `y` [B, L, d], in y's dtype (float32, or float64 for a float64 model;
 * bfloat16 outputs are scored in float32, so close scores stay distinct and the stepwise
 * `InnovationTracker` in float32 gives the same values):
 *
 *   ŷ_t = (y_{t−1} + … + y_{t−k'}) / k',  k' = min(k, t),  ŷ_0 = 0;   ε_t = ‖y_t − ŷ_t‖₂ over d.
 *
 * So ε_0 = ‖y_0‖₂, and for t < k the mean is over the t outputs that exist. Computed under
 * `noGrad`: the scores only select which tokens are stored, and no gradient flows through that
 * choice (bmojo-paper.md §1.5). Intermediates are disposed; the caller owns the result.
 */
export function innovationScores(y: Tensor, options: InnovationOptions = {}): Tensor {
  const predictorLength = options.predictorLength ?? DEFAULT_PREDICTOR_LENGTH;
  assertPredictorLength(predictorLength, "innovationScores: options.predictorLength");
  if (y.rank !== 3) {
    throw new RangeError(
      `innovationScores: y must be the SSM outputs [B, L, d] (rank 3), got ${formatShape(y.shape)}.`,
    );
  }
  if (y.dtype === "int32") {
    throw new TypeError(
      `innovationScores: y must be a float (float32, float64 or bfloat16), got int32; cast it first with cast(y, "float32").`,
    );
  }
  y.assertAlive("innovationScores");
  return noGrad(() =>
    tidy(() => {
      const wide = y.dtype === "bfloat16" ? cast(y, "float32") : y;
      const prediction = causalMeanPrediction(wide, predictorLength);
      return sqrt(sum(square(sub(wide, prediction)), -1));
    }),
  );
}

/**
 * ε_t = ‖y_t − ŷ_t‖₂ of sequence b, with ŷ_t the mean of its last `have` outputs in the ring
 * (y_{t−1} first, then y_{t−2}, …: the parallel form's summation order) and every operation
 * rounded to float32 as the kernels round it; the sum of squares accumulates in float64 (the
 * reduce kernel rounds once, on store). `acc` is scratch of `dim` values.
 */
function innovationFloat32(
  ring: Float32Array | Float64Array,
  acc: Float64Array,
  yt: Float32Array | Float64Array,
  b: number,
  dim: number,
  k: number,
  head: number,
  have: number,
  count: number,
): number {
  const row = (j: number) => (b * k + ((head - j + k) % k)) * dim;
  const offset = b * dim;
  let sumSq = 0;
  if (have === 4) {
    // The default k = 4 once four outputs are in: one pass, the four rows summed in the same
    // order and with the same roundings as the general loop below (0 + y_{t−1} is y_{t−1}).
    const r1 = row(1);
    const r2 = row(2);
    const r3 = row(3);
    const r4 = row(4);
    for (let i = 0; i < dim; i++) {
      const sum4 = Math.fround(
        Math.fround(Math.fround(ring[r1 + i] + ring[r2 + i]) + ring[r3 + i]) + ring[r4 + i],
      );
      const diff = Math.fround(Math.fround(yt[offset + i]) - Math.fround(sum4 / count));
      sumSq += Math.fround(diff * diff);
    }
    return Math.fround(Math.sqrt(Math.fround(sumSq)));
  }
  acc.fill(0);
  for (let j = 1; j <= have; j++) {
    const from = row(j);
    for (let i = 0; i < dim; i++) acc[i] = Math.fround(acc[i] + ring[from + i]);
  }
  for (let i = 0; i < dim; i++) {
    const prediction = Math.fround(acc[i] / count);
    const diff = Math.fround(Math.fround(yt[offset + i]) - prediction);
    sumSq += Math.fround(diff * diff);
  }
  return Math.fround(Math.sqrt(Math.fround(sumSq)));
}

/** `innovationFloat32` in float64, without rounding. */
function innovationFloat64(
  ring: Float32Array | Float64Array,
  acc: Float64Array,
  yt: Float32Array | Float64Array,
  b: number,
  dim: number,
  k: number,
  head: number,
  have: number,
  count: number,
): number {
  acc.fill(0);
  for (let j = 1; j <= have; j++) {
    const row = (b * k + ((head - j + k) % k)) * dim;
    for (let i = 0; i < dim; i++) acc[i] += ring[row + i];
  }
  let sumSq = 0;
  const offset = b * dim;
  for (let i = 0; i < dim; i++) {
    const diff = yt[offset + i] - acc[i] / count;
    sumSq += diff * diff;
  }
  return Math.sqrt(sumSq);
}

/**
 * The recurrent form of `innovationScores`, for token-by-token decoding of `batch` sequences.
 * Keeps the last k outputs of each sequence in a ring (constant memory) and scores each new output
 * y_t exactly as the parallel form does: the same summation order (y_{t−1} first, then y_{t−2},
 * …), the same divisor, and rounding to float32 after every operation the tensor kernels round
 * (float32 mode), so the two agree bit for bit on the reference backend.
 */
export class InnovationTracker {
  /** Number of sequences scored in parallel. */
  readonly batch: number;
  /** Model width d (the length of one output vector). */
  readonly dim: number;
  /** k, the number of previous outputs the predictor averages. */
  readonly predictorLength: number;
  /** The dtype the scores are computed in. */
  readonly dtype: InnovationDType;
  /** The last k outputs per sequence, [batch, k, dim]; slot `head` receives the next output. */
  private readonly ring: Float32Array | Float64Array;
  /** Per-feature running sums of the predictor (scratch of `score`). */
  private readonly sums: Float64Array;
  private head = 0;
  private seen = 0;

  constructor(
    batch: number,
    dim: number,
    predictorLength: number = DEFAULT_PREDICTOR_LENGTH,
    dtype: InnovationDType = "float32",
  ) {
    if (!Number.isInteger(batch) || batch < 1) {
      throw new RangeError(`InnovationTracker: batch must be a positive integer, got ${batch}.`);
    }
    if (!Number.isInteger(dim) || dim < 0) {
      throw new RangeError(`InnovationTracker: dim must be a non-negative integer, got ${dim}.`);
    }
    assertPredictorLength(predictorLength, "InnovationTracker: predictorLength");
    if (dtype !== "float32" && dtype !== "float64") {
      throw new TypeError(`InnovationTracker: dtype must be float32 or float64, got ${dtype}.`);
    }
    this.batch = batch;
    this.dim = dim;
    this.predictorLength = predictorLength;
    this.dtype = dtype;
    const size = batch * predictorLength * dim;
    this.ring = dtype === "float32" ? new Float32Array(size) : new Float64Array(size);
    this.sums = new Float64Array(dim);
  }

  /** How many outputs have been scored since construction or the last `reset()` (the next t). */
  get steps(): number {
    return this.seen;
  }

  /**
   * Scores y_t for every sequence and then remembers it. `yt` holds `batch · dim` values, row-major
   * [batch, dim] (float32 mode rounds them to float32 first, as a float32 tensor would). Returns
   * ε_t per sequence (float32 values widened to float64 in float32 mode), written into `out` when
   * given.
   */
  score(yt: Float32Array | Float64Array, out?: Float64Array): Float64Array {
    const { batch, dim, predictorLength: k, ring } = this;
    if (yt.length !== batch * dim) {
      throw new RangeError(
        `InnovationTracker.score: y_t must hold batch · dim = ${batch} · ${dim} = ${batch * dim} values, got ${yt.length}.`,
      );
    }
    const result = out ?? new Float64Array(batch);
    if (result.length !== batch) {
      throw new RangeError(
        `InnovationTracker.score: out must hold ${batch} values (one per sequence), got ${result.length}.`,
      );
    }
    const t = this.seen;
    const have = Math.min(k, t);
    const count = predictorCount(t, k);
    // Separate float32 and float64 loops: a rounding function called through a variable that has
    // seen both would make every call site polymorphic (about 10× slower once both dtypes ran).
    const innovation = this.dtype === "float32" ? innovationFloat32 : innovationFloat64;
    for (let b = 0; b < batch; b++) {
      result[b] = innovation(ring, this.sums, yt, b, dim, k, this.head, have, count);
    }
    for (let b = 0; b < batch; b++) {
      // set() rounds float64 values to float32 on the way in, as element stores do.
      ring.set(yt.subarray(b * dim, (b + 1) * dim), (b * k + this.head) * dim);
    }
    this.head = (this.head + 1) % k;
    this.seen = t + 1;
    return result;
  }

  /**
   * Puts the tracker in the state `steps` calls of `score` would leave, from the last outputs
   * alone: `history` holds the last m = min(k, steps) outputs per sequence, [batch, m, dim]
   * row-major, oldest first (the scores of those steps are not computed; a prefill already has
   * them from `innovationScores`). The tracker must be fresh (`steps === 0`).
   */
  load(history: Float32Array | Float64Array, steps: number): void {
    const { batch, dim, predictorLength: k, ring } = this;
    if (this.seen !== 0) {
      throw new Error(
        "InnovationTracker.load: the tracker has already scored outputs; reset() it first.",
      );
    }
    if (!Number.isInteger(steps) || steps < 0) {
      throw new RangeError(
        `InnovationTracker.load: steps must be a non-negative integer, got ${steps}.`,
      );
    }
    const m = Math.min(k, steps);
    if (history.length !== batch * m * dim) {
      throw new RangeError(
        `InnovationTracker.load: history must hold batch · min(k, steps) · dim = ${batch} · ${m} · ${dim} = ${batch * m * dim} values, got ${history.length}.`,
      );
    }
    for (let b = 0; b < batch; b++) {
      for (let r = 0; r < m; r++) {
        const slot = (steps - m + r) % k; // step t is stored in slot t mod k
        ring.set(history.subarray((b * m + r) * dim, (b * m + r + 1) * dim), (b * k + slot) * dim);
      }
    }
    this.head = steps % k;
    this.seen = steps;
  }

  /** Forgets every output: the next `score` is at t = 0 again (ŷ_0 = 0). */
  reset(): void {
    this.ring.fill(0);
    this.head = 0;
    this.seen = 0;
  }

  /** An independent copy with the same history (e.g. to branch a decoding cache). */
  clone(): InnovationTracker {
    const copy = new InnovationTracker(this.batch, this.dim, this.predictorLength, this.dtype);
    copy.ring.set(this.ring);
    copy.head = this.head;
    copy.seen = this.seen;
    return copy;
  }
}
