/**
 * `bmojo compare`: trains B'MOJO and two baselines with a matched memory budget on MQAR, each
 * with the training loop of `bmojo train`, concurrently in worker threads, scores them on the
 * same held-out examples, and prints a table (parameters, state bytes, exactly-attended tokens,
 * accuracy, time) and one example with what B'MOJO's eidetic memory held.
 *
 * The budget: swa attends to w + m_f + m_e tokens per query, as many as B'MOJO attends to exactly
 * (its window, fading and eidetic tokens: the paper's K); mamba's SSM state size is chosen so its
 * recurrent state is close to B'MOJO's in bytes (`inferenceStateBytes`).
 */
import { availableParallelism } from "node:os";
import { IGNORE_INDEX } from "@bmojo/data";
import {
  type ModelConfig,
  type ResolvedConfig,
  inferenceStateBytes,
  parameterCount,
} from "@bmojo/model";
import { backendFlag, describeBackend, initBackend } from "../backend.js";
import {
  COMPARE_MODELS,
  type CompareJob,
  type CompareJobHooks,
  type CompareJobResult,
  type CompareModel,
  type CompareTraining,
  type ExampleProbe,
} from "../compare-job.js";
import { type TaskOptionValue, taskSource } from "../data-source.js";
import { EXIT_INTERRUPTED, UsageError } from "../errors.js";
import { type Flags, parseFlags, parseKeyValue } from "../flags.js";
import { duration, grouped, markdownTable, percent, secondsSince } from "../format.js";
import { type CliIO, type Output, println } from "../io.js";
import { markHeld } from "../memory-view.js";
import {
  MODEL_FLAG_KEYS,
  type ModelFlagValues,
  modelConfigFromFlags,
  modelFlags,
} from "../model-flags.js";
import { MultiProgress } from "../progress.js";
import { evalSeed, exampleSeed } from "../seeds.js";
import { jobRunner, runPool } from "../worker-pool.js";
import type { Command } from "./command.js";
import { trainFlags } from "./train.js";

const TASK = "Task (MQAR)";
const RUN = "Run";

/** Where MQAR puts its queries (`--placement`). */
const PLACEMENTS = ["uniform", "power-law"] as const;

/** The MQAR setting compared on, before `--placement` and `--task-option`. */
const TASK_DEFAULTS: Readonly<Record<string, TaskOptionValue>> = {
  vocabSize: 64,
  length: 32,
  pairs: 4,
};

/** Examples per evaluation batch at most (the held-out set is split into equal batches). */
const EVAL_BATCH = 64;

/**
 * Seconds per training step of each model at the defaults, measured on the reference cpu backend
 * (2 cores, one model per core). Used only to start the longest runs first.
 */
const STEP_SECONDS: Readonly<Record<CompareModel, number>> = { bmojo: 0.35, swa: 0.15, mamba: 0.5 };

/** How the table names each model. */
const DISPLAY: Readonly<Record<CompareModel, string>> = {
  bmojo: "B'MOJO",
  swa: "SWA",
  mamba: "Mamba",
};

export const compareFlags = {
  models: {
    kind: "enum",
    values: COMPARE_MODELS,
    list: true,
    default: COMPARE_MODELS.join(","),
    group: "Models",
    description: "models to train, in the order of the table",
  },
  placement: {
    kind: "enum",
    values: PLACEMENTS,
    default: "uniform",
    group: TASK,
    description:
      "where the queries go: uniform over the sequence (recall needs long-range memory), or Zoology's power law (most right after the pairs)",
  },
  taskOption: {
    ...trainFlags.taskOption,
    group: TASK,
    description: "an MQAR option over vocabSize=64, length=32, pairs=4, e.g. pairs=6 (repeatable)",
  },
  layersCount: { ...modelFlags.layersCount, default: 2, description: "blocks of every model" },
  dModel: { ...modelFlags.dModel, default: 32 },
  heads: { ...modelFlags.heads, default: 2 },
  window: {
    ...modelFlags.window,
    default: 8,
    description: "B'MOJO's window w, which is also its chunk length",
  },
  eidetic: { ...modelFlags.eidetic, default: 8 },
  fading: { ...modelFlags.fading, default: 1 },
  dState: { ...modelFlags.dState, default: 8, description: "SSM state size N inside B'MOJO" },
  swaWindow: {
    kind: "int",
    min: 1,
    group: modelFlags.window.group,
    defaultText: "--window + --fading + --eidetic",
    description: "window of the swa model: the tokens each query attends to exactly",
  },
  mambaDState: {
    kind: "int",
    min: 1,
    default: 32,
    group: modelFlags.dState.group,
    description: "SSM state size N of the mamba model (32: its state bytes are close to B'MOJO's)",
  },
  steps: { ...trainFlags.steps, default: 300, description: "training steps of every model" },
  batch: { ...trainFlags.batch, default: 32 },
  lr: { ...trainFlags.lr, default: 0.005 },
  ssmLr: trainFlags.ssmLr,
  weightDecay: trainFlags.weightDecay,
  warmup: { ...trainFlags.warmup, default: 20 },
  minLrRatio: trainFlags.minLrRatio,
  clip: trainFlags.clip,
  seed: {
    ...trainFlags.seed,
    description:
      "seed of the initialisations, the training batches, the evaluation and the example",
  },
  evalExamples: {
    kind: "int",
    min: 1,
    default: 512,
    group: RUN,
    description: "held-out examples every model is scored on (the same ones for all)",
  },
  workers: {
    kind: "int",
    min: 1,
    group: RUN,
    defaultText: "min(available cores, models)",
    description: "models trained at once, each in a worker thread; 1: one after another in-process",
  },
  backend: { ...backendFlag, default: "wasm", group: RUN },
  json: { kind: "boolean", group: RUN, description: "print the results as one JSON object" },
} as const;

type CompareFlags = Flags<typeof compareFlags>;

/** One model of the comparison, as planned from the flags. */
interface PlannedModel {
  model: CompareModel;
  /** The layer plan, e.g. "mamba:mlp,mamba:mlp". */
  plan: string;
  config: ModelConfig;
  resolved: ResolvedConfig;
}

/** One row of the table (and of `--json`). */
interface CompareRow {
  model: CompareModel;
  name: string;
  plan: string;
  /** The layers in words, e.g. "2 × B'MOJO (w 8, m_f 1, m_e 8, N 8)". */
  layers: string;
  config: ResolvedConfig;
  parameters: number;
  /** `inferenceStateBytes`: recurrent state one sequence holds during generation. */
  stateBytes: number;
  /** Tokens each query attends to exactly (not through a recurrent state). */
  attendedTokens: number;
  attended: string;
  accuracy: number;
  correct: number;
  total: number;
  evalLoss: number;
  firstLoss: number | null;
  lastLoss: number | null;
  trainSeconds: number;
}

/** The `--json` result. */
interface CompareOutput {
  command: "compare";
  backend: string;
  workers: number;
  seconds: number;
  task: Record<string, TaskOptionValue>;
  training: CompareTraining;
  evaluation: { seed: number; examples: number; batches: number; batch: number };
  models: CompareRow[];
  example: (ExampleProbe & { model: CompareModel }) | null;
  summary: string;
}

/** The MQAR options: the defaults, `--placement`, then every `--task-option`. */
function taskOptions(f: CompareFlags, given: ReadonlySet<string>): Record<string, TaskOptionValue> {
  const options: Record<string, TaskOptionValue> = {
    ...TASK_DEFAULTS,
    queryPlacement: f.placement,
  };
  for (const entry of f.taskOption) {
    const [key, value] = parseKeyValue("--task-option", entry);
    if (key === "queryPlacement" && given.has("placement") && value !== f.placement) {
      throw new UsageError(
        `--task-option queryPlacement=${value} contradicts --placement ${f.placement}; give one of them.`,
      );
    }
    options[key] = value;
  }
  return options;
}

/** A block kind repeated `--layers-count` times, as a layer plan. */
function planOf(model: CompareModel, blocks: number): string {
  const kind = model === "mamba" ? "mamba:mlp" : model;
  return Array.from({ length: blocks }, () => kind).join(",");
}

/** The config of each model, checked (errors name the flag behind the field). */
function planModels(f: CompareFlags, vocabSize: number): PlannedModel[] {
  const seen = new Set<CompareModel>();
  for (const model of f.models) {
    if (seen.has(model)) throw new UsageError(`--models: ${model} is listed twice.`);
    seen.add(model);
  }
  // Every model flag has an explicit default here, so none is reported as coming from --size
  // (and the plan is a --layers plan, not a --preset).
  const given = new Set<string>(MODEL_FLAG_KEYS.filter((key) => key !== "preset"));
  return f.models.map((model) => {
    const plan = planOf(model, f.layersCount);
    const values: ModelFlagValues = {
      preset: "bmojo",
      size: "tiny",
      layers: plan,
      dModel: f.dModel,
      layersCount: undefined,
      heads: f.heads,
      kvHeads: undefined,
      window: model === "swa" ? (f.swaWindow ?? f.window + f.fading + f.eidetic) : f.window,
      eidetic: f.eidetic,
      fading: f.fading,
      predictor: undefined,
      dState: model === "mamba" ? f.mambaDState : f.dState,
      positions: "rope",
      bmojoPositions: "none",
      compute: "float32",
    };
    const { config, resolved } = modelConfigFromFlags(values, given, { vocabSize, seed: f.seed });
    return { model, plan, config, resolved };
  });
}

/** Tokens a query attends to exactly: B'MOJO's window, fading and eidetic tokens; swa's window. */
function attendedTokens(c: ResolvedConfig): { count: number; text: string } {
  const kind = c.layers[0].kind;
  if (kind === "bmojo") {
    const { fadingTokens: mf, eideticTokens: me } = c.bmojo;
    const count = c.window + mf + me;
    return { count, text: `${count} (w ${c.window} + m_f ${mf} + m_e ${me})` };
  }
  if (kind === "swa") return { count: c.window, text: `${c.window} (window)` };
  return { count: 0, text: "0 (all through the SSM state)" };
}

/** The layers in words. */
function describeLayers(p: PlannedModel): string {
  const c = p.resolved;
  const n = c.layers.length;
  if (p.model === "bmojo") {
    return `${n} × B'MOJO (w ${c.window}, m_f ${c.bmojo.fadingTokens}, m_e ${c.bmojo.eideticTokens}, N ${c.ssm.dState})`;
  }
  if (p.model === "swa") return `${n} × SWA (window ${c.window})`;
  return `${n} × Mamba + MLP (N ${c.ssm.dState})`;
}

function rowOf(p: PlannedModel, r: CompareJobResult<string>): CompareRow {
  const evaluation = r.evaluation;
  if (evaluation === null) throw new Error(`${p.model} has no evaluation.`);
  const attended = attendedTokens(p.resolved);
  return {
    model: p.model,
    name: DISPLAY[p.model],
    plan: p.plan,
    layers: describeLayers(p),
    config: p.resolved,
    parameters: parameterCount(p.config),
    stateBytes: inferenceStateBytes(p.config),
    attendedTokens: attended.count,
    attended: attended.text,
    accuracy: evaluation.accuracy,
    correct: evaluation.correct,
    total: evaluation.total,
    evalLoss: evaluation.loss,
    firstLoss: r.firstLoss,
    lastLoss: r.lastLoss,
    trainSeconds: r.trainSeconds,
  };
}

/** Reference accuracies on MQAR: guessing one value id, and naming one of the pairs' values. */
export interface MqarBaselines {
  /** 1 / (number of value ids) = 1 / (V − ⌊V/2⌋). */
  valueId: number;
  /** 1 / pairs: what answering with any one of the values shown in the sequence scores. */
  shownValue: number;
  pairs: number;
}

/** The baselines of an MQAR setting. */
export function mqarBaselines(vocabSize: number, pairs: number): MqarBaselines {
  return { valueId: 1 / (vocabSize - Math.floor(vocabSize / 2)), shownValue: 1 / pairs, pairs };
}

/**
 * One sentence comparing the accuracies, claiming no more than the numbers: each model's
 * accuracy, two baselines, and how the gap between the best two compares with its binomial
 * standard error (queries of one example are not independent, so that error is if anything
 * too small).
 */
export function verdict(
  rows: readonly Pick<CompareRow, "name" | "accuracy" | "total">[],
  examples: number,
  baselines: MqarBaselines,
): string {
  const sorted = [...rows].sort((a, b) => b.accuracy - a.accuracy);
  const names = sorted.map((r) => `${r.name} ${percent(r.accuracy)}`);
  const list = names.length > 1 ? `${names.slice(0, -1).join(", ")} and ${names.at(-1)}` : names[0];
  const head = `On the same ${examples} held-out examples (one training run each), MQAR accuracy is ${list}, against ${percent(baselines.valueId)} for guessing a value id and ${percent(baselines.shownValue)} for naming one of the ${baselines.pairs} values in the sequence`;
  if (sorted.length < 2) return `${head}.`;
  const [a, b] = sorted;
  const se = Math.sqrt(
    (a.accuracy * (1 - a.accuracy)) / a.total + (b.accuracy * (1 - b.accuracy)) / b.total,
  );
  const gap = a.accuracy - b.accuracy;
  const ratio = se > 0 ? gap / se : gap > 0 ? Number.POSITIVE_INFINITY : 0;
  const points = (100 * gap).toFixed(1);
  if (ratio < 2) {
    return `${head}; ${a.name} and ${b.name} differ by ${points} points, less than two standard errors, so this run does not separate them.`;
  }
  const errors = Number.isFinite(ratio) ? `about ${ratio.toFixed(0)}` : "many";
  return `${head}; ${a.name} is ahead of ${b.name} by ${points} points (${errors} standard errors) in this setting, which says nothing about other sizes, tasks or seeds.`;
}

/** One printed cell of the example. */
interface Cell {
  text: string;
  /** Printed width (ANSI escapes excluded). */
  width: number;
}

const cell = (text: string, width = text.length): Cell => ({ text, width });

/** Rows of cells, one column per position, padded to a common width; `|` before `split`. */
function alignColumns(rows: readonly (readonly Cell[])[], split: number): string[] {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].width)));
  return rows.map((r) =>
    r
      .map((x, c) => `${c === split ? "| " : ""}${" ".repeat(widths[c] - x.width)}${x.text}`)
      .join(" ")
      .trimEnd(),
  );
}

/** The role of each position in MQAR: k / v in the pairs, q where a key is asked again. */
function roles(example: ExampleProbe, pairs: number): string[] {
  return example.inputs.map((_, p) => {
    if (example.targets[p] !== IGNORE_INDEX) return "q";
    if (p < 2 * pairs) return p % 2 === 0 ? "k" : "v";
    return "";
  });
}

/**
 * Where the query at `query` could see `position` exactly: inside its window, or held in eidetic
 * memory for its chunk by some layers ("held by layers 0, 1"), or neither ("not held").
 */
function seenFrom(example: ExampleProbe, query: number, position: number): string {
  if (position > query - example.window) return "in the window";
  const chunk = Math.floor(query / example.window);
  const layers = example.layers.filter((l) => l.chunks[chunk].includes(position));
  if (layers.length === 0) return "not held";
  return `held by layer${layers.length > 1 ? "s" : ""} ${layers.map((l) => l.layer).join(", ")}`;
}

/** The example: ids with each layer's held positions marked, the roles, and every query. */
function printExample(out: Output, e: ExampleProbe, pairs: number): void {
  const underline = out.isTTY === true;
  const { start, end } = e.lastChunk;
  println(
    out,
    `One example (B'MOJO, layers ${e.layers.map((l) => l.layer).join(" and ")}, last chunk = positions ${start}–${end}, after the |):`,
  );
  println(
    out,
    `${underline ? "underlined" : "[bracketed]"}: the inputs that layer held in eidetic memory for the last chunk; k, v: the key-value pairs; q: a key asked again.`,
  );
  const labels = ["position", ...e.layers.map((l) => `layer ${l.layer}`), "role"];
  const labelWidth = Math.max(...labels.map((l) => l.length));
  const positions = e.inputs.map((_, p) => cell(String(p)));
  const layerRows = e.layers.map(({ held }) =>
    e.inputs.map((id, p) => {
      const text = String(id);
      return held.includes(p)
        ? cell(markHeld(text, underline), text.length + (underline ? 0 : 2))
        : cell(text);
    }),
  );
  const roleRow = roles(e, pairs).map((r) => cell(r));
  const lines = alignColumns([positions, ...layerRows, roleRow], start);
  for (const [i, line] of lines.entries()) {
    println(out, `  ${labels[i].padEnd(labelWidth)}  ${line}`);
  }
  println(out);
  println(out, "B'MOJO's prediction at each query:");
  for (let q = 0; q < e.inputs.length; q++) {
    const target = e.targets[q];
    if (target === IGNORE_INDEX) continue;
    const id = e.inputs[q];
    let key = -1;
    for (let p = 0; p < 2 * pairs; p += 2) if (e.inputs[p] === id) key = p;
    const predicted = e.predictions[q];
    const pair =
      key < 0
        ? "its key is not among the pairs"
        : `pair at ${key}–${key + 1}: k ${seenFrom(e, q, key)}, v ${seenFrom(e, q, key + 1)}`;
    println(
      out,
      `  q at ${q} (key ${id}): predicted ${predicted}, target ${target}, ${predicted === target ? "correct" : "wrong"}; ${pair}`,
    );
  }
}

function printComparison(io: CliIO, o: CompareOutput, f: CompareFlags): void {
  const out = io.stdout;
  const t = o.training;
  const taskText = Object.entries(o.task)
    .map(([k, v]) => `${k} ${v}`)
    .join(", ");
  println(out, `MQAR (${taskText})`);
  println(
    out,
    `each model: ${t.steps} steps × batch ${t.batch}, lr ${t.lr}, seed ${t.seed}; scored on ${o.evaluation.examples} held-out examples; ${o.models.length} models on ${o.workers} worker${o.workers === 1 ? "" : "s"}, ${duration(o.seconds)} in all`,
  );
  println(out);
  const header = [
    "model",
    "layers",
    "parameters",
    "state bytes per sequence",
    "exactly-attended tokens per query",
    "MQAR accuracy",
    "train time",
  ];
  const rows = o.models.map((r) => [
    r.name,
    r.layers,
    grouped(r.parameters),
    grouped(r.stateBytes),
    r.attended,
    `${percent(r.accuracy)} (${r.correct}/${r.total})`,
    `${r.trainSeconds.toFixed(1)} s`,
  ]);
  const right = [false, false, true, true, false, true, true];
  println(out, markdownTable(header, rows, right));
  println(out);
  println(out, budgetNote(o.models, f));
  if (o.example !== null) {
    println(out);
    printExample(out, o.example, Number(o.task.pairs));
  }
  println(out);
  println(out, o.summary);
}

/** What the memory budget matching means for these rows, in words. */
function budgetNote(rows: readonly CompareRow[], f: CompareFlags): string {
  const bmojo = rows.find((r) => r.model === "bmojo");
  const notes = [
    "State bytes: inferenceStateBytes, the recurrent state one sequence keeps while generating (float32, any length).",
  ];
  for (const r of rows) {
    if (r.model === "swa" && bmojo !== undefined) {
      const same = r.attendedTokens === bmojo.attendedTokens;
      notes.push(
        `SWA's window ${r.config.window} ${same ? "equals" : "differs from"} the tokens B'MOJO attends to exactly (w + m_f + m_e = ${bmojo.attendedTokens}).`,
      );
    }
    if (r.model === "mamba" && bmojo !== undefined) {
      notes.push(
        `Mamba's SSM state size N = ${f.mambaDState} was chosen so its state (${grouped(r.stateBytes)} B) is close to B'MOJO's (${grouped(bmojo.stateBytes)} B): ${percent(r.stateBytes / bmojo.stateBytes)} of it.`,
      );
    }
  }
  return notes.join(" ");
}

async function runCompare(argv: readonly string[], io: CliIO): Promise<number> {
  const started = performance.now();
  const { values: f, given } = parseFlags("compare", compareFlags, argv);
  const report = await initBackend(f.backend);
  println(io.stderr, describeBackend(report));
  const source = taskSource("mqar", taskOptions(f, given));
  if (source.record.kind !== "task") throw new Error("compare: expected a task source.");
  const task = source.record.options;
  const planned = planModels(f, source.vocabSize);
  const training: CompareTraining = {
    steps: f.steps,
    batch: f.batch,
    lr: f.lr,
    ssmLr: f.ssmLr ?? f.lr,
    weightDecay: f.weightDecay,
    warmup: f.warmup,
    minLrRatio: f.minLrRatio,
    clip: f.clip,
    seed: f.seed,
  };
  const batches = Math.ceil(f.evalExamples / EVAL_BATCH);
  const evaluation = {
    seed: evalSeed(f.seed),
    batches,
    batch: Math.ceil(f.evalExamples / batches),
  };
  const jobs: CompareJob[] = planned.map((p) => ({
    model: p.model,
    config: p.config,
    task,
    training,
    evaluation,
    exampleSeed: p.model === "bmojo" ? exampleSeed(f.seed) : null,
  }));

  const runner = jobRunner(
    f.workers ?? availableParallelism(),
    jobs.length,
    report.backend,
    io.stderr,
  );
  const workers = runner.workers;
  println(
    io.stderr,
    `training ${jobs.map((j) => j.model).join(", ")} (${f.steps} steps each) on ${workers} worker${workers === 1 ? "" : "s"}`,
  );
  const progress = new MultiProgress(
    io.stderr,
    jobs.map((j) => j.model),
  );
  const runOne = (job: CompareJob, signal: AbortSignal): Promise<CompareJobResult<string>> => {
    progress.start(job.model, {
      total: f.steps,
      startStep: 0,
      tokensPerStep: f.batch * source.length,
    });
    const hooks: CompareJobHooks = {
      onStep: (step, ema) => progress.update(job.model, step, ema),
      onEvaluate: () => progress.status(job.model, `evaluating on ${f.evalExamples} examples`),
      signal,
    };
    return runner.run({ kind: "compare", job }, hooks).then((r) => {
      progress.status(
        job.model,
        r.evaluation === null
          ? `interrupted at step ${r.steps}`
          : `done: ${r.steps} steps in ${r.trainSeconds.toFixed(1)} s, accuracy ${percent(r.evaluation.accuracy)}`,
      );
      return r;
    });
  };
  // Longest first, so that the short runs fill in the gaps (the table keeps the --models order).
  const order = [...jobs].sort((a, b) => STEP_SECONDS[b.model] - STEP_SECONDS[a.model]);
  const done = await runPool(order, workers, runOne, io.signal);
  const results = new Map(order.map((job, i) => [job.model, done[i]]));

  const finished = planned.flatMap((p) => {
    const r = results.get(p.model);
    return r !== undefined && !r.interrupted ? [{ p, r }] : [];
  });
  if (finished.length < planned.length) {
    println(
      io.stderr,
      `interrupted: ${finished.length} of ${planned.length} models finished; nothing to compare.`,
    );
    return EXIT_INTERRUPTED;
  }
  const rows = finished.map(({ p, r }) => rowOf(p, r));
  const [example = null] = finished.flatMap(({ p, r }) =>
    r.example === null ? [] : [{ model: p.model, ...r.example }],
  );
  const examples = evaluation.batches * evaluation.batch;
  const output: CompareOutput = {
    command: "compare",
    backend: report.backend,
    workers,
    seconds: secondsSince(started),
    task,
    training,
    evaluation: { ...evaluation, examples },
    models: rows,
    example,
    summary: verdict(rows, examples, mqarBaselines(source.vocabSize, Number(task.pairs))),
  };
  if (f.json) println(io.stdout, JSON.stringify(output));
  else printComparison(io, output, f);
  return 0;
}

export const compareCommand: Command = {
  name: "compare",
  summary: "train B'MOJO, SWA and Mamba with a matched memory budget on MQAR and compare them",
  usage: "bmojo compare [flags]",
  description: [
    "Trains B'MOJO and two baselines on the same MQAR data with the training loop of `bmojo train`,",
    "each in its own worker thread, scores them on the same held-out examples and prints a table:",
    "parameters, recurrent state bytes per sequence, tokens each query attends to exactly, accuracy",
    "and training time; then one example with the inputs B'MOJO's layers held in eidetic memory.",
    "The budget is matched: swa's window is B'MOJO's w + m_f + m_e (the tokens it attends to",
    "exactly), and mamba's state size N makes its recurrent state close to B'MOJO's in bytes.",
  ].join("\n"),
  flags: compareFlags,
  examples: [
    "bmojo compare",
    "bmojo compare --placement power-law --steps 500",
    "bmojo compare --models bmojo,swa --task-option pairs=6 --json",
  ],
  run: runCompare,
};
