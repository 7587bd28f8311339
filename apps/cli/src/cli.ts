#!/usr/bin/env node
/**
 * The `bmojo` binary: runs the command line through `run` with the process streams. The first
 * Ctrl-C asks the running command to stop cleanly (train saves a checkpoint); a second one exits.
 */
import { EXIT_INTERRUPTED } from "./errors.js";
import { run } from "./main.js";

const controller = new AbortController();
process.on("SIGINT", () => {
  if (controller.signal.aborted) process.exit(EXIT_INTERRUPTED);
  process.stderr.write("\nstopping after the current step (Ctrl-C again to quit now)\n");
  controller.abort();
});

process.exitCode = await run(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  signal: controller.signal,
});
