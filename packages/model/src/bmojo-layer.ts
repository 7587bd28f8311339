/**
 * The B'MOJO mixer (DESIGN §4, conventions.md): a Mamba SSM gives fading memory y; innovation
 * scores of y pick eidetic inputs; one attention with shared projections lets each query see
 * the last w inputs plus its chunk's fading tokens (SSM outputs before the chunk) and eidetic
 * tokens (the top-m_e inputs before the chunk by innovation). m_e = 0 is B'MOJO-F. NoPE as in the
 * paper, or RoPE with every memory key rotated to the position its token was read at.
 */
import { Attention, type DevicePosition, type KVCache } from "@bmojo/attention";
import {
  EideticStore,
  InnovationTracker,
  innovationScores,
  selectEideticBatch,
} from "@bmojo/memory";
import { type InitOptions, Module, StackedLinears } from "@bmojo/nn";
import { Mamba, type MambaState, disposeState, stateBytes } from "@bmojo/ssm";
import {
  type DType,
  type FloatDType,
  type Tensor,
  type TypedArray,
  assign,
  assignRows,
  assignSlice,
  bytesPerElement,
  concat,
  full,
  gather,
  reshape,
  slice,
  split,
  tensor,
  tidy,
} from "@bmojo/tensor";
import type { BMojoConfig, PositionEncoding, SsmConfig } from "./config.js";
import { deviceEideticLayout } from "./device-selection.js";

export interface BMojoLayerConfig extends Omit<BMojoConfig, "positions"> {
  /** "none" (default, NoPE as in the paper) or "rope" (memory keys at their tokens' positions). */
  positions?: PositionEncoding;
  /** RoPE base with positions "rope" (10000). */
  ropeTheta?: number;
  dModel: number;
  heads: number;
  kvHeads: number;
  /** The window w: each query sees the last w inputs; also the chunk length. */
  window: number;
  ssm: SsmConfig;
}

/** Which input positions a B'MOJO layer holds in eidetic memory, with their innovation scores. */
export interface EideticSnapshot {
  /** For each batch element, the held positions (ascending) and their scores. */
  sequences: { positions: number[]; scores: number[] }[];
}

/** What a parallel forward selected, per chunk, for inspection. */
export interface ChunkSelection {
  /** [B][chunks][m_e] positions (−1 = empty slot). */
  positions: number[][][];
  /** [B][L] innovation score of every position. */
  scores: number[][];
}

/** Recurrent state of one B'MOJO layer; its size does not depend on the sequence length. */
export interface BMojoCache {
  readonly kind: "bmojo";
  ssm: MambaState;
  /** Ring of the last w in-context keys/values. */
  kv: KVCache;
  /** The innovation predictor's history (last k SSM outputs). */
  tracker: InnovationTracker;
  /** The last m_f SSM outputs, [B, m_f, d], slot = position mod m_f. */
  fading: Tensor;
  /** Per batch element: the live top-m_e store over every position seen so far. */
  stores: EideticStore[];
  /** Keys/values of the stored tokens by store slot, [B, Hkv, m_e, Dh]. */
  storeK: Tensor;
  storeV: Tensor;
  /** Memory slots of the current chunk (fading first, then eidetic), [B, Hkv, m_f + m_e, Dh]. */
  memK: Tensor;
  memV: Tensor;
  /** int32 [B, m_f + m_e]. */
  memMask: Tensor;
  position: number;
  /**
   * The last step's SSM output and key/value, waiting for the host to score them (nothing waits
   * for the device while the next layers are queued); `settle` reads and admits them.
   */
  pending: PendingStep | null;
}

/**
 * A step whose innovation score is not yet on the host: its SSM output. Its key and value stay in
 * the key/value ring (slot position mod window) until `window` steps later, where an admission
 * copies them from.
 */
export interface PendingStep {
  y: Tensor;
  position: number;
}

export class BMojoLayer extends Module {
  readonly ssm: Mamba;
  readonly attn: Attention;
  /** The selection made by the latest parallel forward (for inspection). */
  lastSelection: ChunkSelection | null = null;
  /** The decode step's SSM input projection and attention q/k/v, as one product. */
  private inputs: StackedLinears | null = null;

  constructor(
    readonly config: BMojoLayerConfig,
    init: InitOptions,
  ) {
    super();
    this.ssm = this.registerModule(
      "ssm",
      new Mamba({ dModel: config.dModel, ...config.ssm }, init),
    );
    this.attn = this.registerModule(
      "attn",
      new Attention(
        {
          dModel: config.dModel,
          heads: config.heads,
          kvHeads: config.kvHeads,
          window: config.window,
          rope: config.positions === "rope",
          ropeTheta: config.ropeTheta,
        },
        init,
      ),
    );
  }

  /** Disposes the parameters and the decode step's stacked input projections. */
  override dispose(): void {
    this.inputs?.dispose();
    super.dispose();
  }

  private get slots(): number {
    return this.config.fadingTokens + this.config.eideticTokens;
  }

  /**
   * Keys/values of memory tokens [B, C, M, d]; with RoPE each key is rotated to its token's
   * position (`positions`: int32 [B, C, M] on the host or the device, each < bound).
   */
  private memoryKeysValues(
    tokens: Tensor,
    positions: () => Int32Array | Tensor,
    bound: number,
  ): { k: Tensor; v: Tensor } {
    if (this.config.positions !== "rope") return this.attn.projectKeysValues(tokens);
    const at = positions();
    const [batch, chunks, slots] = tokens.shape;
    const onDevice =
      at instanceof Int32Array
        ? tensor(at, [batch, chunks, slots], { dtype: "int32", backend: tokens.backend })
        : at;
    return this.attn.projectKeysValues(tokens, { positions: onDevice, bound: Math.max(bound, 1) });
  }

  /**
   * Memory tokens of every chunk: gather indices into rows [y (B·L rows); u (B·L rows)] and the
   * validity mask, both [B, chunks, m_f + m_e], plus the selection for inspection.
   */
  private memoryLayout(
    scores: Float32Array | Float64Array,
    batch: number,
    length: number,
    me = this.config.eideticTokens,
  ) {
    const { window: w, fadingTokens: mf } = this.config;
    const chunks = Math.ceil(length / w);
    const m = mf + me;
    const eidetic = selectEideticBatch(scores, batch, length, w, me);
    const index = new Int32Array(batch * chunks * m);
    const mask = new Int32Array(batch * chunks * m);
    const positions: number[][][] = [];
    for (let b = 0; b < batch; b++) {
      const perChunk: number[][] = [];
      for (let c = 0; c < chunks; c++) {
        const base = (b * chunks + c) * m;
        for (let j = 0; j < mf; j++) {
          const s = c * w - mf + j;
          if (s >= 0) {
            index[base + j] = b * length + s;
            mask[base + j] = 1;
          }
        }
        const chosen: number[] = [];
        for (let j = 0; j < me; j++) {
          const s = eidetic[(b * chunks + c) * me + j];
          chosen.push(s);
          if (s >= 0) {
            index[base + mf + j] = batch * length + b * length + s;
            mask[base + mf + j] = 1;
          }
        }
        perChunk.push(chosen);
      }
      positions.push(perChunk);
    }
    const scoreRows = Array.from({ length: batch }, (_, b) =>
      Array.from(scores.subarray(b * length, (b + 1) * length)),
    );
    return { chunks, index, mask, selection: { positions, scores: scoreRows } };
  }

  /**
   * Keys/values and mask of every chunk's memory tokens, from the SSM output y and the input u
   * (both [B, L, d]); also the innovation scores (a tensor, and on the host when the backend reads
   * synchronously) and the selection (null when it was made on the device).
   */
  private chunkMemory(u: Tensor, y: Tensor) {
    const [batch, length, d] = u.shape;
    const { window: w, fadingTokens: mf, eideticTokens: me } = this.config;
    const scoresTensor = innovationScores(y, { predictorLength: this.config.predictorLength });
    const rows = concat([reshape(y, [batch * length, d]), reshape(u, [batch * length, d])], 0);
    const chunks = Math.ceil(length / w);
    let index: Tensor;
    let mask: Tensor;
    // The position of each memory token (RoPE only): rows index [y; u], each block L rows long.
    let positions: () => Int32Array | Tensor;
    let scores: Float32Array | Float64Array | null = null;
    let selection: ChunkSelection | null = null;
    if (u.backend.readSync !== undefined) {
      scores = scoresTensor.dataSync() as Float32Array | Float64Array;
      const layout = this.memoryLayout(scores, batch, length);
      index = tensor(layout.index, [layout.index.length], { backend: u.backend });
      mask = tensor(layout.mask, [batch, chunks, this.slots], { backend: u.backend });
      selection = layout.selection;
      positions = () => layout.index.map((row) => row % length);
    } else {
      // No synchronous reads (WebGPU): the eidetic selection runs on the device.
      const fading = this.memoryLayout(new Float32Array(batch * length), batch, length, 0);
      const fadingIndex = tensor(fading.index, [batch, chunks, mf], { backend: u.backend });
      const fadingMask = tensor(fading.mask, [batch, chunks, mf], { backend: u.backend });
      const fadingAt = () =>
        tensor(
          fading.index.map((row) => row % length),
          [batch, chunks, mf],
          { dtype: "int32", backend: u.backend },
        );
      if (me === 0) {
        index = reshape(fadingIndex, [batch * chunks * mf]);
        mask = fadingMask;
        positions = fadingAt;
      } else {
        const eidetic = deviceEideticLayout(scoresTensor, w, me);
        index = reshape(concat([fadingIndex, eidetic.index], 2), [batch * chunks * this.slots]);
        mask = concat([fadingMask, eidetic.mask], 2);
        positions = () => concat([fadingAt(), eidetic.positions()], 2);
      }
    }
    const tokens = reshape(gather(rows, index), [batch, chunks, this.slots, d]);
    const { k, v } = this.memoryKeysValues(tokens, positions, length);
    return { k, v, mask, scores, scoresTensor, selection, chunks };
  }

  /**
   * The chunked parallel form: u [B, L, d] (already normalised) → [B, L, d]. Gradients flow into
   * the values of the memory tokens (through y and u), not into the selection.
   */
  forward(u: Tensor): Tensor {
    const result = tidy(() => {
      const { out: y, state } = this.ssm.forward(u);
      disposeState(state);
      const memory = this.chunkMemory(u, y);
      const out = this.attn.forward(u, {
        memory: { k: memory.k, v: memory.v, mask: memory.mask, chunkSize: this.config.window },
      });
      return { out, selection: memory.selection };
    });
    this.lastSelection = result.selection;
    return result.out;
  }

  /**
   * The parallel form over a prompt that also leaves `cache` (fresh, position 0) exactly as L
   * recurrent steps would: SSM state, key/value ring, predictor history, eidetic stores with
   * their keys/values, fading ring and the current chunk's memory slots.
   */
  async prefill(u: Tensor, cache: BMojoCache): Promise<Tensor> {
    if (cache.position !== 0)
      throw new Error(
        "BMojoLayer.prefill: the cache must be fresh (position 0); continue with step().",
      );
    const { window: w, fadingTokens: mf, kvHeads, dModel: d, heads } = this.config;
    const [batch, length] = u.shape;
    const dh = d / heads;
    const history = Math.min(this.config.predictorLength, length);
    const { out, yLastTensor, scoresTensor, hostScores, selection } = tidy(() => {
      const { out: y, state } = this.ssm.forward(u);
      assign(cache.ssm.conv, state.conv);
      assign(cache.ssm.ssm, state.ssm);
      const memory = this.chunkMemory(u, y);
      const result = this.attn.prefill(u, cache.kv, {
        memory: { k: memory.k, v: memory.v, mask: memory.mask, chunkSize: w },
      });
      // The slots of the chunk the next token falls in, when it is not a fresh chunk.
      const next = Math.floor(length / w);
      if (length % w !== 0) {
        const size = [batch, kvHeads, 1, this.slots, dh];
        assign(
          cache.memK,
          reshape(slice(memory.k, [0, 0, next, 0, 0], size), [batch, kvHeads, this.slots, dh]),
        );
        assign(
          cache.memV,
          reshape(slice(memory.v, [0, 0, next, 0, 0], size), [batch, kvHeads, this.slots, dh]),
        );
        assign(
          cache.memMask,
          reshape(slice(memory.mask, [0, next, 0], [batch, 1, this.slots]), [batch, this.slots]),
        );
      }
      for (let j = 0; j < Math.min(mf, length); j++) {
        const s = length - 1 - j;
        assignSlice(cache.fading, slice(y, [0, s, 0], [batch, 1, d]), [0, s % mf, 0]);
      }
      return {
        out: result,
        // Only the predictor's history and the scores cross to the host.
        yLastTensor: slice(y, [0, length - history, 0], [batch, history, d]),
        scoresTensor: memory.scoresTensor,
        hostScores: memory.scores,
        selection: memory.selection,
      };
    });
    this.lastSelection = selection;
    const yLast = await yLastTensor.data();
    const scores = hostScores ?? (await scoresTensor.data());
    yLastTensor.dispose();
    scoresTensor.dispose();
    // Predictor history and stores, in the state L recurrent steps would leave them.
    cache.tracker.load(yLast as Float32Array | Float64Array, length);
    for (let t = 0; t < length; t++) {
      for (let b = 0; b < batch; b++) cache.stores[b].offer(t, scores[b * length + t]);
    }
    this.projectStored(u, cache);
    cache.position = length;
    return out;
  }

  /**
   * Keys/values of every stored token after a prefill, in one projection for all sequences: store
   * slot i of sequence b gets the input u[b, position of slot i]. Slots past a sequence's count
   * (only when NaN scores left it short) get u[b, 0]; they are never read.
   */
  private projectStored(u: Tensor, cache: BMojoCache): void {
    const { kvHeads, dModel: d, heads } = this.config;
    const [batch, length] = u.shape;
    const count = Math.max(...cache.stores.map((store) => store.size));
    if (count === 0) return;
    const index = new Int32Array(batch * count);
    const positions = new Int32Array(batch * count);
    cache.stores.forEach((store, b) => {
      for (let slot = 0; slot < count; slot++) {
        positions[b * count + slot] = slot < store.size ? store.positionAt(slot) : 0;
        index[b * count + slot] = b * length + positions[b * count + slot];
      }
    });
    tidy(() => {
      const rows = gather(
        reshape(u, [batch * length, d]),
        tensor(index, [index.length], { dtype: "int32", backend: u.backend }),
      );
      const { k, v } = this.memoryKeysValues(
        reshape(rows, [batch, 1, count, d]),
        () => positions,
        length,
      );
      const size = [batch, kvHeads, count, d / heads];
      assignSlice(cache.storeK, reshape(k, size), [0, 0, 0, 0]);
      assignSlice(cache.storeV, reshape(v, size), [0, 0, 0, 0]);
    });
  }

  /**
   * A fresh recurrent state for `batch` sequences, in `dtype` (the parameters' by default;
   * bfloat16 for float32 parameters under mixed precision, whose innovation scores stay float32).
   */
  createCache(batch: number, dtype: FloatDType = this.ssm.dtype as FloatDType): BMojoCache {
    const {
      dModel: d,
      kvHeads,
      heads,
      fadingTokens: mf,
      eideticTokens: me,
      predictorLength,
    } = this.config;
    const backend = this.ssm.backend;
    const dh = d / heads;
    const zeros = (shape: number[], kind: DType = dtype) =>
      full(shape, 0, { dtype: kind, backend });
    return {
      kind: "bmojo",
      ssm: this.ssm.createState(batch, dtype),
      // Any length beyond the window gives a ring of `window` slots: constant size.
      kv: this.attn.createCache(batch, Number.MAX_SAFE_INTEGER, dtype),
      tracker: new InnovationTracker(
        batch,
        d,
        predictorLength,
        dtype === "float64" ? "float64" : "float32",
      ),
      fading: zeros([batch, Math.max(mf, 1), d]),
      stores: Array.from({ length: batch }, () => new EideticStore(me)),
      storeK: zeros([batch, kvHeads, Math.max(me, 1), dh]),
      storeV: zeros([batch, kvHeads, Math.max(me, 1), dh]),
      memK: zeros([batch, kvHeads, this.slots, dh]),
      memV: zeros([batch, kvHeads, this.slots, dh]),
      memMask: zeros([batch, this.slots], "int32"),
      position: 0,
      pending: null,
    };
  }

  /** The tensors a cache holds besides its SSM state and key/value ring. */
  private static memoryTensors(cache: BMojoCache): Tensor[] {
    return [cache.fading, cache.storeK, cache.storeV, cache.memK, cache.memV, cache.memMask];
  }

  /** Bytes of every tensor the cache holds (the host-side stores hold O(m_e) numbers more). */
  static cacheBytes(cache: BMojoCache): number {
    const memory = BMojoLayer.memoryTensors(cache).reduce(
      (acc, t) => acc + t.size * bytesPerElement(t.dtype),
      0,
    );
    return stateBytes(cache.ssm) + cache.kv.bytes() + memory;
  }

  static disposeCache(cache: BMojoCache): void {
    disposeState(cache.ssm);
    cache.kv.dispose();
    for (const t of BMojoLayer.memoryTensors(cache)) t.dispose();
    cache.pending?.y.dispose();
    cache.pending = null;
  }

  /**
   * At a chunk boundary: fading slots from the last m_f SSM outputs, eidetic slots from the store
   * (sorted by position, as the parallel form orders them).
   */
  private refreshMemory(cache: BMojoCache): void {
    const { fadingTokens: mf, kvHeads, dModel, heads } = this.config;
    const batch = cache.stores.length;
    const dh = dModel / heads;
    const p = cache.position;
    const mask = new Int32Array(batch * this.slots);
    tidy(() => {
      if (mf > 0) {
        // Ring slot of position s is s mod m_f; order the fading tokens oldest first.
        const order = Array.from({ length: mf }, (_, j) => (((p - mf + j) % mf) + mf) % mf);
        const ordered = gather(
          cache.fading,
          tensor(Int32Array.from(order), [mf], { backend: cache.fading.backend }),
          1,
        );
        const { k, v } = this.memoryKeysValues(
          reshape(ordered, [batch, 1, mf, dModel]),
          () => Int32Array.from({ length: batch * mf }, (_, i) => Math.max(p - mf + (i % mf), 0)),
          p,
        );
        assignSlice(cache.memK, reshape(k, [batch, kvHeads, mf, dh]), [0, 0, 0, 0]);
        assignSlice(cache.memV, reshape(v, [batch, kvHeads, mf, dh]), [0, 0, 0, 0]);
        for (let b = 0; b < batch; b++)
          for (let j = 0; j < mf; j++) mask[b * this.slots + j] = p - mf + j >= 0 ? 1 : 0;
      }
      // Eidetic slots: every sequence's stored keys/values in position order, one gather each.
      const entries = cache.stores.map((store) => store.entries());
      const count = Math.max(...entries.map((e) => e.length));
      if (count > 0) {
        const capacity = cache.storeK.shape[2];
        const rows = new Int32Array(batch * kvHeads * count);
        for (let b = 0; b < batch; b++) {
          for (let h = 0; h < kvHeads; h++) {
            for (let i = 0; i < count; i++) {
              // Past a sequence's own count: any row (its mask stays 0).
              const slot = i < entries[b].length ? entries[b][i].slot : 0;
              rows[(b * kvHeads + h) * count + i] = (b * kvHeads + h) * capacity + slot;
            }
          }
          for (let i = 0; i < entries[b].length; i++) mask[b * this.slots + mf + i] = 1;
        }
        const index = tensor(rows, [rows.length], {
          dtype: "int32",
          backend: cache.storeK.backend,
        });
        const pick = (store: Tensor) =>
          reshape(gather(reshape(store, [batch * kvHeads * capacity, dh]), index), [
            batch,
            kvHeads,
            count,
            dh,
          ]);
        assignSlice(cache.memK, pick(cache.storeK), [0, 0, mf, 0]);
        assignSlice(cache.memV, pick(cache.storeV), [0, 0, mf, 0]);
      }
    });
    const hostMask = tensor(mask, [batch, this.slots], { backend: cache.memMask.backend });
    assign(cache.memMask, hostMask);
    hostMask.dispose();
  }

  /**
   * One token: u [B, d] (normalised) → [B, d]; updates the cache in place. The token's innovation
   * score is read without waiting: its admission to the eidetic store happens in `settle`, which
   * the next step (and LanguageModel.step, once every layer is queued) awaits.
   */
  async step(u: Tensor, cache: BMojoCache): Promise<Tensor> {
    this.assertStepInput("step", u, cache);
    await this.settle(cache);
    this.beginStep(cache);
    const out = this.stepOn(u, cache);
    cache.position++;
    return out;
  }

  /**
   * The host's work before a step at cache.position: at a chunk boundary, the memory slots of the
   * new chunk (fading tokens and the store's eidetic tokens). `step` does it; a caller of `stepAt`
   * does it before each step (or replay).
   */
  beginStep(cache: BMojoCache): void {
    if (cache.position % this.config.window === 0) this.refreshMemory(cache);
  }

  /**
   * `step`'s device work at the position `at` holds on the device (see Attention.step's `at`), for
   * a step captured once and replayed (LanguageModel.compileStep): the SSM step, the attention
   * over its memory slots and the key/value ring, the SSM output into its fading slot. The host's
   * work is the caller's, around it: `beginStep` before, and after it `cache.pending`'s output read
   * and `admit`ted (within `window` steps), and the positions moved on (cache.position,
   * cache.kv.advance). Leaves the step's SSM output in cache.pending.
   */
  stepAt(u: Tensor, cache: BMojoCache, at: DevicePosition): Tensor {
    this.assertStepInput("stepAt", u, cache);
    if (cache.pending !== null) {
      throw new Error(
        "BMojoLayer.stepAt: the last step is not settled yet; await layer.settle(cache) first.",
      );
    }
    return this.stepOn(u, cache, at);
  }

  private assertStepInput(method: string, u: Tensor, cache: BMojoCache): void {
    const { dModel } = this.config;
    if (u.rank !== 2 || u.shape[1] !== dModel || u.shape[0] !== cache.stores.length) {
      throw new RangeError(
        `BMojoLayer.${method}: u must be [batch, dModel] = [${cache.stores.length}, ${dModel}] (the cache's batch), got [${u.shape.join(", ")}].`,
      );
    }
  }

  /** The step's device work, at the host position or at `at`; leaves its outputs pending. */
  private stepOn(u: Tensor, cache: BMojoCache, at?: DevicePosition): Tensor {
    const { fadingTokens: mf, dModel } = this.config;
    const batch = u.shape[0];
    const { y, out } = tidy(() => {
      // The SSM and the attention read the same u: their four input projections as one product.
      this.inputs ??= new StackedLinears([
        this.ssm.in_proj,
        this.attn.q_proj,
        this.attn.k_proj,
        this.attn.v_proj,
      ]);
      const projected = this.inputs.product(u);
      const xzWidth = this.ssm.in_proj.outFeatures;
      const [xz, qkv] = split(projected, [xzWidth, projected.shape[1] - xzWidth], -1);
      const y = this.ssm.stepProjected(xz, cache.ssm);
      const memory = { k: cache.memK, v: cache.memV, mask: cache.memMask };
      const { out, k, v } = this.attn.stepProjected(qkv, cache.kv, { memory, at });
      // The ring keeps the key and value: an admission copies them from there.
      k.dispose();
      v.dispose();
      return { y, out };
    });
    cache.pending = { y, position: cache.position };
    if (mf > 0) {
      tidy(() => {
        const row = reshape(y, [batch, 1, dModel]);
        if (at === undefined) assignSlice(cache.fading, row, [0, cache.position % mf, 0]);
        else assignRows(cache.fading, at.remainder(mf), row, 1);
      });
    }
    return out;
  }

  /**
   * Reads the pending step's SSM output, scores it on the host and offers it to the eidetic stores.
   * `read`, when given, is that output already on its way to the host (LanguageModel.step reads
   * every layer's in one batch, see `pendingOutput`).
   */
  async settle(cache: BMojoCache, read?: Promise<TypedArray>): Promise<void> {
    const pending = cache.pending;
    if (pending === null) return;
    cache.pending = null;
    try {
      this.admit(cache, pending.position, await (read ?? pending.y.data()));
    } finally {
      pending.y.dispose();
    }
  }

  /**
   * Scores the SSM output y (on the host, [B, d]) of the step at `position` and offers its token to
   * each sequence's store; an admitted token's key and value go from the key/value ring to the
   * store slot it takes. Steps are admitted in order, each before `window` more steps overwrite
   * its ring slot (and before the next chunk boundary's memory refresh reads the stores).
   */
  admit(cache: BMojoCache, position: number, y: TypedArray): void {
    const { kvHeads, dModel, heads } = this.config;
    const dh = dModel / heads;
    const scores = cache.tracker.score(y as Float32Array | Float64Array);
    const ring = cache.kv.slotOf(position);
    cache.stores.forEach((store, b) => {
      const { admitted, slot } = store.offer(position, scores[b]);
      if (!admitted) return;
      tidy(() => {
        // Sequence b's key and value [1, Hkv, 1, Dh], from its ring slot.
        const size = [1, kvHeads, 1, dh];
        const row = (t: Tensor) => slice(t, [b, 0, ring, 0], size);
        assignSlice(cache.storeK, row(cache.kv.k), [b, 0, slot, 0]);
        assignSlice(cache.storeV, row(cache.kv.v), [b, 0, slot, 0]);
      });
    });
  }

  /** The pending step's SSM output [B, d] that `settle` will read, or null when settled. */
  static pendingOutput(cache: BMojoCache): Tensor | null {
    return cache.pending?.y ?? null;
  }

  /** What the live stores hold (during generation). */
  static eideticSnapshot(cache: BMojoCache): EideticSnapshot {
    if (cache.pending !== null) {
      throw new Error(
        "BMojoLayer.eideticSnapshot: the last step is not settled yet; await layer.settle(cache) first (LanguageModel.step does).",
      );
    }
    return {
      sequences: cache.stores.map((store) => {
        const entries = store.entries();
        return { positions: entries.map((e) => e.position), scores: entries.map((e) => e.score) };
      }),
    };
  }
}
