/**
 * The AdamW optimiser step for the reference cpu backend (PyTorch's `torch.optim.AdamW`,
 * non-amsgrad, non-maximize).
 */
import type { AdamwArgs } from "../../backend/kernels.js";
import type { CpuStore } from "./store.js";

/**
 * One AdamW step, in place on param, m and v (each [size], like grad):
 *   m = β1·m + (1−β1)·g
 *   v = β2·v + (1−β2)·g²
 *   p = p − lr·wd·p                                            (decoupled weight decay)
 *   p = p − lr / (1−β1^step) · m / (sqrt(v) / sqrt(1−β2^step) + eps)
 * Each element is computed in JS doubles from the stored values and rounded to `dtype` when
 * written. `step` is the 1-based index of this step; anything else is a RangeError.
 */
export function adamw(s: CpuStore, a: AdamwArgs): void {
  const { dtype, size, lr, beta1, beta2, eps, weightDecay, step } = a;
  if (!Number.isInteger(step) || step < 1) {
    throw new RangeError(
      `adamw: step must be an integer ≥ 1 (the 1-based step count), got ${step}`,
    );
  }
  const param = s.float(a.param, dtype);
  const grad = s.float(a.grad, dtype);
  const m = s.float(a.m, dtype);
  const v = s.float(a.v, dtype);

  const biasCorrection1 = 1 - beta1 ** step;
  const biasCorrection2Sqrt = Math.sqrt(1 - beta2 ** step);
  const stepSize = lr / biasCorrection1;
  const decayFactor = 1 - lr * weightDecay;

  for (let i = 0; i < size; i++) {
    const g = grad[i];
    const mNew = beta1 * m[i] + (1 - beta1) * g;
    const vNew = beta2 * v[i] + (1 - beta2) * g * g;
    m[i] = mNew;
    v[i] = vNew;

    const decayed = param[i] * decayFactor;
    const denominator = Math.sqrt(vNew) / biasCorrection2Sqrt + eps;
    param[i] = decayed - stepSize * (mNew / denominator);
  }
}
