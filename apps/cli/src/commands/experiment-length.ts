/**
 * `bmojo experiment length`: the paper's Figure 5, length generalisation. A transformer (full
 * attention + RoPE), a Mamba and a B'MOJO model are trained on tinyshakespeare (char tokenizer)
 * at a short context (--train-length), then scored on the validation split at contexts
 * train-length × --multiples: for each context L, the parallel forward over the first
 * ⌊--eval-tokens / L⌋ non-overlapping validation windows of L tokens, the loss averaged over
 * every position of every window. With --workers > 1 and the built CLI, each model runs in its
 * own child process (`bmojo experiment length --models M --workers 1`); otherwise in turn.
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { CharTokenizer, TextDataset } from "@bmojo/data";
import { LanguageModel, type ModelConfig, parameterCount } from "@bmojo/model";
import { crossEntropy, dispose } from "@bmojo/tensor";
import { backendFlag, describeBackend, initBackend } from "../backend.js";
import { TINY_SHAKESPEARE, VALIDATION_FRACTION, readText, textSource } from "../data-source.js";
import { UsageError } from "../errors.js";
import { batchTensors } from "../evaluate.js";
import { type Flags, parseFlags } from "../flags.js";
import { grouped, markdownTable } from "../format.js";
import { type CliIO, println } from "../io.js";
import type { TrainMetrics } from "../run-dir.js";
import { createOptimizer, trainLoop, trainingSchedule } from "../train-loop.js";
import { lineChart } from "../experiments-length-chart.js";
import { machineInfo, provenanceLines, writeResults } from "../experiment-results.js";
import type { Experiment } from "./experiment.js";

export const LENGTH_MODELS = ["transformer", "mamba", "bmojo"] as const;
export type LengthModel = (typeof LENGTH_MODELS)[number];

export const lengthFlags = {
  models: {
    kind: "enum",
    values: LENGTH_MODELS,
    list: true,
    default: "transformer,mamba,bmojo",
    description: "models to train and score",
  },
  trainLength: { kind: "int", min: 2, default: 32, description: "training context (tokens)" },
  multiples: {
    kind: "string",
    default: "1,2,4,8,16,32",
    placeholder: "LIST",
    description: "evaluation contexts, as multiples of --train-length (comma-separated)",
  },
  evalTokens: {
    kind: "int",
    min: 1,
    default: 8192,
    description: "validation tokens scored at every context (⌊N / L⌋ windows of L)",
  },
  evalBatchTokens: {
    kind: "int",
    min: 1,
    default: 2048,
    description: "tokens per evaluation forward (windows per batch = max(1, ⌊N / L⌋))",
  },
  dModel: { kind: "int", min: 1, default: 64, description: "width of every model" },
  heads: { kind: "int", min: 1, default: 2, description: "attention heads (transformer, bmojo)" },
  transformerBlocks: { kind: "int", min: 1, default: 2, description: "transformer blocks" },
  mambaBlocks: { kind: "int", min: 1, default: 4, description: "mamba blocks" },
  bmojoBlocks: { kind: "int", min: 1, default: 2, description: "bmojo blocks" },
  window: { kind: "int", min: 1, default: 16, description: "B'MOJO window / chunk length w" },
  eideticTokens: { kind: "int", min: 0, default: 8, description: "B'MOJO eidetic tokens m_e" },
  steps: { kind: "int", min: 1, default: 100, description: "training steps per model" },
  batch: { kind: "int", min: 1, default: 16, description: "training sequences per step" },
  lr: { kind: "number", min: 0, exclusiveMin: true, default: 3e-3, description: "peak lr" },
  seed: { kind: "int", min: 0, default: 0, description: "seed of the weights and batches" },
  workers: {
    kind: "int",
    min: 1,
    default: 2,
    description: "models trained at once (child processes of the built CLI)",
  },
  outDir: {
    kind: "string",
    default: "docs/results",
    placeholder: "DIR",
    description: "where length-BACKEND.md, .json and .svg are written",
  },
  backend: { ...backendFlag, default: "cpu" },
} as const;

/** Fixed training settings (the `bmojo train` defaults). */
const TRAINING = { weightDecay: 0.1, warmup: 10, minLrRatio: 0.1, clip: 1 };

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

function parseMultiples(raw: string): number[] {
  const items = raw.split(",").map((s) => s.trim());
  const values = items.map(Number);
  if (items.length === 0 || values.some((v) => !Number.isSafeInteger(v) || v < 1)) {
    throw new UsageError(`--multiples ${raw}: give positive integers, e.g. 1,2,4,8.`);
  }
  return values;
}

type LengthFlags = Flags<typeof lengthFlags>;

function modelConfig(model: LengthModel, f: LengthFlags, vocabSize: number, maxContext: number) {
  const blocks = {
    transformer: f.transformerBlocks,
    mamba: f.mambaBlocks,
    bmojo: f.bmojoBlocks,
  }[model];
  const config: ModelConfig = {
    vocabSize,
    dModel: f.dModel,
    heads: f.heads,
    window: f.window,
    layers: model,
    numLayers: blocks,
    seed: f.seed,
    maxLength: Math.max(4096, maxContext),
    bmojo: { eideticTokens: f.eideticTokens },
  };
  return config;
}

/** Trains one model and scores it at every context. */
async function runOne(
  model: LengthModel,
  f: LengthFlags,
  text: { path: string; text: string },
  contexts: readonly number[],
  io: CliIO,
): Promise<LengthRow> {
  const tokenizer = CharTokenizer.fromText(text.text);
  const source = textSource({
    source: TINY_SHAKESPEARE,
    path: text.path,
    text: text.text,
    tokenizer,
    tokenizerKind: "char",
    seqLen: f.trainLength,
  });
  const dataset = TextDataset.fromText(text.text, tokenizer, {
    validationFraction: VALIDATION_FRACTION,
  });
  const config = modelConfig(model, f, tokenizer.vocabSize, Math.max(...contexts));
  const lm = new LanguageModel(config);
  const optimizer = createOptimizer(lm, {
    lr: f.lr,
    ssmLr: f.lr,
    weightDecay: TRAINING.weightDecay,
  });
  try {
    const metrics: TrainMetrics = { losses: [], lossEma: null, tokens: 0, seconds: 0, evals: [] };
    const every = Math.max(1, Math.floor(f.steps / 5));
    await trainLoop({
      model: lm,
      optimizer,
      source,
      seed: f.seed,
      batch: f.batch,
      startStep: 0,
      totalSteps: f.steps,
      schedule: trainingSchedule({ ...TRAINING, totalSteps: f.steps }),
      clip: TRAINING.clip,
      metrics,
      onStep: (step, ema) => {
        if (step % every === 0 || step === f.steps) {
          println(io.stderr, `${model}: step ${step}/${f.steps}, loss EMA ${ema.toFixed(3)}`);
        }
      },
    });
    const perplexity: number[] = [];
    const windows: number[] = [];
    for (const L of contexts) {
      const count = Math.floor(f.evalTokens / L);
      const rows = Math.max(1, Math.floor(f.evalBatchTokens / L));
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
      perplexity.push(Math.exp(lossSum / scored));
      windows.push(taken);
      println(
        io.stderr,
        `${model}: context ${L}, ${taken} windows, perplexity ${perplexity.at(-1)?.toFixed(3)}`,
      );
    }
    return {
      model,
      blocks: lm.config.layers.length,
      parameters: lm.numParameters(),
      trainSeconds: metrics.seconds,
      finalTrainLoss: metrics.lossEma,
      perplexity,
      windows,
    };
  } finally {
    optimizer.dispose();
    lm.dispose();
  }
}

/** The built CLI's entry when this process is it (children run it again); else undefined. */
function cliEntry(): string | undefined {
  const entry = process.argv[1];
  return entry !== undefined && basename(entry) === "cli.js" && existsSync(entry)
    ? entry
    : undefined;
}

/** Flags for a child that runs one model, writing its JSON into `dir`. */
function childArgs(f: LengthFlags, model: LengthModel, dir: string): string[] {
  const args = ["experiment", "length", "--models", model, "--workers", "1", "--out-dir", dir];
  const skip = new Set(["models", "workers", "outDir"]);
  for (const [key, value] of Object.entries(f)) {
    if (skip.has(key) || value === undefined) continue;
    const flag = `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
    args.push(flag, String(value));
  }
  return args;
}

function runChild(entry: string, args: string[], model: string, io: CliIO): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [entry, ...args], {
      stdio: ["ignore", "ignore", "pipe"],
    });
    let pending = "";
    child.stderr.setEncoding("utf8");
    child.stderr.on("data", (chunk: string) => {
      pending += chunk;
      const lines = pending.split("\n");
      pending = lines.pop() ?? "";
      for (const line of lines) if (line.length > 0) println(io.stderr, `[${model}] ${line}`);
    });
    child.on("error", reject);
    child.on("exit", (code) =>
      code === 0
        ? resolve()
        : reject(new Error(`the child training ${model} exited with ${code}.`)),
    );
  });
}

async function runLength(argv: readonly string[], io: CliIO): Promise<number> {
  const { values: f } = parseFlags("experiment length", lengthFlags, argv);
  const multiples = parseMultiples(f.multiples);
  const contexts = multiples.map((m) => m * f.trainLength);
  for (const L of contexts) {
    if (L > f.evalTokens) {
      throw new UsageError(`--eval-tokens ${f.evalTokens} is below the context ${L}; raise it.`);
    }
  }
  const report = await initBackend(f.backend);
  println(io.stderr, describeBackend(report));
  const started = performance.now();
  const text = await readText(TINY_SHAKESPEARE);
  const vocab = CharTokenizer.fromText(text.text).vocabSize;
  for (const m of f.models) {
    const c = modelConfig(m, f, vocab, Math.max(...contexts));
    println(
      io.stderr,
      `${m}: ${c.numLayers} blocks, d_model ${f.dModel}, ${grouped(parameterCount(c))} parameters`,
    );
  }

  const entry = cliEntry();
  const parallel = f.workers > 1 && f.models.length > 1 && entry !== undefined;
  let rows: LengthRow[];
  if (parallel && entry !== undefined) {
    const dir = await mkdtemp(join(tmpdir(), "bmojo-length-"));
    try {
      const queue = [...f.models];
      const lane = async () => {
        for (let m = queue.shift(); m !== undefined; m = queue.shift()) {
          await runChild(entry, childArgs(f, m, join(dir, m)), m, io);
        }
      };
      await Promise.all(Array.from({ length: Math.min(f.workers, f.models.length) }, lane));
      rows = [];
      for (const m of f.models) {
        const json = JSON.parse(
          await readFile(join(dir, m, `length-${report.backend}.json`), "utf8"),
        );
        rows.push(json.rows[0] as LengthRow);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  } else {
    rows = [];
    for (const m of f.models) rows.push(await runOne(m, f, text, contexts, io));
  }
  const wallSeconds = (performance.now() - started) / 1000;

  const table = markdownTable(
    ["model", "blocks", "parameters", ...contexts.map((L) => `ppl @ ${L}`)],
    rows.map((r) => [
      r.model,
      String(r.blocks),
      grouped(r.parameters),
      ...r.perplexity.map((p) => p.toFixed(3)),
    ]),
  );
  println(io.stdout, table);

  const command = ["bmojo", "experiment", "length", ...argv].join(" ");
  const machine = machineInfo();
  const date = new Date().toISOString();
  const settings = {
    trainLength: f.trainLength,
    contexts,
    evalTokens: f.evalTokens,
    dModel: f.dModel,
    heads: f.heads,
    window: f.window,
    eideticTokens: f.eideticTokens,
    steps: f.steps,
    batch: f.batch,
    lr: f.lr,
    ...TRAINING,
    seed: f.seed,
    parallel: parallel ? `${Math.min(f.workers, f.models.length)} child processes` : "sequential",
  };
  const md = [
    `# Length generalisation (Figure 5) on the \`${report.backend}\` backend`,
    "",
    `Each model is trained on tinyshakespeare (char tokenizer, last ${VALIDATION_FRACTION * 100}% held out)`,
    `with windows of ${f.trainLength} tokens for ${f.steps} steps of ${f.batch} (AdamW, lr ${f.lr}, the same for`,
    `SSM parameters, weight decay ${TRAINING.weightDecay}, warmup ${TRAINING.warmup}, cosine to ${TRAINING.minLrRatio}, clip ${TRAINING.clip}, seed ${f.seed}).`,
    `Then, for each context L, the parallel forward runs over the first ⌊${f.evalTokens} / L⌋`,
    "non-overlapping validation windows of L tokens, and the perplexity is exp of the mean loss over",
    "**all** positions of every window (early positions, with little context, included).",
    `Width ${f.dModel}, ${f.heads} heads; B'MOJO window ${f.window}, ${f.eideticTokens} eidetic tokens.`,
    `Training: ${settings.parallel}.`,
    "",
    table,
    "",
    ...provenanceLines({ command, date, machine, wallSeconds }),
    "",
    `![validation perplexity against context](length-${report.backend}.svg)`,
    "",
  ].join("\n");
  const json = {
    experiment: "length",
    backend: report.backend,
    command,
    date,
    machine,
    settings,
    wallSeconds,
    contexts,
    rows,
  };
  const svg = lineChart({
    title: `Validation perplexity, trained at ${f.trainLength} tokens`,
    xLabel: "context (tokens, log scale)",
    yLabel: "perplexity",
    x: contexts,
    series: rows.map((r) => ({ label: r.model, values: r.perplexity })),
  });
  await writeResults(
    io,
    { outDir: f.outDir, name: "length", backend: report.backend },
    { md, json, svg },
    wallSeconds,
  );
  return 0;
}

export const lengthExperiment: Experiment = {
  name: "length",
  summary: "perplexity beyond the training context (Figure 5)",
  flags: lengthFlags,
  run: runLength,
};
