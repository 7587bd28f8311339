/**
 * `bmojo experiment NAME [flags]`: reproductions of the paper's experiments, each writing its
 * results (Markdown, JSON, SVG) under --out-dir: speed (Figure 4), recall (Figure 2), tasks
 * (Table 3), length (Figure 5).
 */
import { UsageError } from "../errors.js";
import { suggest } from "../flags.js";
import type { CliIO } from "../io.js";
import { type Command, commandHelp } from "./command.js";
import { lengthExperiment } from "./experiment-length.js";
import { recallExperiment } from "./experiment-recall.js";
import { speedExperiment } from "./experiment-speed.js";
import { tasksExperiment } from "./experiment-tasks.js";

/** An experiment: like a command, one word after `bmojo experiment`. */
export interface Experiment {
  name: string;
  summary: string;
  flags: Command["flags"];
  run(argv: readonly string[], io: CliIO): Promise<number>;
}

/** Every experiment, in the order the help lists them. */
export const EXPERIMENTS: readonly Experiment[] = [
  speedExperiment,
  recallExperiment,
  tasksExperiment,
  lengthExperiment,
];

async function runExperiment(argv: readonly string[], io: CliIO): Promise<number> {
  const [name, ...rest] = argv;
  const names = EXPERIMENTS.map((e) => e.name);
  if (name === undefined || name.startsWith("-")) {
    throw new UsageError(
      `name an experiment: bmojo experiment NAME (one of: ${names.join(", ")}).`,
    );
  }
  const experiment = EXPERIMENTS.find((e) => e.name === name);
  if (experiment === undefined) {
    const hint = suggest(name, names);
    throw new UsageError(
      `unknown experiment ${JSON.stringify(name)}.${hint === undefined ? "" : ` Did you mean ${hint}?`} Experiments: ${names.join(", ")}.`,
    );
  }
  return experiment.run(rest, io);
}

export const experimentCommand: Command = {
  name: "experiment",
  summary: "run one of the paper's experiments and write its results",
  usage: `bmojo experiment NAME [flags]   (NAME: ${EXPERIMENTS.map((e) => e.name).join(", ")})`,
  description: [
    "Experiments:",
    ...EXPERIMENTS.map((e) => `  ${e.name.padEnd(8)}${e.summary}`),
    "",
    "Each writes its table, JSON and SVG chart into --out-dir (docs/results by default).",
    "Run `bmojo experiment NAME --help` for an experiment's flags; those of `speed` follow.",
  ].join("\n"),
  flags: speedExperiment.flags,
  examples: [
    "bmojo experiment speed",
    "bmojo experiment speed --length 512 --decode-steps 32 --models mamba,bmojo",
    "bmojo experiment speed --backend cuda --size 130m --length 16384",
  ],
  run: runExperiment,
  help: experimentHelp,
};

/** `bmojo experiment NAME --help`: that experiment's flags (the command's help without a name). */
function experimentHelp(argv: readonly string[]): string {
  const experiment = EXPERIMENTS.find((e) => e.name === argv[0]);
  if (experiment === undefined) return commandHelp(experimentCommand);
  return commandHelp({
    ...experimentCommand,
    usage: `bmojo experiment ${experiment.name} [flags]`,
    description: experiment.summary,
    flags: experiment.flags,
    examples: [`bmojo experiment ${experiment.name}`],
  });
}
