/**
 * Program capture for backends whose kernel calls finish on the host (cpu, wasm) or only enqueue
 * (webgpu, tfjs): while capturing, each kernel call and write is recorded as a closure instead of
 * made; a replay makes the calls again in order, without the op layer that chose them. Buffer
 * lifetimes follow the Backend contract: frees of buffers the program may touch wait until the
 * program is disposed.
 */
import type { StorageArray } from "../dtype.js";
import type { CapturedProgram } from "./backend.js";
import type { BufferId, KernelTable } from "./kernels.js";

interface Reservation {
  /** Buffers allocated while capturing that the caller still holds. */
  readonly owned: Set<BufferId>;
  /** Buffers the caller freed that the program may touch: freed when it is disposed. */
  readonly released: BufferId[];
  disposed: boolean;
}

export class HostCapture {
  private recording: (() => void)[] | null = null;
  private program: Reservation | null = null;

  /** `release` frees a buffer for real. */
  constructor(
    private readonly backend: string,
    private readonly release: (id: BufferId) => void,
  ) {}

  /** The table with every kernel recorded instead of run while capturing. */
  wrap<T extends Partial<KernelTable>>(table: T): T {
    const wrapped: Record<string, (args: never) => void> = {};
    for (const [name, kernel] of Object.entries(table) as [string, (args: never) => void][]) {
      wrapped[name] = (args: never) => {
        if (this.recording === null) kernel(args);
        else this.recording.push(() => kernel(args));
      };
    }
    return wrapped as unknown as T;
  }

  /** Notes a new buffer (or view): while capturing, the program owns it. */
  allocated(id: BufferId): BufferId {
    if (this.recording !== null) this.program?.owned.add(id);
    return id;
  }

  /** Frees now, or when the program that may touch the buffer is disposed. */
  free(id: BufferId): void {
    const program = this.program;
    if (program !== null) {
      const owned = program.owned.delete(id);
      if (owned || this.recording !== null) {
        program.released.push(id);
        return;
      }
    }
    this.release(id);
  }

  /** Runs a host-to-buffer copy `apply(data)` now, or records it with a copy of the data. */
  write<T extends StorageArray>(data: T, apply: (data: T) => void): void {
    if (this.recording === null) {
      apply(data);
      return;
    }
    const copy = data.slice() as T; // the caller's array may change before a replay
    this.recording.push(() => apply(copy));
  }

  /** Throws while capturing: `what` (a read, a sync) needs results that do not exist yet. */
  assertIdle(what: string): void {
    if (this.recording !== null) {
      throw new Error(
        `${this.backend} backend: ${what} while capturing a program; nothing has run yet. Read after endCapture() and a replay.`,
      );
    }
  }

  /** Whether a capture is open or a program not yet disposed. */
  get live(): boolean {
    return this.recording !== null || (this.program !== null && !this.program.disposed);
  }

  begin(): void {
    if (this.recording !== null)
      throw new Error(`${this.backend} backend: beginCapture while already capturing.`);
    if (this.program !== null && !this.program.disposed) {
      throw new Error(
        `${this.backend} backend: a captured program is still live; dispose it before capturing another.`,
      );
    }
    this.program = { owned: new Set(), released: [], disposed: false };
    this.recording = [];
  }

  end(): CapturedProgram {
    const steps = this.recording;
    const reservation = this.program;
    if (steps === null || reservation === null)
      throw new Error(`${this.backend} backend: endCapture without beginCapture.`);
    this.recording = null;
    const backend = this.backend;
    return {
      size: steps.length,
      replay: () => {
        if (reservation.disposed)
          throw new Error(`${backend} backend: replay of a disposed program.`);
        for (const step of steps) step();
      },
      dispose: () => {
        if (reservation.disposed) return;
        reservation.disposed = true;
        for (const id of reservation.released) this.release(id);
        reservation.released.length = 0;
        reservation.owned.clear();
        if (this.program === reservation) this.program = null;
      },
    };
  }
}
