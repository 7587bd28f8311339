/**
 * @bmojo/backend-webgpu: importing this module registers the "webgpu" backend (priority 2: above
 * cpu, below cuda). Without navigator.gpu or the `webgpu` package, or without an adapter,
 * init({ backend: "webgpu" }) says exactly what is missing and "auto" falls back.
 */
import { BackendUnavailableError, registerBackend } from "@bmojo/tensor";
import { WebGpuBackend } from "./backend.js";

export { WebGpuBackend } from "./backend.js";
export type { AdapterReport } from "./device.js";

/** Creates the backend, or throws BackendUnavailableError saying why WebGPU cannot run here. */
export async function createWebGpuBackend(): Promise<WebGpuBackend> {
  try {
    return await WebGpuBackend.create();
  } catch (err) {
    throw new BackendUnavailableError("webgpu", err instanceof Error ? err.message : String(err));
  }
}

registerBackend("webgpu", createWebGpuBackend, 2);
