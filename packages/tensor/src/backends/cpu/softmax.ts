/**
 * Row softmax and its gradient for the reference cpu backend.
 *
 * Both kernels view their buffers as [rows, cols] row-major and accumulate in JS doubles; results
 * are rounded to `dtype` only when written.
 */
import type { SoftmaxArgs, SoftmaxBackwardArgs } from "../../backend/kernels.js";
import type { CpuStore } from "./store.js";

/**
 * `out[r, c] = exp(x[r, c] − max_r) / Σ_c' exp(x[r, c'] − max_r)` with `max_r` the row maximum
 * (subtracting it keeps exp from overflowing; the result is unchanged). A row whose maximum is not
 * finite (±Infinity or NaN) yields NaN, as in PyTorch.
 */
export function softmax(s: CpuStore, a: SoftmaxArgs): void {
  const { dtype, rows, cols } = a;
  const x = s.float(a.x, dtype);
  const out = s.float(a.out, dtype);

  for (let r = 0; r < rows; r++) {
    const rowStart = r * cols;

    let rowMax = Number.NEGATIVE_INFINITY;
    for (let c = 0; c < cols; c++) {
      const value = x[rowStart + c];
      if (value > rowMax) rowMax = value;
    }

    let sumExp = 0;
    for (let c = 0; c < cols; c++) sumExp += Math.exp(x[rowStart + c] - rowMax);

    for (let c = 0; c < cols; c++) {
      out[rowStart + c] = Math.exp(x[rowStart + c] - rowMax) / sumExp;
    }
  }
}

/**
 * Gradient of softmax from its output y: `dx[r, c] = y[r, c] · (dy[r, c] − Σ_c' dy[r, c'] · y[r, c'])`.
 */
export function softmaxBackward(s: CpuStore, a: SoftmaxBackwardArgs): void {
  const { dtype, rows, cols } = a;
  const y = s.float(a.y, dtype);
  const dy = s.float(a.dy, dtype);
  const dx = s.float(a.dx, dtype);

  for (let r = 0; r < rows; r++) {
    const rowStart = r * cols;

    let dyDotY = 0;
    for (let c = 0; c < cols; c++) dyDotY += dy[rowStart + c] * y[rowStart + c];

    for (let c = 0; c < cols; c++) {
      const i = rowStart + c;
      dx[i] = y[i] * (dy[i] - dyDotY);
    }
  }
}
