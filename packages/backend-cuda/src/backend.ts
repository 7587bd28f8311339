/**
 * The `cuda` Backend: storage in device buffers of the addon's caching allocator, every kernel of
 * the table issued in order on one stream, reads awaited off the event loop.
 */
import {
  BACKEND_SPEC_VERSION,
  type Backend,
  type BufferId,
  type BufferRead,
  type CapturedProgram,
  type DType,
  KERNEL_NAMES,
  type KernelTable,
  type StorageArray,
  bytesPerElement,
  viewTyped,
} from "@bmojo/tensor";
import { type Addon, type DeviceInfo, type MemoryStats, loadAddon } from "./addon.js";
import { attentionMarshallers } from "./kernels/attention.js";
import { elementwiseMarshallers } from "./kernels/elementwise.js";
import { matmulMarshaller } from "./kernels/matmul.js";
import { rowMarshallers } from "./kernels/rows.js";
import { scanMarshallers } from "./kernels/scan.js";
import { ArgWriter, type Marshaller } from "./kernels/writer.js";

/**
 * How float32 matmuls run: TF32 tensor cores (the default), strict float32 FMA, or bfloat16
 * tensor cores (inputs rounded to bf16, float32 accumulation and output, as PyTorch's bf16
 * autocast does for matmuls). Storage stays float32 in every case.
 */
export type MatmulPrecision = "tf32" | "float32" | "bf16";

export interface CudaBackendOptions {
  /** Registry name (default "cuda"). */
  name?: string;
  /** CUDA device ordinal (default 0). */
  device?: number;
  /** Default "tf32", as PyTorch's `allow_tf32`; "float32" for strict products; "bf16". */
  matmulPrecision?: MatmulPrecision;
}

const MATMUL_PRECISIONS: readonly MatmulPrecision[] = ["tf32", "float32", "bf16"];

/** Open backends share the addon's device state; the last one to close releases it. */
let openBackends = 0;

function typedView(
  dtype: DType,
  buffer: ArrayBuffer,
  byteOffset = 0,
  length?: number,
): StorageArray {
  if (dtype === "float64") {
    throw new TypeError("the cuda backend stores float32, bfloat16 and int32, not float64");
  }
  return viewTyped(dtype, buffer, byteOffset, length);
}

export class CudaBackend implements Backend {
  readonly name: string;
  readonly specVersion = BACKEND_SPEC_VERSION;
  readonly dtypes: readonly DType[] = ["float32", "int32", "bfloat16"];
  readonly kernels: KernelTable;
  /** The device this backend runs on. */
  readonly device: DeviceInfo;
  readonly matmulPrecision: MatmulPrecision;
  private readonly addon: Addon;
  private readonly live = new Set<BufferId>();
  private disposed = false;

  constructor(options: CudaBackendOptions = {}) {
    const precision = options.matmulPrecision ?? "tf32";
    if (!MATMUL_PRECISIONS.includes(precision)) {
      throw new TypeError(
        `matmulPrecision must be one of ${MATMUL_PRECISIONS.join(", ")}, got ${String(precision)}`,
      );
    }
    const device = options.device ?? 0;
    if (!Number.isInteger(device) || device < 0) {
      throw new TypeError(`device must be a CUDA device ordinal (an integer ≥ 0), got ${device}`);
    }
    this.name = options.name ?? "cuda";
    this.matmulPrecision = precision;
    this.addon = loadAddon();
    if (this.addon.kernelCount !== KERNEL_NAMES.length) {
      throw new Error(
        `the native addon has ${this.addon.kernelCount} kernels but @bmojo/tensor's table has ` +
          `${KERNEL_NAMES.length}; rebuild it: pnpm --filter @bmojo/backend-cuda build:native`,
      );
    }
    this.device = this.addon.init(device);
    openBackends++;
    this.kernels = this.makeKernels();
  }

  private makeKernels(): KernelTable {
    const marshallers: { [K in keyof KernelTable]: Marshaller<Parameters<KernelTable[K]>[0]> } = {
      ...elementwiseMarshallers,
      ...rowMarshallers,
      ...scanMarshallers,
      ...attentionMarshallers,
      matmul: matmulMarshaller(this.matmulPrecision),
    };
    const writer = new ArgWriter();
    const table: Record<string, (args: never) => void> = {};
    KERNEL_NAMES.forEach((name, index) => {
      const marshal = marshallers[name] as Marshaller<unknown>;
      table[name] = (args: unknown) => {
        this.assertOpen();
        marshal(args, writer.reset());
        this.addon.run(index, writer.view());
      };
    });
    return table as unknown as KernelTable;
  }

  private assertOpen(): void {
    if (this.disposed) throw new Error(`backend '${this.name}' was disposed`);
  }

  /**
   * Program capture through CUDA stream capture: the kernels issued until `endCapture` become
   * one CUDA graph that `replay` launches with a single call. Buffers allocated while capturing
   * come from a pool the program keeps until it is disposed. The addon refuses reads, syncs and
   * event timings while capturing (nothing has run).
   */
  beginCapture(): void {
    this.assertOpen();
    this.addon.beginCapture();
  }

  endCapture(): CapturedProgram {
    this.assertOpen();
    const { id, nodes } = this.addon.endCapture();
    let live = true;
    return {
      size: nodes,
      replay: () => {
        this.assertOpen();
        if (!live) throw new Error("cuda backend: replay of a disposed program.");
        this.addon.replay(id);
      },
      dispose: () => {
        if (!live) return;
        live = false;
        this.addon.disposeProgram(id); // a no-op once the addon has dropped it (its last backend closed)
      },
    };
  }

  /** Whether the addon holds a program or an open capture (of this or another cuda backend). */
  programLive(): boolean {
    return this.addon.programLive();
  }

  alloc(bytes: number): BufferId {
    this.assertOpen();
    const id = this.addon.alloc(bytes);
    this.live.add(id);
    return id;
  }

  /** A range of a buffer as a buffer of its own (16-byte aligned starts only, else null). */
  view(id: BufferId, byteOffset: number, bytes: number): BufferId | null {
    this.assertOpen();
    const viewId = this.addon.view(id, byteOffset, bytes);
    if (viewId !== null) this.live.add(viewId);
    return viewId;
  }

  free(id: BufferId): void {
    if (!this.live.delete(id)) return;
    this.addon.free(id);
  }

  write(id: BufferId, data: StorageArray): void {
    this.assertOpen();
    this.addon.write(id, data);
  }

  async read(id: BufferId, dtype: DType, size: number): Promise<StorageArray> {
    this.assertOpen();
    return typedView(dtype, await this.addon.read(id, size * bytesPerElement(dtype)));
  }

  /** Several buffers in one device-to-host pass and one wait (one pinned staging block). */
  async readMany(reads: readonly BufferRead[]): Promise<StorageArray[]> {
    this.assertOpen();
    const pairs = new Float64Array(2 * reads.length);
    const offsets: number[] = [];
    let at = 0;
    reads.forEach((r, i) => {
      const bytes = r.size * bytesPerElement(r.dtype);
      pairs[2 * i] = r.id;
      pairs[2 * i + 1] = bytes;
      at = Math.ceil(at / 8) * 8;
      offsets.push(at);
      at += bytes;
    });
    const buffer = await this.addon.readMany(pairs);
    return reads.map((r, i) => typedView(r.dtype, buffer, offsets[i], r.size));
  }

  readSync(id: BufferId, dtype: DType, size: number): StorageArray {
    this.assertOpen();
    return typedView(dtype, this.addon.readSync(id, size * bytesPerElement(dtype)));
  }

  sync(): Promise<void> {
    this.assertOpen();
    return this.addon.sync();
  }

  numBuffers(): number {
    return this.live.size;
  }

  /** Device memory in use and cached, and the peak since `resetPeakMemory`. */
  memoryStats(): MemoryStats {
    return this.addon.memoryStats();
  }

  resetPeakMemory(): void {
    this.addon.resetPeak();
  }

  /**
   * Runs `fn` between two CUDA events and returns the device milliseconds between them (waits for
   * the work to finish). For benchmarks: the kernels `fn` issues are timed, not the host.
   */
  async time(fn: () => void | Promise<void>): Promise<number> {
    this.assertOpen();
    const start = this.addon.recordEvent();
    await fn();
    const end = this.addon.recordEvent();
    await this.addon.sync();
    return this.addon.elapsedMs(start, end);
  }

  dispose(): void {
    if (this.disposed) return;
    for (const id of this.live) this.addon.free(id);
    this.live.clear();
    this.disposed = true;
    openBackends--;
    if (openBackends === 0) this.addon.dispose(); // drops a live program too
  }
}
