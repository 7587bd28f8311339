/**
 * The Backend contract (DESIGN §3): a storage half and a typed kernel table.
 */
import type { DType, StorageArray } from "../dtype.js";
import type { BufferId, KernelName, KernelTable } from "./kernels.js";

/**
 * The version of this contract. A backend states the version it was built against; the registry
 * refuses one built against another version, naming both.
 */
export const BACKEND_SPEC_VERSION = 1;

/**
 * One buffer of a `readMany`: its first `size` elements as `dtype`. Reads and writes move storage
 * arrays: a bfloat16 buffer's elements travel as their 16-bit patterns (a Uint16Array).
 */
export interface BufferRead {
  id: BufferId;
  dtype: DType;
  size: number;
}

/** Kernels and writes recorded by a backend's capture, replayable in order on the same buffers. */
export interface CapturedProgram {
  /** Kernel launches and writes recorded. */
  readonly size: number;
  /** Issues the recorded work again, as if each kernel were called again with the same arguments. */
  replay(): void;
  /** Releases the program and the buffers it reserved; it cannot replay afterwards. */
  dispose(): void;
}

export interface Backend {
  /** Registry name, e.g. "cpu", "webgpu", "cuda". */
  readonly name: string;
  /** The BACKEND_SPEC_VERSION this backend was built against. */
  readonly specVersion: number;
  /** Element types this backend stores and computes in. Every backend supports float32 and int32. */
  readonly dtypes: readonly DType[];

  // Storage half.
  /** A new buffer of `bytes` bytes (contents unspecified; the core fills what it reads). */
  alloc(bytes: number): BufferId;
  free(id: BufferId): void;
  /** Copy host data into the buffer, starting at its first byte. */
  write(id: BufferId, data: StorageArray): void;
  /**
   * The first `size` elements of the buffer as a new host array of `dtype`: its contents as of
   * the call, in order with kernels and writes issued before it; those issued after it, before it
   * resolves, do not change what it resolves with (a compiled B'MOJO step reads a step's output
   * while the next replay is already queued). The same holds for `readMany`.
   */
  read(id: BufferId, dtype: DType, size: number): Promise<StorageArray>;
  /**
   * Optional: several reads as one, resolving with their arrays in order once all have arrived
   * (one wait for the device). Without it, `readTensors` makes one `read` per buffer.
   */
  readMany?(reads: readonly BufferRead[]): Promise<StorageArray[]>;
  /** Synchronous read, where the backend can (the cpu backend can; GPU backends usually not). */
  readSync?(id: BufferId, dtype: DType, size: number): StorageArray;
  /** Resolves when every kernel issued so far has finished. */
  sync(): Promise<void>;
  /**
   * Optional: a buffer id naming `bytes` bytes of buffer `id` from `byteOffset` on, sharing its
   * memory (a view: kernels read and write the parent's bytes through it), or null where this
   * backend cannot alias that range (the core then copies). Freeing a view frees only the view;
   * the core frees every view before its parent. `split` uses views for contiguous parts.
   */
  view?(id: BufferId, byteOffset: number, bytes: number): BufferId | null;
  /** Number of live buffers (for leak tests and memory reports). */
  numBuffers(): number;
  /** Release every resource; the backend is unusable afterwards. */
  dispose(): void;

  /**
   * Optional: program capture (CUDA graphs on cuda, a recorded call list on the host backends).
   * Between `beginCapture` and `endCapture` the kernels and writes issued are recorded, not run;
   * reads and syncs throw. Every buffer freed meanwhile, and every buffer allocated meanwhile once
   * it is freed, stays reserved for the program until the program is disposed, so a replay never
   * touches memory handed to anyone else. Nothing is computed while capturing, so kernels do not
   * check their inputs' values then (e.g. gather's index range): whoever replays validates the
   * host data it writes. One program lives at a time per backend (`programLive`). Use it through
   * `capture`.
   */
  beginCapture?(): void;
  /** With capture: whether a program (or a capture) is live, so that beginCapture would throw. */
  programLive?(): boolean;
  /** Ends the capture: the program, or throws (having discarded it) when the capture failed. */
  endCapture?(): CapturedProgram;

  // Compute half.
  readonly kernels: Partial<KernelTable>;
}

/** A kernel that a backend does not implement. */
export class UnsupportedKernelError extends Error {
  constructor(
    readonly kernel: KernelName,
    readonly backend: string,
  ) {
    super(
      `Kernel '${kernel}' is not implemented by backend '${backend}'. ` +
        `Use a backend that has it (the 'cpu' backend implements every kernel), e.g. setBackend("cpu").`,
    );
    this.name = "UnsupportedKernelError";
  }
}

/** Thrown by a backend factory when the backend cannot run here; the message says what is missing. */
export class BackendUnavailableError extends Error {
  constructor(
    readonly backend: string,
    readonly reason: string,
  ) {
    super(`Backend '${backend}' is unavailable: ${reason}`);
    this.name = "BackendUnavailableError";
  }
}

/** Looks up a kernel, or throws UnsupportedKernelError. */
export function kernelOf<K extends KernelName>(backend: Backend, kernel: K): KernelTable[K] {
  const fn = backend.kernels[kernel];
  if (fn === undefined) throw new UnsupportedKernelError(kernel, backend.name);
  return fn as KernelTable[K];
}
