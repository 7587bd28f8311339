/**
 * Bringing up a compute backend inside a worker: WebGPU through the worker's navigator.gpu when
 * the browser offers an adapter, else the reference cpu backend, with the reason WebGPU was not
 * used. Importing @bmojo/backend-webgpu registers it with @bmojo/tensor's registry.
 */
import "@bmojo/backend-webgpu";
import { type Backend, getBackend, init } from "@bmojo/tensor";
import type { BackendChoice, BackendInfo } from "./protocol.js";

/** Why this context has no WebGPU at all, or null when navigator.gpu exists. */
export function missingWebGpuReason(scope: {
  navigator?: { gpu?: unknown };
  isSecureContext?: boolean;
}): string | null {
  if (scope.navigator?.gpu !== undefined) return null;
  if (scope.isSecureContext === false) {
    return "this page is not a secure context (WebGPU needs https:// or http://localhost), so the browser exposes no navigator.gpu";
  }
  return "this browser exposes no navigator.gpu (WebGPU is off or unsupported here; on Linux, Chromium needs --enable-unsafe-webgpu)";
}

/** The reason when navigator.gpu exists but gives no adapter. */
const NO_ADAPTER_REASON =
  "navigator.gpu offers no adapter (the browser blocks WebGPU on this GPU or driver; chrome://gpu says why; on Linux, Chromium needs --enable-unsafe-webgpu)";

/** Names an adapter by the non-empty, distinct fields of its info, e.g. "google swiftshader". */
export function adapterName(
  info: Partial<Record<"vendor" | "architecture" | "device" | "description", string>>,
): string {
  const parts = [info.vendor, info.architecture, info.device, info.description].filter(
    (part): part is string => part !== undefined && part !== "",
  );
  return [...new Set(parts)].join(" ") || "unnamed adapter";
}

/**
 * The adapter this context's navigator.gpu offers (the one @bmojo/backend-webgpu will take), or
 * the reason there is none.
 */
async function probeWebGpu(): Promise<{ adapter: GPUAdapter } | { reason: string }> {
  const missing = missingWebGpuReason(globalThis);
  if (missing !== null) return { reason: missing };
  const gpu = (globalThis as { navigator: { gpu: GPU } }).navigator.gpu;
  const adapter = await gpu.requestAdapter({ powerPreference: "high-performance" });
  return adapter === null ? { reason: NO_ADAPTER_REASON } : { adapter };
}

/** Initialises the backend the user chose ("auto": WebGPU if it works, else cpu). */
export async function startBackend(
  choice: BackendChoice,
): Promise<{ backend: Backend; info: BackendInfo }> {
  const probe = choice === "cpu" ? null : await probeWebGpu();
  if (choice === "webgpu" && probe !== null && "reason" in probe) {
    throw new Error(`WebGPU was requested but ${probe.reason}.`);
  }
  const wanted = choice === "auto" && probe !== null && "reason" in probe ? "cpu" : choice;
  const report = await init({ backend: wanted });
  const info: BackendInfo = { name: report.backend };
  if (report.backend === "webgpu" && probe !== null && "adapter" in probe) {
    info.adapter = adapterName(probe.adapter.info);
  }
  if (choice === "auto" && report.backend !== "webgpu") {
    info.webgpuUnavailable =
      probe !== null && "reason" in probe
        ? probe.reason
        : (report.skipped.find((s) => s.name === "webgpu")?.reason ?? "it is not registered");
  }
  return { backend: getBackend(), info };
}
