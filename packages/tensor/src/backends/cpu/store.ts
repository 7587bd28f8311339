/**
 * Host memory for the reference cpu backend: one ArrayBuffer per allocated BufferId, and views
 * (ranges of another buffer's ArrayBuffer). Kernels read and write through typed views of whole
 * buffers.
 */
import type { BufferId } from "../../backend/kernels.js";
import { type DType, type TypedArray, viewTyped } from "../../dtype.js";

export type FloatArray = Float32Array | Float64Array;

interface Region {
  readonly buffer: ArrayBuffer;
  readonly offset: number;
  readonly bytes: number;
}

export class CpuStore {
  private readonly buffers = new Map<BufferId, Region>();
  private nextId = 1;

  alloc(bytes: number): BufferId {
    const id = this.nextId++;
    // Round up to 8 bytes so a float64 view of any buffer is legal.
    const rounded = Math.ceil(bytes / 8) * 8;
    this.buffers.set(id, { buffer: new ArrayBuffer(rounded), offset: 0, bytes: rounded });
    return id;
  }

  /** A view of `bytes` bytes of `id` from `byteOffset` (4-byte aligned, else null). */
  viewOf(id: BufferId, byteOffset: number, bytes: number): BufferId | null {
    const parent = this.region(id);
    if (!(byteOffset >= 0 && bytes >= 0 && byteOffset + bytes <= parent.bytes)) {
      throw new RangeError(
        `cpu backend: view [${byteOffset}, ${byteOffset + bytes}) is outside buffer ${id} (${parent.bytes} bytes)`,
      );
    }
    if (byteOffset % 4 !== 0) return null;
    const id2 = this.nextId++;
    this.buffers.set(id2, { buffer: parent.buffer, offset: parent.offset + byteOffset, bytes });
    return id2;
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

  private region(id: BufferId): Region {
    const region = this.buffers.get(id);
    if (region === undefined)
      throw new Error(`cpu backend: unknown buffer ${id} (freed or never allocated)`);
    return region;
  }

  /** The buffer's bytes. */
  bytes(id: BufferId): Uint8Array {
    const r = this.region(id);
    return new Uint8Array(r.buffer, r.offset, r.bytes);
  }

  /** Whole-buffer view as `dtype`. */
  view(id: BufferId, dtype: DType): TypedArray {
    const r = this.region(id);
    return viewTyped(
      dtype,
      r.buffer,
      r.offset,
      Math.floor(r.bytes / (dtype === "float64" ? 8 : 4)),
    );
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
