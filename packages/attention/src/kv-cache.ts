/**
 * Key/value caches for recurrent decoding (conventions, "Recurrent decoding"): a full buffer of
 * maxLength positions for full attention, a ring of `window` slots for a sliding window. Both hold
 * k, v [B, Hkv, capacity, Dh] allocated once (static shapes) and written in place with
 * assignSlice; keys are stored after RoPE. Cache writes are not on the gradient tape: caches are
 * for inference.
 */
import {
  type FloatDType,
  type Backend,
  type Tensor,
  arange,
  assignRows,
  assignSlice,
  bytesPerElement,
  concat,
  keep,
  reshape,
  slice,
  tidy,
  zeros,
} from "@bmojo/tensor";

/** Shape and placement of a cache's buffers. */
export interface KVCacheOptions {
  batch: number;
  kvHeads: number;
  /** Slots: maxLength for a full cache, the window for a ring. */
  capacity: number;
  headDim: number;
  /** The dtype of the keys and values (the attention's compute dtype). */
  dtype: FloatDType;
  backend?: Backend;
}

/** What the full and ring caches share: the buffers, the position, in-place appends. */
export abstract class KVCacheBase {
  /** Keys [B, Hkv, capacity, Dh], after RoPE. */
  readonly k: Tensor;
  /** Values [B, Hkv, capacity, Dh]. */
  readonly v: Tensor;
  /**
   * int32 [capacity]: 0 … capacity−1. A step that reads its position from the device compares
   * its position with these to mask the slots (see DevicePosition).
   */
  readonly slotIds: Tensor;
  readonly batch: number;
  readonly kvHeads: number;
  readonly capacity: number;
  readonly headDim: number;
  abstract readonly kind: "full" | "ring";
  private seen = 0;

  constructor(options: KVCacheOptions) {
    const { batch, kvHeads, capacity, headDim, dtype, backend } = options;
    for (const [field, value] of Object.entries({ batch, kvHeads, capacity, headDim })) {
      if (!Number.isInteger(value) || value < 1) {
        throw new RangeError(
          `${this.constructor.name}: ${field} must be a positive integer, got ${value}.`,
        );
      }
    }
    this.batch = batch;
    this.kvHeads = kvHeads;
    this.capacity = capacity;
    this.headDim = headDim;
    // The cache owns its buffers (released by dispose()), so no enclosing tidy may free them.
    this.k = keep(zeros([batch, kvHeads, capacity, headDim], { dtype, backend }));
    this.v = keep(zeros([batch, kvHeads, capacity, headDim], { dtype, backend }));
    this.slotIds = keep(arange(capacity, undefined, 1, { dtype: "int32", backend }));
  }

  /** Tokens seen so far: the absolute position of the next token. */
  get position(): number {
    return this.seen;
  }

  /** The slot that holds (or will hold) the token at an absolute position. */
  abstract slotOf(position: number): number;

  /** Throws (before any work is done) if `count` more tokens cannot be appended. */
  abstract assertRoom(count: number): void;

  /**
   * Writes the keys/values of the next `n` tokens (k, v [B, Hkv, n, Dh], positions
   * position … position+n−1) in place and advances the position by n. Only the last
   * min(n, capacity) tokens are stored.
   */
  append(k: Tensor, v: Tensor): void {
    const n = k.shape[2];
    this.assertBlock("append", "k", k, n);
    this.assertBlock("append", "v", v, n);
    this.assertRoom(n);
    const kept = Math.min(n, this.capacity);
    let position = this.seen + n - kept;
    let from = n - kept;
    while (from < n) {
      const slot = this.slotOf(position);
      const run = Math.min(n - from, this.capacity - slot);
      this.writeRun(k, v, from, run, slot);
      from += run;
      position += run;
    }
    this.seen += n;
  }

  /**
   * Writes one token's key and value k, v [B, Hkv, 1, Dh] into the slot that `slot` (int32 [1],
   * on the device) names, without moving the position: a step that reads its position from the
   * device writes this way, and its caller moves the position on (`advance`).
   */
  writeSlot(k: Tensor, v: Tensor, slot: Tensor): void {
    this.assertBlock("writeSlot", "k", k, 1);
    this.assertBlock("writeSlot", "v", v, 1);
    const rows = this.batch * this.kvHeads;
    tidy(() => {
      for (const [buffer, value] of [
        [this.k, k],
        [this.v, v],
      ] as const) {
        assignRows(
          reshape(buffer, [rows, this.capacity, this.headDim]),
          slot,
          reshape(value, [rows, 1, this.headDim]),
          1,
        );
      }
    });
  }

  /**
   * Moves the position on by `count` tokens whose keys and values were written on the device
   * (a replayed step, see writeSlot). Throws, moving nothing, if they do not fit.
   */
  advance(count: number): void {
    if (!Number.isInteger(count) || count < 0) {
      throw new RangeError(
        `${this.constructor.name}.advance: count must be an integer ≥ 0, got ${count}.`,
      );
    }
    this.assertRoom(count);
    this.seen += count;
  }

  /**
   * The stored tokens in chronological order, positions position−count … position−1 with
   * count = min(position, capacity): new tensors k, v [B, Hkv, count, Dh] (caller owns them).
   */
  recent(): { k: Tensor; v: Tensor; count: number } {
    const count = Math.min(this.seen, this.capacity);
    const first = this.slotOf(this.seen - count);
    const take = (t: Tensor): Tensor => {
      if (first + count <= this.capacity) return this.slots(t, first, count);
      const head = this.slots(t, first, this.capacity - first);
      const tail = this.slots(t, 0, count - (this.capacity - first));
      const joined = concat([head, tail], 2);
      head.dispose();
      tail.dispose();
      return joined;
    };
    return { k: take(this.k), v: take(this.v), count };
  }

  /** Forgets every token (position back to 0); the buffers are kept and overwritten later. */
  reset(): void {
    this.seen = 0;
  }

  /** Bytes of the tensors held (k and v); fixed at construction. */
  bytes(): number {
    return (this.k.size + this.v.size) * bytesPerElement(this.k.dtype);
  }

  /** Frees the buffers. */
  dispose(): void {
    this.k.dispose();
    this.v.dispose();
    this.slotIds.dispose();
  }

  private slots(t: Tensor, first: number, count: number): Tensor {
    return slice(t, [0, 0, first, 0], [this.batch, this.kvHeads, count, this.headDim]);
  }

  private writeRun(k: Tensor, v: Tensor, from: number, run: number, slot: number): void {
    const at = [0, 0, slot, 0];
    if (from === 0 && run === k.shape[2]) {
      // The whole block (one decode token): no intermediate copy.
      assignSlice(this.k, k, at);
      assignSlice(this.v, v, at);
      return;
    }
    const size = [this.batch, this.kvHeads, run, this.headDim];
    const kPart = slice(k, [0, 0, from, 0], size);
    const vPart = slice(v, [0, 0, from, 0], size);
    assignSlice(this.k, kPart, at);
    assignSlice(this.v, vPart, at);
    kPart.dispose();
    vPart.dispose();
  }

  private assertBlock(method: string, name: string, t: Tensor, n: number): void {
    const expected = [this.batch, this.kvHeads, n, this.headDim];
    const ok = t.rank === 4 && t.shape.every((d, i) => d === expected[i]);
    if (!ok || t.dtype !== this.k.dtype) {
      throw new RangeError(
        `${this.constructor.name}.${method}: ${name} is ${t.dtype} [${t.shape.join(", ")}] but the cache holds ` +
          `${this.k.dtype} [batch ${this.batch}, kvHeads ${this.kvHeads}, n, headDim ${this.headDim}].`,
      );
    }
  }
}

/** Every position 0 … maxLength−1 in its own slot (slot = position). */
export class FullKVCache extends KVCacheBase {
  readonly kind = "full" as const;

  /** The most tokens this cache can hold. */
  get maxLength(): number {
    return this.capacity;
  }

  slotOf(position: number): number {
    return position;
  }

  assertRoom(count: number): void {
    if (this.position + count > this.capacity) {
      throw new RangeError(
        `FullKVCache: cannot write ${count} token(s) at position ${this.position}: the cache holds ` +
          `maxLength ${this.capacity} positions. Create a larger cache ` +
          `(createCache(batch, maxLength ≥ ${this.position + count})).`,
      );
    }
  }
}

/** A ring of `window` slots: the token at position p lives in slot p mod window. Never fills up. */
export class RingKVCache extends KVCacheBase {
  readonly kind = "ring" as const;

  /** The attention window, i.e. the number of slots. */
  get window(): number {
    return this.capacity;
  }

  slotOf(position: number): number {
    return position % this.capacity;
  }

  assertRoom(_count: number): void {}
}

/** A layer's decoding cache: a full buffer or a ring. */
export type KVCache = FullKVCache | RingKVCache;
