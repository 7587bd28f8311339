/**
 * Kernel profiling: counts the kernels a backend runs and the host time each call takes.
 *
 * `profileKernels(backend)` wraps the entries of the backend's kernel table until `stop()`. The
 * host time of a call is what the caller waits for: the whole computation on the cpu and wasm
 * backends, and on GPU backends the marshalling and the launch only (the device runs the work
 * later), which is the number that limits small-batch decoding there. Kernels per decoded token,
 * the launch cost a CUDA graph would remove, and where a fusion pays all come from here.
 */
import type { Backend } from "./backend/backend.js";
import type { KernelName } from "./backend/kernels.js";
import { getBackend } from "./registry.js";

/** What one kernel did while profiled. */
export interface KernelStats {
  kernel: KernelName;
  /** Calls made. */
  calls: number;
  /** Host milliseconds spent inside those calls, in all. */
  hostMs: number;
}

const active = new WeakMap<Backend, KernelProfiler>();

/** Wraps a backend's kernels; see `profileKernels`. */
export class KernelProfiler {
  private readonly counts = new Map<KernelName, { calls: number; hostMs: number }>();
  private readonly originals = new Map<KernelName, (args: never) => unknown>();
  private stopped = false;

  constructor(readonly backend: Backend) {
    if (active.has(backend)) {
      throw new Error(
        `profileKernels: backend '${backend.name}' is already being profiled; stop() that profiler first.`,
      );
    }
    const table = backend.kernels as Record<string, ((args: never) => unknown) | undefined>;
    for (const name of Object.keys(table) as KernelName[]) {
      const original = table[name];
      if (original === undefined) continue;
      const entry = { calls: 0, hostMs: 0 };
      this.counts.set(name, entry);
      this.originals.set(name, original);
      table[name] = (args: never) => {
        const started = performance.now();
        try {
          return original(args);
        } finally {
          entry.hostMs += performance.now() - started;
          entry.calls++;
        }
      };
    }
    active.set(backend, this);
  }

  /** Kernel calls so far, over every kernel. */
  get calls(): number {
    let n = 0;
    for (const entry of this.counts.values()) n += entry.calls;
    return n;
  }

  /** Host milliseconds inside kernel calls so far, over every kernel. */
  get hostMs(): number {
    let ms = 0;
    for (const entry of this.counts.values()) ms += entry.hostMs;
    return ms;
  }

  /** The kernels that ran, most calls first (ties: more host time first). */
  stats(): KernelStats[] {
    return [...this.counts]
      .filter(([, e]) => e.calls > 0)
      .map(([kernel, e]) => ({ kernel, calls: e.calls, hostMs: e.hostMs }))
      .sort((a, b) => b.calls - a.calls || b.hostMs - a.hostMs);
  }

  /** Zeroes the counts (the kernels stay wrapped). */
  reset(): void {
    for (const entry of this.counts.values()) {
      entry.calls = 0;
      entry.hostMs = 0;
    }
  }

  /** Puts the backend's own kernels back; the counts stay readable. Idempotent. */
  stop(): void {
    if (this.stopped) return;
    const table = this.backend.kernels as Record<string, (args: never) => unknown>;
    for (const [name, original] of this.originals) table[name] = original;
    active.delete(this.backend);
    this.stopped = true;
  }

  [Symbol.dispose](): void {
    this.stop();
  }
}

/**
 * Starts counting the kernel calls of `backend` (default: the current backend) and their host
 * time. One profiler per backend at a time; call `stop()` (or use `using`) when done.
 *
 * ```ts
 * const profiler = profileKernels();
 * await model.step(ids, cache);
 * profiler.stop();
 * console.log(profiler.calls, profiler.stats());
 * ```
 */
export function profileKernels(backend: Backend = getBackend()): KernelProfiler {
  return new KernelProfiler(backend);
}
