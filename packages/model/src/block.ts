/**
 * A block: h = x + mixer(RMSNorm(x)); out = h + SwiGLU(RMSNorm(h)) (no MLP: out = h).
 * Mixers: Mamba, attention (full causal, RoPE), sliding-window attention (RoPE), B'MOJO(-F).
 */
import { Attention, type KVCache } from "@bmojo/attention";
import { type InitOptions, Module, RMSNorm, SwiGLU } from "@bmojo/nn";
import { Mamba, type MambaState, disposeState, stateBytes } from "@bmojo/ssm";
import { type Tensor, add, assign, tidy } from "@bmojo/tensor";
import { type BMojoCache, BMojoLayer } from "./bmojo-layer.js";
import type { LayerSpec, ResolvedConfig } from "./config.js";

export type MixerCache =
  | { readonly kind: "mamba"; readonly state: MambaState }
  | { readonly kind: "attention"; readonly kv: KVCache }
  | BMojoCache;

type Mixer = Mamba | Attention | BMojoLayer;

function makeMixer(spec: LayerSpec, config: ResolvedConfig, init: InitOptions): Mixer {
  const { dModel, heads, kvHeads, window, ssm, bmojo, ropeTheta } = config;
  switch (spec.kind) {
    case "mamba":
      return new Mamba({ dModel, ...ssm }, init);
    case "attention":
      return new Attention({ dModel, heads, kvHeads, rope: true, ropeTheta }, init);
    case "swa":
      return new Attention({ dModel, heads, kvHeads, window, rope: true, ropeTheta }, init);
    case "bmojo":
    case "bmojo-f":
      return new BMojoLayer(
        {
          dModel,
          heads,
          kvHeads,
          window,
          ssm,
          ...bmojo,
          eideticTokens: spec.kind === "bmojo-f" ? 0 : bmojo.eideticTokens,
        },
        init,
      );
  }
}

export class Block extends Module {
  readonly norm1: RMSNorm;
  readonly mixer: Mixer;
  readonly norm2: RMSNorm | null;
  readonly mlp: SwiGLU | null;

  constructor(
    readonly spec: LayerSpec,
    private readonly config: ResolvedConfig,
    init: InitOptions,
  ) {
    super();
    const norm = { dtype: init.dtype, backend: init.backend, eps: config.normEps };
    this.norm1 = this.registerModule("norm1", new RMSNorm(config.dModel, norm));
    this.mixer = this.registerModule("mixer", makeMixer(spec, config, init));
    this.norm2 = spec.mlp ? this.registerModule("norm2", new RMSNorm(config.dModel, norm)) : null;
    this.mlp = spec.mlp
      ? this.registerModule("mlp", new SwiGLU(config.dModel, config.mlpHidden, init))
      : null;
  }

  /** h + mlp(norm2(h)); a decode step (`step`) runs the MLP's inference form. */
  private withMlp(h: Tensor, step = false): Tensor {
    if (this.mlp === null || this.norm2 === null) return h;
    const n = this.norm2.forward(h);
    return add(h, step ? this.mlp.step(n) : this.mlp.forward(n));
  }

  /** x + mixed, then the MLP; takes ownership of `mixed`. */
  private residual(x: Tensor, mixed: Tensor, step = false): Tensor {
    const out = tidy(() => this.withMlp(add(x, mixed), step));
    mixed.dispose();
    return out;
  }

  forward(x: Tensor): Tensor {
    return tidy(() => {
      const u = this.norm1.forward(x);
      const m = this.mixer;
      const mixed = m instanceof Mamba ? m.forward(u).out : m.forward(u);
      return this.withMlp(add(x, mixed));
    });
  }

  /** Recurrent state for `batch` sequences; full attention holds up to config.maxLength tokens. */
  createCache(batch: number): MixerCache {
    const m = this.mixer;
    if (m instanceof Mamba) return { kind: "mamba", state: m.createState(batch) };
    if (m instanceof Attention)
      return { kind: "attention", kv: m.createCache(batch, this.config.maxLength) };
    return m.createCache(batch);
  }

  /** The parallel form over a prompt [B, L, d], filling a fresh cache. */
  async prefill(x: Tensor, cache: MixerCache): Promise<Tensor> {
    const m = this.mixer;
    const u = this.norm1.forward(x);
    let mixed: Tensor;
    if (m instanceof BMojoLayer && cache.kind === "bmojo") {
      mixed = await m.prefill(u, cache);
    } else if (m instanceof Mamba && cache.kind === "mamba") {
      mixed = tidy(() => {
        const { out, state } = m.forward(u, { state: cache.state });
        assign(cache.state.conv, state.conv);
        assign(cache.state.ssm, state.ssm);
        return out;
      });
    } else if (m instanceof Attention && cache.kind === "attention") {
      mixed = m.prefill(u, cache.kv);
    } else {
      throw new Error(
        `Block.prefill: a '${cache.kind}' cache does not belong to a '${this.spec.kind}' block.`,
      );
    }
    u.dispose();
    return this.residual(x, mixed);
  }

  /** One token x [B, d] → [B, d], updating the cache in place. */
  async step(x: Tensor, cache: MixerCache): Promise<Tensor> {
    const m = this.mixer;
    const u = this.norm1.forward(x);
    let mixed: Tensor;
    if (m instanceof BMojoLayer && cache.kind === "bmojo") {
      mixed = await m.step(u, cache);
    } else if (m instanceof Mamba && cache.kind === "mamba") {
      mixed = m.step(u, cache.state);
    } else if (m instanceof Attention && cache.kind === "attention") {
      const { out, k, v } = m.step(u, cache.kv);
      k.dispose();
      v.dispose();
      mixed = out;
    } else {
      throw new Error(
        `Block.step: a '${cache.kind}' cache does not belong to a '${this.spec.kind}' block.`,
      );
    }
    u.dispose();
    return this.residual(x, mixed, true);
  }
}

/** Bytes of the tensors a mixer cache holds. */
export function mixerCacheBytes(cache: MixerCache): number {
  switch (cache.kind) {
    case "mamba":
      return stateBytes(cache.state);
    case "attention":
      return cache.kv.bytes();
    case "bmojo":
      return BMojoLayer.cacheBytes(cache);
  }
}

export function disposeMixerCache(cache: MixerCache): void {
  switch (cache.kind) {
    case "mamba":
      disposeState(cache.state);
      return;
    case "attention":
      cache.kv.dispose();
      return;
    case "bmojo":
      BMojoLayer.disposeCache(cache);
  }
}
