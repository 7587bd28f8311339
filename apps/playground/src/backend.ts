/**
 * Bringing up a compute backend inside a worker: WebGPU through the worker's navigator.gpu when
 * the browser offers an adapter, else the wasm backend (WebAssembly SIMD kernels; threads in
 * nested Web Workers on a shared memory when the page is cross-origin isolated), else the
 * reference cpu backend, with the reasons the faster ones were not used. Importing
 * @bmojo/backend-webgpu and @bmojo/backend-wasm registers them with @bmojo/tensor's registry.
 */
import "@bmojo/backend-webgpu";
import { WasmBackend } from "@bmojo/backend-wasm";
import { type Backend, BackendUnavailableError, getBackend, init } from "@bmojo/tensor";
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

/** The reason a backend could not start, without the "Backend 'x' is unavailable:" prefix. */
function unavailableReason(err: unknown): string {
  if (err instanceof BackendUnavailableError) return err.reason.replace(/\.$/, "");
  return err instanceof Error ? err.message.replace(/\.$/, "") : String(err);
}

/** The current backend, described (the wasm backend with its threads). */
function describeCurrent(name: string): { backend: Backend; info: BackendInfo } {
  const backend = getBackend();
  const info: BackendInfo = { name };
  if (backend instanceof WasmBackend) {
    info.threads = backend.threads;
    info.threading = backend.threading;
  }
  return { backend, info };
}

/**
 * Brings up the wasm backend (`WasmBackend.create()` through @bmojo/backend-wasm's registration)
 * and makes it current. In a worker of a cross-origin isolated page it runs one thread per core
 * (navigator.hardwareConcurrency); elsewhere one thread, and `threading` says why.
 */
async function startWasm(): Promise<{ backend: Backend; info: BackendInfo }> {
  await init({ backend: "wasm" });
  return describeCurrent("wasm");
}

/**
 * Initialises the backend the user chose. "auto": WebGPU if the browser offers an adapter, else
 * wasm, else cpu, saying why each faster one was not used; "webgpu" and "wasm" force one and
 * throw when it cannot start; "cpu" is the reference.
 */
export async function startBackend(
  choice: BackendChoice,
): Promise<{ backend: Backend; info: BackendInfo }> {
  if (choice === "cpu") {
    await init({ backend: "cpu" });
    return describeCurrent("cpu");
  }
  if (choice === "wasm") {
    try {
      return await startWasm();
    } catch (err) {
      throw new Error(
        `The wasm backend was requested but it cannot start here: ${unavailableReason(err)}. Choose "auto" or "cpu (reference)" instead.`,
      );
    }
  }
  const probe = await probeWebGpu();
  if ("adapter" in probe) {
    // An adapter: WebGPU, as before. Should its device still fail, "auto" goes down the
    // registry's priorities (wasm, then cpu) and reports why each was skipped.
    const report = await init({ backend: choice });
    const started = describeCurrent(report.backend);
    if (report.backend === "webgpu") {
      started.info.adapter = adapterName(probe.adapter.info);
    } else {
      const skipped = (name: string) => report.skipped.find((s) => s.name === name)?.reason;
      started.info.webgpuUnavailable = skipped("webgpu") ?? "it is not registered";
      const wasmReason = skipped("wasm");
      if (report.backend === "cpu" && wasmReason !== undefined) {
        started.info.wasmUnavailable = wasmReason;
      }
    }
    return started;
  }
  if (choice === "webgpu") {
    throw new Error(`WebGPU was requested but ${probe.reason}.`);
  }
  try {
    const started = await startWasm();
    started.info.webgpuUnavailable = probe.reason;
    return started;
  } catch (err) {
    await init({ backend: "cpu" });
    const started = describeCurrent("cpu");
    started.info.webgpuUnavailable = probe.reason;
    started.info.wasmUnavailable = unavailableReason(err);
    return started;
  }
}
