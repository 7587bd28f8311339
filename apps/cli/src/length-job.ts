/**
 * One model of `bmojo experiment length`, from start to finish: train it on a text (char
 * tokenizer) with windows of the training length and the shared training loop, then score it on
 * the text's validation split at every context. A job and its result are plain data, so the same
 * function runs in this thread (`--workers 1`) or in a worker thread (worker.ts).
 */
import { CharTokenizer, TextDataset } from "@bmojo/data";
import { LanguageModel, type ModelConfig } from "@bmojo/model";
import { crossEntropy, dispose } from "@bmojo/tensor";
import type { CompareTraining } from "./compare-job.js";
import { VALIDATION_FRACTION, readText, textSource } from "./data-source.js";
import { batchTensors } from "./evaluate.js";
import { trainFresh } from "./train-loop.js";

export const LENGTH_MODELS = ["transformer", "mamba", "bmojo"] as const;
export type LengthModel = (typeof LENGTH_MODELS)[number];

/** Everything one model's run needs; plain data (it is posted to a worker as is). */
export interface LengthJob {
  model: LengthModel;
  /** The model, its vocabulary that of a char tokenizer of `text`. */
  config: ModelConfig;
  /** The text, as `readText` takes it: "tinyshakespeare" or a file's path. */
  text: string;
  /** Tokens per training window. */
  trainLength: number;
  training: CompareTraining;
  /** Evaluation contexts L, in tokens. */
  contexts: number[];
  /** Validation tokens scored at every context: the first ⌊evalTokens / L⌋ windows of L. */
  evalTokens: number;
  /** Tokens per evaluation forward: max(1, ⌊evalBatchTokens / L⌋) windows. */
  evalBatchTokens: number;
}

/** One trained model and its perplexity at every context. */
export interface LengthRow {
  model: LengthModel;
  blocks: number;
  parameters: number;
  trainSeconds: number;
  finalTrainLoss: number | null;
  /** Perplexity per context, in the order of `contexts`. */
  perplexity: number[];
  /** Windows scored per context. */
  windows: number[];
}

/** One context scored. */
export interface ContextScore {
  context: number;
  windows: number;
  perplexity: number;
}

/** What the caller hears while a job runs. */
export interface LengthJobHooks {
  /** After every training step, with its loss EMA. */
  onStep?: (step: number, lossEma: number) => void;
  /** After each context is scored. */
  onContext?: (score: ContextScore) => void;
  /** Stops training between steps; the result then has `interrupted` set and no row. */
  signal?: AbortSignal;
}

/** What one model's run measured. */
export interface LengthJobResult {
  model: LengthModel;
  /** Steps taken (fewer than asked when interrupted). */
  steps: number;
  interrupted: boolean;
  /** The model's row; null when interrupted. */
  row: LengthRow | null;
}

/** Trains one model and scores it at every context. */
export async function runLengthJob(
  job: LengthJob,
  hooks: LengthJobHooks = {},
): Promise<LengthJobResult> {
  const text = await readText(job.text);
  const tokenizer = CharTokenizer.fromText(text.text);
  const source = textSource({
    source: job.text,
    path: text.path,
    text: text.text,
    tokenizer,
    tokenizerKind: "char",
    seqLen: job.trainLength,
  });
  const dataset = TextDataset.fromText(text.text, tokenizer, {
    validationFraction: VALIDATION_FRACTION,
  });
  const lm = new LanguageModel(job.config);
  try {
    const { metrics, ...trained } = await trainFresh(lm, source, job.training, hooks);
    if (trained.interrupted) {
      return { model: job.model, steps: trained.step, interrupted: true, row: null };
    }
    const perplexity: number[] = [];
    const windows: number[] = [];
    for (const L of job.contexts) {
      const count = Math.floor(job.evalTokens / L);
      const rows = Math.max(1, Math.floor(job.evalBatchTokens / L));
      let lossSum = 0;
      let scored = 0;
      let taken = 0;
      for (const b of dataset.windows("validation", rows, L)) {
        if (taken >= count) break;
        const use = Math.min(b.batch, count - taken);
        const batch = {
          inputs: b.inputs.subarray(0, use * L),
          targets: b.targets.subarray(0, use * L),
          batch: use,
          length: L,
        };
        const { ids, targets } = batchTensors(lm, batch);
        const logits = lm.forward(ids);
        const loss = crossEntropy(logits, targets);
        try {
          lossSum += (await loss.data())[0] * use * L;
          scored += use * L;
          taken += use;
        } finally {
          dispose([ids, targets, logits, loss]);
        }
      }
      const score = { context: L, windows: taken, perplexity: Math.exp(lossSum / scored) };
      perplexity.push(score.perplexity);
      windows.push(score.windows);
      hooks.onContext?.(score);
    }
    const row: LengthRow = {
      model: job.model,
      blocks: lm.config.layers.length,
      parameters: lm.numParameters(),
      trainSeconds: metrics.seconds,
      finalTrainLoss: metrics.lossEma,
      perplexity,
      windows,
    };
    return { model: job.model, steps: trained.step, interrupted: false, row };
  } finally {
    lm.dispose();
  }
}
