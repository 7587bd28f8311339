import { backendFlag, describeBackend, initBackend } from "../backend.js";
import { taskSource } from "../data-source.js";
import { EXIT_INTERRUPTED, UsageError } from "../errors.js";
import { parseFlags } from "../flags.js";
import { grouped, markdownTable, secondsSince } from "../format.js";
import { type CliIO, println } from "../io.js";
import { barCharts } from "../svg-chart.js";
import {
  type JobOutcome,
  type LabelledJob,
  type SweepRun,
  pct,
  recallCommonFlags,
  recallConfig,
  recallEvaluation,
  learningRates,
  protocolText,
  recallTraining,
  runNote,
  runRecallJobs,
} from "../experiments-recall.js";
import { machineInfo, provenanceLines, writeResults } from "../experiment-results.js";
import type { Experiment } from "./experiment.js";

const PLACEMENTS = ["power-law", "uniform"] as const;
type Placement = (typeof PLACEMENTS)[number];

export const recallFlags = {
  widths: {
    kind: "string",
    default: "16,32",
    placeholder: "N,N",
    group: "Models",
    description: "model widths d_model (the x-axis of Figure 2)",
  },
  eideticSweep: {
    kind: "string",
    default: "0,2,4,8",
    placeholder: "N,N",
    group: "Models",
    description: "m_e values of the ablation (bmojo at the largest width, uniform placement)",
  },
  vocabSize: {
    kind: "int",
    min: 4,
    default: 64,
    group: "Task (MQAR)",
    description: "MQAR vocabulary",
  },
  length: { kind: "int", min: 4, default: 32, group: "Task (MQAR)", description: "MQAR length" },
  pairs: { kind: "int", min: 1, default: 4, group: "Task (MQAR)", description: "key-value pairs" },
  ...recallCommonFlags,
  steps: { ...recallCommonFlags.steps, default: 60 },
  backend: { ...backendFlag, default: "wasm", group: "Run" },
} as const;

/** A comma-separated list of distinct integers ≥ `min`, e.g. "16,32". */
export function intList(flag: string, text: string, min: number): number[] {
  const values = text.split(",").map((t) => t.trim());
  const out: number[] = [];
  for (const v of values) {
    const n = Number(v);
    if (v === "" || !Number.isInteger(n) || n < min) {
      throw new UsageError(
        `${flag}: expected a comma-separated list of integers ≥ ${min}, got ${JSON.stringify(text)}.`,
      );
    }
    if (out.includes(n)) throw new UsageError(`${flag}: ${n} is listed twice.`);
    out.push(n);
  }
  return out;
}

/** One accuracy of the grid. */
export interface RecallCell {
  placement: Placement;
  model: string;
  width: number;
  accuracy: number;
  correct: number;
  total: number;
  parameters: number;
  trainSeconds: number;
  /** The learning rate of the best run, its steps, and every learning rate's run. */
  lr: number;
  steps: number;
  sweep: SweepRun[];
}

/** One point of the eidetic ablation. */
export interface AblationPoint {
  eidetic: number;
  width: number;
  accuracy: number;
  correct: number;
  total: number;
  trainSeconds: number;
  lr: number;
  steps: number;
  sweep: SweepRun[];
}

async function runRecall(argv: readonly string[], io: CliIO): Promise<number> {
  const started = performance.now();
  const { values: f } = parseFlags("experiment recall", recallFlags, argv);
  const report = await initBackend(f.backend);
  println(io.stderr, describeBackend(report));
  const taskOf = (placement: Placement) => {
    const source = taskSource("mqar", {
      vocabSize: f.vocabSize,
      length: f.length,
      pairs: f.pairs,
      queryPlacement: placement,
    });
    if (source.record.kind !== "task") throw new Error("recall: expected a task source.");
    return { options: source.record.options, vocabSize: source.vocabSize };
  };
  const tasks = { "power-law": taskOf("power-law"), uniform: taskOf("uniform") };
  const widths = intList("--widths", f.widths, 1);
  const eideticSweep = intList("--eidetic-sweep", f.eideticSweep, 0);
  const sweepWidth = Math.max(...widths);
  const jobs: (LabelledJob & {
    meta: {
      kind: "grid" | "ablation";
      placement: Placement;
      model: string;
      width: number;
      eidetic: number;
    };
  })[] = [];
  for (const placement of PLACEMENTS) {
    for (const width of widths) {
      for (const model of f.models) {
        jobs.push({
          label: `${placement} ${model} d${width}`,
          plan: model,
          config: recallConfig(model, width, tasks[placement].vocabSize, f.length, f),
          taskName: "mqar",
          task: tasks[placement].options,
          meta: { kind: "grid", placement, model, width, eidetic: f.eidetic },
        });
      }
    }
  }
  for (const eidetic of eideticSweep) {
    jobs.push({
      label: `ablation bmojo m_e ${eidetic} d${sweepWidth}`,
      plan: "bmojo",
      config: recallConfig("bmojo", sweepWidth, tasks.uniform.vocabSize, f.length, {
        ...f,
        eidetic,
      }),
      taskName: "mqar",
      task: tasks.uniform.options,
      meta: { kind: "ablation", placement: "uniform", model: "bmojo", width: sweepWidth, eidetic },
    });
  }
  const training = recallTraining(f);
  const lrs = learningRates(f);
  const evaluation = recallEvaluation(f.seed, f.evalExamples);
  // Wider and attention-heavier jobs first, so the short ones fill in at the end.
  const order = jobs
    .map((j, i) => ({ j, i }))
    .sort((a, b) => b.j.meta.width - a.j.meta.width || a.i - b.i);
  const ran = await runRecallJobs(
    order.map((o) => o.j),
    training,
    evaluation,
    f.workers,
    report.backend,
    io,
    lrs,
  );
  if (ran === undefined) {
    println(io.stderr, "interrupted: nothing written.");
    return EXIT_INTERRUPTED;
  }
  const byJob = new Map<number, JobOutcome>(order.map((o, k) => [o.i, ran.outcomes[k]]));
  const wallSeconds = secondsSince(started);

  const grid: RecallCell[] = [];
  const ablation: AblationPoint[] = [];
  for (const [i, job] of jobs.entries()) {
    const o = byJob.get(i);
    if (o === undefined) throw new Error(`recall: no result for ${job.label}.`);
    const m = job.meta;
    if (m.kind === "grid") {
      grid.push({
        placement: m.placement,
        model: m.model,
        width: m.width,
        accuracy: o.accuracy,
        correct: o.correct,
        total: o.total,
        parameters: o.parameters,
        trainSeconds: o.trainSeconds,
        lr: o.lr,
        steps: o.steps,
        sweep: o.sweep,
      });
    } else {
      ablation.push({
        eidetic: m.eidetic,
        width: m.width,
        accuracy: o.accuracy,
        correct: o.correct,
        total: o.total,
        trainSeconds: o.trainSeconds,
        lr: o.lr,
        steps: o.steps,
        sweep: o.sweep,
      });
    }
  }

  const cellOf = (p: Placement, model: string, width: number) =>
    grid.find((c) => c.placement === p && c.model === model && c.width === width);
  const gridTable = (p: Placement) =>
    markdownTable(
      ["model", ...widths.map((w) => `d_model ${w}`), ...widths.map((w) => `params (d ${w})`)],
      f.models.map((model) => [
        model,
        ...widths.map((w) => {
          const c = cellOf(p, model, w);
          return c === undefined
            ? "–"
            : `${pct(c.accuracy)} (${c.correct}/${c.total})${runNote(c, lrs, training)}`;
        }),
        ...widths.map((w) => grouped(cellOf(p, model, w)?.parameters ?? 0)),
      ]),
      [false, ...widths.map(() => true), ...widths.map(() => true)],
    );
  const ablationTable = markdownTable(
    ["m_e", "bmojo accuracy", "train s"],
    ablation.map((a) => [
      String(a.eidetic),
      `${pct(a.accuracy)} (${a.correct}/${a.total})${runNote(a, lrs, training)}`,
      a.trainSeconds.toFixed(1),
    ]),
    [true, true, true],
  );
  const tables = {
    "power-law": gridTable("power-law"),
    uniform: gridTable("uniform"),
  };
  for (const p of PLACEMENTS) {
    println(io.stdout, `MQAR, ${p} queries:`);
    println(io.stdout, tables[p]);
    println(io.stdout);
  }
  println(io.stdout, `Eidetic ablation (bmojo, d_model ${sweepWidth}, uniform queries):`);
  println(io.stdout, ablationTable);

  const command = ["bmojo", "experiment", "recall", ...argv].join(" ");
  const machine = machineInfo();
  const date = new Date().toISOString();
  const valueIds = f.vocabSize - Math.floor(f.vocabSize / 2);
  const best = [...grid].sort((a, b) => b.accuracy - a.accuracy)[0];
  const worst = [...grid].sort((a, b) => a.accuracy - b.accuracy)[0];
  const settings = {
    task: { vocabSize: f.vocabSize, length: f.length, pairs: f.pairs },
    widths,
    models: f.models,
    blocks: f.blocks,
    heads: f.heads,
    window: f.window,
    fading: f.fading,
    eidetic: f.eidetic,
    dState: f.dState,
    bmojoPositions: f.bmojoPositions,
    eideticSweep,
    training,
    evaluation,
  };
  const md = [
    `# MQAR recall (Figure 2), small scale, \`${report.backend}\` backend`,
    "",
    `MQAR with vocabulary ${f.vocabSize}, length ${f.length}, ${f.pairs} key-value pairs. Every model has ${f.blocks} blocks`,
    `(the @bmojo/model presets: transformer = full causal attention + MLP, the paragon; mamba = Mamba blocks,`,
    `no MLP; hybrid = Mamba and SWA alternating; bmojo-f = B'MOJO without eidetic memory; bmojo with m_e = ${f.eidetic}),`,
    `window w = ${f.window}, m_f = ${f.fading}, SSM state N = ${f.dState}, ${f.heads} heads, B'MOJO ${f.bmojoPositions === "rope" ? "with RoPE (memory keys at their tokens' positions)" : "with no positions (NoPE, the paper's)"}. Each model is trained`,
    `(seed ${f.seed}) for up to ${training.steps} steps × batch ${training.batch} (${protocolText(training, lrs)}) and scored`,
    `on the same ${evaluation.batches * evaluation.batch} held-out examples. Guessing a value id scores ${pct(1 / valueIds)};`,
    `naming any one of the ${f.pairs} values in the sequence scores ${pct(1 / f.pairs)}.`,
    "",
    "## Power-law query placement (Zoology)",
    "",
    tables["power-law"],
    "",
    "## Uniform query placement",
    "",
    tables.uniform,
    "",
    `## Eidetic-token ablation (bmojo, d_model ${sweepWidth}, uniform placement)`,
    "",
    ablationTable,
    "",
    "## What this shows",
    "",
    `These runs are far from Zoology's convergence protocol (64 epochs of 100k examples, a learning-rate`,
    `sweep per model, several seeds): each model saw at most ${training.steps * training.batch} examples, ${lrs.length === 1 ? "one learning rate" : `${lrs.length} learning rates`},`,
    `one seed. Accuracies range from ${pct(worst.accuracy)} (${worst.model}, d ${worst.width}, ${worst.placement}) to`,
    `${pct(best.accuracy)} (${best.model}, d ${best.width}, ${best.placement}). With ${evaluation.batches * evaluation.batch} examples the`,
    `binomial standard error of one cell is up to ~${pct(Math.sqrt(0.25 / Math.max(1, grid[0]?.total ?? 1)))} (queries of one example are not`,
    "independent, so it is if anything larger), and differences between undertrained models mostly",
    "reflect how fast each one starts learning, not the recall capacity at convergence. These numbers",
    "are a smoke test of the pipeline at small scale; they do not test the paper's claim (B'MOJO",
    "matching or beating the transformer paragon on MQAR at equal width) yet.",
    "",
    ...provenanceLines({
      command,
      date,
      machine,
      wallSeconds,
      machineNote: `${ran.workers} worker threads`,
    }),
    "",
    `![MQAR accuracy per model and width](recall-${report.backend}.svg)`,
    "",
  ].join("\n");
  const json = {
    experiment: "recall",
    backend: report.backend,
    command,
    date,
    machine,
    workers: ran.workers,
    settings,
    wallSeconds,
    grid,
    ablation,
  };
  const svg = barCharts([
    ...PLACEMENTS.map((p) => ({
      title: `MQAR, ${p} queries`,
      unit: "accuracy",
      xLabel: "model @ d_model",
      width: Math.max(420, 48 * f.models.length * widths.length + 80),
      bars: widths.flatMap((w) =>
        f.models.map((m) => ({ label: `${m}@${w}`, value: cellOf(p, m, w)?.accuracy ?? 0 })),
      ),
    })),
    {
      title: `bmojo, d_model ${sweepWidth}, uniform`,
      unit: "accuracy",
      xLabel: "eidetic tokens m_e",
      bars: ablation.map((a) => ({ label: `m_e ${a.eidetic}`, value: a.accuracy })),
    },
  ]);
  await writeResults(
    io,
    { outDir: f.outDir, name: "recall", backend: report.backend },
    { md, json, svg },
    wallSeconds,
  );
  return 0;
}

export const recallExperiment: Experiment = {
  name: "recall",
  summary: "MQAR accuracy across widths, both placements, and the m_e ablation (Figure 2)",
  flags: recallFlags,
  run: runRecall,
};
