/**
 * Running the jobs of `bmojo compare` concurrently: a small pool that keeps at most N jobs going,
 * and a runner that executes one job in a worker thread (node:worker_threads) whose entry is
 * compare-worker.js, built by tsup next to the CLI's own modules in dist/.
 */
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import type { CompareJob, CompareJobHooks, CompareJobResult } from "./compare-job.js";

/** What a worker gets as `workerData`. */
export interface WorkerData<M extends string = string> {
  job: CompareJob<M>;
  /** The backend to bring up in the worker (already checked by the parent). */
  backend: string;
}

/** Messages from a worker to its parent. */
export type WorkerReport =
  | { type: "step"; step: number; lossEma: number }
  | { type: "evaluate" }
  | { type: "done"; result: CompareJobResult<string> }
  | { type: "error"; message: string };

/** Messages from the parent to a worker: stop training after the current step. */
export type ParentMessage = { type: "abort" };

/**
 * The worker entry, located relative to this module: in dist/ (where tsup puts the entries and
 * the modules they share) that is dist/compare-worker.js. Undefined when it is not there, as when
 * the TypeScript sources run directly (vitest), which Node cannot load in a worker.
 */
export function workerEntry(): URL | undefined {
  const url = new URL("./compare-worker.js", import.meta.url);
  return url.protocol === "file:" && existsSync(fileURLToPath(url)) ? url : undefined;
}

/**
 * Runs one job in a new worker thread, relaying its progress to `hooks`. Aborting `hooks.signal`
 * asks the worker to stop after its current step (its result then says `interrupted`).
 */
export function runInWorker<M extends string>(
  entry: URL,
  data: WorkerData<M>,
  hooks: CompareJobHooks,
): Promise<CompareJobResult<M>> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(entry, { workerData: data });
    const abort = () => worker.postMessage({ type: "abort" } satisfies ParentMessage);
    hooks.signal?.addEventListener("abort", abort, { once: true });
    if (hooks.signal?.aborted === true) abort();
    let settled = false;
    const settle = (finish: () => void) => {
      if (settled) return;
      settled = true;
      hooks.signal?.removeEventListener("abort", abort);
      finish();
    };
    worker.on("message", (m: WorkerReport) => {
      switch (m.type) {
        case "step":
          hooks.onStep?.(m.step, m.lossEma);
          break;
        case "evaluate":
          hooks.onEvaluate?.();
          break;
        case "done":
          // The worker ran `data.job`, so its result names the same model.
          settle(() => resolve(m.result as CompareJobResult<M>));
          break;
        case "error":
          settle(() => reject(new Error(`${data.job.model}: ${m.message}`)));
          break;
      }
    });
    worker.on("error", (err) => settle(() => reject(err)));
    // Every message a worker posts is delivered before its "exit" event.
    worker.on("exit", (code) =>
      settle(() =>
        reject(
          new Error(
            `the worker training ${data.job.model} exited (code ${code}) without a result.`,
          ),
        ),
      ),
    );
  });
}

/**
 * Runs `jobs` with at most `concurrency` at a time, starting them in the order given, and
 * resolves with their results in that order. Each job gets a signal that aborts when `signal`
 * does or another job fails. After either, no further job starts (its result is undefined);
 * after a failure, the first error is thrown once the running jobs have returned.
 */
export async function runPool<J, R>(
  jobs: readonly J[],
  concurrency: number,
  run: (job: J, signal: AbortSignal) => Promise<R>,
  signal?: AbortSignal,
): Promise<(R | undefined)[]> {
  const controller = new AbortController();
  const forward = () => controller.abort();
  signal?.addEventListener("abort", forward, { once: true });
  if (signal?.aborted === true) controller.abort();
  const results: (R | undefined)[] = jobs.map(() => undefined);
  const errors: unknown[] = [];
  let next = 0;
  const lane = async () => {
    while (next < jobs.length && !controller.signal.aborted) {
      const i = next++;
      try {
        results[i] = await run(jobs[i], controller.signal);
      } catch (err) {
        errors.push(err);
        controller.abort();
      }
    }
  };
  try {
    const lanes = Math.max(1, Math.min(concurrency, jobs.length));
    await Promise.all(Array.from({ length: lanes }, lane));
  } finally {
    signal?.removeEventListener("abort", forward);
  }
  if (errors.length > 0) throw errors[0];
  return results;
}
