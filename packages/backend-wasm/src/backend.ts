/**
 * The `wasm` Backend: buffers in one WebAssembly.Memory, float32 hot kernels in WebAssembly SIMD
 * on every core, and the reference kernels (on views of the same memory) for everything else.
 */
import {
  BACKEND_SPEC_VERSION,
  type Backend,
  type BufferId,
  type CapturedProgram,
  type DType,
  HostCapture,
  type KernelTable,
  type StorageArray,
} from "@bmojo/tensor";
import { KERNELS_SHARED_WASM, KERNELS_UNSHARED_WASM } from "./generated/kernels.js";
import { Heap } from "./heap.js";
import { wasmKernels } from "./kernels/index.js";
import { MATMUL_SCRATCH } from "./kernels/matmul.js";
import { Pool, availableCores, canBlock } from "./pool.js";
import { Runtime } from "./runtime.js";

export interface WasmBackendOptions {
  /**
   * Threads in all (the calling thread included). Default: the BMOJO_WASM_THREADS environment
   * variable (Node), else the available cores. 1 where threads cannot run (no SharedArrayBuffer,
   * or a browser's main thread, which may not block).
   */
  threads?: number;
  /** Largest the memory may grow to, in MiB (default 4096, the wasm32 limit). */
  maxMemoryMiB?: number;
}

function decode(base64: string): Uint8Array<ArrayBuffer> {
  const text = atob(base64);
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  return bytes;
}

function requestedThreads(options: WasmBackendOptions): number | undefined {
  if (options.threads !== undefined) return options.threads;
  const env = typeof process !== "undefined" ? process.env?.BMOJO_WASM_THREADS : undefined;
  if (env === undefined || env === "") return undefined;
  const n = Number(env);
  if (!Number.isInteger(n) || n < 1) {
    throw new TypeError(`BMOJO_WASM_THREADS must be a positive integer, got '${env}'.`);
  }
  return n;
}

export class WasmBackend implements Backend {
  readonly name = "wasm";
  readonly specVersion = BACKEND_SPEC_VERSION;
  readonly dtypes: readonly DType[] = ["float32", "int32", "float64"];
  readonly kernels: KernelTable;
  /** Threads that run a parallel kernel (the calling thread included). */
  readonly threads: number;
  /** How the threads came about, e.g. "2 threads (shared memory)" or why there is one. */
  readonly threading: string;
  private readonly heap: Heap;
  private readonly pool: Pool;
  private readonly capturing: HostCapture;
  private disposed = false;

  private constructor(heap: Heap, pool: Pool, rt: Runtime, threading: string) {
    this.heap = heap;
    this.pool = pool;
    this.threads = pool.threads;
    this.threading = threading;
    this.capturing = new HostCapture(this.name, (id) => heap.free(id));
    this.kernels = this.capturing.wrap(wasmKernels(rt));
  }

  /** Compiles the kernels, starts the workers and builds the backend. */
  static async create(options: WasmBackendOptions = {}): Promise<WasmBackend> {
    const wanted = requestedThreads(options) ?? (await availableCores());
    if (!Number.isInteger(wanted) || wanted < 1) {
      throw new TypeError(`wasm backend: threads must be a positive integer, got ${wanted}.`);
    }
    const maxPages = Math.min(65536, Math.floor(((options.maxMemoryMiB ?? 4096) * 1024) / 64));
    let heap: Heap | null = null;
    let threading = "1 thread (requested)";
    if (wanted > 1) {
      if (!canBlock()) {
        threading =
          typeof SharedArrayBuffer === "undefined"
            ? "1 thread: SharedArrayBuffer is unavailable (a page must be cross-origin isolated)"
            : "1 thread: this thread may not block in Atomics.wait (a browser's main thread)";
      } else {
        try {
          heap = new Heap(true, maxPages);
          threading = `${wanted} threads (shared memory)`;
        } catch (err) {
          threading = `1 thread: no shared WebAssembly.Memory here (${err instanceof Error ? err.message : String(err)})`;
        }
      }
    }
    heap ??= new Heap(false, maxPages);
    const module = await WebAssembly.compile(
      decode(heap.shared ? KERNELS_SHARED_WASM : KERNELS_UNSHARED_WASM),
    );
    const instance = await WebAssembly.instantiate(module, { env: { memory: heap.memory } });
    const threads = heap.shared ? wanted : 1;
    const pool = await Pool.create(module, instance.exports, heap.memory, threads);
    const scratch = heap.ptr(heap.alloc(threads * MATMUL_SCRATCH));
    const rt = new Runtime(heap, pool, scratch, MATMUL_SCRATCH);
    return new WasmBackend(heap, pool, rt, threading);
  }

  alloc(bytes: number): BufferId {
    return this.capturing.allocated(this.heap.alloc(bytes));
  }

  view(id: BufferId, byteOffset: number, bytes: number): BufferId | null {
    const view = this.heap.viewOf(id, byteOffset, bytes);
    return view === null ? null : this.capturing.allocated(view);
  }

  free(id: BufferId): void {
    this.capturing.free(id);
  }

  write(id: BufferId, data: StorageArray): void {
    this.capturing.write(data, (d) =>
      this.heap.u8.set(new Uint8Array(d.buffer, d.byteOffset, d.byteLength), this.heap.ptr(id)),
    );
  }

  /** Program capture: kernel calls recorded and replayed on the calling thread (see Backend). */
  beginCapture(): void {
    this.capturing.begin();
  }

  endCapture(): CapturedProgram {
    return this.capturing.end();
  }

  programLive(): boolean {
    return this.capturing.live;
  }

  readSync(id: BufferId, dtype: DType, size: number): StorageArray {
    this.capturing.assertIdle("a read");
    return this.heap.view(dtype, this.heap.ptr(id), size).slice();
  }

  async read(id: BufferId, dtype: DType, size: number): Promise<StorageArray> {
    return this.readSync(id, dtype, size);
  }

  async sync(): Promise<void> {
    this.capturing.assertIdle("a sync");
  }

  /** Live tensor buffers (the backend's own scratch is not counted). */
  numBuffers(): number {
    return this.heap.size - 1;
  }

  /** Bytes the WebAssembly memory holds now (it grows, never shrinks). */
  memoryBytes(): number {
    return this.heap.memoryBytes;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.pool.dispose();
  }
}
