/**
 * Host memory for the reference cpu backend: one ArrayBuffer per BufferId. Kernels read and write
 * through typed views of whole buffers.
 */
import type { BufferId } from "../../backend/kernels.js";
import { type DType, type TypedArray, viewTyped } from "../../dtype.js";

export type FloatArray = Float32Array | Float64Array;

export class CpuStore {
  private readonly buffers = new Map<BufferId, ArrayBuffer>();
  private nextId = 1;

  alloc(bytes: number): BufferId {
    const id = this.nextId++;
    // Round up to 8 bytes so a float64 view of any buffer is legal.
    this.buffers.set(id, new ArrayBuffer(Math.ceil(bytes / 8) * 8));
    return id;
  }

  free(id: BufferId): void {
    if (!this.buffers.delete(id)) throw new Error(`cpu backend: free of unknown buffer ${id}`);
  }

  get size(): number {
    return this.buffers.size;
  }

  clear(): void {
    this.buffers.clear();
  }

  raw(id: BufferId): ArrayBuffer {
    const buf = this.buffers.get(id);
    if (buf === undefined)
      throw new Error(`cpu backend: unknown buffer ${id} (freed or never allocated)`);
    return buf;
  }

  /** Whole-buffer view as `dtype`. */
  view(id: BufferId, dtype: DType): TypedArray {
    const buf = this.raw(id);
    return viewTyped(dtype, buf, 0, Math.floor(buf.byteLength / (dtype === "float64" ? 8 : 4)));
  }

  /** Whole-buffer view as a float dtype (float32 or float64). */
  float(id: BufferId, dtype: DType): FloatArray {
    if (dtype === "int32")
      throw new TypeError("cpu backend: this kernel needs a float dtype, got int32");
    return this.view(id, dtype) as FloatArray;
  }

  int32(id: BufferId): Int32Array {
    return this.view(id, "int32") as Int32Array;
  }
}
