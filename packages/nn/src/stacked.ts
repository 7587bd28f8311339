/**
 * Bias-free Linear layers that read the same input, run as one product in inference paths (a
 * decode step's q, k and v projections; SwiGLU's gate and up).
 */
import {
  type DType,
  type Tensor,
  cast,
  concat,
  keep,
  matmul,
  noGrad,
  split,
  tidy,
} from "@bmojo/tensor";
import type { Linear } from "./layers.js";

/**
 * The layers' weights stacked along their outputs ([Σ out, in]), in the input's dtype (float32
 * weights meet bfloat16 inputs as bfloat16, as `Linear` does), and kept until one of them is
 * replaced or written in place (`Tensor.version`: an optimizer step, a checkpoint load); `forward`
 * multiplies once (`product`) and splits the product into the layers' outputs (views where the backend has
 * them, so no copies). It records no gradient to the weights: use it where no gradient is taken
 * (decode steps), and the layers themselves elsewhere.
 */
export class StackedLinears {
  private cached: {
    weight: Tensor;
    dtype: DType;
    sources: Tensor[];
    versions: number[];
  } | null = null;
  private readonly sizes: number[];

  constructor(private readonly layers: readonly Linear[]) {
    if (layers.length < 2) {
      throw new RangeError(`StackedLinears: needs at least 2 layers, got ${layers.length}.`);
    }
    const inFeatures = layers[0].inFeatures;
    layers.forEach((layer, i) => {
      if (layer.bias !== null || layer.inFeatures !== inFeatures) {
        throw new RangeError(
          `StackedLinears: layer ${i} must be bias-free with inFeatures ${inFeatures}, got ` +
            `${layer.bias !== null ? "a bias" : `inFeatures ${layer.inFeatures}`}.`,
        );
      }
    });
    this.sizes = layers.map((layer) => layer.outFeatures);
  }

  /** x [..., in] → each layer's x Wᵀ, in order. */
  forward(x: Tensor): Tensor[] {
    return split(this.product(x), this.sizes, -1);
  }

  /** x [..., in] → the layers' outputs side by side, [..., Σ out] (forward before the split). */
  product(x: Tensor): Tensor {
    return matmul(x, this.weight(x.dtype), { transposeB: true });
  }

  /** Frees the stacked weight (the layers keep theirs). */
  dispose(): void {
    this.cached?.weight.dispose();
    this.cached = null;
  }

  private weight(inputDType: DType): Tensor {
    const sources = this.layers.map((layer) => layer.weight);
    const stored = sources[0].dtype;
    const dtype = stored === "float32" && inputDType === "bfloat16" ? inputDType : stored;
    const c = this.cached;
    if (
      c !== null &&
      c.dtype === dtype &&
      sources.every((w, i) => w === c.sources[i] && w.version === c.versions[i] && !w.isDisposed)
    ) {
      return c.weight;
    }
    this.dispose();
    const weight = keep(noGrad(() => tidy(() => cast(concat(sources, 0), dtype))));
    this.cached = { weight, dtype, sources, versions: sources.map((w) => w.version) };
    return weight;
  }
}
