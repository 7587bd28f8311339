/**
 * @bmojo/tensor: tensors, reverse-mode autodiff, the Backend interface and registry, and the
 * reference `cpu` backend (registered by default).
 */
import { CpuBackend } from "./backends/cpu/index.js";
import { registerBackend, setDefaultRegistrations } from "./registry.js";

setDefaultRegistrations(() => registerBackend("cpu", () => new CpuBackend(), 0));

export { Tensor, type NestedArray } from "./tensor.js";
export {
  type DType,
  type FloatDType,
  type StorageArray,
  type TypedArray,
  DTYPES,
  bfloat16Bits,
  bfloat16Value,
  bytesPerElement,
  decodeBfloat16,
  encodeBfloat16,
  hostArray,
  isFloat,
  roundBfloat16,
  storageArray,
  viewTyped,
} from "./dtype.js";
export { type Shape, formatShape, sizeOf, broadcastShapes } from "./shape.js";
export { tidy, keep, dispose, type TensorTree } from "./engine.js";
export { memory, resetPeakMemory, type MemoryInfo } from "./memory.js";
export { readTensors } from "./read.js";
export { capture, canCapture } from "./capture.js";
export { HostCapture } from "./backend/host-capture.js";
export {
  registerBackend,
  registeredBackends,
  init,
  setBackend,
  backendByName,
  findBackend,
  getBackend,
  type BackendFactory,
  type InitReport,
  type SkippedBackend,
} from "./registry.js";
export {
  type Backend,
  type BufferRead,
  type CapturedProgram,
  BACKEND_SPEC_VERSION,
  UnsupportedKernelError,
  BackendUnavailableError,
} from "./backend/backend.js";
export * from "./backend/kernels.js";
export { collapseAxes } from "./backend/strided.js";
export { stridesOf } from "./shape.js";
export { CpuBackend, kernelTable as cpuKernelTable } from "./backends/cpu/index.js";
export { CpuStore } from "./backends/cpu/store.js";
export {
  valueAndGrad,
  grad,
  noGrad,
  recordingGradients,
  stopGradient,
  type ValueAndGrad,
} from "./autodiff.js";
export {
  Random,
  randomUniform,
  randomNormal,
  randomBits,
  philox4x32,
  type RandomOptions,
} from "./random.js";
export * from "./ops/creation.js";
export * from "./ops/elementwise.js";
export * from "./ops/reduction.js";
export * from "./ops/shape-ops.js";
export * from "./ops/matmul.js";
export * from "./ops/indexing.js";
export * from "./ops/nn-ops.js";
export * from "./ops/sequence-ops.js";
export * from "./ops/attention-op.js";
export * from "./ops/rope-op.js";
export * from "./ops/optim-ops.js";
export * from "./ops/inplace.js";
export { writeFileAtomic } from "./io/atomic-write.js";
export { KernelProfiler, type KernelStats, profileKernels } from "./profile.js";
