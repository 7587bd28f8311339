/**
 * `bmojo bench`: for each preset, the time to prefill one batch of random tokens (the parallel form
 * filling the recurrent cache) and the decode throughput of one-token steps after it, on the
 * chosen backend, with the parameter count and the inference state the cache holds.
 */
import { LanguageModel, PLAN_NAMES, type PlanName } from "@bmojo/model";
import { Random, type Tensor, tensor } from "@bmojo/tensor";
import { backendFlag, describeBackend, initBackend } from "../backend.js";
import { parseFlags } from "../flags.js";
import { compact, table } from "../format.js";
import { type CliIO, println } from "../io.js";
import { modelConfigFromFlags, modelFlags, modelLabel } from "../model-flags.js";
import type { Command } from "./command.js";

export const benchFlags = {
  ...modelFlags,
  preset: {
    ...modelFlags.preset,
    list: true,
    description: "preset(s) to measure",
  },
  length: {
    kind: "int",
    min: 1,
    default: 256,
    description: "prompt tokens per sequence (prefill)",
  },
  batch: { kind: "int", min: 1, default: 1, description: "sequences" },
  decodeSteps: {
    kind: "int",
    min: 1,
    default: 32,
    description: "one-token decode steps after the prefill",
  },
  repeats: {
    kind: "int",
    min: 1,
    default: 3,
    description: "measurements per model; the median is reported",
  },
  seed: {
    kind: "int",
    min: 0,
    default: 0,
    description: "seed of the weights and the random tokens",
  },
  backend: backendFlag,
  json: { kind: "boolean", description: "print the results as one JSON object" },
} as const;

/** One measured model. */
export interface BenchRow {
  model: string;
  blocks: number;
  parameters: number;
  length: number;
  batch: number;
  prefillMs: number;
  prefillTokensPerSecond: number;
  decodeSteps: number;
  decodeMsPerStep: number;
  decodeTokensPerSecond: number;
  stateBytes: number;
}

/** The middle value (the mean of the two middle ones for an even count). */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

async function readAndDispose(t: Tensor): Promise<void> {
  await t.data();
  t.dispose();
}

/** Prefills `ids` into a fresh cache, then runs `steps` decode steps; returns the timings. */
async function measure(
  model: LanguageModel,
  rng: Random,
  length: number,
  batch: number,
  steps: number,
) {
  const vocab = model.config.vocabSize;
  const ids = tensor(rng.intArray(batch * length, 0, vocab), [batch, length], { dtype: "int32" });
  const cache = model.createCache(batch);
  try {
    const started = performance.now();
    await readAndDispose(await model.prefill(ids, cache));
    const prefillMs = performance.now() - started;
    const decodeStart = performance.now();
    for (let s = 0; s < steps; s++) {
      const next = tensor(rng.intArray(batch, 0, vocab), [batch], { dtype: "int32" });
      await readAndDispose(await model.step(next, cache));
      next.dispose();
    }
    const decodeMs = performance.now() - decodeStart;
    return { prefillMs, decodeMs, stateBytes: model.cacheBytes(cache) };
  } finally {
    ids.dispose();
    model.disposeCache(cache);
  }
}

async function runBench(argv: readonly string[], io: CliIO): Promise<number> {
  const { values: f, given } = parseFlags("bench", benchFlags, argv);
  const report = await initBackend(f.backend);
  println(io.stderr, describeBackend(report));
  const plans: (PlanName | undefined)[] = f.layers !== undefined ? [undefined] : f.preset;
  const rows: BenchRow[] = [];
  for (const plan of plans) {
    const flags = { ...f, preset: plan ?? "bmojo" };
    const { config } = modelConfigFromFlags(flags, given, {
      seed: f.seed,
      maxLength: Math.max(4096, f.length + f.decodeSteps + 1),
    });
    const model = new LanguageModel(config);
    try {
      const rng = new Random(f.seed);
      // Warm-up (JIT, buffer pools): a short prefill and two steps, not timed.
      await measure(model, rng, Math.min(f.length, 2 * model.config.window), f.batch, 2);
      const runs = [];
      for (let r = 0; r < f.repeats; r++) {
        runs.push(await measure(model, rng, f.length, f.batch, f.decodeSteps));
      }
      const m = {
        prefillMs: median(runs.map((x) => x.prefillMs)),
        decodeMs: median(runs.map((x) => x.decodeMs)),
        stateBytes: runs[0].stateBytes,
      };
      const label = modelLabel(flags);
      rows.push({
        model: label,
        blocks: model.config.layers.length,
        parameters: model.numParameters(),
        length: f.length,
        batch: f.batch,
        prefillMs: m.prefillMs,
        prefillTokensPerSecond: (f.batch * f.length * 1000) / m.prefillMs,
        decodeSteps: f.decodeSteps,
        decodeMsPerStep: m.decodeMs / f.decodeSteps,
        decodeTokensPerSecond: (f.batch * f.decodeSteps * 1000) / m.decodeMs,
        stateBytes: m.stateBytes,
      });
      println(io.stderr, `measured ${label}`);
    } finally {
      model.dispose();
    }
  }
  if (f.json) {
    println(io.stdout, JSON.stringify({ command: "bench", backend: report.backend, rows }));
    return 0;
  }
  const header = [
    "model",
    "blocks",
    "params",
    "length",
    "batch",
    "prefill ms",
    "prefill tok/s",
    "decode ms/step",
    "decode tok/s",
    "state KiB",
  ];
  const cells = rows.map((r) => [
    r.model,
    String(r.blocks),
    compact(r.parameters),
    String(r.length),
    String(r.batch),
    r.prefillMs.toFixed(1),
    compact(r.prefillTokensPerSecond),
    r.decodeMsPerStep.toFixed(2),
    compact(r.decodeTokensPerSecond),
    (r.stateBytes / 1024).toFixed(1),
  ]);
  println(
    io.stdout,
    `backend ${report.backend}; prefill of ${f.length} tokens × ${f.batch}, then ${f.decodeSteps} decode steps`,
  );
  println(io.stdout, table(header, cells));
  return 0;
}

export const benchCommand: Command = {
  name: "bench",
  summary: "measure prefill time and decode tokens/s of presets",
  usage: "bmojo bench [--preset NAME[,NAME…] | --layers PLAN] [flags]",
  description: [
    "Builds each model with random weights, prefills --length random tokens per sequence into a",
    "fresh recurrent cache (timed), then times --decode-steps one-token steps; the median of",
    "--repeats measurements is reported, after an untimed warm-up. Also reports parameters and the",
    "bytes of inference state the cache holds after the prefill and the steps.",
  ].join("\n"),
  flags: benchFlags,
  examples: [
    "bmojo bench --preset mamba,swa,bmojo --size tiny --length 512",
    `bmojo bench --preset ${PLAN_NAMES.join(",")} --size small --json`,
  ],
  run: runBench,
};
