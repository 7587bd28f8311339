/**
 * TfjsBackend: our Backend contract on top of @tensorflow/tfjs-core, for one tfjs backend
 * ("cpu", "wasm", "webgl", "webgpu", "tensorflow", or any a user registered with tfjs).
 */
import {
  BACKEND_SPEC_VERSION,
  type Backend,
  BackendUnavailableError,
  type BufferId,
  type CapturedProgram,
  type DType,
  HostCapture,
  type KernelTable,
  type TypedArray,
} from "@bmojo/tensor";
import * as tf from "@tensorflow/tfjs-core";
import { SCAN_CHUNK, fusedKernels } from "./fused.js";
import { primitiveKernels } from "./kernels.js";
import { type ModuleImporter, defaultImporter, loadTfBackend } from "./load.js";
import { TensorStore } from "./store.js";

export interface TfjsBackendOptions {
  /**
   * The tfjs backend to run on: "cpu", "wasm", "webgl", "webgpu", "tensorflow" (tfjs-node-gpu,
   * else tfjs-node), or any name registered with tf.registerBackend. Default: the backend tfjs
   * has active (tf.getBackend() after tf.ready()).
   */
  tfBackend?: string;
  /** Our registry name; default "tfjs" (no tfBackend) or "tfjs-<tfBackend>". */
  name?: string;
  /** tfjs-backend-wasm: where its .wasm files are (default: the package's dist folder, in Node). */
  wasmPaths?: string;
  /** Time steps per chunk of the selective scan (default SCAN_CHUNK). */
  scanChunk?: number;
  /** Loads a module by specifier (default: dynamic import); injectable for tests. */
  importModule?: ModuleImporter;
}

export class TfjsBackend implements Backend {
  readonly specVersion = BACKEND_SPEC_VERSION;
  /** tfjs has no float64: float64 conformance cases skip. */
  readonly dtypes: readonly DType[] = ["float32", "int32"];
  readonly kernels: Partial<KernelTable>;
  private readonly store = new TensorStore();
  private readonly capturing: HostCapture;

  private constructor(
    readonly name: string,
    /** The tfjs backend the kernels run on. */
    readonly tfBackend: string,
    /** The package that provided the tfjs backend, when this adapter loaded one. */
    readonly provider: string | null,
    /** Time steps per chunk of the selective scan. */
    readonly scanChunk: number,
  ) {
    const table: Record<string, (args: never) => void> = {
      ...primitiveKernels(this.store),
      ...fusedKernels(this.store, scanChunk),
    };
    // Every kernel first makes this backend's tfjs backend the active one (tfjs has one global
    // active backend; switching to an initialized one is synchronous).
    this.capturing = new HostCapture(name, (id) => this.store.free(id));
    const kernels = Object.fromEntries(
      Object.entries(table).map(([k, fn]) => [
        k,
        (args: never) => {
          this.activate();
          fn(args);
        },
      ]),
    ) as Partial<KernelTable>;
    this.kernels = this.capturing.wrap(kernels);
  }

  static async create(options: TfjsBackendOptions = {}): Promise<TfjsBackend> {
    const chunk = options.scanChunk ?? SCAN_CHUNK;
    if (!Number.isInteger(chunk) || chunk < 1) {
      throw new RangeError(`TfjsBackend: scanChunk must be an integer ≥ 1, got ${chunk}`);
    }
    const importModule = options.importModule ?? defaultImporter;
    let tfBackend = options.tfBackend;
    let provider: string | null = null;
    if (tfBackend === undefined) {
      await tf.ready();
      tfBackend = tf.getBackend();
    } else {
      provider = await loadTfBackend(tfBackend, importModule, options.wasmPaths);
      const ok = await tf.setBackend(tfBackend).catch((err: unknown) => {
        throw new BackendUnavailableError(
          options.name ?? `tfjs-${tfBackend}`,
          `tfjs could not start its '${tfBackend}' backend: ${err instanceof Error ? err.message : String(err)}`,
        );
      });
      if (!ok) {
        throw new BackendUnavailableError(
          options.name ?? `tfjs-${tfBackend}`,
          `tfjs could not initialize its '${tfBackend}' backend (tf.setBackend returned false)`,
        );
      }
    }
    return new TfjsBackend(
      options.name ?? (options.tfBackend === undefined ? "tfjs" : `tfjs-${tfBackend}`),
      tfBackend,
      provider,
      chunk,
    );
  }

  /** Makes this backend's tfjs backend the active one. */
  private activate(): void {
    if (tf.getBackend() !== this.tfBackend) void tf.setBackend(this.tfBackend);
  }

  alloc(bytes: number): BufferId {
    return this.capturing.allocated(this.store.alloc(bytes));
  }

  free(id: BufferId): void {
    this.capturing.free(id);
  }

  write(id: BufferId, data: TypedArray): void {
    this.capturing.write(data, (d) => {
      this.activate();
      this.store.write(id, d);
    });
  }

  /**
   * Program capture: the kernel calls are recorded and a replay makes them again (the same tfjs
   * ops on the same buffers) without the op layer; see Backend.beginCapture.
   */
  beginCapture(): void {
    this.capturing.begin();
  }

  endCapture(): CapturedProgram {
    return this.capturing.end();
  }

  programLive(): boolean {
    return this.capturing.live;
  }

  async read(id: BufferId, dtype: DType, size: number): Promise<TypedArray> {
    this.capturing.assertIdle("a read");
    this.activate();
    return this.store.read(id, dtype, size);
  }

  readSync(id: BufferId, dtype: DType, size: number): TypedArray {
    this.capturing.assertIdle("a read");
    this.activate();
    return this.store.readSync(id, dtype, size);
  }

  /** Reading a fresh tensor waits for every kernel issued before it (tfjs runs them in order). */
  async sync(): Promise<void> {
    this.capturing.assertIdle("a sync");
    this.activate();
    const t = tf.zeros([1]);
    await t.data();
    t.dispose();
  }

  numBuffers(): number {
    return this.store.count;
  }

  dispose(): void {
    this.store.clear();
  }
}
