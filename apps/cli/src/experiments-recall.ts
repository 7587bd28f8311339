/**
 * What `bmojo experiment recall` and `bmojo experiment tasks` share: the five models of the
 * paper's synthetic experiments at one small size, their training flags, running a list of
 * training jobs (compare jobs, in the CLI's worker pool) and the machine line.
 */
import { availableParallelism } from "node:os";
import type { TaskName } from "@bmojo/data";
import { type ModelConfig, type PlanName, parameterCount, preset } from "@bmojo/model";
import type { CompareJob, CompareTraining } from "./compare-job.js";
import type { TaskOptionValue } from "./data-source.js";
import { type CliIO, println } from "./io.js";
import { evalSeed } from "./seeds.js";
import { jobRunner, runPool } from "./worker-pool.js";
import { trainFlags } from "./commands/train.js";

/** The models of the paper's Figure 2 and Table 3, in table order. */
export const RECALL_MODELS = ["transformer", "mamba", "hybrid", "bmojo-f", "bmojo"] as const;
export type RecallModel = (typeof RECALL_MODELS)[number];

const RUN = "Run";
const MODEL = "Models";
const TRAINING = "Training";

/** Flags every recall-style experiment has (models, block sizes, training, run). */
export const recallCommonFlags = {
  models: {
    kind: "enum",
    values: RECALL_MODELS,
    list: true,
    default: RECALL_MODELS.join(","),
    group: MODEL,
    description: "model plans (presets of @bmojo/model), in table order",
  },
  blocks: { kind: "int", min: 1, default: 2, group: MODEL, description: "blocks of every model" },
  heads: { kind: "int", min: 1, default: 2, group: MODEL, description: "attention heads" },
  window: {
    kind: "int",
    min: 1,
    default: 8,
    group: MODEL,
    description: "window w of swa (hybrid) and B'MOJO layers, also B'MOJO's chunk length",
  },
  eidetic: { kind: "int", min: 0, default: 8, group: MODEL, description: "bmojo's m_e" },
  fading: { kind: "int", min: 0, default: 1, group: MODEL, description: "B'MOJO's m_f" },
  dState: { kind: "int", min: 1, default: 8, group: MODEL, description: "SSM state size N" },
  steps: { ...trainFlags.steps, group: TRAINING, description: "training steps of every model" },
  batch: { ...trainFlags.batch, default: 32, group: TRAINING },
  lr: { ...trainFlags.lr, default: 0.005, group: TRAINING },
  warmup: {
    ...trainFlags.warmup,
    default: 20,
    group: TRAINING,
    description: "warmup steps (at most a fifth of --steps)",
  },
  seed: { ...trainFlags.seed, group: TRAINING },
  evalExamples: {
    kind: "int",
    min: 1,
    default: 256,
    group: RUN,
    description: "held-out examples each model is scored on (the same ones for all)",
  },
  workers: {
    kind: "int",
    min: 1,
    group: RUN,
    defaultText: "available cores",
    description: "models trained at once, each in a worker thread; 1: one after another in-process",
  },
  outDir: {
    kind: "string",
    default: "docs/results",
    placeholder: "DIR",
    group: RUN,
    description: "where the .md, .json and .svg results are written",
  },
} as const;

/** The config of `plan` at width `dModel` with the common flags. */
export function recallConfig(
  plan: PlanName,
  dModel: number,
  vocabSize: number,
  maxLength: number,
  f: {
    blocks: number;
    heads: number;
    window: number;
    eidetic: number;
    fading: number;
    dState: number;
    seed: number;
  },
): ModelConfig {
  return preset(plan, "tiny", {
    vocabSize,
    dModel,
    heads: f.heads,
    window: f.window,
    numLayers: f.blocks,
    maxLength,
    seed: f.seed,
    ssm: { dState: f.dState },
    bmojo: { eideticTokens: plan === "bmojo" ? f.eidetic : 0, fadingTokens: f.fading },
  });
}

/** The training settings of the common flags (compare's loop; its other defaults). */
export function recallTraining(f: {
  steps: number;
  batch: number;
  lr: number;
  warmup: number;
  seed: number;
}): CompareTraining {
  return {
    steps: f.steps,
    batch: f.batch,
    lr: f.lr,
    ssmLr: f.lr,
    weightDecay: trainFlags.weightDecay.default,
    warmup: Math.min(f.warmup, Math.floor(f.steps / 5)),
    minLrRatio: trainFlags.minLrRatio.default,
    clip: trainFlags.clip.default,
    seed: f.seed,
  };
}

/** The held-out evaluation of `examples` examples (batches of at most 64). */
export function recallEvaluation(seed: number, examples: number) {
  const batches = Math.ceil(examples / 64);
  return { seed: evalSeed(seed), batches, batch: Math.ceil(examples / batches) };
}

/** One job of an experiment: a label for progress lines and what to run. */
export interface LabelledJob {
  label: string;
  plan: RecallModel;
  config: ModelConfig;
  taskName: TaskName;
  task: Record<string, TaskOptionValue>;
}

/** A finished job: accuracy and what it cost. */
export interface JobOutcome {
  label: string;
  accuracy: number;
  correct: number;
  total: number;
  parameters: number;
  firstLoss: number | null;
  lastLoss: number | null;
  trainSeconds: number;
}

/**
 * Trains and scores every job (at most `workers` at once, in worker threads when the built worker
 * entry is there), printing one line per finished job. Undefined when interrupted.
 */
export async function runRecallJobs(
  jobs: readonly LabelledJob[],
  training: CompareTraining,
  evaluation: ReturnType<typeof recallEvaluation>,
  requestedWorkers: number | undefined,
  backend: string,
  io: CliIO,
): Promise<{ outcomes: JobOutcome[]; workers: number } | undefined> {
  const runner = jobRunner(
    requestedWorkers ?? availableParallelism(),
    jobs.length,
    backend,
    io.stderr,
  );
  const workers = runner.workers;
  println(
    io.stderr,
    `training ${jobs.length} models (${training.steps} steps each) on ${workers} worker${workers === 1 ? "" : "s"}`,
  );
  const compareJobs: CompareJob<string>[] = jobs.map((j) => ({
    model: j.label,
    config: j.config,
    taskName: j.taskName,
    task: j.task,
    training,
    evaluation,
    exampleSeed: null,
  }));
  let finished = 0;
  const runOne = async (job: CompareJob<string>, signal: AbortSignal) => {
    const r = await runner.run({ kind: "compare", job }, { signal });
    finished++;
    const acc =
      r.evaluation === null
        ? "interrupted"
        : `accuracy ${(100 * r.evaluation.accuracy).toFixed(1)}%`;
    println(
      io.stderr,
      `[${finished}/${jobs.length}] ${job.model}: ${acc}, loss ${r.firstLoss?.toFixed(3)} → ${r.lastLoss?.toFixed(3)}, ${r.trainSeconds.toFixed(1)} s`,
    );
    return r;
  };
  const results = await runPool(compareJobs, workers, runOne, io.signal);
  const outcomes: JobOutcome[] = [];
  for (const [i, r] of results.entries()) {
    if (r === undefined || r.evaluation === null) return undefined;
    outcomes.push({
      label: jobs[i].label,
      accuracy: r.evaluation.accuracy,
      correct: r.evaluation.correct,
      total: r.evaluation.total,
      parameters: parameterCount(jobs[i].config),
      firstLoss: r.firstLoss,
      lastLoss: r.lastLoss,
      trainSeconds: r.trainSeconds,
    });
  }
  return { outcomes, workers };
}

/** An accuracy as a table cell: "37.5%". */
export function pct(accuracy: number): string {
  return `${(100 * accuracy).toFixed(1)}%`;
}
