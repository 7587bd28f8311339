/**
 * The `bmojo` dispatcher: `run(argv, io)` picks the command, prints help, and turns errors into
 * exit codes (2: usage error, 1: runtime failure, 130: interrupted). The binary (cli.ts) and the
 * tests both call it.
 */
import { benchCommand } from "./commands/bench.js";
import { type Command, commandHelp } from "./commands/command.js";
import { compareCommand } from "./commands/compare.js";
import { evalCommand } from "./commands/eval.js";
import { experimentCommand } from "./commands/experiment.js";
import { generateCommand } from "./commands/generate.js";
import { inspectMemoryCommand } from "./commands/inspect-memory.js";
import { trainCommand } from "./commands/train.js";
import { EXIT_FAILURE, EXIT_USAGE, UsageError, messageOf } from "./errors.js";
import { suggest } from "./flags.js";
import type { CliIO } from "./io.js";

export type { CliIO, Output } from "./io.js";

/** Every command, in the order `bmojo --help` lists them. */
export const COMMANDS: readonly Command[] = [
  trainCommand,
  evalCommand,
  generateCommand,
  inspectMemoryCommand,
  benchCommand,
  compareCommand,
  experimentCommand,
];

/** `bmojo --help`. */
export function mainHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length)) + 2;
  const lines = COMMANDS.map((c) => `  ${c.name.padEnd(width)}${c.summary}`);
  return [
    "Usage: bmojo <command> [flags]",
    "",
    "Train, evaluate, sample and inspect B'MOJO and other sequence models (@bmojo/model).",
    "",
    "Commands:",
    ...lines,
    "",
    "Run `bmojo <command> --help` for a command's flags and their defaults.",
    "Exit codes: 0 success, 1 runtime failure, 2 usage error, 130 interrupted.",
    "",
  ].join("\n");
}

function isHelp(arg: string): boolean {
  return arg === "--help" || arg === "-h";
}

/** Runs `bmojo` with the arguments after the program name; resolves with the exit code. */
export async function run(argv: readonly string[], io: CliIO): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined) {
    io.stderr.write(mainHelp());
    return EXIT_USAGE;
  }
  if (isHelp(name)) {
    io.stdout.write(mainHelp());
    return 0;
  }
  if (name === "help") {
    const topic = rest[0] === undefined ? undefined : COMMANDS.find((c) => c.name === rest[0]);
    io.stdout.write(topic === undefined ? mainHelp() : commandHelp(topic));
    return 0;
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (command === undefined) {
    const names = COMMANDS.map((c) => c.name);
    const hint = suggest(name, names);
    io.stderr.write(
      `bmojo: unknown command ${JSON.stringify(name)}.${hint === undefined ? "" : ` Did you mean ${hint}?`} Commands: ${names.join(", ")}. Run \`bmojo --help\` for more.\n`,
    );
    return EXIT_USAGE;
  }
  if (rest.some(isHelp)) {
    io.stdout.write(command.help?.(rest) ?? commandHelp(command));
    return 0;
  }
  try {
    return await command.run(rest, io);
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr.write(
        `bmojo ${command.name}: ${err.message}\nRun \`bmojo ${command.name} --help\` for its flags.\n`,
      );
      return EXIT_USAGE;
    }
    io.stderr.write(`bmojo ${command.name}: error: ${messageOf(err)}\n`);
    return EXIT_FAILURE;
  }
}
