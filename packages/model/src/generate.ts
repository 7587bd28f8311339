/**
 * Sampling from a language model: temperature, top-k, top-p, a seed, stop tokens, a token budget,
 * an AbortSignal; as an async iterator of token ids, or with a callback.
 */
import { Random, slice, tensor } from "@bmojo/tensor";
import type { CompiledStep } from "./compiled-step.js";
import type { LanguageModel, ModelCache } from "./language-model.js";

export interface GenerateOptions {
  /** Tokens to generate at most. */
  maxTokens: number;
  /** Softmax temperature; 0 means greedy (argmax). Default 1. */
  temperature?: number;
  /** Keep only the k most likely tokens (0 or absent: all). */
  topK?: number;
  /** Keep the smallest set of most likely tokens whose probability reaches p (1 or absent: all). */
  topP?: number;
  /** Seed of the sampler (0). */
  seed?: number;
  /** Generation stops after emitting one of these. */
  stopTokens?: readonly number[];
  /** Aborting stops generation before the next token. */
  signal?: AbortSignal;
  /** Called with each token as it is produced. */
  onToken?: (token: number, index: number) => void;
  /** Called once with the cache after the last token (e.g. to inspect eidetic memory). */
  onCache?: (cache: ModelCache) => void;
  /**
   * Replay the decode step as one captured program where the model and its backend allow it
   * (`LanguageModel.compileStep`, any built-in backend) and the prompt plus maxTokens fit its
   * `replayLimit`; default true. Mamba's replayed logits are step's bit for bit; attention's and
   * B'MOJO's agree up to the softmax's summation order, so a sampled token could differ only where
   * two candidates tie to the last bit. While another compiled step holds the backend (one
   * program at a time), generation steps eagerly.
   */
  compile?: boolean;
}

export type StopReason = "maxTokens" | "stopToken" | "aborted";

export interface GenerateResult {
  tokens: number[];
  stopReason: StopReason;
}

function validate(model: LanguageModel, prompt: readonly number[], options: GenerateOptions): void {
  const { maxTokens, temperature = 1, topK = 0, topP = 1 } = options;
  if (prompt.length === 0)
    throw new RangeError("generate: prompt must hold at least one token id.");
  if (!Number.isInteger(maxTokens) || maxTokens < 0)
    throw new RangeError(`generate: maxTokens must be a non-negative integer, got ${maxTokens}.`);
  if (!(temperature >= 0))
    throw new RangeError(`generate: temperature must be ≥ 0, got ${temperature}.`);
  if (!Number.isInteger(topK) || topK < 0)
    throw new RangeError(`generate: topK must be a non-negative integer, got ${topK}.`);
  if (!(topP > 0 && topP <= 1))
    throw new RangeError(`generate: topP must be in (0, 1], got ${topP}.`);
  const hasFullAttention = model.config.layers.some((l) => l.kind === "attention");
  if (hasFullAttention && prompt.length + maxTokens > model.config.maxLength) {
    throw new RangeError(
      `generate: prompt (${prompt.length}) + maxTokens (${maxTokens}) exceeds maxLength (${model.config.maxLength}) of the full-attention cache; raise maxLength in the model config.`,
    );
  }
}

/** Picks a token from logits on the host. */
export function sampleToken(
  logits: ArrayLike<number>,
  options: { temperature?: number; topK?: number; topP?: number },
  rng: Random,
): number {
  const { temperature = 1, topK = 0, topP = 1 } = options;
  const n = logits.length;
  if (temperature === 0) {
    let best = 0;
    for (let i = 1; i < n; i++) if (logits[i] > logits[best]) best = i;
    return best;
  }
  const order = Array.from({ length: n }, (_, i) => i).sort(
    (a, b) => logits[b] - logits[a] || a - b,
  );
  const kept = topK > 0 ? order.slice(0, topK) : order;
  const max = logits[kept[0]];
  const weights = kept.map((i) => Math.exp((logits[i] - max) / temperature));
  const total = weights.reduce((a, b) => a + b, 0);
  let cut = kept.length;
  if (topP < 1) {
    let mass = 0;
    for (let j = 0; j < kept.length; j++) {
      mass += weights[j] / total;
      if (mass >= topP) {
        cut = j + 1;
        break;
      }
    }
  }
  const pool = weights.slice(0, cut);
  const poolTotal = pool.reduce((a, b) => a + b, 0);
  let r = rng.uniformArray(1, 0, 1, "float64")[0] * poolTotal;
  for (let j = 0; j < cut; j++) {
    r -= pool[j];
    if (r < 0) return kept[j];
  }
  return kept[cut - 1];
}

/** Yields generated token ids one at a time (batch of one sequence). */
export async function* generateTokens(
  model: LanguageModel,
  prompt: readonly number[],
  options: GenerateOptions,
): AsyncGenerator<number, StopReason> {
  validate(model, prompt, options);
  const rng = new Random(options.seed ?? 0);
  const stop = new Set(options.stopTokens ?? []);
  const cache = model.createCache(1);
  let compiled: CompiledStep | null = null;
  let reason: StopReason = "maxTokens";
  try {
    const ids = model.idsTensor(prompt);
    const all = await model.prefill(ids, cache);
    ids.dispose();
    const vocab = model.config.vocabSize;
    // Only the last position's logits cross to the host (a GPU keeps the rest).
    const last = slice(all, [0, prompt.length - 1, 0], [1, 1, vocab]);
    all.dispose();
    let logits: ArrayLike<number> = await last.data();
    last.dispose();
    const replays = options.maxTokens - 1;
    const fits = prompt.length + replays <= model.replayLimit;
    if (options.compile !== false && replays > 0 && fits && model.compileStepBlocker() === null)
      compiled = await model.compileStep(cache);
    for (let index = 0; index < options.maxTokens; index++) {
      if (options.signal?.aborted) {
        reason = "aborted";
        break;
      }
      const token = sampleToken(logits, options, rng);
      options.onToken?.(token, index);
      yield token;
      if (stop.has(token)) {
        reason = "stopToken";
        break;
      }
      if (index + 1 === options.maxTokens) break;
      if (compiled !== null) {
        logits = await (await compiled.run([token])).data();
        continue;
      }
      const next = tensor(Int32Array.of(token), [1], { backend: model.embedding.weight.backend });
      const out = await model.step(next, cache);
      next.dispose();
      logits = await out.data();
      out.dispose();
    }
    await model.settle(cache);
    options.onCache?.(cache);
  } finally {
    compiled?.dispose();
    model.disposeCache(cache);
  }
  return reason;
}

/** Generates up to maxTokens tokens; resolves with them and why generation stopped. */
export async function generate(
  model: LanguageModel,
  prompt: readonly number[],
  options: GenerateOptions,
): Promise<GenerateResult> {
  const tokens: number[] = [];
  const iterator = generateTokens(model, prompt, options);
  for (;;) {
    const next = await iterator.next();
    if (next.done) return { tokens, stopReason: next.value };
    tokens.push(next.value);
  }
}
