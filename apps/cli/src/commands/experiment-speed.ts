import {
  LanguageModel,
  type ModelConfig,
  PLAN_NAMES,
  PRESET_SIZES,
  type PlanName,
  type PresetSize,
  parameterCount,
  preset,
} from "@bmojo/model";
import { backendFlag, describeBackend, initBackend } from "../backend.js";
import { parseFlags } from "../flags.js";
import { grouped, markdownTable } from "../format.js";
import { type CliIO, println } from "../io.js";
import { computeFlag } from "../model-flags.js";
import { type DecodeProfile, type ReplaySpeed, measureSpeed } from "../measure.js";
import { barCharts } from "../svg-chart.js";
import { machineInfo, provenanceLines, writeResults } from "../experiment-results.js";
import type { Experiment } from "./experiment.js";

export const speedFlags = {
  models: {
    kind: "enum",
    values: PLAN_NAMES,
    list: true,
    default: "transformer,mamba,swa,bmojo-f,bmojo",
    description: "model plans to compare, at matched parameter count",
  },
  size: {
    kind: "enum",
    values: PRESET_SIZES,
    default: "small",
    description:
      "preset size (d_model, heads, window); the bmojo preset's parameters set the target",
  },
  length: {
    kind: "int",
    min: 1,
    default: 2048,
    description: "tokens of the prefilled sequence",
  },
  decodeSteps: {
    kind: "int",
    min: 1,
    default: 64,
    description: "one-token decode steps timed after the prefill",
  },
  repeats: {
    kind: "int",
    min: 1,
    default: 3,
    description: "measurements per model; the median is reported",
  },
  seed: { kind: "int", min: 0, default: 0, description: "seed of the weights and tokens" },
  outDir: {
    kind: "string",
    default: "docs/results",
    placeholder: "DIR",
    description: "where speed-BACKEND.md, .json and .svg are written",
  },
  compute: computeFlag,
  backend: { ...backendFlag, default: "wasm" },
} as const;

/** One measured model. */
export interface SpeedRow {
  model: PlanName;
  blocks: number;
  dModel: number;
  parameters: number;
  prefillMs: number;
  prefillTokensPerSecond: number;
  decodeMsPerStep: number;
  decodeTokensPerSecond: number;
  /** Decode tokens/s of each timed run (the median is decodeTokensPerSecond). */
  decodeTokensPerSecondRuns: number[];
  /** Bytes of inference state per sequence right after the prefill. */
  stateBytes: number;
  /** Peak bytes of tensor buffers on the backend during the prefill and during decoding. */
  prefillPeakBytes: number;
  decodePeakBytes: number;
  /** The kernels one decode step runs, with their host time (a separate profiled pass). */
  decodeProfile: DecodeProfile;
  /** Decode replayed from a compiled step, where the model compiles one (else null). */
  replay: ReplaySpeed | null;
}

/**
 * The config of `plan` at `size` whose parameter count is closest to `target`, varying only
 * numLayers (1–4× the preset's block count).
 */
export function matchedConfig(
  plan: PlanName,
  size: PresetSize,
  target: number,
  extra: Partial<ModelConfig>,
): ModelConfig {
  const base = preset(plan, size, extra);
  const baseLayers = base.numLayers ?? 1;
  let best = base;
  let bestGap = Math.abs(parameterCount(base) - target);
  for (let n = 1; n <= 4 * baseLayers; n++) {
    const config = preset(plan, size, { ...extra, numLayers: n });
    const gap = Math.abs(parameterCount(config) - target);
    if (gap < bestGap) {
      best = config;
      bestGap = gap;
    }
  }
  return best;
}

const MIB = 1024 * 1024;

function fmt(n: number, digits: number): string {
  return n.toFixed(digits);
}

/** Kernels (rows) × models: calls per decode step and host µs per call. */
function decodeKernelTable(rows: readonly SpeedRow[]): string {
  const kernels = [
    ...new Set(rows.flatMap((r) => r.decodeProfile.kernels.map((k) => k.kernel))),
  ].sort();
  const cell = (r: SpeedRow, kernel: string) => {
    const k = r.decodeProfile.kernels.find((x) => x.kernel === kernel);
    return k === undefined ? "" : `${fmt(k.callsPerStep, 1)} × ${fmt(k.hostUsPerCall, 1)} µs`;
  };
  return markdownTable(
    ["kernel", ...rows.map((r) => r.model)],
    [
      ...kernels.map((kernel) => [kernel, ...rows.map((r) => cell(r, kernel))]),
      [
        "host ms / step in kernels",
        ...rows.map((r) => fmt(r.decodeProfile.kernelHostMsPerStep, 3)),
      ],
    ],
  );
}

async function runSpeed(argv: readonly string[], io: CliIO): Promise<number> {
  const { values: f } = parseFlags("experiment speed", speedFlags, argv);
  const report = await initBackend(f.backend);
  println(io.stderr, describeBackend(report));
  const started = performance.now();
  const extra: Partial<ModelConfig> = {
    seed: f.seed,
    maxLength: Math.max(4096, f.length + f.decodeSteps + 1),
    ...(f.compute === "bfloat16" ? { computeDType: f.compute } : {}),
  };
  // Results of bfloat16 compute are named apart: speed-cuda-bf16.md beside speed-cuda.md.
  const label = f.compute === "bfloat16" ? `${report.backend}-bf16` : report.backend;
  const target = parameterCount(preset("bmojo", f.size, extra));
  const configs = f.models.map((plan) => ({
    plan,
    config: matchedConfig(plan, f.size, target, extra),
  }));
  for (const { plan, config } of configs) {
    println(
      io.stderr,
      `${plan}: ${config.numLayers} blocks, d_model ${config.dModel}, ${grouped(parameterCount(config))} parameters`,
    );
  }
  const models = configs.map(({ config }) => new LanguageModel(config));
  const rows: SpeedRow[] = [];
  try {
    const measured = await measureSpeed(models, {
      length: f.length,
      batch: 1,
      decodeSteps: f.decodeSteps,
      repeats: f.repeats,
      seed: f.seed,
    });
    for (const [i, m] of measured.entries()) {
      const { plan } = configs[i];
      const model = models[i];
      rows.push({
        model: plan,
        blocks: model.config.layers.length,
        dModel: model.config.dModel,
        parameters: model.numParameters(),
        prefillMs: m.prefillMs,
        prefillTokensPerSecond: m.prefillTokensPerSecond,
        decodeMsPerStep: m.decodeMsPerStep,
        decodeTokensPerSecond: m.decodeTokensPerSecond,
        decodeTokensPerSecondRuns: m.decodeTokensPerSecondRuns,
        stateBytes: m.prefillStateBytes,
        prefillPeakBytes: m.prefillPeakBytes,
        decodePeakBytes: m.decodePeakBytes,
        decodeProfile: m.decodeProfile,
        replay: m.replay,
      });
      const replayed =
        m.replay === null
          ? ""
          : `; replayed ${fmt(m.replay.decodeTokensPerSecond, 1)} tok/s (runs ${m.replay.decodeTokensPerSecondRuns.map((x) => fmt(x, 1)).join(", ")}); greedy replayed ${fmt(m.replay.greedyTokensPerSecond, 1)} tok/s (runs ${m.replay.greedyTokensPerSecondRuns.map((x) => fmt(x, 1)).join(", ")})`;
      println(
        io.stderr,
        `measured ${plan}: prefill ${fmt(m.prefillMs, 1)} ms, decode ${fmt(m.decodeTokensPerSecond, 1)} tok/s (runs ${m.decodeTokensPerSecondRuns.map((x) => fmt(x, 1)).join(", ")})${replayed}`,
      );
    }
  } finally {
    for (const model of models) model.dispose();
  }
  const wallSeconds = (performance.now() - started) / 1000;
  const params = rows.map((r) => r.parameters);
  const spread = params.length > 0 ? Math.max(...params) / Math.min(...params) - 1 : 0;

  const table = markdownTable(
    [
      "model",
      "blocks",
      "parameters",
      "prefill ms",
      "prefill tokens/s",
      "decode tokens/s",
      "decode tokens/s, runs",
      "replayed decode tokens/s",
      "greedy replayed tokens/s",
      "kernels / decode step",
      "state bytes/sequence",
      "peak MiB prefill / decode",
    ],
    rows.map((r) => [
      r.model,
      String(r.blocks),
      grouped(r.parameters),
      fmt(r.prefillMs, 1),
      fmt(r.prefillTokensPerSecond, 1),
      fmt(r.decodeTokensPerSecond, 1),
      r.decodeTokensPerSecondRuns.length > 1
        ? `${fmt(Math.min(...r.decodeTokensPerSecondRuns), 1)}–${fmt(Math.max(...r.decodeTokensPerSecondRuns), 1)}`
        : "",
      r.replay === null ? "—" : fmt(r.replay.decodeTokensPerSecond, 1),
      r.replay === null ? "—" : fmt(r.replay.greedyTokensPerSecond, 1),
      fmt(r.decodeProfile.kernelsPerStep, 1),
      grouped(r.stateBytes),
      `${fmt(r.prefillPeakBytes / MIB, 1)} / ${fmt(r.decodePeakBytes / MIB, 1)}`,
    ]),
  );
  println(io.stdout, table);
  const kernelTable = decodeKernelTable(rows);

  const command = ["bmojo", "experiment", "speed", ...argv].join(" ");
  const machine = machineInfo();
  const date = new Date().toISOString();
  const settings = {
    size: f.size,
    length: f.length,
    decodeSteps: f.decodeSteps,
    repeats: f.repeats,
    seed: f.seed,
    batch: 1,
    compute: f.compute,
  };
  const md = [
    `# Speed (Figure 4) on the \`${report.backend}\` backend${f.compute === "bfloat16" ? ", bfloat16 compute" : ""}`,
    "",
    `Prefill of one sequence of ${f.length} random tokens with random weights, timed until the last`,
    `position's logits are on the host (median of ${f.repeats} after an untimed warm-up), then`,
    `${f.decodeSteps} one-token decode steps after it; the models' runs are interleaved (run r of`,
    "each before run r + 1 of any), and the range of the decode runs is its own column. Models of the",
    `\`${f.size}\` presets at matched parameter count (numLayers chosen per plan; largest/smallest − 1 =`,
    `${(spread * 100).toFixed(1)}%). State bytes: inference state per sequence right after the prefill`,
    "(full attention's KV cache is allocated for the model's maximum length). Peak MiB: the most",
    "bytes of tensor buffers the backend held during the prefill and during the decode steps,",
    "weights and caches included (`memory().peakBytes`; a backend's scratch memory is not counted).",
    "Replayed decode: where a model compiles its step (`LanguageModel.compileStep`, on a backend",
    "that captures programs; attention and B'MOJO read their position from the device), as many",
    "steps again on the same cache, each one replay of the captured step (a CUDA graph on cuda;",
    "compileStep itself is not timed) given random tokens, its logits read to the host; then as many",
    "greedy replays, each fed the previous step's argmax on the device and no logits read until the",
    "last (the PyTorch anchor's decode loop; B'MOJO still reads each step's SSM outputs for its",
    "eidetic admission, on the host); — where a model does not compile.",
    "",
    table,
    "",
    "## Kernels per decode step",
    "",
    `From a separate profiled pass of ${f.decodeSteps} steps (after a prefill of min(length, 2 × window)`,
    "tokens): calls per step and host microseconds per call, i.e. marshalling and launch on a GPU",
    "backend (the device runs the work later; at batch 1 this host time bounds decode speed), the",
    "work itself on a CPU backend. Host time in kernel calls per step, in all, is the last row.",
    "",
    kernelTable,
    "",
    ...provenanceLines({ command, date, machine, wallSeconds }),
    "",
    `![decode tokens/s and prefill ms per model](speed-${label}.svg)`,
    "",
  ].join("\n");
  const json = {
    experiment: "speed",
    backend: report.backend,
    command,
    date,
    machine,
    settings,
    wallSeconds,
    rows,
  };
  const svg = barCharts([
    {
      title: `Decode (${f.decodeSteps} steps after ${f.length} tokens)`,
      unit: "tokens/s (higher is better)",
      bars: rows.map((r) => ({ label: r.model, value: r.decodeTokensPerSecond })),
    },
    {
      title: `Prefill of ${f.length} tokens`,
      unit: "ms (lower is better)",
      bars: rows.map((r) => ({ label: r.model, value: r.prefillMs })),
    },
  ]);
  await writeResults(
    io,
    { outDir: f.outDir, name: "speed", backend: label },
    { md, json, svg },
    wallSeconds,
  );
  return 0;
}

export const speedExperiment: Experiment = {
  name: "speed",
  summary: "prefill time and decode tokens/s at matched parameters (Figure 4)",
  flags: speedFlags,
  run: runSpeed,
};
