/**
 * `bmojo bench`: for each preset, the time to prefill one batch of random tokens (the parallel form
 * filling the recurrent cache) and the decode throughput of one-token steps after it, on the
 * chosen backend, with the parameter count and the inference state the cache holds.
 */
import { LanguageModel, PLAN_NAMES, type PlanName } from "@bmojo/model";
import { backendFlag, describeBackend, initBackend } from "../backend.js";
import { parseFlags } from "../flags.js";
import { compact, table } from "../format.js";
import { type CliIO, println } from "../io.js";
import { measureSpeed } from "../measure.js";
import { modelConfigFromFlags, modelFlags, modelLabel } from "../model-flags.js";
import type { Command } from "./command.js";

export { median } from "../measure.js";

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
  /** Kernel calls per decode step (a separate profiled pass). */
  decodeKernelsPerStep: number;
  /** Decode tokens/s replayed from a compiled step (compileStep), or null where it cannot. */
  replayedDecodeTokensPerSecond: number | null;
  stateBytes: number;
  /** Peak bytes of tensor buffers during the prefill and during decoding (weights included). */
  prefillPeakBytes: number;
  decodePeakBytes: number;
}

async function runBench(argv: readonly string[], io: CliIO): Promise<number> {
  const { values: f, given } = parseFlags("bench", benchFlags, argv);
  const report = await initBackend(f.backend);
  println(io.stderr, describeBackend(report));
  const plans: (PlanName | undefined)[] = f.layers !== undefined ? [undefined] : f.preset;
  const setups = plans.map((plan) => {
    const flags = { ...f, preset: plan ?? "bmojo" };
    const { config } = modelConfigFromFlags(flags, given, {
      seed: f.seed,
      maxLength: Math.max(4096, f.length + f.decodeSteps + 1),
    });
    return { label: modelLabel(flags), config };
  });
  const models = setups.map(({ config }) => new LanguageModel(config));
  const rows: BenchRow[] = [];
  try {
    const measured = await measureSpeed(models, {
      length: f.length,
      batch: f.batch,
      decodeSteps: f.decodeSteps,
      repeats: f.repeats,
      seed: f.seed,
    });
    for (const [i, m] of measured.entries()) {
      const model = models[i];
      rows.push({
        model: setups[i].label,
        blocks: model.config.layers.length,
        parameters: model.numParameters(),
        length: f.length,
        batch: f.batch,
        prefillMs: m.prefillMs,
        prefillTokensPerSecond: m.prefillTokensPerSecond,
        decodeSteps: f.decodeSteps,
        decodeMsPerStep: m.decodeMsPerStep,
        decodeTokensPerSecond: m.decodeTokensPerSecond,
        decodeKernelsPerStep: m.decodeProfile.kernelsPerStep,
        replayedDecodeTokensPerSecond: m.replay?.decodeTokensPerSecond ?? null,
        stateBytes: m.stateBytes,
        prefillPeakBytes: m.prefillPeakBytes,
        decodePeakBytes: m.decodePeakBytes,
      });
      println(io.stderr, `measured ${setups[i].label}`);
    }
  } finally {
    for (const model of models) model.dispose();
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
    "replayed tok/s",
    "kernels/step",
    "state KiB",
    "peak MiB",
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
    r.replayedDecodeTokensPerSecond === null ? "—" : compact(r.replayedDecodeTokensPerSecond),
    r.decodeKernelsPerStep.toFixed(1),
    (r.stateBytes / 1024).toFixed(1),
    (Math.max(r.prefillPeakBytes, r.decodePeakBytes) / 1024 / 1024).toFixed(1),
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
    "--repeats measurements is reported, after an untimed warm-up (several presets' runs are",
    "interleaved, so a slow stretch of the machine lands on each alike). Where a model compiles its",
    "step (any built-in backend), twice as many steps again replayed from the captured step",
    "(logits read each step, then greedy).",
    "Also reports parameters and the bytes of inference state the cache holds after the prefill.",
  ].join("\n"),
  flags: benchFlags,
  examples: [
    "bmojo bench --preset mamba,swa,bmojo --size tiny --length 512",
    `bmojo bench --preset ${PLAN_NAMES.join(",")} --size small --json`,
  ],
  run: runBench,
};
