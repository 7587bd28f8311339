/**
 * Finds a WebGPU device: `navigator.gpu` in browsers, else the optional `webgpu` package (Dawn) in
 * Node. Every failure says what is missing.
 */

/** What was found, for reports. */
export interface AdapterReport {
  /** "navigator.gpu" or "webgpu (Dawn)". */
  source: string;
  /** The adapter's description (e.g. "llvmpipe: Mesa 25.0.7" or "NVIDIA H200"). */
  description: string;
  /** The adapter's vendor and architecture as it reports them ("" when it does not). */
  vendor: string;
  architecture: string;
  /** A software (CPU) implementation such as lavapipe: a fallback adapter or architecture "software". */
  software: boolean;
}

export interface AcquiredDevice {
  device: GPUDevice;
  report: AdapterReport;
  /** The GPU object the device came from; must stay referenced while the device lives (Dawn's crashes the process at exit otherwise). */
  gpu: GPU;
}

/** Limits raised to the adapter's maximum when it offers more than WebGPU's defaults. */
const RAISED_LIMITS = [
  "maxStorageBuffersPerShaderStage",
  "maxStorageBufferBindingSize",
  "maxBufferSize",
  "maxComputeWorkgroupStorageSize",
  "maxComputeInvocationsPerWorkgroup",
  "maxComputeWorkgroupSizeX",
  "maxComputeWorkgroupSizeY",
  "maxComputeWorkgroupsPerDimension",
] as const;

async function gpuObject(): Promise<{ gpu: GPU; source: string }> {
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  if (nav?.gpu !== undefined) return { gpu: nav.gpu, source: "navigator.gpu" };
  let mod: { create: (flags: string[]) => GPU; globals: Record<string, unknown> };
  try {
    mod = (await import(/* @vite-ignore */ "webgpu")) as typeof mod;
  } catch (err) {
    throw new Error(
      "no navigator.gpu here and the optional 'webgpu' package (Dawn for Node) could not be loaded " +
        `(${err instanceof Error ? err.message.split("\n")[0] : String(err)}); install it: pnpm add webgpu@0.6.2`,
    );
  }
  for (const [name, value] of Object.entries(mod.globals)) {
    if (!(name in globalThis)) (globalThis as Record<string, unknown>)[name] = value;
  }
  return { gpu: mod.create([]), source: "webgpu (Dawn)" };
}

/** Requests an adapter and a device with raised limits; throws an Error naming what is missing. */
export async function acquireDevice(): Promise<AcquiredDevice> {
  const { gpu, source } = await gpuObject();
  const adapter = await gpu.requestAdapter({ powerPreference: "high-performance" });
  if (adapter === null) {
    throw new Error(
      `${source} found no WebGPU adapter. In Node on Linux, Dawn needs a Vulkan driver: on a machine ` +
        "without a GPU install Mesa 25's lavapipe (Debian: mesa-vulkan-drivers from bookworm-backports).",
    );
  }
  const requiredLimits: Record<string, number> = {};
  for (const name of RAISED_LIMITS) {
    const value = adapter.limits[name];
    if (typeof value === "number") requiredLimits[name] = value;
  }
  const device = await adapter.requestDevice({ requiredLimits });
  const info = adapter.info;
  const description =
    [info?.description, info?.device, info?.vendor].find((s) => s !== undefined && s !== "") ??
    "unknown adapter";
  const report = {
    source,
    description,
    vendor: info?.vendor ?? "",
    architecture: info?.architecture ?? "",
    software:
      (info as { isFallbackAdapter?: boolean } | undefined)?.isFallbackAdapter === true ||
      info?.architecture === "software",
  };
  return { device, report, gpu };
}
