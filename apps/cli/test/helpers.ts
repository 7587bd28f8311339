/** Runs `bmojo` in-process with string collectors for stdout and stderr. */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Output } from "../src/io.js";
import { run } from "../src/main.js";

/** A collector with the Output interface. */
export class Collector implements Output {
  text = "";
  /** Terminal width, as a test sets it. */
  columns?: number;
  constructor(
    readonly isTTY = false,
    private readonly onWrite?: (chunk: string) => void,
  ) {}
  write(chunk: string): boolean {
    this.text += chunk;
    this.onWrite?.(chunk);
    return true;
  }
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  signal?: AbortSignal;
  /** Called with each chunk written to stderr (e.g. to abort at some step). */
  onStderr?: (chunk: string) => void;
  /** Called with each chunk written to stdout (e.g. to see streaming). */
  onStdout?: (chunk: string) => void;
  stdoutTTY?: boolean;
}

/** `bmojo ...argv`, in this process. */
export async function bmojo(argv: string[], options: RunOptions = {}): Promise<RunResult> {
  const stdout = new Collector(options.stdoutTTY ?? false, options.onStdout);
  const stderr = new Collector(false, options.onStderr);
  const code = await run(argv, { stdout, stderr, signal: options.signal });
  return { code, stdout: stdout.text, stderr: stderr.text };
}

/** A fresh temp directory, removed by the returned cleanup. */
export async function tempDir(): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), "bmojo-cli-"));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}
