/**
 * `bmojo experiment length`: the paper's Figure 5, length generalisation. A transformer (full
 * attention + RoPE), a Mamba and a B'MOJO model are trained on tinyshakespeare (char tokenizer)
 * at a short context (--train-length), then scored on the validation split at contexts
 * train-length × --multiples: for each context L, the parallel forward over the first
 * ⌊--eval-tokens / L⌋ non-overlapping validation windows of L tokens, the loss averaged over
 * every position of every window. Each model is a length job (length-job.ts); with --workers > 1
 * they run in the worker threads of the CLI's job pool, otherwise one after another in this thread.
 */
import { CharTokenizer } from "@bmojo/data";
import { type ModelConfig, parameterCount } from "@bmojo/model";
import { backendFlag, describeBackend, initBackend } from "../backend.js";
import type { CompareTraining } from "../compare-job.js";
import { TINY_SHAKESPEARE, VALIDATION_FRACTION, readText } from "../data-source.js";
import { EXIT_INTERRUPTED, UsageError } from "../errors.js";
import { type Flags, parseFlags } from "../flags.js";
import { grouped, markdownTable } from "../format.js";
import { type CliIO, println } from "../io.js";
import { LENGTH_MODELS, type LengthJob, type LengthModel } from "../length-job.js";
import { jobRunner, runPool } from "../worker-pool.js";
import { lineChart } from "../experiments-length-chart.js";
import { machineInfo, provenanceLines, writeResults } from "../experiment-results.js";
import type { Experiment } from "./experiment.js";

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
    description: "models trained at once, each in a worker thread; 1: one after another in-process",
  },
  outDir: {
    kind: "string",
    default: "docs/results",
    placeholder: "DIR",
    description: "where length-BACKEND.md, .json and .svg are written",
  },
  backend: { ...backendFlag, default: "wasm" },
} as const;

/** Fixed training settings (the `bmojo train` defaults). */
const TRAINING = { weightDecay: 0.1, warmup: 10, minLrRatio: 0.1, clip: 1 };

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
  const training: CompareTraining = {
    steps: f.steps,
    batch: f.batch,
    lr: f.lr,
    ssmLr: f.lr,
    ...TRAINING,
    seed: f.seed,
  };
  const jobs: LengthJob[] = f.models.map((model) => ({
    model,
    config: modelConfig(model, f, vocab, Math.max(...contexts)),
    text: TINY_SHAKESPEARE,
    trainLength: f.trainLength,
    training,
    contexts,
    evalTokens: f.evalTokens,
    evalBatchTokens: f.evalBatchTokens,
  }));
  for (const { model, config: c } of jobs) {
    println(
      io.stderr,
      `${model}: ${c.numLayers} blocks, d_model ${f.dModel}, ${grouped(parameterCount(c))} parameters`,
    );
  }

  const runner = jobRunner(f.workers, jobs.length, report.backend, io.stderr);
  const every = Math.max(1, Math.floor(f.steps / 5));
  const runOne = async (job: LengthJob, signal: AbortSignal) => {
    const r = await runner.run(
      { kind: "length", job },
      {
        onStep: (step, ema) => {
          if (step % every === 0 || step === f.steps) {
            println(io.stderr, `${job.model}: step ${step}/${f.steps}, loss EMA ${ema.toFixed(3)}`);
          }
        },
        onContext: ({ context, windows, perplexity }) =>
          println(
            io.stderr,
            `${job.model}: context ${context}, ${windows} windows, perplexity ${perplexity.toFixed(3)}`,
          ),
        signal,
      },
    );
    if (r.interrupted) println(io.stderr, `${job.model}: interrupted at step ${r.steps}`);
    return r;
  };
  const results = await runPool(jobs, runner.workers, runOne, io.signal);
  const rows = results.flatMap((r) => (r?.row ? [r.row] : []));
  if (rows.length < jobs.length) {
    println(io.stderr, "interrupted: nothing written.");
    return EXIT_INTERRUPTED;
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
    parallel: runner.workers > 1 ? `${runner.workers} worker threads` : "sequential",
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
