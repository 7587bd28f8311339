/** How the page reports the backend a worker runs on (pure, shared by both panels). */
import type { BackendInfo } from "./protocol.js";

/** "webgpu (navigator.gpu: SwiftShader …)" or "cpu". */
export function backendLabel(info: BackendInfo): string {
  return info.adapter === undefined ? info.name : `${info.name} (${info.adapter})`;
}

/** The notice shown when WebGPU was wanted but is unavailable, else null. */
export function webGpuNotice(info: BackendInfo): string | null {
  if (info.webgpuUnavailable === undefined) return null;
  const reason = info.webgpuUnavailable.replace(/\.$/, "");
  return `WebGPU is unavailable, so this runs on the reference cpu backend instead: ${reason}.`;
}
