/**
 * @bmojo/backend-cuda: importing this module registers three backends with @bmojo/tensor:
 * - "cuda" (priority 3): float32 matmuls on TF32 tensor cores, as PyTorch's allow_tf32;
 * - "cuda-fp32" (priority −1, below cpu, so "auto" never picks it): strict float32 matmuls (the conformance suite's setting);
 * - "cuda-bf16" (priority −1): matmul inputs rounded to bfloat16, float32 accumulation and storage.
 * When CUDA cannot run here, init({ backend: "cuda" }) throws BackendUnavailableError saying why
 * and init({ backend: "auto" }) reports it and falls back.
 */
import { BackendUnavailableError, registerBackend } from "@bmojo/tensor";
import { CudaBackend, type CudaBackendOptions } from "./backend.js";

export { CudaBackend, type CudaBackendOptions, type MatmulPrecision } from "./backend.js";
export { type DeviceInfo, type MemoryStats, addonPath } from "./addon.js";

/** Creates a cuda backend, or throws BackendUnavailableError(name, reason). */
export function createCudaBackend(options: CudaBackendOptions = {}): CudaBackend {
  const name = options.name ?? "cuda";
  try {
    return new CudaBackend(options);
  } catch (err) {
    if (err instanceof TypeError) throw err;
    throw new BackendUnavailableError(name, err instanceof Error ? err.message : String(err));
  }
}

registerBackend("cuda", () => createCudaBackend({ name: "cuda" }), 3);
registerBackend(
  "cuda-fp32",
  () => createCudaBackend({ name: "cuda-fp32", matmulPrecision: "float32" }),
  -1,
);
registerBackend(
  "cuda-bf16",
  () => createCudaBackend({ name: "cuda-bf16", matmulPrecision: "bf16" }),
  -1,
);
