/**
 * Running the training jobs of `bmojo compare` and the experiments concurrently: a small pool that
 * keeps at most N jobs going, and a runner that executes one job in this thread or in a worker
 * thread (node:worker_threads) whose entry is worker.js, built by tsup next to the CLI's own
 * modules in dist/. A job is plain data tagged with its kind: a compare job (train, evaluate and
 * probe one model on a synthetic task) or a length job (train one model on text and score it at
 * several contexts).
 */
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import {
  type CompareJob,
  type CompareJobHooks,
  type CompareJobResult,
  runCompareJob,
} from "./compare-job.js";
import { type Output, println } from "./io.js";
import {
  type ContextScore,
  type LengthJob,
  type LengthJobHooks,
  type LengthJobResult,
  runLengthJob,
} from "./length-job.js";

/** Each kind of job: what it gets and what it returns. */
interface JobKinds {
  compare: { job: CompareJob<string>; result: CompareJobResult<string> };
  length: { job: LengthJob; result: LengthJobResult };
}
export type JobKind = keyof JobKinds;

/** One job, tagged with its kind. */
export interface Job<K extends JobKind = JobKind> {
  kind: K;
  job: JobKinds[K]["job"];
}
export type JobResult<K extends JobKind = JobKind> = JobKinds[K]["result"];

/** What the caller hears while a job runs; each kind calls the hooks it has. */
export type JobHooks = CompareJobHooks & LengthJobHooks;

/** What a worker gets as `workerData`. */
export interface WorkerData<K extends JobKind = JobKind> extends Job<K> {
  /** The backend to bring up in the worker (already checked by the parent). */
  backend: string;
}

/** Messages from a worker to its parent: the job's hooks, then its result or error. */
export type WorkerReport =
  | { type: "step"; step: number; lossEma: number }
  | { type: "evaluate" }
  | { type: "context"; score: ContextScore }
  | { type: "done"; result: JobResult }
  | { type: "error"; message: string };

/** Messages from the parent to a worker: stop training after the current step. */
export type ParentMessage = { type: "abort" };

/** The function that runs each kind of job. */
const RUNNERS: {
  [K in JobKind]: (job: JobKinds[K]["job"], hooks: JobHooks) => Promise<JobResult<K>>;
} = { compare: runCompareJob, length: runLengthJob };

/** Runs `job` in this thread, on the backend that is up here. */
export function runHere<K extends JobKind>(job: Job<K>, hooks: JobHooks): Promise<JobResult<K>> {
  return RUNNERS[job.kind](job.job, hooks);
}

/**
 * The worker entry, located relative to this module: in dist/ (where tsup puts the entries and
 * the modules they share) that is dist/worker.js. Undefined when it is not there, as when the
 * TypeScript sources run directly (vitest), which Node cannot load in a worker.
 */
function workerEntry(): URL | undefined {
  const url = new URL("./worker.js", import.meta.url);
  return url.protocol === "file:" && existsSync(fileURLToPath(url)) ? url : undefined;
}

/**
 * Runs one job in a new worker thread, relaying its progress to `hooks`. Aborting `hooks.signal`
 * asks the worker to stop after its current step (its result then says `interrupted`).
 */
function runInWorker<K extends JobKind>(
  entry: URL,
  data: WorkerData<K>,
  hooks: JobHooks,
  env: NodeJS.ProcessEnv,
): Promise<JobResult<K>> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(entry, { workerData: data, env });
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
        case "context":
          hooks.onContext?.(m.score);
          break;
        case "done":
          // The worker ran `data.job`, so its result is of the job's kind.
          settle(() => resolve(m.result as JobResult<K>));
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

/** How a command's jobs run: how many at once, and where. */
export interface JobRunner {
  workers: number;
  /** Runs one job: in a worker thread when `workers` > 1, else in this thread. */
  run<K extends JobKind>(job: Job<K>, hooks: JobHooks): Promise<JobResult<K>>;
}

/**
 * Runs at most `requested` of `jobs` jobs at once, each in a worker thread that brings up
 * `backend`; one after another in this thread when that is 1, or when the worker entry is not
 * built (a note on `stderr` says so).
 */
export function jobRunner(
  requested: number,
  jobs: number,
  backend: string,
  stderr: Output,
): JobRunner {
  let workers = Math.min(requested, jobs);
  const entry = workers > 1 ? workerEntry() : undefined;
  if (workers > 1 && entry === undefined) {
    println(
      stderr,
      "note: the worker entry worker.js is not next to this module (running from the TypeScript sources?); training one model after another in this thread.",
    );
    workers = 1;
  }
  const env = workerEnv(workers);
  return {
    workers,
    run: <K extends JobKind>(job: Job<K>, hooks: JobHooks) =>
      entry === undefined
        ? runHere(job, hooks)
        : runInWorker(entry, { ...job, backend }, hooks, env),
  };
}

/**
 * The environment of each of `workers` worker threads: a backend that runs its own threads (the
 * wasm backend) gets its share of the cores, unless BMOJO_WASM_THREADS is set already.
 */
export function workerEnv(workers: number): NodeJS.ProcessEnv {
  if (workers <= 1 || process.env.BMOJO_WASM_THREADS !== undefined) return { ...process.env };
  const share = Math.max(1, Math.floor(availableParallelism() / workers));
  return { ...process.env, BMOJO_WASM_THREADS: String(share) };
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
