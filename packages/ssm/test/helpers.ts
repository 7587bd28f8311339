/** Shared test helpers: building models and inputs, running a sequence step by step. */
import { Random, type Tensor, reshape, slice, tidy } from "@bmojo/tensor";
import { Mamba, type MambaConfig, type MambaState } from "../src/index.js";

export type FloatDType = "float32" | "float64";

/** A Mamba with seed `seed` and an input u [batch, length, dModel] ~ N(0, 1) from seed + 1000. */
export function makeCase(
  config: MambaConfig,
  dtype: FloatDType,
  batch: number,
  length: number,
  seed = 0,
): { mamba: Mamba; u: Tensor } {
  const mamba = new Mamba(config, { rng: new Random(seed), dtype });
  const u = new Random(seed + 1000).normal([batch, length, config.dModel], { dtype });
  return { mamba, u };
}

/** Tokens [begin, end) of u [B, L, d]. */
export function tokens(u: Tensor, begin: number, end: number): Tensor {
  return slice(u, [0, begin, 0], [u.shape[0], end - begin, u.shape[2]]);
}

/**
 * Runs `mamba.step` over tokens [begin, end) of u, continuing `state` (updated in place);
 * returns the outputs as a host array laid out [B, end − begin, d].
 */
export function stepOutputs(
  mamba: Mamba,
  u: Tensor,
  state: MambaState,
  begin: number,
  end: number,
): Float64Array {
  const [batch, , d] = u.shape;
  const length = end - begin;
  const out = new Float64Array(batch * length * d);
  for (let t = begin; t < end; t++) {
    const y = tidy(() => mamba.step(reshape(tokens(u, t, t + 1), [batch, d]), state).dataSync());
    for (let b = 0; b < batch; b++) {
      out.set(y.subarray(b * d, (b + 1) * d), (b * length + (t - begin)) * d);
    }
  }
  return out;
}

/** Host copy (float64) of tokens [begin, end) of a [B, L, d] host array of length L. */
export function hostTokens(
  data: ArrayLike<number>,
  shape: readonly number[],
  begin: number,
  end: number,
): Float64Array {
  const [batch, length, d] = shape;
  const n = end - begin;
  const out = new Float64Array(batch * n * d);
  for (let b = 0; b < batch; b++) {
    for (let t = begin; t < end; t++) {
      for (let i = 0; i < d; i++) out[(b * n + t - begin) * d + i] = data[(b * length + t) * d + i];
    }
  }
  return out;
}
