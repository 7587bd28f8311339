/** Live-object counts, for leak tests and memory reports. */
import { engine } from "./engine.js";
import { getBackend } from "./registry.js";

export interface MemoryInfo {
  /** Tensors created and not yet disposed (including gradient-tape aliases). */
  numTensors: number;
  /** Buffers the current backend holds. */
  numBuffers: number;
}

export function memory(): MemoryInfo {
  return { numTensors: engine.liveTensors, numBuffers: getBackend().numBuffers() };
}
