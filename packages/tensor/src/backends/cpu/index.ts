/**
 * The reference `cpu` backend: every kernel in plain TypeScript loops over host ArrayBuffers.
 * It is the specification the other backends are tested against, and the embedded default.
 */
import { BACKEND_SPEC_VERSION, type Backend, type CapturedProgram } from "../../backend/backend.js";
import { HostCapture } from "../../backend/host-capture.js";
import type { BufferId, KernelTable } from "../../backend/kernels.js";
import type { DType, StorageArray } from "../../dtype.js";
import { adamw } from "./adamw.js";
import { attention, attentionBackward } from "./attention.js";
import { causalConv1d, causalConv1dBackward, causalConv1dStep } from "./causal-conv1d.js";
import { copy } from "./copy.js";
import { crossEntropy, crossEntropyBackward } from "./cross-entropy.js";
import { binary, cast, fill, siluMul, unary, unaryBackward, where } from "./elementwise.js";
import { gather, scatter, scatterAdd } from "./gather.js";
import { matmul } from "./matmul.js";
import { reduce } from "./reduce.js";
import { addRmsNorm, rmsNorm, rmsNormBackward } from "./rms-norm.js";
import { rope } from "./rope.js";
import { selectiveScan, selectiveScanBackward, selectiveScanStep } from "./selective-scan.js";
import { softmax, softmaxBackward } from "./softmax.js";
import { CpuStore } from "./store.js";

/**
 * Binds each kernel function to one store. Exported (as `cpuKernelTable`) so that another backend
 * can run the reference kernels on its own memory through a `CpuStore` subclass whose `raw`
 * returns views of that memory.
 */
export function kernelTable(s: CpuStore): KernelTable {
  /** The kernel on `s`, then `s.settle()` (bfloat16 results rounded back into their buffers). */
  const on =
    <A>(kernel: (store: CpuStore, args: A) => void) =>
    (args: A): void => {
      try {
        kernel(s, args);
      } finally {
        s.settle();
      }
    };
  return {
    unary: on(unary),
    unaryBackward: on(unaryBackward),
    binary: on(binary),
    where: on(where),
    reduce: on(reduce),
    matmul: on(matmul),
    copy: on(copy),
    gather: on(gather),
    scatterAdd: on(scatterAdd),
    scatter: on(scatter),
    cast: on(cast),
    fill: on(fill),
    softmax: on(softmax),
    softmaxBackward: on(softmaxBackward),
    rmsNorm: on(rmsNorm),
    rmsNormBackward: on(rmsNormBackward),
    addRmsNorm: on(addRmsNorm),
    siluMul: on(siluMul),
    rope: on(rope),
    crossEntropy: on(crossEntropy),
    crossEntropyBackward: on(crossEntropyBackward),
    causalConv1d: on(causalConv1d),
    causalConv1dBackward: on(causalConv1dBackward),
    causalConv1dStep: on(causalConv1dStep),
    selectiveScan: on(selectiveScan),
    selectiveScanBackward: on(selectiveScanBackward),
    selectiveScanStep: on(selectiveScanStep),
    attention: on(attention),
    attentionBackward: on(attentionBackward),
    adamw: on(adamw),
  };
}

export class CpuBackend implements Backend {
  readonly name: string;
  readonly specVersion = BACKEND_SPEC_VERSION;
  readonly dtypes: readonly DType[] = ["float32", "int32", "float64", "bfloat16"];
  readonly kernels: KernelTable;
  private readonly store = new CpuStore();
  private readonly capturing: HostCapture;

  constructor(name = "cpu") {
    this.name = name;
    this.capturing = new HostCapture(name, (id) => this.store.free(id));
    this.kernels = this.capturing.wrap(kernelTable(this.store));
  }

  alloc(bytes: number): BufferId {
    return this.capturing.allocated(this.store.alloc(bytes));
  }

  free(id: BufferId): void {
    this.capturing.free(id);
  }

  view(id: BufferId, byteOffset: number, bytes: number): BufferId | null {
    const view = this.store.viewOf(id, byteOffset, bytes);
    return view === null ? null : this.capturing.allocated(view);
  }

  write(id: BufferId, data: StorageArray): void {
    this.capturing.write(data, (d) =>
      this.store.bytes(id).set(new Uint8Array(d.buffer, d.byteOffset, d.byteLength)),
    );
  }

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
    return this.store.raw(id, dtype).slice(0, size);
  }

  async read(id: BufferId, dtype: DType, size: number): Promise<StorageArray> {
    return this.readSync(id, dtype, size);
  }

  async sync(): Promise<void> {
    this.capturing.assertIdle("a sync");
  }

  numBuffers(): number {
    return this.store.size;
  }

  dispose(): void {
    this.store.clear();
  }
}
