/**
 * The thread pool: workers (node:worker_threads in Node, Web Workers in browsers) running the
 * kernels module on the shared memory. `run` splits a task's index range [0, total) into chunks
 * of `grain`; the calling thread takes chunks too, then closes the task and blocks in
 * Atomics.wait until the workers that joined it have finished their chunks. Chunks are handed out
 * by an atomic counter, so a thread that another process slows down simply takes fewer, and a
 * worker that wakes only after the task was closed does not join it (the caller never waits for
 * a worker that has not started). Without SharedArrayBuffer or where the calling thread may not
 * block (a browser's main thread) there are no workers and every task runs on the caller.
 */
import { ARGS } from "./heap.js";
import { WORKER_SOURCE } from "./worker-source.js";

/** The exported task functions of the kernels module, in the order workers index them. */
export const TASKS = [
  "pack_b",
  "gemm_tiles",
  "gemv",
  "scan_fwd",
  "scan_bwd",
  "scan_step",
  "attn_fwd",
  "attn_bwd",
  "conv_fwd",
  "conv_bwd",
  "unary",
  "unary_bwd",
  "binary",
  "copy",
  "rms_fwd",
  "adamw",
  "rms_bwd",
  "softmax",
  "softmax_bwd",
  "ce_fwd",
  "ce_bwd",
  "reduce_rows",
  "reduce_cols",
] as const;
export type TaskName = (typeof TASKS)[number];
type TaskFn = (args: number, begin: number, end: number, tid: number) => void;
/** A task's index in TASKS (what the control block carries to the workers). */
const TASK_INDEX = Object.fromEntries(TASKS.map((name, i) => [name, i])) as Record<
  TaskName,
  number
>;

const GEN = 0;
const TASK = 1;
const ARG = 2;
const TOTAL = 3;
const GRAIN = 4;
const NEXT = 5;
const ACTIVE = 6;
const ERROR = 7;
const OPEN = 8;

interface PoolWorker {
  terminate(): unknown;
}

/** Whether this thread may block in Atomics.wait (not on a browser's main thread). */
export function canBlock(): boolean {
  if (typeof SharedArrayBuffer === "undefined") return false;
  try {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 1, 0);
    return true;
  } catch {
    return false;
  }
}

function isNode(): boolean {
  return typeof process !== "undefined" && process.versions?.node !== undefined;
}

/** Cores available to this process (Node) or this page (browsers). */
export async function availableCores(): Promise<number> {
  if (isNode()) {
    const os: typeof import("node:os") = await import("node:os");
    return os.availableParallelism();
  }
  return globalThis.navigator?.hardwareConcurrency ?? 1;
}

async function spawnNode(init: object, onMessage: (message: string) => void): Promise<PoolWorker> {
  // A non-literal specifier keeps browser bundlers from resolving node:worker_threads.
  const specifier = "node:worker_threads";
  const { Worker }: typeof import("node:worker_threads") = await import(specifier);
  const worker = new Worker(WORKER_SOURCE, { eval: true });
  await new Promise<void>((resolve, reject) => {
    worker.once("error", reject);
    worker.once("message", () => {
      worker.off("error", reject);
      resolve();
    });
    worker.postMessage(init);
  });
  worker.on("message", onMessage);
  worker.unref();
  return worker;
}

async function spawnBrowser(
  init: object,
  onMessage: (message: string) => void,
): Promise<PoolWorker> {
  const url = URL.createObjectURL(new Blob([WORKER_SOURCE], { type: "text/javascript" }));
  const worker = new Worker(url);
  URL.revokeObjectURL(url);
  await new Promise<void>((resolve, reject) => {
    worker.onerror = (e) => reject(new Error(e.message));
    worker.onmessage = () => {
      worker.onmessage = (e: MessageEvent<string>) => onMessage(e.data);
      resolve();
    };
    worker.postMessage(init);
  });
  return worker;
}

export class Pool {
  private readonly fns: Record<TaskName, TaskFn>;
  private readonly ctl: Int32Array;
  private readonly workers: PoolWorker[] = [];
  private workerError = "";

  private constructor(exports: WebAssembly.Exports, memory: WebAssembly.Memory) {
    this.fns = Object.fromEntries(TASKS.map((name) => [name, exports[name]])) as Record<
      TaskName,
      TaskFn
    >;
    // A view of a shared memory stays valid when the memory grows; without workers it is unused.
    this.ctl = new Int32Array(memory.buffer, 0, 16);
  }

  /** A pool of `threads` threads in all (the caller and threads − 1 workers). */
  static async create(
    module: WebAssembly.Module,
    exports: WebAssembly.Exports,
    memory: WebAssembly.Memory,
    threads: number,
  ): Promise<Pool> {
    const pool = new Pool(exports, memory);
    const spawn = isNode() ? spawnNode : spawnBrowser;
    try {
      for (let tid = 1; tid < threads; tid++) {
        pool.workers.push(
          await spawn({ module, memory, tid, tasks: TASKS }, (m) => {
            pool.workerError = m;
          }),
        );
      }
    } catch (err) {
      pool.dispose();
      throw err;
    }
    return pool;
  }

  /** Threads that run a parallel task (the caller included). */
  get threads(): number {
    return this.workers.length + 1;
  }

  /**
   * Runs task(ARGS, begin, end, tid) over [0, total) in chunks of `grain`, on every thread when
   * `parallel` (else on the caller alone, as one call).
   */
  run(task: TaskName, total: number, grain: number, parallel: boolean): void {
    const fn = this.fns[task];
    if (!parallel || this.workers.length === 0 || total <= grain) {
      fn(ARGS, 0, total, 0);
      return;
    }
    const ctl = this.ctl;
    ctl[TASK] = TASK_INDEX[task];
    ctl[ARG] = ARGS;
    ctl[TOTAL] = total;
    ctl[GRAIN] = grain;
    ctl[NEXT] = 0;
    ctl[ERROR] = 0;
    const gen = (Atomics.load(ctl, GEN) + 1) | 0;
    // Workers join generation gen only while OPEN holds gen (so never a half-written task).
    Atomics.store(ctl, OPEN, gen);
    Atomics.store(ctl, GEN, gen);
    Atomics.notify(ctl, GEN);
    let failure: unknown = null;
    try {
      for (
        let c = Atomics.add(ctl, NEXT, 1) * grain;
        c < total;
        c = Atomics.add(ctl, NEXT, 1) * grain
      ) {
        fn(ARGS, c, Math.min(total, c + grain), 0);
      }
    } catch (err) {
      failure = err;
    }
    Atomics.store(ctl, OPEN, ~gen);
    for (let p = Atomics.load(ctl, ACTIVE); p !== 0; p = Atomics.load(ctl, ACTIVE)) {
      Atomics.wait(ctl, ACTIVE, p);
    }
    if (failure !== null) throw failure;
    if (Atomics.load(ctl, ERROR) !== 0) {
      throw new Error(`wasm backend: task ${task} failed in a worker ${this.workerError}`.trim());
    }
  }

  /** Stops the workers. */
  dispose(): void {
    if (this.workers.length > 0) {
      Atomics.store(this.ctl, TASK, -1);
      Atomics.add(this.ctl, GEN, 1);
      Atomics.notify(this.ctl, GEN);
    }
    for (const w of this.workers) w.terminate();
    this.workers.length = 0;
  }
}
