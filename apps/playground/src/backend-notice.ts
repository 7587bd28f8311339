/** How the page reports the backend a worker runs on (pure, shared by both panels). */
import type { BackendInfo } from "./protocol.js";

/**
 * "webgpu (google swiftshader)", "wasm · 2 threads (shared memory)" (or the reason for one
 * thread), or "cpu".
 */
export function backendLabel(info: BackendInfo): string {
  if (info.adapter !== undefined) return `${info.name} (${info.adapter})`;
  if (info.threading !== undefined) return `${info.name} · ${info.threading}`;
  return info.name;
}

const trim = (reason: string) => reason.replace(/\.$/, "");

/** The notice shown when WebGPU (and maybe wasm) was wanted but is unavailable, else null. */
export function webGpuNotice(info: BackendInfo): string | null {
  if (info.webgpuUnavailable === undefined) return null;
  const webgpu = trim(info.webgpuUnavailable);
  if (info.name === "wasm") {
    return `WebGPU is unavailable, so this runs on the wasm backend (WebAssembly SIMD on the CPU) instead: ${webgpu}.`;
  }
  if (info.wasmUnavailable !== undefined) {
    return `WebGPU is unavailable (${webgpu}) and the wasm backend did not start (${trim(info.wasmUnavailable)}), so this runs on the reference cpu backend.`;
  }
  const name = info.name === "cpu" ? "reference cpu" : info.name;
  return `WebGPU is unavailable, so this runs on the ${name} backend instead: ${webgpu}.`;
}
