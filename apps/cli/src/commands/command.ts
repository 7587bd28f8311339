/** The shape of a `bmojo` subcommand, and its help text. */
import { type FlagSpecs, formatFlagList } from "../flags.js";
import type { CliIO } from "../io.js";

export interface Command {
  /** The word after `bmojo`. */
  name: string;
  /** One line for `bmojo --help`. */
  summary: string;
  /** The usage line, e.g. "bmojo eval --checkpoint DIR [flags]". */
  usage: string;
  /** A paragraph under the usage line. */
  description: string;
  flags: FlagSpecs;
  /** Example command lines. */
  examples: readonly string[];
  /** Runs the command with the arguments after its name; resolves with the exit code. */
  run(argv: readonly string[], io: CliIO): Promise<number>;
  /** Help for the arguments given with --help (e.g. a sub-command's flags); defaults to commandHelp. */
  help?(argv: readonly string[]): string;
}

/** `bmojo <command> --help`. */
export function commandHelp(command: Command): string {
  const examples = command.examples.map((e) => `  ${e}`).join("\n");
  return `Usage: ${command.usage}\n\n${command.description}\n\n${formatFlagList(command.flags)}\n\nExamples:\n${examples}\n`;
}
