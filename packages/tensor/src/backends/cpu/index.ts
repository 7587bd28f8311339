/**
 * The reference `cpu` backend: every kernel in plain TypeScript loops over host ArrayBuffers.
 * It is the specification the other backends are tested against, and the embedded default.
 */
import { BACKEND_SPEC_VERSION, type Backend, type CapturedProgram } from "../../backend/backend.js";
import { HostCapture } from "../../backend/host-capture.js";
import type { BufferId, KernelTable } from "../../backend/kernels.js";
import { type DType, type TypedArray, allocTyped } from "../../dtype.js";
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
 * can run the reference kernels on its own memory through a `CpuStore` subclass whose `view`
 * returns views of that memory.
 */
export function kernelTable(s: CpuStore): KernelTable {
  return {
    unary: (a) => unary(s, a),
    unaryBackward: (a) => unaryBackward(s, a),
    binary: (a) => binary(s, a),
    where: (a) => where(s, a),
    reduce: (a) => reduce(s, a),
    matmul: (a) => matmul(s, a),
    copy: (a) => copy(s, a),
    gather: (a) => gather(s, a),
    scatterAdd: (a) => scatterAdd(s, a),
    scatter: (a) => scatter(s, a),
    cast: (a) => cast(s, a),
    fill: (a) => fill(s, a),
    softmax: (a) => softmax(s, a),
    softmaxBackward: (a) => softmaxBackward(s, a),
    rmsNorm: (a) => rmsNorm(s, a),
    rmsNormBackward: (a) => rmsNormBackward(s, a),
    addRmsNorm: (a) => addRmsNorm(s, a),
    siluMul: (a) => siluMul(s, a),
    rope: (a) => rope(s, a),
    crossEntropy: (a) => crossEntropy(s, a),
    crossEntropyBackward: (a) => crossEntropyBackward(s, a),
    causalConv1d: (a) => causalConv1d(s, a),
    causalConv1dBackward: (a) => causalConv1dBackward(s, a),
    causalConv1dStep: (a) => causalConv1dStep(s, a),
    selectiveScan: (a) => selectiveScan(s, a),
    selectiveScanBackward: (a) => selectiveScanBackward(s, a),
    selectiveScanStep: (a) => selectiveScanStep(s, a),
    attention: (a) => attention(s, a),
    attentionBackward: (a) => attentionBackward(s, a),
    adamw: (a) => adamw(s, a),
  };
}

export class CpuBackend implements Backend {
  readonly name: string;
  readonly specVersion = BACKEND_SPEC_VERSION;
  readonly dtypes: readonly DType[] = ["float32", "int32", "float64"];
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

  write(id: BufferId, data: TypedArray): void {
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

  readSync(id: BufferId, dtype: DType, size: number): TypedArray {
    this.capturing.assertIdle("a read");
    const out = allocTyped(dtype, size);
    out.set(this.store.view(id, dtype).subarray(0, size));
    return out;
  }

  async read(id: BufferId, dtype: DType, size: number): Promise<TypedArray> {
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
