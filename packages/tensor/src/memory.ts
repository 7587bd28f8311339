/** Live-object counts and bytes, for leak tests and memory reports. */
import type { Backend } from "./backend/backend.js";
import { engine } from "./engine.js";
import { getBackend } from "./registry.js";

export interface MemoryInfo {
  /** Tensors created and not yet disposed (including gradient-tape aliases). */
  numTensors: number;
  /** Buffers the backend holds. */
  numBuffers: number;
  /**
   * Bytes of the buffers tensors hold on the backend, as the core asked for them (a view shares
   * its parent's bytes and is not counted again). A backend's own scratch memory and allocator
   * caches are not included (the cuda backend's `memoryStats()` reports those).
   */
  numBytes: number;
  /** The most `numBytes` reached since the backend's first buffer or `resetPeakMemory`. */
  peakBytes: number;
}

/** Counts for `backend` (default: the current backend). */
export function memory(backend: Backend = getBackend()): MemoryInfo {
  const bytes = engine.bytesOf(backend);
  return {
    numTensors: engine.liveTensors,
    numBuffers: backend.numBuffers(),
    numBytes: bytes.live,
    peakBytes: bytes.peak,
  };
}

/** Starts a new peak of `memory().peakBytes` at the bytes held now (default: current backend). */
export function resetPeakMemory(backend: Backend = getBackend()): void {
  const bytes = engine.bytesOf(backend);
  bytes.peak = bytes.live;
}
