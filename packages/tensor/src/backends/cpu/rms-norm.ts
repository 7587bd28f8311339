/**
 * RMS normalisation (alone or after a residual add) and its gradients for the reference cpu
 * backend.
 *
 * x, out, dy, dx are [rows, cols] row-major; weight and dweight are [cols]; rstd is [rows].
 * Sums are accumulated in JS doubles; results are rounded to `dtype` only when written.
 */
import type { AddRmsNormArgs, RmsNormArgs, RmsNormBackwardArgs } from "../../backend/kernels.js";
import { roundBfloat16 } from "../../dtype.js";
import type { CpuStore, FloatArray } from "./store.js";

/**
 * `rstd[r] = 1 / sqrt(mean_c(x[r, c]²) + eps)` and `out[r, c] = x[r, c] · rstd[r] · weight[c]`.
 * rstd is written for the backward pass.
 */
export function rmsNorm(s: CpuStore, a: RmsNormArgs): void {
  normRows(s.float(a.x, a.dtype), s, a);
}

/**
 * `sum = x + residual`, stored (so rounded to dtype, bfloat16 included) before it is normalised
 * into out and rstd: the same values as `binary` add followed by `rmsNorm`.
 */
export function addRmsNorm(s: CpuStore, a: AddRmsNormArgs): void {
  const x = s.float(a.x, a.dtype);
  const residual = s.float(a.residual, a.dtype);
  const sum = s.float(a.sum, a.dtype);
  const round = a.dtype === "bfloat16" ? roundBfloat16 : (v: number) => v;
  for (let i = 0; i < a.rows * a.cols; i++) sum[i] = round(x[i] + residual[i]);
  normRows(sum, s, a);
}

/** rmsNorm's rows of `x` into a's out and rstd. */
function normRows(x: FloatArray, s: CpuStore, a: RmsNormArgs | AddRmsNormArgs): void {
  const { dtype, rows, cols, eps } = a;
  const weight = s.float(a.weight, dtype);
  const out = s.float(a.out, dtype);
  const rstdOut = s.float(a.rstd, dtype);
  for (let r = 0; r < rows; r++) {
    const rowStart = r * cols;

    let sumSquares = 0;
    for (let c = 0; c < cols; c++) {
      const value = x[rowStart + c];
      sumSquares += value * value;
    }
    const rstd = 1 / Math.sqrt(sumSquares / cols + eps);
    rstdOut[r] = rstd;

    for (let c = 0; c < cols; c++) {
      out[rowStart + c] = x[rowStart + c] * rstd * weight[c];
    }
  }
}

/**
 * Gradients of rmsNorm, using the rstd the forward pass wrote. Per row r, with g = weight ⊙ dy:
 *   dx[r]    = rstd · g − x[r] · rstd³ · mean_c(x[r] ⊙ g)
 *   dweight  = Σ_r dy[r] ⊙ x[r] · rstd[r]        (written, not accumulated into)
 */
export function rmsNormBackward(s: CpuStore, a: RmsNormBackwardArgs): void {
  const { dtype, rows, cols } = a;
  const x = s.float(a.x, dtype);
  const weight = s.float(a.weight, dtype);
  const rstdIn = s.float(a.rstd, dtype);
  const dy = s.float(a.dy, dtype);
  const dx = s.float(a.dx, dtype);
  const dweight = s.float(a.dweight, dtype);

  // dweight is a sum over rows: accumulate it in doubles, write it once at the end.
  const dweightSum = new Float64Array(cols);

  for (let r = 0; r < rows; r++) {
    const rowStart = r * cols;
    const rstd = rstdIn[r];

    let sumXWeightDy = 0;
    for (let c = 0; c < cols; c++) {
      const i = rowStart + c;
      sumXWeightDy += x[i] * weight[c] * dy[i];
    }
    const meanXWeightDy = sumXWeightDy / cols;
    const rstdCubed = rstd * rstd * rstd;

    for (let c = 0; c < cols; c++) {
      const i = rowStart + c;
      dx[i] = rstd * weight[c] * dy[i] - x[i] * rstdCubed * meanXWeightDy;
      dweightSum[c] += dy[i] * x[i] * rstd;
    }
  }

  for (let c = 0; c < cols; c++) dweight[c] = dweightSum[c];
}
