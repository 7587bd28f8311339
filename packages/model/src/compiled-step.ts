/**
 * A decode step captured once and replayed per token (`LanguageModel.compileStep`): a CUDA graph on
 * cuda, a recorded list of kernel calls on the other backends. A replay issues the captured kernels
 * on the same buffers, without the op layer in between: Mamba layers give step's logits bit for
 * bit; attention and B'MOJO layers read the position from a device int32 that each replay's caller
 * writes first (see Attention.step's `at`). B'MOJO's host work stays around the replay, as around
 * its eager step: the chunk's memory refresh before it, the read of its SSM output and the
 * eidetic admission after it. With feedback "argmax" the program also writes each sequence's most
 * likely next token into its input, and `replayGreedy` decodes greedily without reading logits.
 */
import type { DevicePosition, KVCache } from "@bmojo/attention";
import { type CapturedProgram, type Tensor, assignHost, readTensors } from "@bmojo/tensor";
import type { BMojoCache, BMojoLayer, PendingStep } from "./bmojo-layer.js";
import type { ModelCache } from "./language-model.js";

export interface CompileStepOptions {
  /**
   * "argmax": the program ends by writing argmax(logits) into its token input, so that
   * `replayGreedy` feeds each greedy token to the next step on the device (the loop PyTorch's
   * decode benchmarks run). Default "none".
   */
  feedback?: "none" | "argmax";
}

/** A B'MOJO layer of a compiled step: its cache and the outputs the program writes each replay. */
export interface CompiledBMojo {
  layer: BMojoLayer;
  cache: BMojoCache;
  /** The captured step's SSM output and key/value (their position is the replay's). */
  outputs: Omit<PendingStep, "position">;
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
  /** A replay whose B'MOJO admissions are still being made. */
  private settling = false;

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
   * vocab], once B'MOJO layers have admitted the step's token (without B'MOJO, nothing is waited
   * for: read the logits to wait for the device). The same tensor every call, owned by this step:
   * read it before the next `run`.
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
    assignHost(ids, tokens);
    return this.replay();
  }

  /**
   * One greedy step (feedback "argmax" only): replays with the tokens the previous replay chose (or
   * the last `run`'s argmax), writes this step's greedy tokens into `tokens`, and resolves with
   * the logits [batch, vocab] (the same tensor as `run`). No logits are read; without B'MOJO layers
   * nothing is read at all (queue as many as wanted), with them each step's SSM outputs are, for
   * the eidetic admission.
   */
  async replayGreedy(): Promise<Tensor> {
    if (this.parts.feedback !== "argmax") {
      throw new Error(
        'CompiledStep.replayGreedy: this step was compiled without feedback; compile it with { feedback: "argmax" }.',
      );
    }
    this.assertReady("replayGreedy");
    return this.replay();
  }

  /** Frees the program and its buffers (the cache stays the caller's). */
  dispose(): void {
    if (!this.live) return;
    this.live = false;
    const { ids, position, at, logits, program, bmojo } = this.parts;
    program.dispose();
    at.dispose();
    for (const t of [ids, position, logits]) t.dispose();
    for (const { outputs } of bmojo) for (const t of Object.values(outputs)) t.dispose();
  }

  /**
   * B'MOJO's refresh at a chunk boundary, the position, the replay; then the positions move on by
   * one token and B'MOJO layers admit it (their SSM outputs read in one batch).
   */
  private async replay(): Promise<Tensor> {
    const { cache, position, program, logits, bmojo } = this.parts;
    for (const b of bmojo) b.layer.beginStep(b.cache);
    if (this.kvCaches.length > 0) assignHost(position, [cache.position]);
    program.replay();
    for (const kv of this.kvCaches) kv.advance(1);
    cache.position++;
    if (bmojo.length === 0) return logits;
    this.settling = true;
    try {
      const ys = await readTensors(bmojo.map((b) => b.outputs.y));
      bmojo.forEach((b, j) => {
        b.layer.admit(b.cache, { ...b.outputs, position: b.cache.position }, ys[j]);
        b.cache.position++;
      });
    } finally {
      this.settling = false;
    }
    return logits;
  }

  /** Live, below the position limit, and no parameter written or disposed since the capture. */
  private assertReady(method: string): void {
    if (!this.live)
      throw new Error(`CompiledStep.${method}: this step was disposed; compile another.`);
    if (this.settling) {
      throw new Error(
        `CompiledStep.${method}: the previous replay's B'MOJO admissions are not made yet; await it first.`,
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
