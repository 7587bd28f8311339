/**
 * A language model from a layer plan: embedding → blocks → RMSNorm → untied lm_head.
 * Parameter names follow conventions.md, so checkpoints load in other implementations.
 */
import { Attention, DevicePosition } from "@bmojo/attention";
import { Embedding, Linear, Module, RMSNorm } from "@bmojo/nn";
import {
  getBackend,
  cast,
  type Backend,
  Random,
  type Tensor,
  argmax,
  assign,
  canCapture,
  capture,
  crossEntropy,
  formatShape,
  readTensors,
  tensor,
  tidy,
  zeros,
} from "@bmojo/tensor";
import {
  Block,
  type MixerCache,
  type Residual,
  disposeMixerCache,
  enter,
  mixerCacheBytes,
  releaseResidual,
} from "./block.js";
import { BMojoLayer, type ChunkSelection, type EideticSnapshot } from "./bmojo-layer.js";
import { type CompileStepOptions, CompiledStep } from "./compiled-step.js";
import { ConfigError, type ModelConfig, type ResolvedConfig, resolveConfig } from "./config.js";

/** Recurrent state of a whole model for `batch` sequences. */
export interface ModelCache {
  readonly layers: MixerCache[];
  readonly batch: number;
  position: number;
  /**
   * B'MOJO admissions a compiled step still makes on the host (it reads a step's SSM outputs
   * while the next replay runs); null when there are none. `settle` awaits them.
   */
  admitting: Promise<void> | null;
}

/** Per B'MOJO layer: which input positions it holds in eidetic memory. */
export interface LayerMemory<T> {
  layer: number;
  memory: T;
}

export class LanguageModel extends Module {
  readonly config: ResolvedConfig;
  readonly embedding: Embedding;
  readonly blocks: Block[];
  readonly norm_f: RMSNorm;
  readonly lm_head: Linear;

  constructor(config: ModelConfig, options: { backend?: Backend } = {}) {
    super();
    this.config = resolveConfig(config);
    const { vocabSize, dModel, dtype, seed, normEps, computeDType } = this.config;
    const backend = options.backend ?? getBackend();
    if (!backend.dtypes.includes(computeDType)) {
      throw new ConfigError(
        "computeDType",
        `backend '${backend.name}' does not store ${computeDType} (it stores ${backend.dtypes.join(", ")}); ` +
          `use a backend that does (cuda; the cpu backend emulates bfloat16) or computeDType "${dtype}".`,
      );
    }
    const init = { rng: new Random(seed), dtype, backend: options.backend };
    this.embedding = this.registerModule("embedding", new Embedding(vocabSize, dModel, init));
    this.blocks = this.config.layers.map((spec, i) =>
      this.registerModule(`layers.${i}`, new Block(spec, this.config, init)),
    );
    this.norm_f = this.registerModule(
      "norm_f",
      new RMSNorm(dModel, { dtype, backend: options.backend, eps: normEps }),
    );
    this.lm_head = this.registerModule("lm_head", new Linear(dModel, vocabSize, init));
  }

  /** Checks token ids on the host (where the backend reads synchronously): shape and range. */
  private checkIds(ids: Tensor, rank: number, layout: string): void {
    if (ids.dtype !== "int32")
      throw new TypeError(`ids must be int32 token ids, got ${ids.dtype}.`);
    if (ids.rank !== rank)
      throw new RangeError(`ids must have shape ${layout}, got ${formatShape(ids.shape)}.`);
    if (ids.backend.readSync === undefined) return;
    const data = ids.dataSync();
    const vocab = this.config.vocabSize;
    for (let i = 0; i < data.length; i++) {
      if (data[i] < 0 || data[i] >= vocab) {
        throw new RangeError(
          `ids: token id ${data[i]} at flat position ${i} is out of range for vocabSize ${vocab}; ids must be in [0, ${vocab}).`,
        );
      }
    }
  }

  /** norm_f (with the last block's pending add) and lm_head. */
  private logits(r: Residual): Tensor {
    return tidy(() => this.lm_head.forward(enter(this.norm_f, r).out));
  }

  /** The embeddings of `ids` in the compute dtype (a cast of the rows under mixed precision). */
  private embed(ids: Tensor): Tensor {
    const { computeDType } = this.config;
    return tidy(() => {
      const rows = this.embedding.forward(ids);
      return rows.dtype === computeDType ? rows : cast(rows, computeDType);
    });
  }

  /**
   * ids int32 [B, L] → logits [B, L, vocab] (the parallel form), in the compute dtype
   * (`config.computeDType`).
   */
  forward(ids: Tensor): Tensor {
    this.checkIds(ids, 2, "[batch, length]");
    return tidy(() => {
      let r: Residual = { hidden: this.embed(ids), delta: null };
      for (const block of this.blocks) r = block.forwardResidual(r);
      return this.logits(r);
    });
  }

  /**
   * Mean next-token cross-entropy of logits(ids) against targets [B, L] (ignoreIndex −100), in the
   * parameter dtype: bfloat16 logits are cast to float32 first.
   */
  loss(ids: Tensor, targets: Tensor, options: { ignoreIndex?: number } = {}): Tensor {
    return tidy(() => {
      const logits = this.forward(ids);
      const wide = logits.dtype === this.config.dtype ? logits : cast(logits, this.config.dtype);
      return crossEntropy(wide, targets, { ignoreIndex: options.ignoreIndex ?? -100 });
    });
  }

  /** A fresh recurrent state for `batch` sequences, in the compute dtype. */
  createCache(batch = 1): ModelCache {
    if (!Number.isInteger(batch) || batch < 1)
      throw new RangeError(`createCache: batch must be a positive integer, got ${batch}.`);
    return {
      layers: this.blocks.map((b) => b.createCache(batch, this.config.computeDType)),
      batch,
      position: 0,
      admitting: null,
    };
  }

  /** The parallel form over a prompt ids [B, L] that also fills a fresh cache; → logits [B, L, vocab]. */
  async prefill(ids: Tensor, cache: ModelCache): Promise<Tensor> {
    this.checkIds(ids, 2, "[batch, length]");
    if (cache.position !== 0)
      throw new Error("prefill: the cache must be fresh; continue with step().");
    if (ids.shape[0] !== cache.batch)
      throw new RangeError(
        `prefill: ids has batch ${ids.shape[0]} but the cache was made for ${cache.batch}.`,
      );
    const logits = await this.throughBlocks(ids, cache, (block, r, c) =>
      block.prefillResidual(r, c),
    );
    cache.position = ids.shape[1];
    return logits;
  }

  /** One token per sequence, ids int32 [B] → logits [B, vocab]; updates the cache. */
  async step(ids: Tensor, cache: ModelCache): Promise<Tensor> {
    this.checkIds(ids, 1, "[batch]");
    if (ids.shape[0] !== cache.batch)
      throw new RangeError(
        `step: ids has batch ${ids.shape[0]} but the cache was made for ${cache.batch}.`,
      );
    while (cache.admitting !== null) await cache.admitting;
    const logits = await this.throughBlocks(ids, cache, (block, r, c) => block.stepResidual(r, c));
    // Every layer is queued; now the B'MOJO layers' SSM outputs come back, in one batched read.
    try {
      const settling = this.blocks.flatMap((block, i) => {
        const c = cache.layers[i];
        if (!(block.mixer instanceof BMojoLayer) || c.kind !== "bmojo") return [];
        const y = BMojoLayer.pendingOutput(c);
        return y === null ? [] : [{ layer: block.mixer, cache: c, y }];
      });
      const reading = readTensors(settling.map((s) => s.y));
      await Promise.all(
        settling.map((s, j) =>
          s.layer.settle(
            s.cache,
            reading.then((ys) => ys[j]),
          ),
        ),
      );
    } catch (error) {
      logits.dispose();
      throw error;
    }
    cache.position++;
    return logits;
  }

  /**
   * Resolves once every B'MOJO admission pending on `cache` is made: those a compiled step's
   * replays left in flight (LanguageModel.step and compileStep wait for them too). Call it before
   * reading `eideticMemory` after replays.
   */
  async settle(cache: ModelCache): Promise<void> {
    while (cache.admitting !== null) await cache.admitting;
  }

  /**
   * Why `compileStep` would refuse this model on its backend now, or null when it can compile: the
   * backend must capture programs and hold no other one. Every layer kind compiles (attention and
   * B'MOJO read their position from the device, see Attention.step's `at`).
   */
  compileStepBlocker(): string | null {
    const backend = this.embedding.weight.backend;
    if (!canCapture(backend))
      return `backend '${backend.name}' cannot capture programs (every built-in backend can: cpu, wasm, tfjs, webgpu, cuda)`;
    if (backend.programLive?.())
      return `backend '${backend.name}' already holds a captured program (one at a time: dispose the other compiled step first)`;
    return null;
  }

  /**
   * The positions a compiled step replays: `run` refuses a cache at this position or later. A full
   * KV cache holds config.maxLength positions, and RoPE at a device position reads tables of that
   * many; Infinity for plans with neither (Mamba, NoPE sliding windows, NoPE B'MOJO).
   */
  get replayLimit(): number {
    let limit = Number.POSITIVE_INFINITY;
    for (const block of this.blocks) {
      const m = block.mixer;
      const attn = m instanceof BMojoLayer ? m.attn : m instanceof Attention ? m : null;
      if (attn === null) continue;
      if (attn.config.rope || attn.window >= this.config.maxLength) limit = this.config.maxLength;
    }
    return limit;
  }

  /**
   * Captures one decode step on `cache` into a program (a CUDA graph on cuda, a recorded list of
   * kernel calls on the other backends) that `CompiledStep.run` replays per token, with neither
   * the op layer nor a launch per kernel in between. Mamba layers replay step's kernels on the
   * same buffers (the same logits, bit for bit); attention and B'MOJO layers read the position
   * from a device int32 that `run` writes (Attention.step's `at`: the same keys in the cache, the
   * logits up to the softmax's summation order), and `run` does B'MOJO's host work around the
   * replay (BMojoLayer.stepAt). The cache must stay alive and the weights unchanged while the
   * step is used (`run` checks the weights); `step` and `run` may alternate on the cache. One
   * compiled step lives at a time per backend. With `feedback: "argmax"` the program also writes
   * the greedy next tokens into its input, for `replayGreedy` (greedy decoding that reads no
   * logits; without B'MOJO layers, with no host round trip per token at all).
   */
  async compileStep(cache: ModelCache, options: CompileStepOptions = {}): Promise<CompiledStep> {
    const feedback = options.feedback ?? "none";
    if (feedback !== "none" && feedback !== "argmax")
      throw new TypeError(
        `compileStep: feedback must be "none" or "argmax", got ${String(feedback)}.`,
      );
    const blocker = this.compileStepBlocker();
    if (blocker !== null) throw new Error(`compileStep: ${blocker}; use step() instead.`);
    if (cache.layers.length !== this.blocks.length)
      throw new RangeError("compileStep: the cache does not belong to this model (layer count).");
    const backend = this.embedding.weight.backend;
    const bound = this.config.maxLength;
    // B'MOJO steps still waiting for their admission are admitted now, as the next step would.
    await this.settle(cache);
    for (const [i, block] of this.blocks.entries()) {
      const c = cache.layers[i];
      if (block.mixer instanceof BMojoLayer && c.kind === "bmojo") await block.mixer.settle(c);
    }
    // One eager step on a scratch cache first: every lazily built value (stacked decode weights,
    // Mamba's A, RoPE tables up to maxLength) then exists before the capture, instead of being
    // computed inside the program. Its own DevicePosition: the capture's must derive its slots
    // and masks inside the program.
    const scratch = this.createCache(cache.batch);
    const warmPosition = zeros([1], { dtype: "int32", backend });
    const warmAt = new DevicePosition(warmPosition, bound);
    try {
      const warm = zeros([cache.batch], { dtype: "int32", backend });
      (
        await this.throughBlocks(warm, scratch, (b, r, c) => b.stepResidual(r, c, warmAt))
      ).dispose();
      warm.dispose();
    } finally {
      warmAt.dispose();
      warmPosition.dispose();
      this.disposeCache(scratch);
    }
    const ids = zeros([cache.batch], { dtype: "int32", backend });
    const position = zeros([1], { dtype: "int32", backend });
    const at = new DevicePosition(position, bound);
    try {
      const { value: logits, program } = await capture(backend, async () => {
        const out = await this.throughBlocks(ids, cache, (b, r, c) => b.stepResidual(r, c, at));
        if (feedback === "argmax") tidy(() => assign(ids, argmax(out, -1)));
        return out;
      });
      // The captured B'MOJO steps left their SSM outputs pending: the program rewrites them per
      // replay.
      const bmojo = this.blocks.flatMap((block, i) => {
        const c = cache.layers[i];
        if (!(block.mixer instanceof BMojoLayer) || c.kind !== "bmojo" || c.pending === null)
          return [];
        const { y } = c.pending;
        c.pending = null;
        return [{ layer: block.mixer, cache: c, y }];
      });
      return new CompiledStep({
        bmojo,
        cache,
        ids,
        position,
        at,
        logits,
        program,
        vocabSize: this.config.vocabSize,
        limit: this.replayLimit,
        parameters: this.namedParameters(),
        feedback,
      });
    } catch (error) {
      // A failed capture leaves no program: drop what its B'MOJO steps left pending.
      for (const c of cache.layers) {
        if (c.kind !== "bmojo" || c.pending === null) continue;
        c.pending.y.dispose();
        c.pending = null;
      }
      at.dispose();
      position.dispose();
      ids.dispose();
      throw error;
    }
  }

  /** Embedding → each block's recurrent `run` with its cache → logits. */
  private async throughBlocks(
    ids: Tensor,
    cache: ModelCache,
    run: (block: Block, r: Residual, layerCache: MixerCache) => Promise<Residual>,
  ): Promise<Tensor> {
    let r: Residual = { hidden: this.embed(ids), delta: null };
    for (const [i, block] of this.blocks.entries()) {
      const next = await run(block, r, cache.layers[i]);
      releaseResidual(r, next);
      r = next;
    }
    const out = this.logits(r);
    releaseResidual(r, null);
    return out;
  }

  /** Bytes of inference state the cache holds (constant in length for mamba / swa / bmojo plans). */
  cacheBytes(cache: ModelCache): number {
    return cache.layers.reduce((acc, c) => acc + mixerCacheBytes(c), 0);
  }

  disposeCache(cache: ModelCache): void {
    for (const c of cache.layers) disposeMixerCache(c);
  }

  /** The per-chunk selections of every B'MOJO layer in the latest forward or prefill. */
  lastSelections(): LayerMemory<ChunkSelection>[] {
    return this.blocks.flatMap((block, layer) =>
      block.mixer instanceof BMojoLayer && block.mixer.lastSelection !== null
        ? [{ layer, memory: block.mixer.lastSelection }]
        : [],
    );
  }

  /** What each B'MOJO layer's live eidetic store holds during generation. */
  eideticMemory(cache: ModelCache): LayerMemory<EideticSnapshot>[] {
    if (cache.admitting !== null) {
      throw new Error(
        "eideticMemory: a compiled step's admissions are still in flight; await model.settle(cache) first.",
      );
    }
    return cache.layers.flatMap((c, layer) =>
      c.kind === "bmojo" ? [{ layer, memory: BMojoLayer.eideticSnapshot(c) }] : [],
    );
  }

  /** ids from a plain array of token ids, as a [1, L] tensor on this model's backend. */
  idsTensor(tokens: readonly number[]): Tensor {
    const backend = this.embedding.weight.backend;
    return tensor(Int32Array.from(tokens), [1, tokens.length], { backend });
  }
}
