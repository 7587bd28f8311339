/**
 * @bmojo/backend-wasm: importing this module registers the "wasm" backend (priority 1: above the
 * reference cpu backend, below webgpu and cuda), so init({ backend: "auto" }) prefers it on a
 * machine without a GPU. Where WebAssembly SIMD is missing, init({ backend: "wasm" }) says so and
 * "auto" falls back to cpu.
 */
import { BackendUnavailableError, registerBackend } from "@bmojo/tensor";
import { WasmBackend, type WasmBackendOptions } from "./backend.js";

export { WasmBackend, type WasmBackendOptions } from "./backend.js";

/** Creates the backend, or throws BackendUnavailableError saying why it cannot run here. */
export async function createWasmBackend(options: WasmBackendOptions = {}): Promise<WasmBackend> {
  try {
    return await WasmBackend.create(options);
  } catch (err) {
    throw new BackendUnavailableError("wasm", err instanceof Error ? err.message : String(err));
  }
}

registerBackend("wasm", () => createWasmBackend(), 1);
