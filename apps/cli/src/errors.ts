/**
 * The two kinds of failure the CLI reports: a usage error (the command line is wrong; exit code 2)
 * and anything else (a runtime failure; exit code 1).
 */

/** A bad command line, or a flag that points at something unusable. The message names the flag. */
export class UsageError extends Error {
  override readonly name = "UsageError";
}

/** Exit code of a usage error. */
export const EXIT_USAGE = 2;
/** Exit code of a runtime failure. */
export const EXIT_FAILURE = 1;
/** Exit code after an interrupt (SIGINT): 128 + 2, as shells report it. */
export const EXIT_INTERRUPTED = 130;

/** The message of any thrown value. */
export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
