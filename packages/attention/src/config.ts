/** The attention layer's configuration and its validation. */
import { DEFAULT_ROPE_THETA } from "./rope.js";

export interface AttentionConfig {
  /** Model width d. */
  dModel: number;
  /** Query heads H; the head dimension is Dh = dModel / heads. */
  heads: number;
  /** Key/value heads Hkv (grouped-query attention); must divide heads. Default: heads. */
  kvHeads?: number;
  /** A query at position t sees keys t−window+1 … t. Default Infinity: full causal attention. */
  window?: number;
  /** Rotary position embeddings on q and k (not v, never on memory keys). Default false. */
  rope?: boolean;
  /** RoPE base. Default 10000. */
  ropeTheta?: number;
}

/** A validated configuration with every default filled in. */
export interface ResolvedAttentionConfig {
  readonly dModel: number;
  readonly heads: number;
  readonly kvHeads: number;
  readonly headDim: number;
  readonly window: number;
  readonly rope: boolean;
  readonly ropeTheta: number;
}

function positiveInt(field: string, value: number): void {
  if (!Number.isInteger(value) || value < 1) {
    throw new RangeError(`Attention: ${field} must be a positive integer, got ${value}.`);
  }
}

/** Fills defaults and checks the fields; each error names the offending field. */
export function resolveAttentionConfig(config: AttentionConfig): ResolvedAttentionConfig {
  const { dModel, heads } = config;
  const kvHeads = config.kvHeads ?? heads;
  const window = config.window ?? Number.POSITIVE_INFINITY;
  const rope = config.rope ?? false;
  const ropeTheta = config.ropeTheta ?? DEFAULT_ROPE_THETA;
  positiveInt("dModel", dModel);
  positiveInt("heads", heads);
  positiveInt("kvHeads", kvHeads);
  if (dModel % heads !== 0) {
    throw new RangeError(
      `Attention: dModel (${dModel}) must be a multiple of heads (${heads}); the head dimension is dModel / heads.`,
    );
  }
  if (heads % kvHeads !== 0) {
    throw new RangeError(
      `Attention: kvHeads (${kvHeads}) must divide heads (${heads}); each kv head serves heads / kvHeads query heads.`,
    );
  }
  if (!(Number.isInteger(window) || window === Number.POSITIVE_INFINITY) || window < 1) {
    throw new RangeError(
      `Attention: window must be an integer ≥ 1 or Infinity (full causal attention), got ${window}.`,
    );
  }
  const headDim = dModel / heads;
  if (rope && headDim % 2 !== 0) {
    throw new RangeError(
      `Attention: rope needs an even head dimension (dModel / heads = ${headDim}); rotate-half RoPE pairs x[i] with x[i + Dh/2].`,
    );
  }
  if (!(ropeTheta > 0) || !Number.isFinite(ropeTheta)) {
    throw new RangeError(`Attention: ropeTheta must be a finite number > 0, got ${ropeTheta}.`);
  }
  return { dModel, heads, kvHeads, headDim, window, rope, ropeTheta };
}
