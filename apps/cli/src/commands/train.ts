/**
 * `bmojo train`: trains a model on a synthetic task or a text file, with progress on stderr,
 * periodic evaluations, atomic checkpoints, and `--resume` from a checkpoint.
 */
import type { Tokenizer } from "@bmojo/data";
import { LanguageModel } from "@bmojo/model";
import type { AdamW } from "@bmojo/nn";
import { backendFlag, describeBackend, initBackend } from "../backend.js";
import {
  type DataRecord,
  type DataSource,
  TASK_NAMES,
  TINY_SHAKESPEARE,
  TOKENIZER_KINDS,
  type TaskOptionValue,
  makeTokenizer,
  readText,
  sha256,
  taskSource,
  textSource,
} from "../data-source.js";
import { EXIT_INTERRUPTED, UsageError, messageOf } from "../errors.js";
import { describeEval, evaluate } from "../evaluate.js";
import { type Flags, flagName, parseFlags, parseKeyValue } from "../flags.js";
import { compact } from "../format.js";
import { type CliIO, println } from "../io.js";
import {
  MODEL_FLAG_KEYS,
  layerKinds,
  modelConfigFromFlags,
  modelFlags,
  modelLabel,
} from "../model-flags.js";
import { Progress } from "../progress.js";
import {
  type EvalResult,
  MODEL_FILE,
  OPTIMIZER_FILE,
  RECORD_FILE,
  type RecordedArg,
  TOKENIZER_FILE,
  type TrainRecord,
  hasRun,
  loadOptimizerInto,
  loadRun,
  saveRun,
} from "../run-dir.js";
import { evalSeed } from "../seeds.js";
import {
  ADAMW_BETAS,
  createOptimizer,
  groupSizes,
  trainLoop,
  trainingSchedule,
} from "../train-loop.js";
import type { Command } from "./command.js";

const DATA = "Data (one of --task, --text)";
const OPTIMISER = "Optimiser";
const RUN = "Run";

export const trainFlags = {
  task: { kind: "enum", values: TASK_NAMES, group: DATA, description: "synthetic task" },
  taskOption: {
    kind: "list",
    placeholder: "KEY=VALUE",
    group: DATA,
    description: "a task option, e.g. pairs=8 or length=128 (repeatable)",
  },
  text: {
    kind: "string",
    placeholder: "FILE",
    group: DATA,
    description: `a UTF-8 text file, or "${TINY_SHAKESPEARE}" (the corpus bundled with @bmojo/data)`,
  },
  tokenizer: {
    kind: "enum",
    values: TOKENIZER_KINDS,
    default: "char",
    group: DATA,
    description: "tokenizer of --text",
  },
  seqLen: {
    kind: "int",
    min: 1,
    default: 64,
    group: DATA,
    description: "tokens per training window of --text",
  },
  ...modelFlags,
  steps: { kind: "int", min: 1, default: 200, group: OPTIMISER, description: "step to train to" },
  batch: { kind: "int", min: 1, default: 16, group: OPTIMISER, description: "sequences per step" },
  lr: {
    kind: "number",
    min: 0,
    exclusiveMin: true,
    default: 0.003,
    group: OPTIMISER,
    placeholder: "X",
    description: "peak learning rate",
  },
  ssmLr: {
    kind: "number",
    min: 0,
    exclusiveMin: true,
    group: OPTIMISER,
    placeholder: "X",
    defaultText: "the value of --lr",
    description:
      "peak learning rate of the SSM parameters (Mamba blocks' mixer, B'MOJO blocks' mixer.ssm)",
  },
  weightDecay: {
    kind: "number",
    min: 0,
    default: 0.1,
    group: OPTIMISER,
    placeholder: "X",
    description: "AdamW weight decay (none on norms, biases, A_log, D)",
  },
  warmup: {
    kind: "int",
    min: 0,
    default: 10,
    group: OPTIMISER,
    description: "linear warmup steps (at most --steps)",
  },
  minLrRatio: {
    kind: "number",
    min: 0,
    max: 1,
    default: 0.1,
    group: OPTIMISER,
    placeholder: "X",
    description: "cosine decay floor, as a fraction of the peak",
  },
  clip: {
    kind: "number",
    min: 0,
    default: 1,
    group: OPTIMISER,
    placeholder: "X",
    description: "max global gradient norm; 0 turns clipping off",
  },
  seed: {
    kind: "int",
    min: 0,
    default: 0,
    group: OPTIMISER,
    description: "seed of the initialisation and of the data streams",
  },
  evalEvery: {
    kind: "int",
    min: 0,
    default: 0,
    group: RUN,
    description: "evaluate every N steps (0: only at the end); a resumed run keeps its value",
  },
  evalBatches: {
    kind: "int",
    min: 0,
    default: 4,
    group: RUN,
    description: "batches per evaluation (0: no evaluation); a resumed run keeps its value",
  },
  out: { kind: "string", placeholder: "DIR", group: RUN, description: "checkpoint directory" },
  resume: {
    kind: "string",
    placeholder: "DIR",
    group: RUN,
    description: "continue the run saved in DIR (saves there unless --out is given)",
  },
  saveEvery: {
    kind: "int",
    min: 0,
    default: 0,
    group: RUN,
    description: "also save every N steps (0: only at the end); a resumed run keeps its value",
  },
  backend: { ...backendFlag, group: RUN },
  json: { kind: "boolean", group: RUN, description: "print the results as one JSON object" },
} as const;

type TrainFlags = Flags<typeof trainFlags>;
type TrainKey = keyof typeof trainFlags & string;

/** Flags a resumed run may change; the others must match the checkpoint if given. */
const RESUMABLE: readonly TrainKey[] = [
  "steps",
  "evalEvery",
  "evalBatches",
  "saveEvery",
  "out",
  "resume",
  "backend",
  "json",
];

/** Flags recorded in train.json and compared on resume (text and task options have own checks). */
const FIXED: readonly TrainKey[] = [
  ...MODEL_FLAG_KEYS,
  "task",
  "tokenizer",
  "seqLen",
  "batch",
  "lr",
  "ssmLr",
  "weightDecay",
  "warmup",
  "minLrRatio",
  "clip",
  "seed",
];

/** Everything the loop and the summary need, from a fresh start or a checkpoint. */
interface Setup {
  model: LanguageModel;
  optimizer: AdamW;
  source: DataSource;
  tokenizer: Tokenizer | undefined;
  record: TrainRecord;
  outDir: string | undefined;
}

/** Checks of a fresh run's flags that need no files. */
function checkFreshFlags(f: TrainFlags, given: ReadonlySet<string>): void {
  if (f.task === undefined && f.text === undefined) {
    throw new UsageError(
      `give the data to train on: --task NAME (one of: ${TASK_NAMES.join(", ")}) or --text FILE|${TINY_SHAKESPEARE}; or --resume DIR.`,
    );
  }
  if (f.task !== undefined && f.text !== undefined) {
    throw new UsageError("--task and --text are exclusive: train on a task or on a text.");
  }
  if (f.task === undefined && given.has("taskOption")) {
    throw new UsageError("--task-option applies to --task only.");
  }
  for (const key of ["tokenizer", "seqLen"] as const) {
    if (f.text === undefined && given.has(key)) {
      throw new UsageError(
        `${flagName(key)} applies to --text only${key === "seqLen" ? " (a task fixes its own length: --task-option length=N)" : ""}.`,
      );
    }
  }
}

function taskOptions(entries: readonly string[]): Record<string, TaskOptionValue> {
  return Object.fromEntries(entries.map((e) => parseKeyValue("--task-option", e)));
}

/** The data source of a fresh run. */
async function freshSource(f: TrainFlags): Promise<DataSource> {
  if (f.task !== undefined) return taskSource(f.task, taskOptions(f.taskOption));
  const source = f.text as string;
  const { path, text } = await readText(source);
  let tokenizer: Tokenizer;
  try {
    tokenizer = makeTokenizer(f.tokenizer, text);
  } catch (err) {
    throw new UsageError(`--tokenizer ${f.tokenizer}: ${messageOf(err)}`);
  }
  return textSource({
    source,
    path,
    text,
    tokenizer,
    tokenizerKind: f.tokenizer,
    seqLen: f.seqLen,
  });
}

/** The fixed flags as recorded in train.json (null: not given and without a default). */
function recordedArgs(f: TrainFlags): Record<string, RecordedArg> {
  const isText = f.text !== undefined;
  const args: Record<string, RecordedArg> = {};
  for (const key of FIXED) args[key] = (f[key] as RecordedArg | undefined) ?? null;
  args.preset = f.layers === undefined ? f.preset : null;
  args.tokenizer = isText ? f.tokenizer : null;
  args.seqLen = isText ? f.seqLen : null;
  args.ssmLr = f.ssmLr ?? f.lr;
  args.taskOption = f.taskOption;
  args.text = f.text ?? null;
  return args;
}

async function freshSetup(
  f: TrainFlags,
  given: ReadonlySet<string>,
  backend: string,
): Promise<Setup> {
  checkFreshFlags(f, given);
  if (f.out !== undefined && (await hasRun(f.out))) {
    throw new UsageError(
      `--out ${f.out} already holds a checkpoint; continue it with --resume ${f.out}, or choose another directory.`,
    );
  }
  const source = await freshSource(f);
  const { config, resolved } = modelConfigFromFlags(f, given, {
    vocabSize: source.vocabSize,
    seed: f.seed,
  });
  const model = new LanguageModel(config);
  const ssmLr = f.ssmLr ?? f.lr;
  const optimizer = createOptimizer(model, { lr: f.lr, ssmLr, weightDecay: f.weightDecay });
  const record: TrainRecord = {
    format: "bmojo-train",
    version: 1,
    step: 0,
    totalSteps: f.steps,
    model: resolved,
    modelLabel: modelLabel(f),
    parameters: model.numParameters(),
    args: recordedArgs(f),
    data: source.record,
    seeds: { train: f.seed, eval: evalSeed(f.seed) },
    optimizer: {
      lr: f.lr,
      ssmLr,
      weightDecay: f.weightDecay,
      betas: ADAMW_BETAS,
      warmup: f.warmup,
      minLrRatio: f.minLrRatio,
      clip: f.clip,
      groups: groupSizes(optimizer, Object.keys(model.parameters())),
    },
    settings: { evalEvery: f.evalEvery, evalBatches: f.evalBatches, saveEvery: f.saveEvery },
    metrics: { losses: [], lossEma: null, tokens: 0, seconds: 0, evals: [] },
    backend,
    updatedAt: new Date().toISOString(),
  };
  return { model, optimizer, source, tokenizer: source.tokenizer, record, outDir: f.out };
}

function sameArg(a: RecordedArg | undefined, b: RecordedArg | undefined): boolean {
  return JSON.stringify(a ?? null) === JSON.stringify(b ?? null);
}

function showArg(value: RecordedArg | undefined): string {
  return Array.isArray(value) ? value.join(" ") : String(value);
}

/** Every given flag that disagrees with the checkpoint, in words. */
function contradictions(f: TrainFlags, given: ReadonlySet<string>, record: TrainRecord): string[] {
  const problems: string[] = [];
  for (const key of FIXED) {
    if (!given.has(key)) continue;
    const value = f[key] as RecordedArg;
    const stored = record.args[key];
    if (!sameArg(value, stored)) {
      const had = stored === null || stored === undefined ? `no ${flagName(key)}` : showArg(stored);
      problems.push(`${flagName(key)} ${showArg(value)} (checkpoint: ${had})`);
    }
  }
  const data = record.data;
  if (given.has("text") && data.kind !== "text")
    problems.push(`--text (checkpoint: --task ${data.task})`);
  if (given.has("taskOption")) {
    if (data.kind !== "task") problems.push(`--task-option (checkpoint: --text ${data.source})`);
    else {
      for (const [key, value] of Object.entries(taskOptions(f.taskOption))) {
        if (data.options[key] !== value) {
          const had = key in data.options ? `${key}=${data.options[key]}` : `no option ${key}`;
          problems.push(`--task-option ${key}=${value} (checkpoint: ${had})`);
        }
      }
    }
  }
  return problems;
}

/** The data source of a resumed run: the same task, or the same text (checked by hash). */
async function resumedSource(
  data: DataRecord,
  tokenizer: Tokenizer | undefined,
  textFlag: string | undefined,
): Promise<DataSource> {
  if (data.kind === "task") return taskSource(data.task, data.options);
  const source = textFlag ?? data.source;
  const { path, text } = await readText(
    source === TINY_SHAKESPEARE ? source : (textFlag ?? data.path),
  );
  if (sha256(text) !== data.sha256) {
    throw new UsageError(
      `--text ${source}: ${path} differs from the text the checkpoint was trained on (SHA-256 ${data.sha256.slice(0, 12)}…); a resumed run must see the same data.`,
    );
  }
  if (tokenizer === undefined) throw new Error(`the checkpoint has no ${TOKENIZER_FILE}.`);
  return textSource({
    source: data.source,
    path,
    text,
    tokenizer,
    tokenizerKind: data.tokenizer,
    seqLen: data.seqLen,
  });
}

async function resumeSetup(
  f: TrainFlags,
  given: ReadonlySet<string>,
  backend: string,
): Promise<Setup> {
  const dir = f.resume as string;
  const run = await loadRun(dir, "--resume");
  const { record, model } = run;
  const problems = contradictions(f, given, record);
  if (problems.length > 0) {
    model.dispose();
    throw new UsageError(
      `--resume ${dir}: these flags contradict the checkpoint: ${problems.join("; ")}. A resumed run keeps its model, data, optimiser settings and seed: drop those flags (only ${RESUMABLE.map(flagName).join(", ")} may be given), or start a new run with --out.`,
    );
  }
  if (given.has("steps") && f.steps < record.step) {
    model.dispose();
    throw new UsageError(
      `--steps ${f.steps} is below the checkpoint's step ${record.step}; give --steps > ${record.step} to train further.`,
    );
  }
  if (f.out !== undefined && f.out !== dir && (await hasRun(f.out))) {
    model.dispose();
    throw new UsageError(
      `--out ${f.out} already holds another checkpoint; choose another directory.`,
    );
  }
  const source = await resumedSource(record.data, run.tokenizer, f.text);
  const optimizer = createOptimizer(model, record.optimizer);
  await loadOptimizerInto(dir, optimizer, record.step);
  const settings = { ...record.settings };
  for (const key of ["evalEvery", "evalBatches", "saveEvery"] as const) {
    if (given.has(key)) settings[key] = f[key];
  }
  const resumed: TrainRecord = {
    ...record,
    totalSteps: given.has("steps") ? f.steps : record.totalSteps,
    settings,
    backend,
  };
  return {
    model,
    optimizer,
    source,
    tokenizer: run.tokenizer,
    record: resumed,
    outDir: f.out ?? dir,
  };
}

/** The `--json` result of a training run. */
interface TrainResult {
  command: "train";
  backend: string;
  model: { label: string; layers: string; dModel: number; parameters: number };
  data: DataRecord;
  startStep: number;
  step: number;
  totalSteps: number;
  interrupted: boolean;
  loss: number | null;
  lossEma: number | null;
  tokensPerSecond: number;
  seconds: number;
  eval: EvalResult | null;
  checkpoint: string | null;
}

function printSummary(io: CliIO, r: TrainResult, source: DataSource, record: TrainRecord): void {
  const out = io.stdout;
  const steps = r.step - r.startStep;
  println(
    out,
    `model     ${r.model.label}: ${record.model.layers.length} blocks (${r.model.layers}), d_model ${r.model.dModel}, ${compact(r.model.parameters)} parameters`,
  );
  println(out, `data      ${source.describe()}`);
  println(
    out,
    steps > 0
      ? `trained   steps ${r.startStep + 1}–${r.step} of ${r.totalSteps} in ${r.seconds.toFixed(1)} s (${compact(r.tokensPerSecond)} tokens/s)${r.interrupted ? ", interrupted" : ""}`
      : `trained   nothing: the checkpoint is at step ${r.step} of ${r.totalSteps} (pass --steps N to train further)`,
  );
  if (r.loss !== null && r.lossEma !== null) {
    const first = record.metrics.losses[0];
    println(
      out,
      `loss      first ${first.toFixed(4)}, last ${r.loss.toFixed(4)} (EMA ${r.lossEma.toFixed(4)})`,
    );
  }
  if (r.eval !== null)
    println(out, `eval      step ${r.eval.step}: ${describeEval(r.eval)} (seed ${r.eval.seed})`);
  if (r.checkpoint !== null) {
    const files = [
      MODEL_FILE,
      OPTIMIZER_FILE,
      ...(source.tokenizer !== undefined ? [TOKENIZER_FILE] : []),
      RECORD_FILE,
    ];
    println(out, `saved     ${r.checkpoint}: ${files.join(", ")}`);
  }
}

async function runTrain(argv: readonly string[], io: CliIO): Promise<number> {
  const { values: f, given } = parseFlags("train", trainFlags, argv);
  if (f.saveEvery > 0 && f.out === undefined && f.resume === undefined) {
    throw new UsageError("--save-every needs a checkpoint directory: add --out DIR.");
  }
  const report = await initBackend(f.backend);
  println(io.stderr, describeBackend(report));
  const setup =
    f.resume !== undefined
      ? await resumeSetup(f, given, report.backend)
      : await freshSetup(f, given, report.backend);
  const { model, optimizer, source, record, outDir } = setup;
  try {
    const startStep = record.step;
    const totalSteps = record.totalSteps;
    const { warmup, minLrRatio, clip } = record.optimizer;
    const batch = record.args.batch as number;
    const seed = record.seeds.train;
    const schedule = trainingSchedule({ warmup, totalSteps, minLrRatio });
    const { evalEvery, evalBatches, saveEvery } = record.settings;
    const runEval = async (step: number): Promise<EvalResult> => {
      const result = await evaluate(model, source, {
        step,
        seed: record.seeds.eval,
        batches: evalBatches,
        batch,
      });
      record.metrics.evals.push(result);
      return result;
    };
    const save = async (step: number): Promise<void> => {
      if (outDir === undefined) return;
      record.step = step;
      record.updatedAt = new Date().toISOString();
      await saveRun(outDir, { model, optimizer, record, tokenizer: setup.tokenizer });
    };
    if (startStep > 0)
      println(io.stderr, `resuming ${record.modelLabel} at step ${startStep} of ${totalSteps}`);
    const progress = new Progress(io.stderr, {
      total: totalSteps,
      startStep,
      tokensPerStep: batch * source.length,
    });
    const secondsBefore = record.metrics.seconds;
    const result = await trainLoop({
      model,
      optimizer,
      source,
      seed,
      batch,
      startStep,
      totalSteps,
      schedule,
      clip,
      metrics: record.metrics,
      signal: io.signal,
      onStep: (step, ema) => progress.update(step, ema),
      onPeriodic: async (step) => {
        if (evalEvery > 0 && evalBatches > 0 && step % evalEvery === 0) {
          progress.note(`eval @ step ${step}: ${describeEval(await runEval(step))}`);
        }
        if (saveEvery > 0 && step % saveEvery === 0) await save(step);
        return undefined; // never stops early
      },
    });
    progress.finish();
    record.step = result.step;
    const stepsRun = result.step - startStep;
    const lastEval = record.metrics.evals.at(-1);
    let finalEval: EvalResult | null = lastEval?.step === result.step ? lastEval : null;
    if (!result.interrupted && evalBatches > 0 && finalEval === null)
      finalEval = await runEval(result.step);
    if (stepsRun > 0 || result.interrupted) await save(result.step);
    const seconds = record.metrics.seconds - secondsBefore;
    const summary: TrainResult = {
      command: "train",
      backend: report.backend,
      model: {
        label: record.modelLabel,
        layers: layerKinds(model.config),
        dModel: model.config.dModel,
        parameters: record.parameters,
      },
      data: record.data,
      startStep,
      step: result.step,
      totalSteps,
      interrupted: result.interrupted,
      loss: record.metrics.losses.at(-1) ?? null,
      lossEma: record.metrics.lossEma,
      tokensPerSecond: seconds > 0 ? (stepsRun * batch * source.length) / seconds : 0,
      seconds,
      eval: finalEval,
      checkpoint: outDir ?? null,
    };
    if (result.interrupted) {
      println(
        io.stderr,
        outDir === undefined
          ? `interrupted at step ${result.step} of ${totalSteps} (no --out, nothing saved)`
          : `interrupted at step ${result.step} of ${totalSteps}; saved to ${outDir}; continue with: bmojo train --resume ${outDir}`,
      );
    }
    if (f.json) println(io.stdout, JSON.stringify(summary));
    else printSummary(io, summary, source, record);
    return result.interrupted ? EXIT_INTERRUPTED : 0;
  } finally {
    optimizer.dispose();
    model.dispose();
  }
}

export const trainCommand: Command = {
  name: "train",
  summary: "train a model on a synthetic task or a text file",
  usage: "bmojo train (--task NAME | --text FILE | --resume DIR) [flags]",
  description: [
    "Trains a language model with AdamW (betas 0.9, 0.95), linear warmup then cosine decay to",
    "--min-lr-ratio, and global-norm clipping. SSM parameters (the mixer of mamba blocks and",
    "mixer.ssm.* of B'MOJO blocks) form their own AdamW group at --ssm-lr. Batch s is drawn from a",
    "stream seeded by (--seed, s), so a resumed run sees the batches an uninterrupted one would.",
    "Progress goes to stderr; with --out, DIR receives model.safetensors, optimizer.safetensors,",
    "train.json (and tokenizer.json for text), each written atomically. Ctrl-C saves and stops.",
  ].join("\n"),
  flags: trainFlags,
  examples: [
    "bmojo train --task mqar --preset bmojo --size tiny --steps 300 --out runs/mqar",
    "bmojo train --task mqar --task-option pairs=8 --layers mamba,swa,bmojo --ssm-lr 0.001",
    "bmojo train --text tinyshakespeare --seq-len 128 --steps 1000 --eval-every 100 --out runs/tiny",
    "bmojo train --resume runs/mqar --steps 600",
  ],
  run: runTrain,
};
