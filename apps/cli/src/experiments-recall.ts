/**
 * What `bmojo experiment recall` and `bmojo experiment tasks` share: the five models of the
 * paper's synthetic experiments at one small size, their training flags, running a list of
 * training jobs (compare jobs, in the CLI's worker pool) and the machine line.
 */
import { availableParallelism } from "node:os";
import type { TaskName } from "@bmojo/data";
import {
  type ModelConfig,
  POSITION_ENCODINGS,
  type PlanName,
  type PositionEncoding,
  parameterCount,
  preset,
} from "@bmojo/model";
import type { CompareJob, CompareTraining } from "./compare-job.js";
import type { TaskOptionValue } from "./data-source.js";
import { UsageError } from "./errors.js";
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
  bmojoPositions: {
    kind: "enum",
    values: POSITION_ENCODINGS,
    default: "none",
    group: MODEL,
    description:
      "positions in the B'MOJO models: none (the paper's NoPE) or rope (memory keys at their tokens' positions)",
  },
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
  lrs: {
    kind: "string",
    placeholder: "X,X",
    group: TRAINING,
    defaultText: "the value of --lr",
    description:
      "learning rates to sweep: every model is trained at each and its best held-out accuracy is reported (Zoology's protocol)",
  },
  evalEvery: {
    kind: "int",
    min: 0,
    default: 0,
    group: TRAINING,
    description: "steps between held-out evaluations during training; 0: only at the end",
  },
  targetAccuracy: {
    kind: "number",
    min: 0,
    max: 1,
    exclusiveMin: true,
    default: 0.99,
    placeholder: "X",
    group: TRAINING,
    description:
      "with --eval-every, a model stops training once an evaluation reaches this accuracy (Zoology: 0.99)",
  },
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
    bmojoPositions: PositionEncoding;
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
    bmojo: {
      eideticTokens: plan === "bmojo" ? f.eidetic : 0,
      fadingTokens: f.fading,
      positions: f.bmojoPositions,
    },
  });
}

/** The learning rates of --lrs (distinct, > 0), or [--lr] without it. */
export function learningRates(f: { lr: number; lrs?: string }): number[] {
  if (f.lrs === undefined) return [f.lr];
  const out: number[] = [];
  for (const text of f.lrs.split(",").map((t) => t.trim())) {
    const lr = Number(text);
    if (text === "" || !Number.isFinite(lr) || lr <= 0) {
      throw new UsageError(
        `--lrs: expected a comma-separated list of numbers > 0, got ${JSON.stringify(f.lrs)}.`,
      );
    }
    if (out.includes(lr)) throw new UsageError(`--lrs: ${lr} is listed twice.`);
    out.push(lr);
  }
  return out;
}

/** The training settings of the common flags (compare's loop; its other defaults). */
export function recallTraining(f: {
  steps: number;
  batch: number;
  lr: number;
  warmup: number;
  seed: number;
  evalEvery?: number;
  targetAccuracy?: number;
}): CompareTraining {
  return {
    evalEvery: f.evalEvery ?? 0,
    targetAccuracy: f.targetAccuracy ?? 1,
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

/** One learning rate's run of a job. */
export interface SweepRun {
  lr: number;
  accuracy: number;
  /** Steps trained (fewer than asked when it reached the target accuracy). */
  steps: number;
  stoppedEarly: boolean;
  trainSeconds: number;
}

/** A finished job: its best run over the learning rates, and what that run cost. */
export interface JobOutcome {
  label: string;
  accuracy: number;
  correct: number;
  total: number;
  parameters: number;
  firstLoss: number | null;
  lastLoss: number | null;
  trainSeconds: number;
  /** The best run's learning rate and steps. */
  lr: number;
  steps: number;
  /** Every learning rate's run, in --lrs order. */
  sweep: SweepRun[];
}

/**
 * Trains and scores every job at every learning rate of `lrs` (at most `workers` runs at once, in
 * worker threads when the built worker entry is there), printing one line per finished run; each
 * job's outcome is its best run. Undefined when interrupted.
 */
export async function runRecallJobs(
  jobs: readonly LabelledJob[],
  training: CompareTraining,
  evaluation: ReturnType<typeof recallEvaluation>,
  requestedWorkers: number | undefined,
  backend: string,
  io: CliIO,
  lrs: readonly number[] = [training.lr],
): Promise<{ outcomes: JobOutcome[]; workers: number } | undefined> {
  const runs = jobs.length * lrs.length;
  const runner = jobRunner(requestedWorkers ?? availableParallelism(), runs, backend, io.stderr);
  const workers = runner.workers;
  const stop =
    (training.evalEvery ?? 0) > 0
      ? `, evaluated every ${training.evalEvery} and stopped at ${pct(training.targetAccuracy ?? 1)}`
      : "";
  println(
    io.stderr,
    `training ${jobs.length} models × ${lrs.length} learning rate${lrs.length === 1 ? "" : "s"} (up to ${training.steps} steps each${stop}) on ${workers} worker${workers === 1 ? "" : "s"}`,
  );
  const compareJobs: CompareJob<string>[] = jobs.flatMap((j) =>
    lrs.map((lr) => ({
      model: lrs.length === 1 ? j.label : `${j.label} lr ${lr}`,
      config: j.config,
      taskName: j.taskName,
      task: j.task,
      training: { ...training, lr, ssmLr: lr },
      evaluation,
      exampleSeed: null,
    })),
  );
  let finished = 0;
  const runOne = async (job: CompareJob<string>, signal: AbortSignal) => {
    const r = await runner.run({ kind: "compare", job }, { signal });
    finished++;
    const acc =
      r.evaluation === null
        ? "interrupted"
        : `accuracy ${(100 * r.evaluation.accuracy).toFixed(1)}%`;
    const early = r.stoppedEarly ? ` (target reached at step ${r.steps})` : "";
    println(
      io.stderr,
      `[${finished}/${runs}] ${job.model}: ${acc}${early}, loss ${r.firstLoss?.toFixed(3)} → ${r.lastLoss?.toFixed(3)}, ${r.trainSeconds.toFixed(1)} s`,
    );
    return r;
  };
  const results = await runPool(compareJobs, workers, runOne, io.signal);
  const outcomes: JobOutcome[] = [];
  for (const [i, job] of jobs.entries()) {
    const mine = results.slice(i * lrs.length, (i + 1) * lrs.length);
    let best: JobOutcome | null = null;
    const sweep: SweepRun[] = [];
    for (const [k, r] of mine.entries()) {
      if (r === undefined || r.evaluation === null) return undefined;
      sweep.push({
        lr: lrs[k],
        accuracy: r.evaluation.accuracy,
        steps: r.steps,
        stoppedEarly: r.stoppedEarly,
        trainSeconds: r.trainSeconds,
      });
      if (best === null || r.evaluation.accuracy > best.accuracy) {
        best = {
          label: job.label,
          accuracy: r.evaluation.accuracy,
          correct: r.evaluation.correct,
          total: r.evaluation.total,
          parameters: parameterCount(job.config),
          firstLoss: r.firstLoss,
          lastLoss: r.lastLoss,
          trainSeconds: r.trainSeconds,
          lr: lrs[k],
          steps: r.steps,
          sweep,
        };
      }
    }
    if (best === null) return undefined;
    outcomes.push(best);
  }
  return { outcomes, workers };
}

/**
 * How the runs were trained, for the results' Markdown: the learning rate(s) and, with early
 * stopping, how often it evaluated and at what accuracy it stopped.
 */
export function protocolText(training: CompareTraining, lrs: readonly number[]): string {
  const lr =
    lrs.length === 1
      ? `lr ${lrs[0]}`
      : `each at lr ${lrs.join(", ")}, the best held-out accuracy reported`;
  const stop =
    (training.evalEvery ?? 0) > 0
      ? `; evaluated on the held-out examples every ${training.evalEvery} steps and stopped once one reached ${pct(training.targetAccuracy ?? 1)}`
      : "";
  return `${lr}, warmup ${training.warmup}, cosine decay${stop}`;
}

/** An accuracy as a table cell: "37.5%". */
export function pct(accuracy: number): string {
  return `${(100 * accuracy).toFixed(1)}%`;
}

/**
 * What a table cell adds after its accuracy: the best run's learning rate when several were swept,
 * and its steps when runs could stop early.
 */
export function runNote(
  r: { lr: number; steps: number },
  lrs: readonly number[],
  training: CompareTraining,
): string {
  const notes: string[] = [];
  if (lrs.length > 1) notes.push(`lr ${r.lr}`);
  if ((training.evalEvery ?? 0) > 0) notes.push(`${r.steps} steps`);
  return notes.length === 0 ? "" : ` · ${notes.join(", ")}`;
}
