/**
 * The `webgpu` Backend: storage in GPU buffers, kernels as WGSL compute shaders dispatched in
 * program order, reads through mapped staging buffers (no readSync: GPUs read asynchronously;
 * readMany maps one staging buffer for several).
 */
import {
  BACKEND_SPEC_VERSION,
  type Backend,
  type BufferId,
  type BufferRead,
  type CapturedProgram,
  type DType,
  HostCapture,
  type KernelTable,
  type TypedArray,
  bytesPerElement,
} from "@bmojo/tensor";
import { type AdapterReport, acquireDevice } from "./device.js";
import { KERNEL_GROUPS } from "./kernels/index.js";
import { Runtime } from "./runtime.js";

function typedView(dtype: DType, buffer: ArrayBuffer): TypedArray {
  if (dtype === "float32") return new Float32Array(buffer);
  if (dtype === "int32") return new Int32Array(buffer);
  throw new TypeError(`the webgpu backend stores float32 and int32, not ${dtype}`);
}

export class WebGpuBackend implements Backend {
  readonly name = "webgpu";
  readonly specVersion = BACKEND_SPEC_VERSION;
  readonly dtypes: readonly DType[] = ["float32", "int32"];
  readonly kernels: Partial<KernelTable>;
  /** Where the device came from and what it is. */
  readonly adapter: AdapterReport;
  /** The GPU object (navigator.gpu or Dawn's) and the device, e.g. to share them with another WebGPU library. */
  readonly gpu: GPU;
  readonly device: GPUDevice;
  private readonly rt: Runtime;
  private readonly capturing: HostCapture;
  private disposed = false;

  private constructor(rt: Runtime, adapter: AdapterReport, gpu: GPU) {
    this.rt = rt;
    this.adapter = adapter;
    this.gpu = gpu;
    this.device = rt.device;
    this.capturing = new HostCapture(this.name, (id) => rt.free(id));
    const kernels: Partial<KernelTable> = Object.assign(
      {},
      ...KERNEL_GROUPS.map((group) => group(rt)),
    );
    this.kernels = this.capturing.wrap(kernels);
  }

  /** Acquires a device (navigator.gpu or Dawn) and builds the backend. */
  static async create(): Promise<WebGpuBackend> {
    const { device, report, gpu } = await acquireDevice();
    return new WebGpuBackend(new Runtime(device, report.software), report, gpu);
  }

  alloc(bytes: number): BufferId {
    return this.capturing.allocated(this.rt.alloc(bytes));
  }

  free(id: BufferId): void {
    this.capturing.free(id);
  }

  write(id: BufferId, data: TypedArray): void {
    if (data instanceof Float64Array)
      throw new TypeError("the webgpu backend stores float32 and int32, not float64");
    this.capturing.write(data, (d) => this.rt.write(id, d));
  }

  /**
   * Program capture: the kernel calls are recorded and a replay makes them again (encoding the
   * same dispatches on the same buffers) without the op layer; see Backend.beginCapture.
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
    return typedView(dtype, await this.rt.read(id, size * bytesPerElement(dtype)));
  }

  /** Several buffers through one staging buffer and one map (one wait for the device). */
  async readMany(reads: readonly BufferRead[]): Promise<TypedArray[]> {
    this.capturing.assertIdle("a read");
    const parts = await this.rt.readMany(
      reads.map((r) => ({ id: r.id, bytes: r.size * bytesPerElement(r.dtype) })),
    );
    return parts.map((buffer, i) => typedView(reads[i].dtype, buffer));
  }

  async sync(): Promise<void> {
    this.capturing.assertIdle("a sync");
    return this.rt.sync();
  }

  numBuffers(): number {
    return this.rt.numBuffers();
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.rt.dispose();
  }
}
