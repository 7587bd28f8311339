#!/usr/bin/env node
/**
 * The `bmojo` binary: runs the command line through `run` with the process streams. The first
 * Ctrl-C asks the running command to stop cleanly (train saves a checkpoint); a second one exits
 * (src/interrupt.ts).
 */
import { interruptHandler } from "./interrupt.js";
import { run } from "./main.js";

const controller = new AbortController();
process.on(
  "SIGINT",
  interruptHandler(controller, {
    write: (text) => process.stderr.write(text),
    exit: (code) => process.exit(code),
    now: () => performance.now(),
  }),
);

process.exitCode = await run(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  signal: controller.signal,
});
