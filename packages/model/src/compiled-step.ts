/**
 * A decode step captured once and replayed per token (`LanguageModel.compileStep`): a CUDA graph on
 * cuda, a recorded list of kernel calls on the other backends. A replay issues the captured kernels
 * on the same buffers, without the op layer in between: Mamba layers give step's logits bit for
 * bit; attention and B'MOJO layers read the position from a device int32 that each replay's caller
 * writes first (see Attention.step's `at`). B'MOJO's host work stays around the replays: the
 * chunk's memory refresh before a replay at a chunk boundary, and the read of each step's SSM
 * outputs, its innovation score and eidetic admission, made in order while later replays run (the
 * stores are only read at the next boundary, which waits for them). With feedback "argmax" the
 * program also writes each sequence's most likely next token into its input, and `replayGreedy`
 * decodes greedily with no host round trip per token.
 */
import type { DevicePosition, KVCache } from "@bmojo/attention";
import {
  type CapturedProgram,
  type Tensor,
  type TypedArray,
  assignHost,
  readTensors,
} from "@bmojo/tensor";
import type { BMojoCache, BMojoLayer } from "./bmojo-layer.js";
import type { ModelCache } from "./language-model.js";

export interface CompileStepOptions {
  /**
   * "argmax": the program ends by writing argmax(logits) into its token input, so that
   * `replayGreedy` feeds each greedy token to the next step on the device (the loop PyTorch's
   * decode benchmarks run). Default "none".
   */
  feedback?: "none" | "argmax";
}

/** A B'MOJO layer of a compiled step: its cache and the SSM output the program writes per replay. */
export interface CompiledBMojo {
  layer: BMojoLayer;
  cache: BMojoCache;
  /** [B, d], rewritten by each replay. */
  y: Tensor;
}

/** What a compiled step checks before each replay: the captured cache, ids and weights. */
export interface CompiledStepParts {
  cache: ModelCache;
  /** int32 [batch]: the replay reads the tokens from here. */
  ids: Tensor;
  /** int32 [1]: the replay reads the position from here (attention and B'MOJO layers). */
  position: Tensor;
  /** The device position the captured steps derived their slots and masks from. */
  at: DevicePosition;
  /** Replays take positions < limit (LanguageModel.replayLimit). */
  limit: number;
  /** [batch, vocab]: the replay writes the logits here. */
  logits: Tensor;
  program: CapturedProgram;
  vocabSize: number;
  /** Every parameter of the model by name, whose buffers and versions the program captured. */
  parameters: readonly [string, Tensor][];
  feedback: "none" | "argmax";
  bmojo: readonly CompiledBMojo[];
}

export class CompiledStep {
  private readonly versions: number[];
  /** The key/value caches (attention and B'MOJO layers), whose positions each replay moves on. */
  private readonly kvCaches: KVCache[];
  private live = true;
  /** A replay waiting for earlier admissions before its chunk boundary's memory refresh. */
  private waiting = false;

  constructor(private readonly parts: CompiledStepParts) {
    this.versions = parts.parameters.map(([, p]) => p.version);
    this.kvCaches = parts.cache.layers.flatMap((c) => (c.kind === "mamba" ? [] : [c.kv]));
  }

  /** The cache this step advances. */
  get cache(): ModelCache {
    return this.parts.cache;
  }

  /** Kernel launches (graph nodes on cuda) one step issues. */
  get size(): number {
    return this.parts.program.size;
  }

  /** The positions this step replays: `run` refuses a cache at this position or later. */
  get limit(): number {
    return this.parts.limit;
  }

  /**
   * int32 [batch]: the tokens the next replay reads. With feedback "argmax", after a replay it holds
   * that step's greedy tokens (read it before the next replay; a read queued before the next
   * replay on a GPU backend sees this step's tokens).
   */
  get tokens(): Tensor {
    return this.parts.ids;
  }

  /**
   * One token per sequence (plain ids): issues the step and resolves with the logits [batch,
   * vocab] (read them to wait for the device). The same tensor every call, owned by this step:
   * read it before the next `run`. Await each call before the next. B'MOJO admissions may still be
   * in flight when it resolves (`LanguageModel.settle` awaits them).
   */
  async run(tokens: ArrayLike<number>): Promise<Tensor> {
    const { cache, ids, vocabSize } = this.parts;
    if (tokens.length !== cache.batch) {
      throw new RangeError(
        `CompiledStep.run: tokens must hold one id per sequence (${cache.batch}), got ${tokens.length}.`,
      );
    }
    for (let i = 0; i < tokens.length; i++) {
      const t = tokens[i];
      if (!Number.isInteger(t) || t < 0 || t >= vocabSize) {
        throw new RangeError(
          `CompiledStep.run: token ${t} at index ${i} is out of range; ids must be integers in [0, ${vocabSize}).`,
        );
      }
    }
    this.assertReady("run");
    return this.replay(() => assignHost(ids, tokens));
  }

  /**
   * One greedy step (feedback "argmax" only): replays with the tokens the previous replay chose (or
   * the last `run`'s argmax), writes this step's greedy tokens into `tokens`, and resolves with
   * the logits [batch, vocab] (the same tensor as `run`). Nothing is read; it waits only at a
   * B'MOJO chunk boundary, for the admissions before it. Await each call before the next.
   */
  async replayGreedy(): Promise<Tensor> {
    if (this.parts.feedback !== "argmax") {
      throw new Error(
        'CompiledStep.replayGreedy: this step was compiled without feedback; compile it with { feedback: "argmax" }.',
      );
    }
    this.assertReady("replayGreedy");
    return this.replay(() => {});
  }

  /** Frees the program and its buffers (the cache stays the caller's). */
  dispose(): void {
    if (!this.live) return;
    this.live = false;
    const { ids, position, at, logits, program, bmojo } = this.parts;
    program.dispose();
    at.dispose();
    for (const t of [ids, position, logits, ...bmojo.map((b) => b.y)]) t.dispose();
  }

  /**
   * At a B'MOJO chunk boundary, the admissions before it and the memory refresh; then `write`
   * (the tokens), the position, the replay, and the positions moved on by one token. B'MOJO's SSM
   * outputs are read right after the replay (a read holds the contents as of its call, so the next
   * replay may run meanwhile) and admitted in order, after the previous step's.
   */
  private async replay(write: () => void): Promise<Tensor> {
    const { cache, position, program, logits, bmojo } = this.parts;
    if (bmojo.some((b) => b.cache.position % b.layer.config.window === 0)) {
      this.waiting = true;
      try {
        while (cache.admitting !== null) await cache.admitting;
      } finally {
        this.waiting = false;
      }
      this.assertReady("replay");
      for (const b of bmojo) b.layer.beginStep(b.cache);
    }
    write();
    if (this.kvCaches.length > 0) assignHost(position, [cache.position]);
    program.replay();
    for (const kv of this.kvCaches) kv.advance(1);
    cache.position++;
    if (bmojo.length > 0) this.admitLater(readTensors(bmojo.map((b) => b.y)));
    return logits;
  }

  /** Chains this step's admissions (from its SSM outputs on their way) after the earlier ones. */
  private admitLater(reading: Promise<TypedArray[]>): void {
    const { cache, bmojo } = this.parts;
    const positions = bmojo.map((b) => b.cache.position);
    for (const b of bmojo) b.cache.position++;
    const previous = cache.admitting;
    let admitting: Promise<void> | null = null;
    admitting = (async () => {
      if (previous !== null) await previous;
      const ys = await reading;
      for (const [j, b] of bmojo.entries()) b.layer.admit(b.cache, positions[j], ys[j]);
      // (awaiting `reading` has yielded: `admitting` is assigned by now)
      if (cache.admitting === admitting) cache.admitting = null;
    })();
    // A failure stays on the cache: the next boundary, step or settle rethrows it.
    admitting.catch(() => {});
    cache.admitting = admitting;
  }

  /** Live, below the position limit, and no parameter written or disposed since the capture. */
  private assertReady(method: string): void {
    if (!this.live)
      throw new Error(`CompiledStep.${method}: this step was disposed; compile another.`);
    if (this.waiting) {
      throw new Error(
        `CompiledStep.${method}: the previous replay is still waiting for B'MOJO admissions; await it first.`,
      );
    }
    const { cache, limit } = this.parts;
    if (cache.position >= limit) {
      throw new RangeError(
        `CompiledStep.${method}: the cache is at position ${cache.position}, and this model's replayed step covers positions below ${limit} (config.maxLength: a full KV cache, or the RoPE tables a device position reads); build the model with a larger maxLength.`,
      );
    }
    const { parameters } = this.parts;
    for (let i = 0; i < parameters.length; i++) {
      const [name, p] = parameters[i];
      if (p.isDisposed || p.version !== this.versions[i]) {
        throw new Error(
          `CompiledStep.${method}: parameter '${name}' was ${p.isDisposed ? "disposed" : "written"} after compileStep (an optimizer step, a checkpoint load); the program still reads the old buffers. Dispose this step and compile again.`,
        );
      }
    }
  }
}
