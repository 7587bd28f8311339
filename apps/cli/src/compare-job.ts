/**
 * One model of `bmojo compare`, from start to finish: build it, train it with the shared training
 * loop, evaluate it on held-out examples, and, for a model with B'MOJO layers, run one example
 * and read what each layer held in eidetic memory. A job and its result are plain data, so the
 * same function runs in this thread (`--workers 1`) or in a worker thread (worker.ts).
 */
import { IGNORE_INDEX, type TaskBatch, argmaxPredictions } from "@bmojo/data";
import { LanguageModel, type ModelConfig, type ResolvedConfig } from "@bmojo/model";
import { dispose } from "@bmojo/tensor";
import type { TaskName } from "@bmojo/data";
import { type TaskOptionValue, taskSource } from "./data-source.js";
import { batchTensors, evaluate } from "./evaluate.js";
import { heldPositions } from "./memory-view.js";
import type { EvalResult } from "./run-dir.js";
import { trainFresh } from "./train-loop.js";

/** The models `bmojo compare` can train, in its default order. */
export const COMPARE_MODELS = ["bmojo", "swa", "mamba"] as const;
export type CompareModel = (typeof COMPARE_MODELS)[number];

/** How every model of a comparison is trained (the `bmojo train` settings of the same names). */
export interface CompareTraining {
  steps: number;
  batch: number;
  lr: number;
  ssmLr: number;
  weightDecay: number;
  warmup: number;
  minLrRatio: number;
  clip: number;
  /** Seed of the initialisation (in `config`) and of the training batches' streams. */
  seed: number;
  /**
   * Steps between held-out evaluations during training (0: only after it); a run stops early once
   * one reaches `targetAccuracy` (Zoology's protocol stops at 0.99).
   */
  evalEvery?: number;
  targetAccuracy?: number;
}

/**
 * Everything one model's run needs; plain data (it is posted to a worker as is). `M` names the
 * model (compare's own models by default; the experiments use any label).
 */
export interface CompareJob<M extends string = CompareModel> {
  model: M;
  config: ModelConfig;
  /** The synthetic task trained and scored on (default "mqar"). */
  taskName?: TaskName;
  /** The task's options (resolved by the task; every model gets the same). */
  task: Record<string, TaskOptionValue>;
  training: CompareTraining;
  /** The held-out evaluation: `batches` batches of `batch` examples from the stream `seed`. */
  evaluation: { seed: number; batches: number; batch: number };
  /** Stream of the one example whose eidetic memory is shown; null for no example. */
  exampleSeed: number | null;
}

/** One example run through a trained B'MOJO model, with what its memory held. */
export interface ExampleProbe {
  inputs: number[];
  /** The task's targets (−100 where nothing is scored). */
  targets: number[];
  /** The model's argmax prediction at every position. */
  predictions: number[];
  /** Chunk length w of the B'MOJO layers. */
  window: number;
  /** The last chunk: its index and first and last positions. */
  lastChunk: { index: number; start: number; end: number };
  /**
   * Per B'MOJO layer (`model.lastSelections()`): the positions held in eidetic memory for the
   * last chunk (`held`) and for every chunk (`chunks[c]`), ascending.
   */
  layers: { layer: number; held: number[]; chunks: number[][] }[];
}

/** What one model's run measured. */
export interface CompareJobResult<M extends string = CompareModel> {
  model: M;
  /** Steps taken (fewer than asked when interrupted or stopped early). */
  steps: number;
  interrupted: boolean;
  /** Whether a periodic evaluation reached the target accuracy before the last step. */
  stoppedEarly: boolean;
  /** Seconds spent in training steps. */
  trainSeconds: number;
  firstLoss: number | null;
  lastLoss: number | null;
  lossEma: number | null;
  /** The held-out evaluation; null when interrupted. */
  evaluation: EvalResult | null;
  /** The example, for a model with eidetic memory and a job that asks for it. */
  example: ExampleProbe | null;
}

/** What the caller hears while a job runs. */
export interface CompareJobHooks {
  /** After every training step, with its loss EMA. */
  onStep?: (step: number, lossEma: number) => void;
  /** Called once training is done, before the evaluation. */
  onEvaluate?: () => void;
  /** Stops training between steps; the result then has `interrupted` set. */
  signal?: AbortSignal;
}

/** How many examples `pickExample` looks through. */
const EXAMPLE_CANDIDATES = 32;

/**
 * The example to show: the first (of batches of one sequence) that asks a key inside its last
 * chunk, the chunk whose eidetic memory is shown; the first one if none does.
 */
export function pickExample(candidates: readonly TaskBatch[], window: number): TaskBatch {
  const asksInLastChunk = (b: TaskBatch) => {
    const start = (Math.ceil(b.length / window) - 1) * window;
    return b.targets.subarray(start).some((t) => t !== IGNORE_INDEX);
  };
  return candidates.find(asksInLastChunk) ?? candidates[0];
}

/** Whether a model has a B'MOJO layer with eidetic memory (something for `probeExample` to show). */
export function hasEideticMemory(config: ResolvedConfig): boolean {
  return config.bmojo.eideticTokens > 0 && config.layers.some((l) => l.kind === "bmojo");
}

/**
 * Runs `example` (a batch of one sequence) through `model` and reads the selections of its B'MOJO
 * layers (`model.lastSelections()`). Undefined when the model has no eidetic memory.
 */
export async function probeExample(
  model: LanguageModel,
  example: TaskBatch,
): Promise<ExampleProbe | undefined> {
  if (example.batch !== 1)
    throw new Error(`probeExample: expected one sequence, got ${example.batch}.`);
  if (!hasEideticMemory(model.config)) return undefined;
  const { ids, targets } = batchTensors(model, example);
  const logits = model.forward(ids);
  try {
    const vocab = model.config.vocabSize;
    const predictions = argmaxPredictions(await logits.data(), example.length, vocab);
    const window = model.config.window;
    const chunks = Math.ceil(example.length / window);
    const index = chunks - 1;
    const layers = model.lastSelections().map(({ layer, memory }) => ({
      layer,
      held: heldPositions(memory, index),
      chunks: Array.from({ length: chunks }, (_, c) => heldPositions(memory, c)),
    }));
    return {
      inputs: Array.from(example.inputs),
      targets: Array.from(example.targets),
      predictions: Array.from(predictions),
      window,
      lastChunk: { index, start: index * window, end: example.length - 1 },
      layers,
    };
  } finally {
    dispose([ids, targets, logits]);
  }
}

/** Trains, evaluates and (optionally) probes one model of a comparison. */
export async function runCompareJob<M extends string = CompareModel>(
  job: CompareJob<M>,
  hooks: CompareJobHooks = {},
): Promise<CompareJobResult<M>> {
  const source = taskSource(job.taskName ?? "mqar", job.task);
  const model = new LanguageModel(job.config);
  try {
    const { evalEvery = 0, targetAccuracy = 1 } = job.training;
    let periodic: EvalResult | null = null;
    const onPeriodic = async (step: number): Promise<"stop" | undefined> => {
      if (evalEvery <= 0 || step % evalEvery !== 0) return;
      periodic = await evaluate(model, source, { step, ...job.evaluation });
      return periodic.accuracy >= targetAccuracy ? "stop" : undefined;
    };
    const { metrics, ...result } = await trainFresh(model, source, job.training, {
      ...hooks,
      onPeriodic,
    });
    let evaluation: EvalResult | null = null;
    let example: ExampleProbe | null = null;
    if (!result.interrupted) {
      hooks.onEvaluate?.();
      // A run stopped early was just evaluated at its last step.
      evaluation = result.stoppedEarly
        ? (periodic as EvalResult | null)
        : await evaluate(model, source, { step: result.step, ...job.evaluation });
      if (job.exampleSeed !== null) {
        const candidates = source.evalBatches(job.exampleSeed, EXAMPLE_CANDIDATES, 1);
        example = (await probeExample(model, pickExample(candidates, model.config.window))) ?? null;
      }
    }
    return {
      model: job.model,
      steps: result.step,
      interrupted: result.interrupted,
      stoppedEarly: result.stoppedEarly,
      trainSeconds: metrics.seconds,
      firstLoss: metrics.losses[0] ?? null,
      lastLoss: metrics.losses.at(-1) ?? null,
      lossEma: metrics.lossEma,
      evaluation,
      example,
    };
  } finally {
    model.dispose();
  }
}
