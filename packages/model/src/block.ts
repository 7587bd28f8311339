/**
 * A block: h = x + mixer(RMSNorm(x)); out = h + SwiGLU(RMSNorm(h)) (no MLP: out = h). Each residual
 * add runs inside the RMSNorm after it (addRmsNorm): a block hands the next one (hidden, delta)
 * with the last add pending (see Residual).
 * Mixers: Mamba, attention (full causal), sliding-window attention (both RoPE, or NoPE with
 * config.positions "none"), B'MOJO(-F).
 */
import { Attention, type DevicePosition, type KVCache } from "@bmojo/attention";
import { type InitOptions, Module, RMSNorm, SwiGLU } from "@bmojo/nn";
import { Mamba, type MambaState, disposeState, stateBytes } from "@bmojo/ssm";
import { type FloatDType, type Tensor, add, assign, tidy } from "@bmojo/tensor";
import { type BMojoCache, BMojoLayer } from "./bmojo-layer.js";
import type { LayerSpec, ResolvedConfig } from "./config.js";

export type MixerCache =
  | { readonly kind: "mamba"; readonly state: MambaState }
  | { readonly kind: "attention"; readonly kv: KVCache }
  | BMojoCache;

type Mixer = Mamba | Attention | BMojoLayer;

function makeMixer(spec: LayerSpec, config: ResolvedConfig, init: InitOptions): Mixer {
  const { dModel, heads, kvHeads, window, ssm, bmojo, ropeTheta } = config;
  const rope = config.positions === "rope";
  switch (spec.kind) {
    case "mamba":
      return new Mamba({ dModel, ...ssm }, init);
    case "attention":
      return new Attention({ dModel, heads, kvHeads, rope, ropeTheta }, init);
    case "swa":
      return new Attention({ dModel, heads, kvHeads, window, rope, ropeTheta }, init);
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
          ropeTheta,
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

  /**
   * x + mixed and the MLP as a residual: (h, mlp(norm2(h))) with h = x + mixed, the add fused into
   * norm2; without an MLP, (x, mixed). A decode step (`step`) runs the MLP's inference form.
   */
  private withMlp(x: Tensor, mixed: Tensor, step: boolean): Residual {
    if (this.mlp === null || this.norm2 === null) return { hidden: x, delta: mixed };
    const { sum: h, out: n } = this.norm2.forwardAdd(x, mixed);
    return { hidden: h, delta: step ? this.mlp.step(n) : this.mlp.forward(n) };
  }

  /** x [B, L, d] → [B, L, d]. */
  forward(x: Tensor): Tensor {
    return tidy(() => resolveResidual(this.forwardResidual({ hidden: x, delta: null })));
  }

  /**
   * The parallel form on the residual stream: norm1 adds r's pending delta as it normalises, and the
   * block's own last add is left pending in the result (for the next norm). r stays the caller's.
   */
  forwardResidual(r: Residual): Residual {
    return tidy(() => {
      const { sum: x, out: u } = enter(this.norm1, r);
      const m = this.mixer;
      return this.withMlp(x, m instanceof Mamba ? m.forward(u).out : m.forward(u), false);
    });
  }

  /**
   * Recurrent state for `batch` sequences in `dtype` (the parameters' by default); full attention
   * holds up to config.maxLength tokens.
   */
  createCache(batch: number, dtype?: FloatDType): MixerCache {
    const m = this.mixer;
    if (m instanceof Mamba) return { kind: "mamba", state: m.createState(batch, dtype) };
    if (m instanceof Attention)
      return { kind: "attention", kv: m.createCache(batch, this.config.maxLength, dtype) };
    return m.createCache(batch, dtype);
  }

  /** The parallel form over a prompt [B, L, d], filling a fresh cache. */
  async prefill(x: Tensor, cache: MixerCache): Promise<Tensor> {
    return resolveOwned(await this.prefillResidual({ hidden: x, delta: null }, cache), x);
  }

  /** `prefill` on the residual stream (see forwardResidual); r stays the caller's. */
  prefillResidual(r: Residual, cache: MixerCache): Promise<Residual> {
    const m = this.mixer;
    return this.recurrent(r, false, async (u) => {
      if (m instanceof BMojoLayer && cache.kind === "bmojo") return m.prefill(u, cache);
      if (m instanceof Mamba && cache.kind === "mamba") {
        return tidy(() => {
          const { out, state } = m.forward(u, { state: cache.state });
          assign(cache.state.conv, state.conv);
          assign(cache.state.ssm, state.ssm);
          return out;
        });
      }
      if (m instanceof Attention && cache.kind === "attention") return m.prefill(u, cache.kv);
      throw new Error(
        `Block.prefill: a '${cache.kind}' cache does not belong to a '${this.spec.kind}' block.`,
      );
    });
  }

  /** One token x [B, d] → [B, d], updating the cache in place. */
  async step(x: Tensor, cache: MixerCache): Promise<Tensor> {
    return resolveOwned(await this.stepResidual({ hidden: x, delta: null }, cache), x);
  }

  /**
   * `step` on the residual stream (see forwardResidual); r stays the caller's. With `at`, attention
   * and B'MOJO layers take their position from the device and leave their caches' positions, and
   * B'MOJO its memory refresh and admissions, to the caller (Attention.step's `at`,
   * BMojoLayer.stepAt).
   */
  stepResidual(r: Residual, cache: MixerCache, at?: DevicePosition): Promise<Residual> {
    const m = this.mixer;
    return this.recurrent(r, true, async (u) => {
      if (m instanceof BMojoLayer && cache.kind === "bmojo")
        return at === undefined ? m.step(u, cache) : m.stepAt(u, cache, at);
      if (m instanceof Mamba && cache.kind === "mamba") return m.step(u, cache.state);
      if (m instanceof Attention && cache.kind === "attention") {
        const { out, k, v } = m.step(u, cache.kv, { at });
        k.dispose();
        v.dispose();
        return out;
      }
      throw new Error(
        `Block.step: a '${cache.kind}' cache does not belong to a '${this.spec.kind}' block.`,
      );
    });
  }

  /** norm1 (with r's pending add), the mixer's recurrent form `mix`, then the MLP. */
  private async recurrent(
    r: Residual,
    step: boolean,
    mix: (u: Tensor) => Promise<Tensor>,
  ): Promise<Residual> {
    const { sum: x, out: u } = enter(this.norm1, r);
    const ownsX = x !== r.hidden;
    let mixed: Tensor;
    try {
      mixed = await mix(u);
    } catch (error) {
      if (ownsX) x.dispose();
      throw error;
    } finally {
      u.dispose();
    }
    if (this.mlp === null) return { hidden: x, delta: mixed };
    const out = tidy(() => this.withMlp(x, mixed, step));
    mixed.dispose();
    if (ownsX) x.dispose();
    return out;
  }
}

/**
 * The residual stream between blocks: its value is hidden + delta, with the add left pending so
 * that the next RMSNorm does it in the same kernel (addRmsNorm). delta is null when nothing is
 * pending (the embedding's output).
 */
export interface Residual {
  readonly hidden: Tensor;
  readonly delta: Tensor | null;
}

/** norm(hidden + delta) and the sum itself (hidden itself when delta is null). */
export function enter(norm: RMSNorm, r: Residual): { sum: Tensor; out: Tensor } {
  return r.delta === null
    ? { sum: r.hidden, out: norm.forward(r.hidden) }
    : norm.forwardAdd(r.hidden, r.delta);
}

/** The stream's value hidden + delta as one tensor. */
function resolveResidual(r: Residual): Tensor {
  return r.delta === null ? r.hidden : add(r.hidden, r.delta);
}

/** resolveResidual, then frees r's tensors except `borrowed` (the caller's input). */
function resolveOwned(r: Residual, borrowed: Tensor): Tensor {
  const out = resolveResidual(r);
  if (r.delta !== null) r.delta.dispose();
  if (r.hidden !== borrowed && r.hidden !== out) r.hidden.dispose();
  return out;
}

/** Frees the tensors of `r` that `next` does not carry on (next.hidden may be r.hidden). */
export function releaseResidual(r: Residual, next: Residual | null): void {
  r.delta?.dispose();
  if (r.hidden !== next?.hidden) r.hidden.dispose();
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
