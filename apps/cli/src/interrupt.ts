/**
 * What the `bmojo` binary does on SIGINT: the first asks the running command to stop cleanly
 * (train saves a checkpoint); a second one, a moment later, exits at once.
 */
import { EXIT_INTERRUPTED } from "./errors.js";

/**
 * A SIGINT within this many milliseconds of the first is the same interrupt, not a second
 * Ctrl-C: `timeout` (coreutils) and some supervisors send the signal to the process and then to
 * its process group, so it can arrive twice at once, and the second must not cut the clean stop.
 */
export const REPEAT_INTERRUPT_MS = 1000;

export interface InterruptHooks {
  write(text: string): void;
  exit(code: number): void;
  /** Milliseconds, monotonic. */
  now(): number;
}

/** The SIGINT listener: aborts `controller` on the first interrupt, exits on a later one. */
export function interruptHandler(controller: AbortController, hooks: InterruptHooks): () => void {
  let first = Number.NaN;
  return () => {
    if (!controller.signal.aborted) {
      first = hooks.now();
      hooks.write("\nstopping after the current step (Ctrl-C again to quit now)\n");
      controller.abort();
      return;
    }
    if (hooks.now() - first >= REPEAT_INTERRUPT_MS) hooks.exit(EXIT_INTERRUPTED);
  };
}
