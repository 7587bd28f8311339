import type { TaskName } from "@bmojo/data";
import { backendFlag, describeBackend, initBackend } from "../backend.js";
import { taskSource } from "../data-source.js";
import { EXIT_INTERRUPTED } from "../errors.js";
import {
  type LabelledJob,
  type SweepRun,
  runNote,
  pct,
  recallCommonFlags,
  recallConfig,
  recallEvaluation,
  learningRates,
  protocolText,
  recallTraining,
  runRecallJobs,
} from "../experiments-recall.js";
import { parseFlags } from "../flags.js";
import { markdownTable, secondsSince } from "../format.js";
import { type CliIO, println } from "../io.js";
import { barCharts } from "../svg-chart.js";
import { machineInfo, provenanceLines, writeResults } from "../experiment-results.js";
import type { Experiment } from "./experiment.js";

const TASKS = ["noisy-mqar", "fuzzy-mqar", "selective-copy", "induction-heads"] as const;

export const tasksFlags = {
  tasks: {
    kind: "enum",
    values: TASKS,
    list: true,
    default: TASKS.join(","),
    group: "Task",
    description: "synthetic tasks (createTask names), in table order",
  },
  length: {
    kind: "int",
    min: 8,
    default: 64,
    group: "Task",
    description: "sequence length of every task (other options: the task's defaults)",
  },
  width: {
    kind: "int",
    min: 1,
    default: 16,
    group: "Models",
    description: "d_model of every model",
  },
  ...recallCommonFlags,
  steps: { ...recallCommonFlags.steps, default: 30 },
  backend: { ...backendFlag, default: "wasm", group: "Run" },
} as const;

/** Task options at length `length`: shrink the parts that must fit (copy tokens) with it. */
function taskOptions(task: TaskName, length: number): Record<string, number> {
  if (task === "selective-copy")
    return { length, tokensToCopy: Math.max(1, Math.floor(length / 8)) };
  return { length };
}

/** One accuracy of the table. */
export interface TaskCell {
  task: string;
  model: string;
  accuracy: number;
  correct: number;
  total: number;
  trainSeconds: number;
  /** The learning rate of the best run, and its steps. */
  lr: number;
  steps: number;
  /** Every learning rate's run. */
  sweep: SweepRun[];
}

async function runTasks(argv: readonly string[], io: CliIO): Promise<number> {
  const started = performance.now();
  const { values: f } = parseFlags("experiment tasks", tasksFlags, argv);
  const report = await initBackend(f.backend);
  println(io.stderr, describeBackend(report));
  const jobs: (LabelledJob & { task_: string; model: string })[] = [];
  const resolved: Record<string, unknown> = {};
  for (const task of f.tasks) {
    const source = taskSource(task, taskOptions(task, f.length));
    if (source.record.kind !== "task") throw new Error("tasks: expected a task source.");
    resolved[task] = source.record.options;
    for (const model of f.models) {
      jobs.push({
        label: `${task} ${model}`,
        plan: model,
        config: recallConfig(model, f.width, source.vocabSize, f.length, f),
        taskName: task,
        task: source.record.options,
        task_: task,
        model,
      });
    }
  }
  const training = recallTraining(f);
  const lrs = learningRates(f);
  const evaluation = recallEvaluation(f.seed, f.evalExamples);
  const ran = await runRecallJobs(jobs, training, evaluation, f.workers, report.backend, io, lrs);
  if (ran === undefined) {
    println(io.stderr, "interrupted: nothing written.");
    return EXIT_INTERRUPTED;
  }
  const wallSeconds = secondsSince(started);
  const cells: TaskCell[] = jobs.map((j, i) => ({
    task: j.task_,
    model: j.model,
    accuracy: ran.outcomes[i].accuracy,
    correct: ran.outcomes[i].correct,
    total: ran.outcomes[i].total,
    trainSeconds: ran.outcomes[i].trainSeconds,
    lr: ran.outcomes[i].lr,
    steps: ran.outcomes[i].steps,
    sweep: ran.outcomes[i].sweep,
  }));
  const cellOf = (task: string, model: string) =>
    cells.find((c) => c.task === task && c.model === model);
  const table = markdownTable(
    ["model", ...f.tasks],
    f.models.map((m) => [
      m,
      ...f.tasks.map((t) => {
        const c = cellOf(t, m);
        return c === undefined
          ? "–"
          : `${pct(c.accuracy)} (${c.correct}/${c.total})${runNote(c, lrs, training)}`;
      }),
    ]),
    [false, ...f.tasks.map(() => true)],
  );
  println(io.stdout, table);

  const command = ["bmojo", "experiment", "tasks", ...argv].join(" ");
  const machine = machineInfo();
  const date = new Date().toISOString();
  const md = [
    `# Synthetic tasks (Table 3), small scale, \`${report.backend}\` backend`,
    "",
    `Every task at length ${f.length}, its other options at the @bmojo/data defaults (selective-copy copies`,
    `length/8 tokens). Every model: ${f.blocks} blocks, d_model ${f.width}, window ${f.window}, m_f ${f.fading},`,
    `bmojo's m_e ${f.eidetic}, N ${f.dState}, B'MOJO ${f.bmojoPositions === "rope" ? "with RoPE" : "NoPE"}; trained (seed ${f.seed}) for up to ${training.steps} steps × batch ${training.batch}`,
    `(${protocolText(training, lrs)}), scored on the same ${evaluation.batches * evaluation.batch} held-out examples per task (accuracy over scored positions).`,
    "",
    table,
    "",
    "## What this shows",
    "",
    `Each model saw at most ${training.steps * training.batch} examples per task with ${lrs.length === 1 ? "one learning rate" : `${lrs.length} learning rates`} and one seed, far`,
    "from the MAD / Zoology training protocols behind the paper's Table 3; most cells are close to what",
    "an untrained model guesses, and differences between them say how fast training starts, not what the",
    "architectures can learn. These numbers check that every model trains and scores on every task; they",
    "do not test the paper's claim yet.",
    "",
    "Task options as resolved:",
    "",
    "```json",
    JSON.stringify(resolved, null, 2),
    "```",
    "",
    ...provenanceLines({
      command,
      date,
      machine,
      wallSeconds,
      machineNote: `${ran.workers} worker threads`,
    }),
    "",
    `![accuracy per task and model](tasks-${report.backend}.svg)`,
    "",
  ].join("\n");
  const json = {
    experiment: "tasks",
    backend: report.backend,
    command,
    date,
    machine,
    workers: ran.workers,
    settings: { tasks: resolved, width: f.width, blocks: f.blocks, training, evaluation },
    wallSeconds,
    cells,
  };
  const svg = barCharts(
    f.tasks.map((t) => ({
      title: t,
      unit: "accuracy",
      bars: f.models.map((m) => ({ label: m, value: cellOf(t, m)?.accuracy ?? 0 })),
    })),
  );
  await writeResults(
    io,
    { outDir: f.outDir, name: "tasks", backend: report.backend },
    { md, json, svg },
    wallSeconds,
  );
  return 0;
}

export const tasksExperiment: Experiment = {
  name: "tasks",
  summary: "noisy/fuzzy MQAR, selective copy, induction heads per model (Table 3)",
  flags: tasksFlags,
  run: runTasks,
};
