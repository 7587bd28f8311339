/** Basic layers: Linear, Embedding, RMSNorm, SwiGLU, Dropout. */
import {
  type Backend,
  type Random,
  type Tensor,
  add,
  addRmsNorm,
  full,
  gather,
  matmul,
  mul,
  rmsNorm,
  siluMul,
  tensor,
} from "@bmojo/tensor";
import { Module } from "./module.js";
import { StackedLinears } from "./stacked.js";

/** How parameters are created: a seeded stream and the element type. */
export interface InitOptions {
  rng: Random;
  /**
   * float32 (default) or float64 (for gradient checks on the cpu backend). Layers run in the dtype
   * of their input: float32 parameters meet bfloat16 activations as bfloat16 (mixed precision).
   */
  dtype?: "float32" | "float64";
  backend?: Backend;
}

export function assertPositiveInt(owner: string, field: string, value: number): void {
  if (!Number.isInteger(value) || value < 1) {
    throw new RangeError(`${owner}: ${field} must be a positive integer, got ${value}.`);
  }
}

/** y = x Wᵀ (+ b) with W [out, in]; W and b start uniform in ±1/sqrt(in) (PyTorch's default). */
export class Linear extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;

  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    options: InitOptions & { bias?: boolean },
  ) {
    super();
    assertPositiveInt("Linear", "inFeatures", inFeatures);
    assertPositiveInt("Linear", "outFeatures", outFeatures);
    const bound = 1 / Math.sqrt(inFeatures);
    const init = { dtype: options.dtype, backend: options.backend, low: -bound, high: bound };
    this.weight = this.registerParameter(
      "weight",
      options.rng.uniform([outFeatures, inFeatures], init),
    );
    this.bias = options.bias
      ? this.registerParameter("bias", options.rng.uniform([outFeatures], init))
      : null;
  }

  /** x [..., in] → [..., out], in x's dtype (float32 parameters meet bfloat16 x as bfloat16). */
  forward(x: Tensor): Tensor {
    const y = matmul(x, this.computeParameter(this.weight, x), { transposeB: true });
    return this.bias ? add(y, this.computeParameter(this.bias, x)) : y;
  }
}

/** Rows of a [num, dim] table picked by int32 ids; starts normal with std `std` (default 0.02). */
export class Embedding extends Module {
  readonly weight: Tensor;

  constructor(
    readonly numEmbeddings: number,
    readonly dim: number,
    options: InitOptions & { std?: number },
  ) {
    super();
    assertPositiveInt("Embedding", "numEmbeddings", numEmbeddings);
    assertPositiveInt("Embedding", "dim", dim);
    this.weight = this.registerParameter(
      "weight",
      options.rng.normal([numEmbeddings, dim], {
        std: options.std ?? 0.02,
        dtype: options.dtype,
        backend: options.backend,
      }),
    );
  }

  /** ids: int32 of any shape → [...ids.shape, dim]. */
  forward(ids: Tensor): Tensor {
    return gather(this.weight, ids);
  }
}

/** x / sqrt(mean(x²) + eps) · weight over the last axis; weight starts at ones. */
export class RMSNorm extends Module {
  readonly weight: Tensor;
  readonly eps: number;

  constructor(
    readonly dim: number,
    options: Omit<InitOptions, "rng"> & { eps?: number } = {},
  ) {
    super();
    this.eps = options.eps ?? 1e-5;
    assertPositiveInt("RMSNorm", "dim", dim);
    this.weight = this.registerParameter(
      "weight",
      full([dim], 1, { dtype: options.dtype ?? "float32", backend: options.backend }),
    );
  }

  forward(x: Tensor): Tensor {
    return rmsNorm(x, this.computeParameter(this.weight, x), this.eps);
  }

  /**
   * The residual add before this norm, fused with it: sum = x + residual and out = the norm of sum
   * (one kernel where the backend has `addRmsNorm`; the same values as add, then forward).
   */
  forwardAdd(x: Tensor, residual: Tensor): { sum: Tensor; out: Tensor } {
    return addRmsNorm(x, residual, this.computeParameter(this.weight, x), this.eps);
  }
}

/** The SwiGLU hidden width: 8/3·d rounded half-up to a multiple of 64 (768 → 2048, 64 → 192). */
export function swigluHidden(dModel: number): number {
  return 64 * Math.max(1, Math.floor(dModel / 24 + 0.5));
}

/** w_down(silu(w_gate x) ⊙ w_up x), no biases; the gating is one `siluMul`. */
export class SwiGLU extends Module {
  readonly w_gate: Linear;
  readonly w_up: Linear;
  readonly w_down: Linear;
  private gateUp: StackedLinears | null = null;

  constructor(
    readonly dim: number,
    readonly hidden: number,
    options: InitOptions,
  ) {
    super();
    this.w_gate = this.registerModule("w_gate", new Linear(dim, hidden, options));
    this.w_up = this.registerModule("w_up", new Linear(dim, hidden, options));
    this.w_down = this.registerModule("w_down", new Linear(hidden, dim, options));
  }

  forward(x: Tensor): Tensor {
    return this.w_down.forward(siluMul(this.w_gate.forward(x), this.w_up.forward(x)));
  }

  /**
   * The same function for inference (a decode step): gate and up as one product with stacked
   * weights (see StackedLinears). Records no gradient to w_gate and w_up.
   */
  step(x: Tensor): Tensor {
    this.gateUp ??= new StackedLinears([this.w_gate, this.w_up]);
    const [gate, up] = this.gateUp.forward(x);
    return this.w_down.forward(siluMul(gate, up));
  }

  override dispose(): void {
    this.gateUp?.dispose();
    super.dispose();
  }
}

/** Zeroes each element with probability p in training mode and scales the rest by 1/(1−p). */
export class Dropout extends Module {
  constructor(
    readonly p: number,
    private readonly rng: Random,
  ) {
    super();
    if (!(p >= 0 && p < 1)) throw new RangeError(`Dropout: p must be in [0, 1), got ${p}.`);
  }

  forward(x: Tensor): Tensor {
    if (!this.training || this.p === 0) return x;
    const keep = this.rng.uniformArray(x.size, 0, 1, "float64");
    const scale = 1 / (1 - this.p);
    const mask = tensor(
      Array.from(keep, (u) => (u >= this.p ? scale : 0)),
      x.shape,
      { dtype: x.dtype, backend: x.backend },
    );
    return mul(x, mask);
  }
}
