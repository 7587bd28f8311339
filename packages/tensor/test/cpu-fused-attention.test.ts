/**
 * The cpu backend's fused kernels (softmax, rmsNorm, crossEntropy, adamw, attention) against
 * naive reference computations written here, and every backward kernel against central finite
 * differences in float64.
 */
import { describe, expect, it } from "vitest";
import type {
  AttentionArgs,
  AttentionBackwardArgs,
  AttentionMemory,
  BufferId,
} from "../src/backend/kernels.js";
import { adamw } from "../src/backends/cpu/adamw.js";
import { attention, attentionBackward } from "../src/backends/cpu/attention.js";
import { crossEntropy, crossEntropyBackward } from "../src/backends/cpu/cross-entropy.js";
import { rmsNorm, rmsNormBackward } from "../src/backends/cpu/rms-norm.js";
import { softmax, softmaxBackward } from "../src/backends/cpu/softmax.js";
import { CpuStore, type FloatArray } from "../src/backends/cpu/store.js";
import { bytesPerElement, type DType } from "../src/dtype.js";

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

type FloatDType = "float32" | "float64";
const FLOAT_DTYPES: readonly FloatDType[] = ["float32", "float64"];

/** Deterministic uniform numbers in [lo, hi) (mulberry32). */
function makeRandom(seed: number): (lo?: number, hi?: number) => number {
  let state = seed >>> 0;
  return (lo = -1, hi = 1) => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    const unit = ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    return lo + (hi - lo) * unit;
  };
}

function randomArray(random: (lo?: number, hi?: number) => number, size: number, lo = -1, hi = 1) {
  const values = new Float64Array(size);
  for (let i = 0; i < size; i++) values[i] = random(lo, hi);
  return values;
}

/** A buffer holding `data` as `dtype`. */
function upload(s: CpuStore, dtype: DType, data: ArrayLike<number>): BufferId {
  const id = s.alloc(data.length * bytesPerElement(dtype));
  s.view(id, dtype).set(data);
  return id;
}

/** A buffer of `size` elements of `dtype`, every element NaN (float) so unwritten ones show. */
function output(s: CpuStore, dtype: FloatDType, size: number): BufferId {
  const id = s.alloc(size * bytesPerElement(dtype));
  s.float(id, dtype).fill(Number.NaN);
  return id;
}

/** The first `size` elements of a buffer, as doubles. */
function read(s: CpuStore, id: BufferId, dtype: DType, size: number): Float64Array {
  return Float64Array.from(s.view(id, dtype).subarray(0, size));
}

/** The float view of a buffer limited to its first `size` elements (for perturbing inputs). */
function floatView(s: CpuStore, id: BufferId, dtype: FloatDType, size: number): FloatArray {
  return s.float(id, dtype).subarray(0, size);
}

/**
 * Asserts |actual − expected| ≤ atol + rtol·|expected| elementwise (non-finite values must match
 * exactly), reporting the worst element.
 */
function expectClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  rtol: number,
  atol: number,
  what: string,
): void {
  expect(actual.length, `${what}: length`).toBe(expected.length);
  let worst = -1;
  let worstRatio = 0;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i];
    const e = expected[i];
    if (!Number.isFinite(e) || !Number.isFinite(a)) {
      if (!Object.is(a, e)) {
        throw new Error(`${what}: element ${i} is ${a}, expected ${e}`);
      }
      continue;
    }
    const ratio = Math.abs(a - e) / (atol + rtol * Math.abs(e));
    if (!(ratio <= worstRatio)) {
      worstRatio = ratio;
      worst = i;
    }
  }
  if (worstRatio > 1) {
    throw new Error(
      `${what}: element ${worst} is ${actual[worst]}, expected ${expected[worst]} ` +
        `(error ${Math.abs(actual[worst] - expected[worst])}, rtol ${rtol}, atol ${atol})`,
    );
  }
}

/**
 * Central finite differences of `loss` with respect to every element of `input` (a live view of
 * a store buffer that `loss` reads), eps = 1e-6.
 */
function numericGradient(input: FloatArray, loss: () => number, eps = 1e-6): Float64Array {
  const gradient = new Float64Array(input.length);
  for (let i = 0; i < input.length; i++) {
    const original = input[i];
    input[i] = original + eps;
    const lossPlus = loss();
    input[i] = original - eps;
    const lossMinus = loss();
    input[i] = original;
    gradient[i] = (lossPlus - lossMinus) / (2 * eps);
  }
  return gradient;
}

/** Σ_i w[i] · values[i]. */
function weightedSum(values: ArrayLike<number>, w: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < w.length; i++) sum += w[i] * values[i];
  return sum;
}

/** Tolerances for a finite-difference check in float64. */
const FD_RTOL = 1e-6;
const FD_ATOL = 1e-6;

// ---------------------------------------------------------------------------------------------
// softmax
// ---------------------------------------------------------------------------------------------

function referenceSoftmax(x: ArrayLike<number>, rows: number, cols: number): Float64Array {
  const out = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    let max = Number.NEGATIVE_INFINITY;
    for (let c = 0; c < cols; c++) max = Math.max(max, x[r * cols + c]);
    let sum = 0;
    for (let c = 0; c < cols; c++) sum += Math.exp(x[r * cols + c] - max);
    for (let c = 0; c < cols; c++) out[r * cols + c] = Math.exp(x[r * cols + c] - max) / sum;
  }
  return out;
}

describe("cpu softmax", () => {
  for (const dtype of FLOAT_DTYPES) {
    it(`matches exp / sum row by row, stable for large logits (${dtype})`, () => {
      const s = new CpuStore();
      const rows = 4;
      const cols = 7;
      const random = makeRandom(1);
      const data = randomArray(random, rows * cols, -3, 3);
      // A row of huge logits: naive exp would overflow; the max-subtracted form must not.
      for (let c = 0; c < cols; c++) data[3 * cols + c] = 1000 + c;
      const x = upload(s, dtype, data);
      const out = output(s, dtype, rows * cols);
      softmax(s, { dtype, x, out, rows, cols });

      const stored = read(s, x, dtype, rows * cols);
      const expected = referenceSoftmax(stored, rows, cols);
      const tol = dtype === "float64" ? 1e-14 : 1e-6;
      expectClose(read(s, out, dtype, rows * cols), expected, tol, tol, "softmax");
    });
  }

  it("softmaxBackward matches finite differences of Σ w · softmax(x) (float64)", () => {
    const s = new CpuStore();
    const dtype = "float64";
    const rows = 3;
    const cols = 5;
    const random = makeRandom(2);
    const x = upload(s, dtype, randomArray(random, rows * cols, -2, 2));
    const w = randomArray(random, rows * cols);
    const y = output(s, dtype, rows * cols);
    const loss = () => {
      softmax(s, { dtype, x, out: y, rows, cols });
      return weightedSum(read(s, y, dtype, rows * cols), w);
    };
    loss();
    const dy = upload(s, dtype, w);
    const dx = output(s, dtype, rows * cols);
    softmaxBackward(s, { dtype, y, dy, dx, rows, cols });

    const numeric = numericGradient(floatView(s, x, dtype, rows * cols), loss);
    expectClose(read(s, dx, dtype, rows * cols), numeric, FD_RTOL, FD_ATOL, "dx");
  });
});

// ---------------------------------------------------------------------------------------------
// rmsNorm
// ---------------------------------------------------------------------------------------------

describe("cpu rmsNorm", () => {
  for (const dtype of FLOAT_DTYPES) {
    it(`matches x · rstd · weight with rstd = 1/sqrt(mean(x²) + eps) (${dtype})`, () => {
      const s = new CpuStore();
      const rows = 5;
      const cols = 6;
      const eps = 1e-5;
      const random = makeRandom(3);
      const xData = randomArray(random, rows * cols, -2, 2);
      const weightData = randomArray(random, cols, 0.5, 1.5);
      const x = upload(s, dtype, xData);
      const weight = upload(s, dtype, weightData);
      const out = output(s, dtype, rows * cols);
      const rstd = output(s, dtype, rows);
      rmsNorm(s, { dtype, x, weight, out, rstd, rows, cols, eps });

      const xs = read(s, x, dtype, rows * cols);
      const ws = read(s, weight, dtype, cols);
      const expectedOut = new Float64Array(rows * cols);
      const expectedRstd = new Float64Array(rows);
      for (let r = 0; r < rows; r++) {
        let meanSquare = 0;
        for (let c = 0; c < cols; c++) meanSquare += xs[r * cols + c] ** 2 / cols;
        expectedRstd[r] = 1 / Math.sqrt(meanSquare + eps);
        for (let c = 0; c < cols; c++) {
          expectedOut[r * cols + c] = xs[r * cols + c] * expectedRstd[r] * ws[c];
        }
      }
      const tol = dtype === "float64" ? 1e-14 : 1e-6;
      expectClose(read(s, out, dtype, rows * cols), expectedOut, tol, tol, "out");
      expectClose(read(s, rstd, dtype, rows), expectedRstd, tol, tol, "rstd");
    });
  }

  it("rmsNormBackward matches finite differences for x and weight (float64)", () => {
    const s = new CpuStore();
    const dtype = "float64";
    const rows = 4;
    const cols = 5;
    const eps = 1e-5;
    const random = makeRandom(4);
    const x = upload(s, dtype, randomArray(random, rows * cols, -2, 2));
    const weight = upload(s, dtype, randomArray(random, cols, 0.5, 1.5));
    const w = randomArray(random, rows * cols);
    const out = output(s, dtype, rows * cols);
    const rstd = output(s, dtype, rows);
    const loss = () => {
      rmsNorm(s, { dtype, x, weight, out, rstd, rows, cols, eps });
      return weightedSum(read(s, out, dtype, rows * cols), w);
    };
    loss();
    const dy = upload(s, dtype, w);
    const dx = output(s, dtype, rows * cols);
    const dweight = output(s, dtype, cols);
    rmsNormBackward(s, { dtype, x, weight, rstd, dy, dx, dweight, rows, cols });
    const analyticDx = read(s, dx, dtype, rows * cols);
    const analyticDweight = read(s, dweight, dtype, cols);

    const numericDx = numericGradient(floatView(s, x, dtype, rows * cols), loss);
    const numericDweight = numericGradient(floatView(s, weight, dtype, cols), loss);
    expectClose(analyticDx, numericDx, FD_RTOL, FD_ATOL, "dx");
    expectClose(analyticDweight, numericDweight, FD_RTOL, FD_ATOL, "dweight");
  });
});

// ---------------------------------------------------------------------------------------------
// crossEntropy
// ---------------------------------------------------------------------------------------------

describe("cpu crossEntropy", () => {
  const rows = 6;
  const classes = 10;
  const ignoreIndex = -100;
  const targetData = [3, ignoreIndex, 0, 9, ignoreIndex, 7];

  for (const dtype of FLOAT_DTYPES) {
    it(`matches −log_softmax at the target, 0 on ignored rows (${dtype})`, () => {
      const s = new CpuStore();
      const random = makeRandom(5);
      const logits = upload(s, dtype, randomArray(random, rows * classes, -4, 4));
      const targets = upload(s, "int32", targetData);
      const loss = output(s, dtype, rows);
      const lse = output(s, dtype, rows);
      crossEntropy(s, { dtype, logits, targets, loss, lse, rows, classes, ignoreIndex });

      const stored = read(s, logits, dtype, rows * classes);
      const expectedLoss = new Float64Array(rows);
      const expectedLse = new Float64Array(rows);
      for (let r = 0; r < rows; r++) {
        let max = Number.NEGATIVE_INFINITY;
        for (let c = 0; c < classes; c++) max = Math.max(max, stored[r * classes + c]);
        let sum = 0;
        for (let c = 0; c < classes; c++) sum += Math.exp(stored[r * classes + c] - max);
        expectedLse[r] = max + Math.log(sum);
        const t = targetData[r];
        // loss = −log_softmax(logits)[t]
        expectedLoss[r] = t === ignoreIndex ? 0 : -(stored[r * classes + t] - expectedLse[r]);
      }
      const tol = dtype === "float64" ? 1e-14 : 1e-6;
      expectClose(read(s, loss, dtype, rows), expectedLoss, tol, tol, "loss");
      expectClose(read(s, lse, dtype, rows), expectedLse, tol, tol, "lse");
      expect(read(s, loss, dtype, rows)[1]).toBe(0);
      expect(read(s, loss, dtype, rows)[4]).toBe(0);
    });
  }

  it("crossEntropyBackward matches finite differences of Σ w · loss (float64)", () => {
    const s = new CpuStore();
    const dtype = "float64";
    const random = makeRandom(6);
    const logits = upload(s, dtype, randomArray(random, rows * classes, -3, 3));
    const targets = upload(s, "int32", targetData);
    const w = randomArray(random, rows);
    const lossBuf = output(s, dtype, rows);
    const lse = output(s, dtype, rows);
    const loss = () => {
      crossEntropy(s, { dtype, logits, targets, loss: lossBuf, lse, rows, classes, ignoreIndex });
      return weightedSum(read(s, lossBuf, dtype, rows), w);
    };
    loss();
    const dloss = upload(s, dtype, w);
    const dlogits = output(s, dtype, rows * classes);
    crossEntropyBackward(s, {
      dtype,
      logits,
      targets,
      lse,
      dloss,
      dlogits,
      rows,
      classes,
      ignoreIndex,
    });
    const analytic = read(s, dlogits, dtype, rows * classes);
    for (const ignoredRow of [1, 4]) {
      for (let c = 0; c < classes; c++) expect(analytic[ignoredRow * classes + c]).toBe(0);
    }

    const numeric = numericGradient(floatView(s, logits, dtype, rows * classes), loss);
    expectClose(analytic, numeric, FD_RTOL, FD_ATOL, "dlogits");
  });

  it("honours a custom ignoreIndex inside [0, classes)", () => {
    const s = new CpuStore();
    const dtype = "float64";
    const logits = upload(s, dtype, [1, 2, 3, 4, 5, 6]);
    const targets = upload(s, "int32", [0, 2]);
    const loss = output(s, dtype, 2);
    const lse = output(s, dtype, 2);
    crossEntropy(s, { dtype, logits, targets, loss, lse, rows: 2, classes: 3, ignoreIndex: 0 });
    const lse1 = 6 + Math.log(Math.exp(-2) + Math.exp(-1) + 1);
    expectClose(read(s, loss, dtype, 2), [0, lse1 - 6], 1e-14, 1e-14, "loss");
  });

  it("rejects an out-of-range target with a RangeError before writing anything", () => {
    const s = new CpuStore();
    const dtype = "float64";
    const logits = upload(s, dtype, new Float64Array(4 * classes));
    const loss = output(s, dtype, 4);
    const lse = output(s, dtype, 4);
    const dloss = upload(s, dtype, [1, 1, 1, 1]);
    const dlogits = output(s, dtype, 4 * classes);
    const cases: [number[], string][] = [
      [
        [0, 1, 2, 12],
        "crossEntropy: target 12 at row 3 is out of range for 10 classes; targets must be in " +
          "[0, 10) or equal ignoreIndex (-100)",
      ],
      [
        [0, -1, 2, 3],
        "crossEntropy: target -1 at row 1 is out of range for 10 classes; targets must be in " +
          "[0, 10) or equal ignoreIndex (-100)",
      ],
      [
        [10, 1, 2, 3],
        "crossEntropy: target 10 at row 0 is out of range for 10 classes; targets must be in " +
          "[0, 10) or equal ignoreIndex (-100)",
      ],
    ];
    for (const [targetValues, message] of cases) {
      const targets = upload(s, "int32", targetValues);
      const args = { dtype, logits, targets, rows: 4, classes, ignoreIndex } as const;
      expect(() => crossEntropy(s, { ...args, loss, lse })).toThrow(RangeError);
      expect(() => crossEntropy(s, { ...args, loss, lse })).toThrow(message);
      expect(() => crossEntropyBackward(s, { ...args, lse, dloss, dlogits })).toThrow(
        message.replace("crossEntropy:", "crossEntropyBackward:"),
      );
      expect(read(s, loss, dtype, 4).every(Number.isNaN)).toBe(true);
      expect(read(s, lse, dtype, 4).every(Number.isNaN)).toBe(true);
      expect(read(s, dlogits, dtype, 4 * classes).every(Number.isNaN)).toBe(true);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// adamw
// ---------------------------------------------------------------------------------------------

describe("cpu adamw", () => {
  for (const dtype of FLOAT_DTYPES) {
    it(`matches PyTorch's AdamW formula over 3 steps (${dtype})`, () => {
      const s = new CpuStore();
      const size = 9;
      const lr = 0.01;
      const beta1 = 0.9;
      const beta2 = 0.95;
      const eps = 1e-8;
      const weightDecay = 0.1;
      const random = makeRandom(7);
      const paramData = randomArray(random, size);
      const param = upload(s, dtype, paramData);
      const m = upload(s, dtype, new Float64Array(size));
      const v = upload(s, dtype, new Float64Array(size));

      // The reference state, kept in doubles.
      const refParam = read(s, param, dtype, size);
      const refM = new Float64Array(size);
      const refV = new Float64Array(size);

      for (let step = 1; step <= 3; step++) {
        const gradData = randomArray(random, size);
        gradData[0] = 0; // a zero gradient still decays the weight
        const grad = upload(s, dtype, gradData);
        adamw(s, { dtype, param, grad, m, v, size, lr, beta1, beta2, eps, weightDecay, step });

        const g = read(s, grad, dtype, size);
        for (let i = 0; i < size; i++) {
          refM[i] = beta1 * refM[i] + (1 - beta1) * g[i];
          refV[i] = beta2 * refV[i] + (1 - beta2) * g[i] * g[i];
          refParam[i] -= lr * weightDecay * refParam[i];
          const biasCorrection1 = 1 - beta1 ** step;
          const biasCorrection2 = 1 - beta2 ** step;
          refParam[i] -=
            (lr / biasCorrection1) *
            (refM[i] / (Math.sqrt(refV[i]) / Math.sqrt(biasCorrection2) + eps));
        }
        const tol = dtype === "float64" ? 1e-14 : 1e-6;
        expectClose(read(s, m, dtype, size), refM, tol, tol, `m after step ${step}`);
        expectClose(read(s, v, dtype, size), refV, tol, tol, `v after step ${step}`);
        expectClose(read(s, param, dtype, size), refParam, tol, tol, `param after step ${step}`);
      }
    });
  }

  it("rejects step < 1", () => {
    const s = new CpuStore();
    const dtype = "float64";
    const buf = () => upload(s, dtype, [1]);
    const args = {
      dtype,
      param: buf(),
      grad: buf(),
      m: buf(),
      v: buf(),
      size: 1,
      lr: 0.1,
      beta1: 0.9,
      beta2: 0.999,
      eps: 1e-8,
      weightDecay: 0,
      step: 0,
    } as const;
    expect(() => adamw(s, args)).toThrow(RangeError);
    expect(() => adamw(s, args)).toThrow(/step must be an integer ≥ 1/);
  });
});

// ---------------------------------------------------------------------------------------------
// attention
// ---------------------------------------------------------------------------------------------

interface MemoryConfig {
  chunks: number;
  slots: number;
  chunkSize: number;
  /** int32 [B, chunks, slots], nonzero = valid. */
  mask: Int32Array;
}

interface AttentionConfig {
  batch: number;
  heads: number;
  kvHeads: number;
  queryLength: number;
  keyLength: number;
  headDim: number;
  window: number;
  queryOffset: number;
  scale: number;
  memory: MemoryConfig | null;
}

interface AttentionInputs {
  q: Float64Array;
  k: Float64Array;
  v: Float64Array;
  memK: Float64Array;
  memV: Float64Array;
}

function randomAttentionInputs(config: AttentionConfig, seed: number): AttentionInputs {
  const { batch, heads, kvHeads, queryLength, keyLength, headDim, memory } = config;
  const random = makeRandom(seed);
  const memorySize = memory === null ? 0 : batch * kvHeads * memory.chunks * memory.slots * headDim;
  return {
    q: randomArray(random, batch * heads * queryLength * headDim, -1.5, 1.5),
    k: randomArray(random, batch * kvHeads * keyLength * headDim, -1.5, 1.5),
    v: randomArray(random, batch * kvHeads * keyLength * headDim),
    memK: randomArray(random, memorySize, -1.5, 1.5),
    memV: randomArray(random, memorySize),
  };
}

/**
 * A memory mask [B, chunks, slots] with a fixed pattern of valid and invalid slots; chunk
 * `emptyChunk` of batch 0 has no valid slot at all, and batch 1 has every slot of its last chunk
 * valid.
 */
function memoryMask(batch: number, chunks: number, slots: number, emptyChunk: number): Int32Array {
  const mask = new Int32Array(batch * chunks * slots);
  for (let b = 0; b < batch; b++) {
    for (let c = 0; c < chunks; c++) {
      for (let slot = 0; slot < slots; slot++) {
        const valid = (b * 7 + c * 3 + slot * 5) % 3 !== 0;
        mask[(b * chunks + c) * slots + slot] = valid ? 1 : 0;
      }
    }
  }
  for (let slot = 0; slot < slots; slot++) {
    mask[(0 * chunks + emptyChunk) * slots + slot] = 0;
    if (batch > 1) mask[(1 * chunks + chunks - 1) * slots + slot] = 1;
  }
  return mask;
}

/**
 * The dense reference: per (b, h), the full [Lq, slots + Lk] score matrix (memory slots first),
 * an explicit boolean mask built from the visibility rules, a row softmax, and a product with the
 * concatenated values.
 */
function denseAttention(
  config: AttentionConfig,
  inputs: AttentionInputs,
): { out: Float64Array; lse: Float64Array } {
  const { batch, heads, kvHeads, queryLength, keyLength, headDim, window, queryOffset, scale } =
    config;
  const memory = config.memory;
  const slots = memory === null ? 0 : memory.slots;
  const columns = slots + keyLength;
  const out = new Float64Array(batch * heads * queryLength * headDim);
  const lse = new Float64Array(batch * heads * queryLength);

  const qAt = (b: number, h: number, i: number, d: number) =>
    inputs.q[((b * heads + h) * queryLength + i) * headDim + d];
  const kvIndex = (b: number, g: number, j: number, d: number) =>
    ((b * kvHeads + g) * keyLength + j) * headDim + d;
  const memIndex = (b: number, g: number, c: number, slot: number, d: number) =>
    memory === null ? -1 : (((b * kvHeads + g) * memory.chunks + c) * slots + slot) * headDim + d;

  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < heads; h++) {
      const g = Math.floor(h / (heads / kvHeads));
      // Explicit mask and score matrix, [queryLength][columns].
      const visible: boolean[][] = [];
      const scores: number[][] = [];
      for (let i = 0; i < queryLength; i++) {
        const p = queryOffset + i;
        const chunk = memory === null ? -1 : Math.floor(p / memory.chunkSize);
        visible.push([]);
        scores.push([]);
        for (let col = 0; col < columns; col++) {
          let isVisible: boolean;
          let score = 0;
          if (col < slots && memory !== null) {
            isVisible = memory.mask[(b * memory.chunks + chunk) * slots + col] !== 0;
            for (let d = 0; d < headDim; d++) {
              score += qAt(b, h, i, d) * inputs.memK[memIndex(b, g, chunk, col, d)];
            }
          } else {
            const j = col - slots;
            isVisible = j <= p && j > p - window && j < keyLength;
            for (let d = 0; d < headDim; d++)
              score += qAt(b, h, i, d) * inputs.k[kvIndex(b, g, j, d)];
          }
          visible[i].push(isVisible);
          scores[i].push(isVisible ? scale * score : Number.NEGATIVE_INFINITY);
        }
      }
      // Row softmax, then probabilities × values.
      for (let i = 0; i < queryLength; i++) {
        const rowIndex = (b * heads + h) * queryLength + i;
        const p = queryOffset + i;
        const chunk = memory === null ? -1 : Math.floor(p / memory.chunkSize);
        const max = Math.max(...scores[i]);
        if (max === Number.NEGATIVE_INFINITY) {
          lse[rowIndex] = Number.NEGATIVE_INFINITY;
          continue; // out stays 0
        }
        let sum = 0;
        for (let col = 0; col < columns; col++) sum += Math.exp(scores[i][col] - max);
        lse[rowIndex] = max + Math.log(sum);
        for (let col = 0; col < columns; col++) {
          if (!visible[i][col]) continue;
          const probability = Math.exp(scores[i][col] - lse[rowIndex]);
          for (let d = 0; d < headDim; d++) {
            const value =
              col < slots
                ? inputs.memV[memIndex(b, g, chunk, col, d)]
                : inputs.v[kvIndex(b, g, col - slots, d)];
            out[rowIndex * headDim + d] += probability * value;
          }
        }
      }
    }
  }
  return { out, lse };
}

/** The store buffers of one attention problem, plus kernel arguments for it. */
interface AttentionSetup {
  s: CpuStore;
  args: AttentionArgs;
  outSize: number;
  lseSize: number;
  kvSize: number;
  memorySize: number;
}

function setupAttention(
  config: AttentionConfig,
  inputs: AttentionInputs,
  dtype: FloatDType,
): AttentionSetup {
  const s = new CpuStore();
  const { batch, heads, kvHeads, queryLength, keyLength, headDim } = config;
  const outSize = batch * heads * queryLength * headDim;
  const lseSize = batch * heads * queryLength;
  const kvSize = batch * kvHeads * keyLength * headDim;
  let memory: AttentionMemory | null = null;
  let memorySize = 0;
  if (config.memory !== null) {
    const { chunks, slots, chunkSize, mask } = config.memory;
    memorySize = batch * kvHeads * chunks * slots * headDim;
    memory = {
      k: upload(s, dtype, inputs.memK),
      v: upload(s, dtype, inputs.memV),
      mask: upload(s, "int32", mask),
      chunks,
      slots,
      chunkSize,
    };
  }
  const args: AttentionArgs = {
    dtype,
    q: upload(s, dtype, inputs.q),
    k: upload(s, dtype, inputs.k),
    v: upload(s, dtype, inputs.v),
    memory,
    out: output(s, dtype, outSize),
    lse: output(s, dtype, lseSize),
    batch,
    heads,
    kvHeads,
    queryLength,
    keyLength,
    headDim,
    window: config.window,
    queryOffset: config.queryOffset,
    scale: config.scale,
  };
  return { s, args, outSize, lseSize, kvSize, memorySize };
}

/** Inputs as the store holds them (rounded to dtype), for the reference. */
function storedInputs(setup: AttentionSetup): AttentionInputs {
  const { s, args } = setup;
  const { dtype } = args;
  return {
    q: read(s, args.q, dtype, setup.outSize),
    k: read(s, args.k, dtype, setup.kvSize),
    v: read(s, args.v, dtype, setup.kvSize),
    memK:
      args.memory === null ? new Float64Array(0) : read(s, args.memory.k, dtype, setup.memorySize),
    memV:
      args.memory === null ? new Float64Array(0) : read(s, args.memory.v, dtype, setup.memorySize),
  };
}

/** (queryOffset, queryLength) pairs for keyLength L: full, a suffix, one decode step, a middle. */
function queryRanges(keyLength: number): [number, number][] {
  const ranges: [number, number][] = [[0, keyLength]];
  if (keyLength > 1) {
    const half = Math.floor(keyLength / 2);
    ranges.push([keyLength - half, half]); // suffix, Lq < Lk
    ranges.push([keyLength - 1, 1]); // one decode step
  }
  if (keyLength > 3) ranges.push([1, keyLength - 3]); // ends before the last key
  return ranges;
}

/** Windows for keyLength L: smaller than L (when possible), exactly L, larger, unbounded. */
function windows(keyLength: number): number[] {
  const result = [1, 2, 3].filter((w) => w < keyLength);
  result.push(keyLength, keyLength + 4, Number.POSITIVE_INFINITY);
  return result;
}

/** No memory, and memory with chunk sizes that do not divide L (3, 4) plus one spare chunk. */
function memoryConfigs(batch: number, keyLength: number): (MemoryConfig | null)[] {
  const configs: (MemoryConfig | null)[] = [null];
  for (const chunkSize of [3, 4]) {
    const chunks = Math.ceil(keyLength / chunkSize) + 1;
    const slots = 3;
    // Batch 0's all-invalid chunk is the one holding position 0 when L is small, else chunk 1.
    const emptyChunk = chunks > 2 ? 1 : 0;
    configs.push({ chunks, slots, chunkSize, mask: memoryMask(batch, chunks, slots, emptyChunk) });
  }
  return configs;
}

describe("cpu attention forward against a dense reference", () => {
  const batch = 2;
  const heads = 4;
  const grid: [number, number, number][] = [];
  for (const kvHeads of [4, 2, 1]) {
    for (const keyLength of [1, 5, 13]) {
      for (const headDim of [1, 3, 8]) grid.push([kvHeads, keyLength, headDim]);
    }
  }

  it.each(grid)(
    "Hkv=%i L=%i Dh=%i: every window, query range and memory",
    (kvHeads, keyLength, headDim) => {
      let seed = 100;
      let cases = 0;
      for (const [queryOffset, queryLength] of queryRanges(keyLength)) {
        for (const window of windows(keyLength)) {
          for (const memory of memoryConfigs(batch, keyLength)) {
            const config: AttentionConfig = {
              batch,
              heads,
              kvHeads,
              queryLength,
              keyLength,
              headDim,
              window,
              queryOffset,
              scale: 0.9 / Math.sqrt(headDim),
              memory,
            };
            const inputs = randomAttentionInputs(config, seed++);
            const what =
              `Lq=${queryLength} offset=${queryOffset} window=${window} ` +
              `memory=${memory === null ? "none" : `chunkSize ${memory.chunkSize}`}`;
            for (const dtype of FLOAT_DTYPES) {
              const setup = setupAttention(config, inputs, dtype);
              attention(setup.s, setup.args);
              const expected = denseAttention(config, storedInputs(setup));
              const tol = dtype === "float64" ? 1e-12 : 2e-6;
              const { s, args } = setup;
              expectClose(
                read(s, args.out, dtype, setup.outSize),
                expected.out,
                tol,
                tol,
                `${dtype} out ${what}`,
              );
              expectClose(
                read(s, args.lse, dtype, setup.lseSize),
                expected.lse,
                tol,
                tol,
                `${dtype} lse ${what}`,
              );
            }
            cases++;
          }
        }
      }
      expect(cases).toBeGreaterThan(0);
    },
  );

  it("memory slots change the result exactly when visible (sanity check of the reference)", () => {
    // With every memory slot invalid, attention with memory equals attention without it.
    const keyLength = 7;
    const base: AttentionConfig = {
      batch: 2,
      heads: 2,
      kvHeads: 1,
      queryLength: keyLength,
      keyLength,
      headDim: 4,
      window: 3,
      queryOffset: 0,
      scale: 0.5,
      memory: null,
    };
    const chunks = 3;
    const slots = 2;
    const withMemory: AttentionConfig = {
      ...base,
      memory: { chunks, slots, chunkSize: 3, mask: new Int32Array(2 * chunks * slots) },
    };
    const inputs = randomAttentionInputs(withMemory, 9);
    const a = setupAttention(base, inputs, "float64");
    const b = setupAttention(withMemory, inputs, "float64");
    attention(a.s, a.args);
    attention(b.s, b.args);
    expect(read(b.s, b.args.out, "float64", b.outSize)).toEqual(
      read(a.s, a.args.out, "float64", a.outSize),
    );
    // Making one slot valid changes exactly the queries of that slot's chunk (batch 0).
    withMemory.memory?.mask.set([1], 0 * slots + 1); // batch 0, chunk 0, slot 1
    const c = setupAttention(withMemory, inputs, "float64");
    attention(c.s, c.args);
    const outA = read(a.s, a.args.out, "float64", a.outSize);
    const outC = read(c.s, c.args.out, "float64", c.outSize);
    for (let h = 0; h < 2; h++) {
      for (let i = 0; i < keyLength; i++) {
        const changed = outA[(h * keyLength + i) * 4] !== outC[(h * keyLength + i) * 4];
        expect(changed, `batch 0 head ${h} query ${i}`).toBe(i < 3);
      }
    }
    // batch 1 unchanged
    expect(outC.subarray(2 * keyLength * 4)).toEqual(outA.subarray(2 * keyLength * 4));
  });
});

describe("cpu attentionBackward against finite differences (float64)", () => {
  const fdConfigs: [string, AttentionConfig][] = [
    [
      "GQA Hkv=2, window < L, memory with an empty chunk, chunkSize ∤ L",
      {
        batch: 2,
        heads: 4,
        kvHeads: 2,
        queryLength: 5,
        keyLength: 5,
        headDim: 3,
        window: 2,
        queryOffset: 0,
        scale: 0.7,
        memory: { chunks: 2, slots: 3, chunkSize: 3, mask: memoryMask(2, 2, 3, 0) },
      },
    ],
    [
      "MQA Hkv=1, queryOffset > 0 with Lq < Lk, window ≥ L, no memory",
      {
        batch: 2,
        heads: 4,
        kvHeads: 1,
        queryLength: 3,
        keyLength: 7,
        headDim: 2,
        window: 9,
        queryOffset: 3,
        scale: 0.8,
        memory: null,
      },
    ],
    [
      "Hkv=H, window 1, queryOffset > 0, memory with a spare chunk",
      {
        batch: 2,
        heads: 4,
        kvHeads: 4,
        queryLength: 4,
        keyLength: 6,
        headDim: 2,
        window: 1,
        queryOffset: 2,
        scale: 1.1,
        memory: { chunks: 3, slots: 2, chunkSize: 4, mask: memoryMask(2, 3, 2, 1) },
      },
    ],
    [
      "GQA Hkv=2, full causal (window Infinity), queryOffset ending before Lk, memory",
      {
        batch: 2,
        heads: 4,
        kvHeads: 2,
        queryLength: 3,
        keyLength: 6,
        headDim: 3,
        window: Number.POSITIVE_INFINITY,
        queryOffset: 1,
        scale: 0.6,
        memory: { chunks: 2, slots: 2, chunkSize: 3, mask: memoryMask(2, 2, 2, 1) },
      },
    ],
  ];

  it.each(fdConfigs)("%s", (_name, config) => {
    const dtype = "float64";
    const inputs = randomAttentionInputs(config, 42);
    const setup = setupAttention(config, inputs, dtype);
    const { s, args, outSize, kvSize, memorySize } = setup;
    const w = randomArray(makeRandom(43), outSize);
    const loss = () => {
      attention(s, args);
      return weightedSum(read(s, args.out, dtype, outSize), w);
    };
    loss();

    // Gradient buffers start as garbage: the kernel must zero-initialise them itself.
    const backwardArgs: AttentionBackwardArgs = {
      ...args,
      dOut: upload(s, dtype, w),
      dq: output(s, dtype, outSize),
      dk: output(s, dtype, kvSize),
      dv: output(s, dtype, kvSize),
      dMemK: args.memory === null ? null : output(s, dtype, memorySize),
      dMemV: args.memory === null ? null : output(s, dtype, memorySize),
    };
    attentionBackward(s, backwardArgs);
    const analytic: [string, BufferId, number][] = [
      ["dq", backwardArgs.dq, outSize],
      ["dk", backwardArgs.dk, kvSize],
      ["dv", backwardArgs.dv, kvSize],
    ];
    const inputsToPerturb: BufferId[] = [args.q, args.k, args.v];
    if (args.memory !== null && backwardArgs.dMemK !== null && backwardArgs.dMemV !== null) {
      analytic.push(
        ["dMemK", backwardArgs.dMemK, memorySize],
        ["dMemV", backwardArgs.dMemV, memorySize],
      );
      inputsToPerturb.push(args.memory.k, args.memory.v);
    }

    analytic.forEach(([name, gradientId, size], index) => {
      const analyticGradient = read(s, gradientId, dtype, size);
      const numeric = numericGradient(floatView(s, inputsToPerturb[index], dtype, size), loss);
      expectClose(analyticGradient, numeric, FD_RTOL, FD_ATOL, name);
    });

    // Invalid memory slots and unread keys get exactly zero gradient.
    if (args.memory !== null && backwardArgs.dMemV !== null && config.memory !== null) {
      const dMemV = read(s, backwardArgs.dMemV, dtype, memorySize);
      const { chunks, slots, mask } = config.memory;
      for (let b = 0; b < config.batch; b++) {
        for (let g = 0; g < config.kvHeads; g++) {
          for (let c = 0; c < chunks; c++) {
            for (let slot = 0; slot < slots; slot++) {
              if (mask[(b * chunks + c) * slots + slot] !== 0) continue;
              for (let d = 0; d < config.headDim; d++) {
                const index =
                  (((b * config.kvHeads + g) * chunks + c) * slots + slot) * config.headDim + d;
                expect(dMemV[index]).toBe(0);
              }
            }
          }
        }
      }
    }
  });

  it("float32 backward agrees with float64 backward", () => {
    const config = fdConfigs[0][1];
    const inputs = randomAttentionInputs(config, 44);
    const w = randomArray(
      makeRandom(45),
      config.batch * config.heads * config.queryLength * config.headDim,
    );
    const results: Record<FloatDType, Float64Array[]> = { float32: [], float64: [] };
    for (const dtype of FLOAT_DTYPES) {
      const setup = setupAttention(config, inputs, dtype);
      const { s, args, outSize, kvSize, memorySize } = setup;
      attention(s, args);
      const dq = output(s, dtype, outSize);
      const dk = output(s, dtype, kvSize);
      const dv = output(s, dtype, kvSize);
      const dMemK = output(s, dtype, memorySize);
      const dMemV = output(s, dtype, memorySize);
      const dOut = upload(s, dtype, w);
      attentionBackward(s, { ...args, dOut, dq, dk, dv, dMemK, dMemV });
      results[dtype] = [
        read(s, dq, dtype, outSize),
        read(s, dk, dtype, kvSize),
        read(s, dv, dtype, kvSize),
        read(s, dMemK, dtype, memorySize),
        read(s, dMemV, dtype, memorySize),
      ];
    }
    results.float64.forEach((expected, index) => {
      expectClose(results.float32[index], expected, 1e-4, 1e-5, `gradient ${index}`);
    });
  });
});

describe("cpu attention validation", () => {
  const base: AttentionConfig = {
    batch: 1,
    heads: 4,
    kvHeads: 2,
    queryLength: 4,
    keyLength: 6,
    headDim: 2,
    window: 3,
    queryOffset: 2,
    scale: 1,
    memory: { chunks: 2, slots: 2, chunkSize: 3, mask: new Int32Array(4).fill(1) },
  };

  /** Runs both kernels with `overrides` applied to a valid problem; expects a RangeError. */
  function expectRejected(overrides: Partial<AttentionArgs>, message: RegExp): void {
    const setup = setupAttention(base, randomAttentionInputs(base, 1), "float64");
    const { s, args, outSize, kvSize, memorySize } = setup;
    const bad: AttentionArgs = { ...args, ...overrides };
    expect(() => attention(s, bad)).toThrow(RangeError);
    expect(() => attention(s, bad)).toThrow(message);
    const backwardArgs: AttentionBackwardArgs = {
      ...bad,
      dOut: output(s, "float64", outSize),
      dq: output(s, "float64", outSize),
      dk: output(s, "float64", kvSize),
      dv: output(s, "float64", kvSize),
      dMemK: output(s, "float64", memorySize),
      dMemV: output(s, "float64", memorySize),
    };
    expect(() => attentionBackward(s, backwardArgs)).toThrow(RangeError);
    expect(() => attentionBackward(s, backwardArgs)).toThrow(
      new RegExp(message.source.replace("^attention:", "^attentionBackward:")),
    );
    // Nothing was written.
    expect(read(s, args.out, "float64", outSize).every(Number.isNaN)).toBe(true);
    expect(read(s, backwardArgs.dq, "float64", outSize).every(Number.isNaN)).toBe(true);
  }

  it("the base problem is valid", () => {
    const setup = setupAttention(base, randomAttentionInputs(base, 1), "float64");
    expect(() => attention(setup.s, setup.args)).not.toThrow();
  });

  it("rejects heads not divisible by kvHeads", () => {
    expectRejected({ kvHeads: 3 }, /^attention: heads \(4\) must be a multiple of kvHeads \(3\)/);
    expectRejected({ kvHeads: 0 }, /^attention: heads \(4\) must be a multiple of kvHeads \(0\)/);
  });

  it("rejects queryOffset + queryLength > keyLength", () => {
    expectRejected(
      { queryOffset: 3 },
      /^attention: queryOffset \(3\) \+ queryLength \(4\) = 7 exceeds keyLength \(6\)/,
    );
    expectRejected({ queryOffset: -1 }, /^attention: queryOffset must be an integer ≥ 0, got -1/);
  });

  it("rejects window < 1 and non-integer windows", () => {
    expectRejected({ window: 0 }, /^attention: window must be an integer ≥ 1.*got 0$/);
    expectRejected({ window: 1.5 }, /^attention: window must be an integer ≥ 1.*got 1\.5$/);
  });

  it("rejects memory that has no chunk for some query", () => {
    const setup = setupAttention(base, randomAttentionInputs(base, 1), "float64");
    const argsMemory = setup.args.memory;
    if (argsMemory === null) throw new Error("base has memory");
    // Positions 2..5 with chunkSize 2 reach chunk 2, but there are 2 chunks.
    expectRejected(
      { memory: { ...argsMemory, chunkSize: 2 } },
      /^attention: the query at position 5 reads memory chunk 2 \(chunkSize 2\), but memory\.chunks is 2/,
    );
    expectRejected(
      { memory: { ...argsMemory, chunkSize: 0 } },
      /^attention: memory\.chunkSize must be an integer ≥ 1, got 0/,
    );
  });

  it("attentionBackward requires dMemK and dMemV when memory is given", () => {
    const setup = setupAttention(base, randomAttentionInputs(base, 1), "float64");
    const { s, args, outSize, kvSize } = setup;
    attention(s, args);
    const backwardArgs: AttentionBackwardArgs = {
      ...args,
      dOut: output(s, "float64", outSize),
      dq: output(s, "float64", outSize),
      dk: output(s, "float64", kvSize),
      dv: output(s, "float64", kvSize),
      dMemK: null,
      dMemV: null,
    };
    expect(() => attentionBackward(s, backwardArgs)).toThrow(/dMemK and dMemV must be buffers/);
  });
});
