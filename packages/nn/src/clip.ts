/**
 * Gradient clipping by global L2 norm (PyTorch's `clip_grad_norm_`, returning new tensors instead
 * of scaling in place).
 */
import { type DType, type Tensor, add, mul, square, sum, tidy } from "@bmojo/tensor";

export interface ClipResult {
  /** The scaled gradients, or the very `grads` object passed in when no clipping was needed. */
  grads: Record<string, Tensor>;
  /** The global L2 norm of the gradients before clipping. */
  norm: number;
}

/**
 * Scales every gradient by min(1, maxNorm / (norm + 1e-6)), where norm is the L2 norm of all the
 * gradients together. The inputs are not modified: when scaling is needed the result holds new
 * tensors (dispose the old ones if you no longer need them, or run inside `tidy`); otherwise it is
 * the input object itself. A non-finite norm (NaN/Infinity) is returned as is with the gradients
 * unchanged, so the caller can skip the step.
 *
 * Synchronous: it reads the norm with `item()`, which needs a backend that reads synchronously
 * (the cpu backend does). On any other backend use `clipGradNormAsync`.
 */
export function clipGradNorm(grads: Record<string, Tensor>, maxNorm: number): ClipResult {
  assertMaxNorm("clipGradNorm", maxNorm);
  const partials = sumOfSquares(grads);
  let total = 0;
  try {
    for (const p of partials) total += p.item();
  } finally {
    for (const p of partials) p.dispose();
  }
  return scale(grads, Math.sqrt(total), maxNorm);
}

/** `clipGradNorm` for any backend: reads the norm with `await data()`. */
export async function clipGradNormAsync(
  grads: Record<string, Tensor>,
  maxNorm: number,
): Promise<ClipResult> {
  assertMaxNorm("clipGradNormAsync", maxNorm);
  const partials = sumOfSquares(grads);
  let total = 0;
  try {
    for (const p of partials) total += (await p.data())[0];
  } finally {
    for (const p of partials) p.dispose();
  }
  return scale(grads, Math.sqrt(total), maxNorm);
}

/** Σ g² as one scalar tensor per dtype present (one host read each; usually a single dtype). */
function sumOfSquares(grads: Record<string, Tensor>): Tensor[] {
  for (const [name, g] of Object.entries(grads)) {
    g.assertAlive(`clipGradNorm (gradient ${name})`);
    if (g.dtype === "int32") {
      throw new TypeError(`clipGradNorm: gradient ${name} is int32; gradients are float tensors.`);
    }
  }
  return tidy(() => {
    const byDType = new Map<DType, Tensor>();
    for (const g of Object.values(grads)) {
      if (g.size === 0) continue;
      const s = sum(square(g));
      const prev = byDType.get(g.dtype);
      byDType.set(g.dtype, prev === undefined ? s : add(prev, s));
    }
    return [...byDType.values()];
  });
}

function scale(grads: Record<string, Tensor>, norm: number, maxNorm: number): ClipResult {
  const factor = Math.min(1, maxNorm / (norm + 1e-6));
  if (!Number.isFinite(norm) || factor >= 1) return { grads, norm };
  const scaled = tidy(() =>
    Object.fromEntries(Object.entries(grads).map(([name, g]) => [name, mul(g, factor)])),
  );
  return { grads: scaled, norm };
}

function assertMaxNorm(owner: string, maxNorm: number): void {
  if (!(Number.isFinite(maxNorm) && maxNorm > 0)) {
    throw new RangeError(`${owner}: maxNorm must be a finite number > 0, got ${maxNorm}.`);
  }
}
