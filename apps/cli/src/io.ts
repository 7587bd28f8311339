/**
 * Where a command writes: stdout for results, stderr for progress and diagnostics. Tests pass
 * string collectors; the `bmojo` binary passes the process streams.
 */

/** A text sink: `process.stdout`, `process.stderr`, or a collector in tests. */
export interface Output {
  write(chunk: string): unknown;
  /** True for a terminal: progress redraws one line and memory marks use ANSI underline. */
  isTTY?: boolean;
  /** Terminal width, when known. */
  columns?: number;
}

/** What every command gets. */
export interface CliIO {
  stdout: Output;
  stderr: Output;
  /** Aborted on SIGINT: `train` saves a checkpoint and stops; `generate` stops sampling. */
  signal?: AbortSignal;
}

/** Writes one line. */
export function println(out: Output, line = ""): void {
  out.write(`${line}\n`);
}
