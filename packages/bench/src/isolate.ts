/**
 * Runs part of a benchmark in a child process of its own and talks to it by request and reply.
 *
 * Why: systems measured in one process disturb each other. Besides heap and JIT state, V8 keeps
 * process-wide "protectors" that optimized code relies on; for example, loading a large CommonJS
 * package through tsx's ESM loader, or growing WebAssembly memory, detaches an ArrayBuffer, and
 * from then on every typed-array access in optimized JS pays a detached-buffer check (measured
 * here: the reference cpu matmul ran ~30% slower once tfjs had been loaded in the same process).
 * One process per system keeps each measurement clean.
 *
 * The child is forked with the parent's Node flags (so `--conditions=source --import tsx` carry
 * over) and IPC in "advanced" serialization, which copies typed arrays. Its stdout and stderr go
 * to the parent's stderr, so the parent's stdout stays the report.
 */
import { type ChildProcess, fork } from "node:child_process";
import { fileURLToPath } from "node:url";

/** A request: a message with a `type` naming what is asked. */
export interface Request {
  type: string;
}

/** What the child sends back for each request. */
type Reply = { ok: true; value: unknown } | { ok: false; error: string };

/** Replies by request type: `Replies[R["type"]]` is the value answered to request R. */
export type ReplyMap<R extends Request> = { [K in R["type"]]: unknown };

export class IsolatedProcess<R extends Request, Replies extends ReplyMap<R>> {
  private readonly child: ChildProcess;
  private pending: { resolve(value: unknown): void; reject(error: Error): void } | null = null;
  private exited: Error | null = null;
  private readonly exit: Promise<void>;

  /** Forks `module` (a file URL, e.g. `new URL("./worker.ts", import.meta.url)`). */
  constructor(
    module: URL,
    private readonly label: string,
  ) {
    this.child = fork(fileURLToPath(module), [], {
      execArgv: process.execArgv,
      serialization: "advanced",
      stdio: ["ignore", 2, 2, "ipc"],
    });
    this.child.on("message", (message: Reply) => {
      const pending = this.pending;
      this.pending = null;
      if (pending === null) return;
      if (message.ok) pending.resolve(message.value);
      else pending.reject(new Error(`${this.label} (child process): ${message.error}`));
    });
    this.exit = new Promise((resolve) => {
      this.child.on("exit", (code, signal) => {
        this.exited = new Error(
          `${this.label}: child process exited (${signal ?? `code ${code}`}) before replying`,
        );
        this.pending?.reject(this.exited);
        this.pending = null;
        resolve();
      });
    });
  }

  /** Sends one request and waits for its reply; one request at a time. */
  request<K extends R["type"]>(message: Extract<R, { type: K }>): Promise<Replies[K]> {
    if (this.exited !== null) return Promise.reject(this.exited);
    if (this.pending !== null) {
      return Promise.reject(new Error(`${this.label}: a request is already in flight`));
    }
    return new Promise<Replies[K]>((resolve, reject) => {
      this.pending = { resolve: (value) => resolve(value as Replies[K]), reject };
      this.child.send(message);
    });
  }

  /** Lets the child exit (it exits when the IPC channel closes) and waits for it. */
  async close(): Promise<void> {
    if (this.child.connected) this.child.disconnect();
    await this.exit;
  }
}

/**
 * The child side: answers every request with `handler`'s value (or its error) and exits when
 * the parent closes the channel.
 */
export function serveRequests<R extends Request, Replies extends ReplyMap<R>>(
  handler: (request: R) => Promise<Replies[R["type"]]> | Replies[R["type"]],
): void {
  const send = process.send?.bind(process);
  if (send === undefined) {
    throw new Error("serveRequests: this module must be started by IsolatedProcess (no IPC)");
  }
  process.on("message", (message: R) => {
    Promise.resolve()
      .then(() => handler(message))
      .then(
        (value) => send({ ok: true, value } satisfies Reply),
        (error: unknown) =>
          send({
            ok: false,
            error: error instanceof Error ? (error.stack ?? error.message) : String(error),
          } satisfies Reply),
      );
  });
  process.on("disconnect", () => process.exit(0));
}
