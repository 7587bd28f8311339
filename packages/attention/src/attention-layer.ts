/**
 * The attention layer: multi-head or grouped-query, causal full or sliding-window, optional RoPE,
 * optional per-chunk memory keys (B'MOJO), a parallel forward, and recurrent decoding with a full
 * or ring KV cache. Every variant runs through the one `attention` op of @bmojo/tensor.
 */
import { type InitOptions, Linear, Module, StackedLinears } from "@bmojo/nn";
import {
  type FloatDType,
  type AttentionMemoryInput,
  type Tensor,
  attention,
  concat,
  reshape,
  slice,
  split,
  tidy,
  zeros,
} from "@bmojo/tensor";
import {
  type AttentionConfig,
  type ResolvedAttentionConfig,
  resolveAttentionConfig,
} from "./config.js";
import type { DevicePosition } from "./device-position.js";
import { mergeHeads, splitHeads, splitMemoryHeads } from "./heads.js";
import { FullKVCache, type KVCache, RingKVCache } from "./kv-cache.js";
import { applyRope, applyRopeAt, reserveRope } from "./rope.js";

/** Options of the parallel forward. */
export interface AttentionForwardOptions {
  /**
   * Memory keys/values (NoPE) per chunk, k, v [B, Hkv, C, M, Dh], mask int32 [B, C, M]; the query
   * at absolute position p sees the valid slots of chunk floor(p / chunkSize).
   */
  memory?: AttentionMemoryInput;
  /** Absolute position of x's first token (RoPE positions, memory chunks). Default 0. */
  positionOffset?: number;
}

/** Options of prefill: memory chunks are indexed by absolute position, as in forward. */
export interface AttentionPrefillOptions {
  memory?: AttentionMemoryInput;
}

/** The memory slots one decoded token sees (those of the chunk its position falls in). */
export interface StepMemory {
  /** [B, Hkv, M, Dh], NoPE. */
  k: Tensor;
  /** [B, Hkv, M, Dh]. */
  v: Tensor;
  /** int32 [B, M]; nonzero marks a valid slot. */
  mask: Tensor;
}

export interface AttentionStepOptions {
  memory?: StepMemory;
  /**
   * Take the position from the device (the caller writes it, see DevicePosition) instead of the
   * cache's host counter, so that a captured step replays at later positions: RoPE through
   * applyRopeAt, the key written with writeSlot, the cached keys attended as masked slots. The
   * cache's position does not move: the caller advances it (KVCacheBase.advance) once the step
   * ran. The result equals the host-position step's up to the softmax's summation order (its own
   * key comes last, not in its slot). A full cache needs a window covering it.
   */
  at?: DevicePosition;
}

/** One decoding step's output and the new token's key/value as stored in the cache. */
export interface AttentionStepResult {
  /** [B, d]. */
  out: Tensor;
  /** [B, Hkv, 1, Dh], after RoPE. */
  k: Tensor;
  /** [B, Hkv, 1, Dh]. */
  v: Tensor;
}

/** q, k, v of a block of tokens, heads split, RoPE applied. */
interface Projections {
  q: Tensor;
  k: Tensor;
  v: Tensor;
}

/**
 * Attention with parameters q_proj.weight [H·Dh, d], k_proj.weight [Hkv·Dh, d],
 * v_proj.weight [Hkv·Dh, d], o_proj.weight [d, H·Dh]; no biases; softmax scale 1/sqrt(Dh).
 */
export class Attention extends Module {
  readonly config: ResolvedAttentionConfig;
  readonly q_proj: Linear;
  readonly k_proj: Linear;
  readonly v_proj: Linear;
  readonly o_proj: Linear;
  private qkv: StackedLinears | null = null;

  constructor(config: AttentionConfig, init: InitOptions) {
    super();
    this.config = resolveAttentionConfig(config);
    const { dModel, heads, kvHeads, headDim } = this.config;
    this.q_proj = this.registerModule("q_proj", new Linear(dModel, heads * headDim, init));
    this.k_proj = this.registerModule("k_proj", new Linear(dModel, kvHeads * headDim, init));
    this.v_proj = this.registerModule("v_proj", new Linear(dModel, kvHeads * headDim, init));
    this.o_proj = this.registerModule("o_proj", new Linear(heads * headDim, dModel, init));
  }

  get heads(): number {
    return this.config.heads;
  }

  /** Disposes the parameters and the decode step's stacked q/k/v weight. */
  override dispose(): void {
    this.qkv?.dispose();
    super.dispose();
  }

  get kvHeads(): number {
    return this.config.kvHeads;
  }

  get headDim(): number {
    return this.config.headDim;
  }

  /** Infinity for full causal attention. */
  get window(): number {
    return this.config.window;
  }

  /**
   * The parallel (training / prefill) form: x [B, L, d] → [B, L, d]. Token i is at position
   * positionOffset + i for RoPE; with memory, positionOffset must be a multiple of
   * memory.chunkSize (the chunks are indexed by absolute position and x brings no earlier keys).
   */
  forward(x: Tensor, options: AttentionForwardOptions = {}): Tensor {
    const positionOffset = options.positionOffset ?? 0;
    this.assertTokens("forward", x, 3);
    assertPosition("forward", positionOffset);
    const { memory } = options;
    if (memory && positionOffset % memory.chunkSize !== 0) {
      throw new RangeError(
        `Attention.forward: with memory, positionOffset (${positionOffset}) must be a multiple of ` +
          `memory.chunkSize (${memory.chunkSize}); continue mid-chunk with prefill on a cache.`,
      );
    }
    return tidy(() => {
      const { q, k, v } = this.project(x, positionOffset);
      const chunkMemory = memory && skipChunks(memory, positionOffset / memory.chunkSize);
      const { out } = attention(q, k, v, {
        window: this.window,
        queryOffset: 0,
        memory: chunkMemory,
      });
      return this.o_proj.forward(mergeHeads(out));
    });
  }

  /**
   * Memory tokens [B, C, M, d] → memory keys/values k, v [B, Hkv, C, M, Dh] through k_proj and
   * v_proj, NoPE. With RoPE on, `at` may give each token's position (int32 [B, C, M], each <
   * at.bound): its key is then rotated there, as the key of an in-context token at that position
   * would be. A NoPE attention takes no positions.
   */
  projectKeysValues(
    tokens: Tensor,
    at?: { positions: Tensor; bound: number },
  ): { k: Tensor; v: Tensor } {
    this.assertTokens("projectKeysValues", tokens, 4);
    if (!this.config.rope && at !== undefined) {
      throw new Error(
        "Attention.projectKeysValues: this attention is NoPE, so memory keys take no positions; leave `at` out (or build the attention with rope: true).",
      );
    }
    return tidy(() => {
      let keys = this.k_proj.forward(tokens);
      if (at !== undefined) {
        const [batch, chunks, slots] = tokens.shape;
        const count = batch * chunks * slots;
        if (at.positions.size !== count) {
          throw new RangeError(
            `Attention.projectKeysValues: positions must be int32 [${batch}, ${chunks}, ${slots}] (one per memory token), got [${at.positions.shape.join(", ")}].`,
          );
        }
        const rotated = applyRopeAt(
          reshape(keys, [count, this.kvHeads, this.headDim]),
          reshape(at.positions, [count]),
          at.bound,
          this.config.ropeTheta,
        );
        keys = reshape(rotated, keys.shape);
      }
      return {
        k: splitMemoryHeads(keys, this.kvHeads),
        v: splitMemoryHeads(this.v_proj.forward(tokens), this.kvHeads),
      };
    });
  }

  /**
   * A decoding cache for `batch` sequences: a FullKVCache of maxLength slots when the window is
   * ≥ maxLength (or infinite), else a RingKVCache of `window` slots (which never fills up).
   * Keys and values in `dtype`: the parameters' by default, or bfloat16 to decode bfloat16 inputs
   * through float32 parameters; the parameters' backend.
   */
  createCache(batch: number, maxLength: number, dtype?: FloatDType): KVCache {
    if (!Number.isInteger(maxLength) || maxLength < 1) {
      throw new RangeError(
        `Attention.createCache: maxLength must be a positive integer, got ${maxLength}.`,
      );
    }
    const weight = this.k_proj.weight;
    const stored = weight.dtype === "float64" ? "float64" : "float32";
    if (
      dtype !== undefined &&
      dtype !== stored &&
      !(dtype === "bfloat16" && stored === "float32")
    ) {
      throw new TypeError(
        `Attention.createCache: dtype ${dtype} does not suit ${stored} parameters; use ${stored}` +
          `${stored === "float32" ? " or bfloat16" : ""}.`,
      );
    }
    dtype ??= stored;
    const options = {
      batch,
      kvHeads: this.kvHeads,
      headDim: this.headDim,
      dtype,
      backend: weight.backend,
    } as const;
    if (this.window < maxLength) return new RingKVCache({ ...options, capacity: this.window });
    const cache = new FullKVCache({ ...options, capacity: maxLength });
    // Every position the cache can hold gets its RoPE rows now, not in the middle of decoding.
    if (this.config.rope) {
      reserveRope(options.backend, dtype, this.headDim, this.config.ropeTheta, maxLength);
    }
    return cache;
  }

  /**
   * The parallel form over x [B, L, d] at positions cache.position … cache.position+L−1, then
   * stores the last min(L, capacity) keys (after RoPE) and values in the cache and advances it.
   * A cache that already holds tokens is continued: the new queries also attend to the cached
   * keys (in chronological order). Memory chunks are indexed by absolute position.
   */
  prefill(x: Tensor, cache: KVCache, options: AttentionPrefillOptions = {}): Tensor {
    this.assertTokens("prefill", x, 3);
    this.assertCache("prefill", cache, x.shape[0]);
    cache.assertRoom(x.shape[1]);
    const start = cache.position;
    return tidy(() => {
      const { q, k, v } = this.project(x, start);
      let keys = k;
      let values = v;
      let queryOffset = 0;
      let memory = options.memory;
      if (start > 0) {
        const past = cache.recent();
        // Key j sits at absolute position base + j; with memory, `pad` never-visible zero keys
        // in front align base to a chunk boundary (base > 0 only for a full ring, whose window
        // excludes them).
        const base = start - past.count;
        const pad = memory ? base % memory.chunkSize : 0;
        if (memory) memory = skipChunks(memory, (base - pad) / memory.chunkSize);
        const padding = (t: Tensor): Tensor[] =>
          pad > 0
            ? [
                zeros([t.shape[0], t.shape[1], pad, t.shape[3]], {
                  dtype: t.dtype,
                  backend: t.backend,
                }),
              ]
            : [];
        keys = concat([...padding(k), past.k, k], 2);
        values = concat([...padding(v), past.v, v], 2);
        queryOffset = pad + past.count;
      }
      const { out } = attention(q, keys, values, { window: this.window, queryOffset, memory });
      cache.append(k, v);
      return this.o_proj.forward(mergeHeads(out));
    });
  }

  /**
   * Decodes one token x [B, d] at position p = cache.position: projects it, applies RoPE at p,
   * writes its key/value into the cache, attends over the cached keys it may see (full cache:
   * positions 0 … p within the window; ring: the min(p+1, window) valid slots) plus the optional
   * memory slots, and advances the cache.
   */
  step(x: Tensor, cache: KVCache, options: AttentionStepOptions = {}): AttentionStepResult {
    this.assertTokens("step", x, 2);
    const batch = x.shape[0];
    this.assertCache("step", cache, batch);
    cache.assertRoom(1);
    return tidy(() => {
      this.qkv ??= new StackedLinears([this.q_proj, this.k_proj, this.v_proj]);
      return this.stepFrom(this.qkv.product(x), cache, options);
    });
  }

  /**
   * `step` from the token's projections side by side, qkv = [q | k | v] [B, (H + 2·Hkv)·Dh]
   * (before RoPE), computed by the caller: e.g. in one product with other projections of the same
   * input, as B'MOJO's decode step does with its SSM's input projection.
   */
  stepProjected(
    qkv: Tensor,
    cache: KVCache,
    options: AttentionStepOptions = {},
  ): AttentionStepResult {
    const { heads, kvHeads, headDim } = this.config;
    const width = (heads + 2 * kvHeads) * headDim;
    if (qkv.rank !== 2 || qkv.shape[1] !== width) {
      throw new RangeError(
        `Attention.stepProjected: qkv must be [batch, ${width}] ([q | k | v]: (heads ${heads} + 2 · kvHeads ${kvHeads}) · headDim ${headDim}), got [${qkv.shape.join(", ")}].`,
      );
    }
    this.assertCache("stepProjected", cache, qkv.shape[0]);
    cache.assertRoom(1);
    return tidy(() => this.stepFrom(qkv, cache, options));
  }

  /**
   * The decode step after the projections qkv [B, (H + 2·Hkv)·Dh]. q and k lie side by side, so one
   * RoPE call rotates both (as [B, H + Hkv, 1, Dh]); with one sequence every split is a view.
   */
  private stepFrom(
    qkv: Tensor,
    cache: KVCache,
    options: AttentionStepOptions,
  ): AttentionStepResult {
    if (options.at !== undefined) return this.stepAt(qkv, cache, options.at, options.memory);
    const batch = qkv.shape[0];
    const { heads, kvHeads, headDim: dh } = this;
    const position = cache.position;
    const qkWidth = (heads + kvHeads) * dh;
    const [qkFlat, vFlat] = split(qkv, [qkWidth, kvHeads * dh], -1);
    let qk = reshape(qkFlat, [batch, heads + kvHeads, 1, dh]);
    const v = reshape(vFlat, [batch, kvHeads, 1, dh]);
    if (this.config.rope) qk = applyRope(qk, position, this.config.ropeTheta);
    const [q, k] = split(qk, [heads, kvHeads], 1);
    cache.append(k, v);
    // Slot order does not matter to the softmax: the query sees every valid slot. A full cache
    // keeps absolute positions (slot = position), so the window applies as usual; in a ring the
    // valid slots are 0 … min(p, window−1), all inside the window of a query placed last.
    const queryOffset = Math.min(position, cache.capacity - 1);
    const { out } = attention(q, cache.k, cache.v, {
      window: this.window,
      queryOffset,
      memory: options.memory && stepMemory(options.memory, cache.capacity),
    });
    const merged = this.o_proj.forward(mergeHeads(out));
    return { out: reshape(merged, [batch, this.config.dModel]), k, v };
  }

  /**
   * stepFrom at the position `at` holds on the device: RoPE rotates q and k to it (the same table
   * rows applyRope reads at that position), the key and value go to its slot (writeSlot), and the
   * query attends to its own key plus the step's memory slots and the cached keys `at.slots`
   * marks, passed together as one chunk of memory slots (the attention kernel's masked slots).
   */
  private stepAt(
    qkv: Tensor,
    cache: KVCache,
    at: DevicePosition,
    memory: StepMemory | undefined,
  ): AttentionStepResult {
    if (cache.kind === "full" && this.window < cache.capacity) {
      throw new RangeError(
        `Attention.step: with \`at\`, a full cache needs the window (${this.window}) to cover its ${cache.capacity} slots; use a RingKVCache of window slots.`,
      );
    }
    const batch = qkv.shape[0];
    const { heads, kvHeads, headDim: dh } = this;
    const [qkFlat, vFlat] = split(qkv, [(heads + kvHeads) * dh, kvHeads * dh], -1);
    let qk = reshape(qkFlat, [batch, heads + kvHeads, 1, dh]);
    const v = reshape(vFlat, [batch, kvHeads, 1, dh]);
    if (this.config.rope) {
      const rotated = applyRopeAt(
        reshape(qk, [batch, heads + kvHeads, dh]),
        at.positions(batch),
        at.bound,
        this.config.ropeTheta,
      );
      qk = reshape(rotated, [batch, heads + kvHeads, 1, dh]);
    }
    const [q, k] = split(qk, [heads, kvHeads], 1);
    const { slot, mask } = at.slots(cache);
    cache.writeSlot(k, v, slot);
    // The step's memory slots (B'MOJO) come first, then the cache's, in one chunk of slots.
    let [keys, values, visible] = [cache.k, cache.v, mask];
    if (memory !== undefined) {
      const slots = checkedStepMemory(memory, batch, kvHeads, dh);
      keys = concat([memory.k, cache.k], 2);
      values = concat([memory.v, cache.v], 2);
      visible = concat([reshape(memory.mask, [batch, 1, slots]), mask], 2);
    }
    const chunk = [batch, kvHeads, 1, keys.shape[2], dh];
    const { out } = attention(q, k, v, {
      queryOffset: 0,
      memory: { k: reshape(keys, chunk), v: reshape(values, chunk), mask: visible, chunkSize: 1 },
    });
    const merged = this.o_proj.forward(mergeHeads(out));
    return { out: reshape(merged, [batch, this.config.dModel]), k, v };
  }

  /** q [B, H, L, Dh], k, v [B, Hkv, L, Dh] of x [B, L, d], RoPE (if on) from position `start`. */
  private project(x: Tensor, start: number): Projections {
    return this.headsOf(
      this.q_proj.forward(x),
      this.k_proj.forward(x),
      this.v_proj.forward(x),
      start,
    );
  }

  /** Projections [B, L, ·] → heads split, RoPE (if on) from position `start`. */
  private headsOf(qf: Tensor, kf: Tensor, vf: Tensor, start: number): Projections {
    let q = splitHeads(qf, this.heads);
    let k = splitHeads(kf, this.kvHeads);
    const v = splitHeads(vf, this.kvHeads);
    if (this.config.rope) {
      q = applyRope(q, start, this.config.ropeTheta);
      k = applyRope(k, start, this.config.ropeTheta);
    }
    return { q, k, v };
  }

  private assertTokens(method: string, x: Tensor, rank: number): void {
    const layout =
      rank === 2
        ? "[batch, dModel]"
        : rank === 3
          ? "[batch, length, dModel]"
          : "[batch, chunks, slots, dModel]";
    if (x.rank !== rank || x.shape[rank - 1] !== this.config.dModel) {
      throw new RangeError(
        `Attention.${method}: input must be ${layout} with dModel ${this.config.dModel}, got [${x.shape.join(", ")}].`,
      );
    }
  }

  private assertCache(method: string, cache: KVCache, batch: number): void {
    const matches =
      cache.batch === batch && cache.kvHeads === this.kvHeads && cache.headDim === this.headDim;
    if (!matches) {
      throw new RangeError(
        `Attention.${method}: the cache holds batch ${cache.batch}, kvHeads ${cache.kvHeads}, headDim ` +
          `${cache.headDim}; this call needs batch ${batch}, kvHeads ${this.kvHeads}, headDim ${this.headDim}.`,
      );
    }
    if (cache.kind === "ring" && cache.capacity !== this.window) {
      throw new RangeError(
        `Attention.${method}: a RingKVCache must have window (${cache.capacity}) slots equal to the layer's window (${this.window}).`,
      );
    }
  }
}

function assertPosition(method: string, position: number): void {
  if (!Number.isInteger(position) || position < 0) {
    throw new RangeError(
      `Attention.${method}: positionOffset must be an integer ≥ 0, got ${position}.`,
    );
  }
}

/** The memory from chunk `first` on (chunk first becomes chunk 0). */
function skipChunks(memory: AttentionMemoryInput, first: number): AttentionMemoryInput {
  if (first === 0) return memory;
  const chunks = memory.k.shape[2];
  if (first >= chunks) {
    throw new RangeError(
      `Attention: memory has ${chunks} chunks but the first query is in chunk ${first}.`,
    );
  }
  return {
    k: slice(memory.k, [0, 0, first, 0, 0], [-1, -1, -1, -1, -1]),
    v: slice(memory.v, [0, 0, first, 0, 0], [-1, -1, -1, -1, -1]),
    mask: slice(memory.mask, [0, first, 0], [-1, -1, -1]),
    chunkSize: memory.chunkSize,
  };
}

/** The slot count of a step's memory, after checking its layout (the op checks the rest). */
function checkedStepMemory(
  memory: StepMemory,
  batch: number,
  kvHeads: number,
  headDim: number,
): number {
  const slots = memory.k.shape[2];
  const expected = [batch, kvHeads, slots, headDim];
  const fits = (t: Tensor) => t.rank === 4 && t.shape.every((d, i) => d === expected[i]);
  if (!fits(memory.k) || !fits(memory.v) || memory.mask.rank !== 2) {
    throw new RangeError(
      `Attention.step: memory.k/v must be [batch, kvHeads, slots, headDim] = [${batch}, ${kvHeads}, slots, ${headDim}] and memory.mask [batch, slots], ` +
        `got k [${memory.k.shape.join(", ")}], v [${memory.v.shape.join(", ")}], mask [${memory.mask.shape.join(", ")}].`,
    );
  }
  return slots;
}

/** One token's memory slots as a one-chunk memory whose chunk covers every cache slot. */
function stepMemory(memory: StepMemory, capacity: number): AttentionMemoryInput {
  const [batch, kvHeads, slots, headDim] = memory.k.shape;
  if (memory.k.rank !== 4 || memory.mask.rank !== 2) {
    throw new RangeError(
      `Attention.step: memory.k/v must be [batch, kvHeads, slots, headDim] and memory.mask [batch, slots], ` +
        `got k [${memory.k.shape.join(", ")}], mask [${memory.mask.shape.join(", ")}].`,
    );
  }
  const shape = [batch, kvHeads, 1, slots, headDim];
  return {
    k: reshape(memory.k, shape),
    v: reshape(memory.v, shape),
    mask: reshape(memory.mask, [batch, 1, slots]),
    chunkSize: capacity,
  };
}
