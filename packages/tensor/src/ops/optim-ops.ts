/** In-place optimiser updates. */
import type { Tensor } from "../tensor.js";
import { assertFloat, assertSameDType, backendOf, kernel } from "./internal.js";
import { formatShape, shapesEqual } from "../shape.js";

export interface AdamwHyper {
  lr: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  weightDecay?: number;
  /** 1 for the first update (bias correction). */
  step: number;
}

/**
 * One AdamW update of `param` in place (PyTorch's formulation), updating the moment buffers
 * `m` and `v` in place too. Not recorded on the gradient tape.
 */
export function adamw(param: Tensor, grad: Tensor, m: Tensor, v: Tensor, hyper: AdamwHyper): void {
  const op = "adamw";
  const backend = backendOf(op, param, grad, m, v);
  assertFloat(op, "param", param);
  const dtype = assertSameDType(op, { param, grad, m, v });
  for (const [name, t] of [
    ["grad", grad],
    ["m", m],
    ["v", v],
  ] as const) {
    if (!shapesEqual(t.shape, param.shape)) {
      throw new RangeError(
        `${op}: ${name} has shape ${formatShape(t.shape)} but param has ${formatShape(param.shape)}; they must match.`,
      );
    }
  }
  const { lr, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weightDecay = 0.01, step } = hyper;
  if (!Number.isInteger(step) || step < 1)
    throw new RangeError(`${op}: step must be an integer ≥ 1, got ${step}.`);
  if (!(lr >= 0)) throw new RangeError(`${op}: lr must be ≥ 0, got ${lr}.`);
  if (!(beta1 >= 0 && beta1 < 1) || !(beta2 >= 0 && beta2 < 1)) {
    throw new RangeError(`${op}: beta1 and beta2 must be in [0, 1), got ${beta1} and ${beta2}.`);
  }
  if (param.size === 0) return;
  kernel(
    backend,
    "adamw",
  )({
    dtype,
    param: param.storage.id,
    grad: grad.storage.id,
    m: m.storage.id,
    v: v.storage.id,
    size: param.size,
    lr,
    beta1,
    beta2,
    eps,
    weightDecay,
    step,
  });
  for (const t of [param, m, v]) t.storage.bump();
}
