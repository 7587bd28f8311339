/**
 * A decode step captured once and replayed per token (`LanguageModel.compileStep`): a CUDA graph on
 * cuda, a recorded kernel list on cpu and wasm. A replay issues the same kernels as `step` on the
 * same buffers, without the op layer in between, so it gives step's logits bit for bit.
 */
import { type CapturedProgram, type Tensor, assignHost } from "@bmojo/tensor";
import type { ModelCache } from "./language-model.js";

/** What a compiled step checks before each replay: the captured cache, ids and weights. */
export interface CompiledStepParts {
  cache: ModelCache;
  /** int32 [batch]: the replay reads the tokens from here. */
  ids: Tensor;
  /** [batch, vocab]: the replay writes the logits here. */
  logits: Tensor;
  program: CapturedProgram;
  vocabSize: number;
  /** Every parameter of the model by name, whose buffers and versions the program captured. */
  parameters: readonly [string, Tensor][];
}

export class CompiledStep {
  private readonly versions: number[];
  private live = true;

  constructor(private readonly parts: CompiledStepParts) {
    this.versions = parts.parameters.map(([, p]) => p.version);
  }

  /** The cache this step advances. */
  get cache(): ModelCache {
    return this.parts.cache;
  }

  /** Kernel launches (graph nodes on cuda) one step issues. */
  get size(): number {
    return this.parts.program.size;
  }

  /**
   * One token per sequence (plain ids): issues the step and returns the logits [batch, vocab].
   * The same tensor every call, owned by this step: read it before the next `run`.
   */
  run(tokens: ArrayLike<number>): Tensor {
    const { cache, ids, logits, program, vocabSize } = this.parts;
    if (!this.live) throw new Error("CompiledStep.run: this step was disposed; compile another.");
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
    this.assertWeightsUnchanged();
    assignHost(ids, tokens);
    program.replay();
    cache.position++;
    return logits;
  }

  /** Frees the program and its buffers (the cache stays the caller's). */
  dispose(): void {
    if (!this.live) return;
    this.live = false;
    const { ids, logits, program } = this.parts;
    program.dispose();
    ids.dispose();
    logits.dispose();
  }

  private assertWeightsUnchanged(): void {
    const { parameters } = this.parts;
    for (let i = 0; i < parameters.length; i++) {
      const [name, p] = parameters[i];
      if (p.isDisposed || p.version !== this.versions[i]) {
        throw new Error(
          `CompiledStep.run: parameter '${name}' was ${p.isDisposed ? "disposed" : "written"} after compileStep (an optimizer step, a checkpoint load); the program still reads the old buffers. Dispose this step and compile again.`,
        );
      }
    }
  }
}
