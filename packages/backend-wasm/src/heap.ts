/**
 * Every buffer of the wasm backend lives in one WebAssembly.Memory (shared when threads are on, so
 * the workers' instances compute on the same bytes). The first RESERVED bytes hold the thread
 * pool's control block and the kernels' argument block; buffers are carved from the rest by a
 * size-class allocator: sizes round up to a class (64-byte steps below 256 bytes, then four
 * classes per power of two), freed blocks go to their class's free list and are reused, and the
 * top grows the memory when no free block fits. Views are re-created after the memory grows
 * (growing replaces `memory.buffer`).
 */
import { type BufferId, type DType, type StorageArray, viewTyped } from "@bmojo/tensor";

/** Bytes at the start of the memory that belong to the runtime, not to buffers. */
export const RESERVED = 4096;
/** Byte offset of the argument block that kernels read their arguments from. */
export const ARGS = 256;
/** Bytes of the argument block (ARGS to RESERVED). */
export const ARGS_BYTES = RESERVED - ARGS;
const PAGE = 65536;
/** Every block starts on a 64-byte boundary (a cache line; SIMD loads never straddle one). */
const ALIGN = 64;

/** The allocation class of a request: the smallest class size ≥ bytes. */
export function sizeClass(bytes: number): number {
  if (bytes <= 256) return Math.max(ALIGN, Math.ceil(bytes / ALIGN) * ALIGN);
  const top = bytes >= 2 ** 31 ? 2 ** 31 : 2 ** (31 - Math.clz32(bytes));
  const step = top / 4;
  return Math.ceil(bytes / step) * step;
}

interface Block {
  /** Byte offset in the memory. */
  ptr: number;
  /** Requested bytes. */
  bytes: number;
  /** Class size (bytes reserved); 0 for a view of another block. */
  cls: number;
}

export class Heap {
  readonly memory: WebAssembly.Memory;
  readonly shared: boolean;
  private readonly blocks = new Map<BufferId, Block>();
  private readonly freeLists = new Map<number, number[]>();
  private top = RESERVED;
  /** How many times the memory has grown (views of an unshared memory are stale after a growth). */
  grown = 0;
  private nextId = 1;
  private viewsGrown = -1;
  private f32v = new Float32Array(0);
  private i32v = new Int32Array(0);
  private u8v = new Uint8Array(0);

  constructor(shared: boolean, maxPages: number) {
    this.shared = shared;
    this.memory = new WebAssembly.Memory({ initial: 16, maximum: maxPages, shared });
  }

  alloc(bytes: number): BufferId {
    const cls = sizeClass(bytes);
    const ptr = this.freeLists.get(cls)?.pop() ?? this.bump(cls);
    const id = this.nextId++;
    this.blocks.set(id, { ptr, bytes, cls });
    return id;
  }

  /**
   * A view: `bytes` bytes of buffer `id` from `byteOffset` (4-byte aligned, else null), sharing
   * its memory. Freeing it frees only the view (class 0: no block to return).
   */
  viewOf(id: BufferId, byteOffset: number, bytes: number): BufferId | null {
    const parent = this.block(id);
    if (!(byteOffset >= 0 && bytes >= 0 && byteOffset + bytes <= parent.bytes)) {
      throw new RangeError(
        `wasm backend: view [${byteOffset}, ${byteOffset + bytes}) is outside buffer ${id} (${parent.bytes} bytes)`,
      );
    }
    if (byteOffset % 4 !== 0) return null;
    const viewId = this.nextId++;
    this.blocks.set(viewId, { ptr: parent.ptr + byteOffset, bytes, cls: 0 });
    return viewId;
  }

  free(id: BufferId): void {
    const block = this.blocks.get(id);
    if (block === undefined) throw new Error(`wasm backend: free of unknown buffer ${id}`);
    this.blocks.delete(id);
    if (block.cls === 0) return;
    let list = this.freeLists.get(block.cls);
    if (list === undefined) {
      list = [];
      this.freeLists.set(block.cls, list);
    }
    list.push(block.ptr);
  }

  /** Byte offset of a live buffer. */
  ptr(id: BufferId): number {
    return this.block(id).ptr;
  }

  /** Requested byte size of a live buffer. */
  bytes(id: BufferId): number {
    return this.block(id).bytes;
  }

  get size(): number {
    return this.blocks.size;
  }

  /** Bytes the memory holds now. */
  get memoryBytes(): number {
    return this.memory.buffer.byteLength;
  }

  /** float32 view of the whole memory (re-created after growth). */
  get f32(): Float32Array {
    this.refresh();
    return this.f32v;
  }

  /** int32 view of the whole memory. */
  get i32(): Int32Array {
    this.refresh();
    return this.i32v;
  }

  /** byte view of the whole memory. */
  get u8(): Uint8Array {
    this.refresh();
    return this.u8v;
  }

  /** A view of `count` elements of `dtype` at byte offset `ptr`. */
  view(dtype: DType, ptr: number, count: number): StorageArray {
    return viewTyped(dtype, this.memory.buffer, ptr, count);
  }

  private block(id: BufferId): Block {
    const block = this.blocks.get(id);
    if (block === undefined) {
      throw new Error(`wasm backend: unknown buffer ${id} (freed or never allocated)`);
    }
    return block;
  }

  private bump(cls: number): number {
    const ptr = this.top;
    const end = ptr + cls;
    const have = this.memory.buffer.byteLength;
    if (end > have) {
      const pages = Math.ceil((end - have) / PAGE);
      // Grow by at least an eighth of what is there, so a growing model does not grow page by page.
      const want = Math.max(pages, Math.ceil(have / PAGE / 8));
      try {
        this.memory.grow(want);
      } catch {
        try {
          this.memory.grow(pages);
        } catch {
          throw new RangeError(
            `wasm backend: out of memory: ${cls} more bytes do not fit in the ${have} bytes ` +
              "the WebAssembly memory can grow to here (its maximum, or what the host allows); " +
              "free tensors (tidy, dispose) or pass a larger maxMemoryMiB.",
          );
        }
      }
      this.grown++;
    }
    this.top = end;
    return ptr;
  }

  private refresh(): void {
    if (this.viewsGrown === this.grown) return;
    const buffer = this.memory.buffer;
    this.viewsGrown = this.grown;
    this.f32v = new Float32Array(buffer);
    this.i32v = new Int32Array(buffer);
    this.u8v = new Uint8Array(buffer);
  }
}
