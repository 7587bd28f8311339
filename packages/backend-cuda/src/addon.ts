/**
 * Finds and loads the native addon (build/bmojo_cuda.node), or says exactly why it cannot.
 */
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

/** Facts about the device the addon opened. */
export interface DeviceInfo {
  name: string;
  device: number;
  computeCapability: string;
  totalMemory: number;
  multiprocessors: number;
  runtimeVersion: number;
  driverVersion: number;
}

/** Device memory held by the backend, in bytes. */
export interface MemoryStats {
  /** Bytes in live buffers (as asked for). */
  liveBytes: number;
  /** The most `liveBytes` reached since the last `resetPeak`. */
  peakBytes: number;
  /** Freed blocks the caching allocator keeps for reuse. */
  cachedBytes: number;
  deviceFreeBytes: number;
  deviceTotalBytes: number;
}

/** The addon's exports (native/runtime.cu). */
export interface Addon {
  readonly kernelCount: number;
  init(device: number): DeviceInfo;
  alloc(bytes: number): number;
  free(id: number): void;
  /** A range of buffer `id` sharing its memory, or null where the start is not 16-byte aligned. */
  view(id: number, byteOffset: number, bytes: number): number | null;
  write(id: number, data: ArrayBufferView): void;
  read(id: number, bytes: number): Promise<ArrayBuffer>;
  readSync(id: number, bytes: number): ArrayBuffer;
  /** (id, bytes) pairs → their bytes side by side, each at a multiple of 8; one wait for all. */
  readMany(pairs: Float64Array): Promise<ArrayBuffer>;
  sync(): Promise<void>;
  syncBlocking(): void;
  numBuffers(): number;
  memoryStats(): MemoryStats;
  resetPeak(): void;
  emptyCache(): void;
  recordEvent(): number;
  elapsedMs(start: number, end: number): number;
  run(kernel: number, args: Float64Array): void;
  /** Starts recording the stream's work into a CUDA graph. */
  beginCapture(): void;
  /** The captured graph, instantiated: its id and node count; throws when the capture failed. */
  endCapture(): { id: number; nodes: number };
  /** Launches program `id`'s graph on the stream. */
  replay(id: number): void;
  /** Drops program `id`; its memory pool returns to the cache. */
  disposeProgram(id: number): void;
  /** Whether a capture is open or a captured program is live (one at a time per process). */
  programLive(): boolean;
  dispose(): void;
}

/** Where the addon is looked for: $BMOJO_CUDA_ADDON, else build/ of this package. */
export function addonPath(): string {
  const fromEnv = process.env.BMOJO_CUDA_ADDON;
  if (fromEnv !== undefined && fromEnv !== "") return fromEnv;
  return fileURLToPath(new URL("../build/bmojo_cuda.node", import.meta.url));
}

function nvccOnPath(): string | null {
  try {
    return execFileSync("nvcc", ["--version"], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
    })
      .trim()
      .split("\n")
      .pop() as string;
  } catch {
    return null;
  }
}

let loaded: Addon | null = null;

/** Loads the addon once; throws an Error whose message says what is missing and how to fix it. */
export function loadAddon(): Addon {
  if (loaded !== null) return loaded;
  const path = addonPath();
  if (!existsSync(path)) {
    const nvcc = nvccOnPath();
    throw new Error(
      nvcc === null
        ? `the native addon was not built (no ${path}) because no CUDA toolkit was found: nvcc is not on PATH. ` +
            "Install the CUDA toolkit (12 or later, with cuBLAS) and run `pnpm --filter @bmojo/backend-cuda build:native`."
        : `the native addon was not built (no ${path}). nvcc is here (${nvcc}); ` +
            "run `pnpm --filter @bmojo/backend-cuda build:native` and read its message (it needs cuBLAS headers and Node's headers).",
    );
  }
  const require = createRequire(import.meta.url);
  try {
    loaded = require(path) as Addon;
  } catch (err) {
    throw new Error(
      `the native addon at ${path} failed to load: ${err instanceof Error ? err.message : String(err)}. ` +
        "It needs the CUDA runtime and cuBLAS libraries of the toolkit it was built with (LD_LIBRARY_PATH) and an NVIDIA driver.",
    );
  }
  return loaded;
}
