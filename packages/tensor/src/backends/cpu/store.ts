/**
 * Host memory for the reference cpu backend: one ArrayBuffer per allocated BufferId, and views
 * (ranges of another buffer's ArrayBuffer). Kernels read and write through typed views of whole
 * buffers.
 *
 * bfloat16 is emulated: a kernel's view of a bfloat16 buffer is a Float32Array of its decoded
 * values, and `settle` (called after every kernel) rounds each element the kernel changed back
 * into the buffer. So a bfloat16 kernel is the float32 kernel on the decoded inputs, with each
 * stored value rounded once — the rule the GPU backends' bfloat16 kernels follow.
 */
import type { BufferId } from "../../backend/kernels.js";
import {
  type DType,
  type StorageArray,
  type TypedArray,
  bfloat16Bits,
  bytesPerElement,
  decodeBfloat16,
  viewTyped,
} from "../../dtype.js";

/** A kernel's float32 copy of a bfloat16 buffer, and the patterns it was decoded from. */
interface Widened {
  readonly storage: Uint16Array;
  readonly original: Uint16Array;
  readonly values: Float32Array;
}

export type FloatArray = Float32Array | Float64Array;

interface Region {
  readonly buffer: ArrayBuffer;
  readonly offset: number;
  readonly bytes: number;
}

export class CpuStore {
  private readonly buffers = new Map<BufferId, Region>();
  private readonly widened = new Map<BufferId, Widened>();
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

  /** Whole-buffer view of the stored elements as `dtype` (bfloat16: bit patterns). */
  raw(id: BufferId, dtype: DType): StorageArray {
    const r = this.region(id);
    return viewTyped(dtype, r.buffer, r.offset, Math.floor(r.bytes / bytesPerElement(dtype)));
  }

  /**
   * Whole-buffer view as `dtype` for a kernel: the stored elements, or for bfloat16 one float32
   * copy per buffer per kernel call, written back by `settle`.
   */
  view(id: BufferId, dtype: DType): TypedArray {
    if (dtype !== "bfloat16") return this.raw(id, dtype) as TypedArray;
    let w = this.widened.get(id);
    if (w === undefined) {
      const storage = this.raw(id, dtype) as Uint16Array;
      w = { storage, original: storage.slice(), values: decodeBfloat16(storage) };
      this.widened.set(id, w);
    }
    return w.values;
  }

  /**
   * Ends a kernel call: every element of a bfloat16 view that the kernel changed is rounded back
   * into its buffer (elements it left alone keep their patterns, so aliased views do not clash).
   */
  settle(): void {
    if (this.widened.size === 0) return;
    for (const { storage, original, values } of this.widened.values()) {
      for (let i = 0; i < values.length; i++) {
        const bits = bfloat16Bits(values[i]);
        if (bits !== original[i] && !(Number.isNaN(values[i]) && isNaNBits(original[i]))) {
          storage[i] = bits;
        }
      }
    }
    this.widened.clear();
  }

  /** Whole-buffer view as a float dtype (float32, float64, or bfloat16 widened to float32). */
  float(id: BufferId, dtype: DType): FloatArray {
    if (dtype === "int32")
      throw new TypeError("cpu backend: this kernel needs a float dtype, got int32");
    return this.view(id, dtype) as FloatArray;
  }

  int32(id: BufferId): Int32Array {
    return this.view(id, "int32") as Int32Array;
  }
}

/** Whether a bfloat16 pattern is a NaN. */
function isNaNBits(bits: number): boolean {
  return (bits & 0x7fff) > 0x7f80;
}
