/**
 * What the kernels share: the heap (one memory), the thread pool (which calls the kernels module's
 * exports), the argument block, per-thread scratch, and the reference kernels running on views of
 * the heap (for what has no wasm version: other dtypes, and the kernels listed as delegated in the
 * README).
 */
import {
  CpuStore,
  type DType,
  type KernelTable,
  type StorageArray,
  bytesPerElement,
  cpuKernelTable,
} from "@bmojo/tensor";
import { ARGS, ARGS_BYTES, type Heap } from "./heap.js";
import type { Pool } from "./pool.js";

/** The reference kernels' store, on views of the wasm memory instead of host ArrayBuffers. */
class HeapStore extends CpuStore {
  constructor(private readonly heap: Heap) {
    super();
  }

  /** The whole buffer as `dtype`, sized like the cpu backend's (bytes rounded up to 8). */
  override raw(id: number, dtype: DType): StorageArray {
    const bytes = Math.ceil(this.heap.bytes(id) / 8) * 8;
    return this.heap.view(dtype, this.heap.ptr(id), Math.floor(bytes / bytesPerElement(dtype)));
  }
}

export class Runtime {
  /** The reference kernels, on this heap. */
  readonly reference: KernelTable;
  private argsGrown = -1;
  private argI = new Int32Array(0);
  private argF = new Float32Array(0);

  constructor(
    readonly heap: Heap,
    readonly pool: Pool,
    /** Per-thread scratch: `scratchBytes` bytes for each thread, thread t at scratch + t·scratchBytes. */
    readonly scratch: number,
    readonly scratchBytes: number,
  ) {
    this.reference = cpuKernelTable(new HeapStore(heap));
  }

  /**
   * The argument block as int32 slots (slot i at byte ARGS + 4i). Take it after any allocation
   * of the call: growing an unshared memory detaches the views.
   */
  get argv(): Int32Array {
    if (this.heap.grown !== this.argsGrown) this.remap();
    return this.argI;
  }

  /** The argument block as float32 slots (the same slots as argv). */
  get argf(): Float32Array {
    if (this.heap.grown !== this.argsGrown) this.remap();
    return this.argF;
  }

  private remap(): void {
    const buffer = this.heap.memory.buffer;
    this.argsGrown = this.heap.grown;
    this.argI = new Int32Array(buffer, ARGS, ARGS_BYTES / 4);
    this.argF = new Float32Array(buffer, ARGS, ARGS_BYTES / 4);
  }

  /** Writes int32 arguments to the argument block, from slot `at` on. */
  args(values: readonly number[], at = 0): void {
    this.heap.i32.set(values, ARGS / 4 + at);
  }

  /** Sums `parts` rows of `size` floats at byte offset `src` into the `size` floats at `dst`. */
  sumRows(src: number, parts: number, size: number, dst: number): void {
    const f = this.heap.f32;
    const s = src / 4;
    const d = dst / 4;
    for (let i = 0; i < size; i++) {
      let acc = 0;
      for (let p = 0; p < parts; p++) acc += f[s + p * size + i];
      f[d + i] = acc;
    }
  }

  /** Byte offset of a buffer. */
  ptr(id: number): number {
    return this.heap.ptr(id);
  }
}
