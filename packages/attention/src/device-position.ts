/**
 * The position of the token a decode step takes, held on the device, so that a captured step
 * (LanguageModel.compileStep) replays at later positions: the caller updates one int32 in place,
 * and the step derives its RoPE angle, its cache slot and its mask of visible slots from it with
 * device ops instead of baking host numbers into the kernels' arguments.
 */
import {
  type Tensor,
  broadcastTo,
  div,
  keep,
  less,
  mul,
  notEqual,
  reshape,
  sub,
  tidy,
} from "@bmojo/tensor";
import type { KVCache } from "./kv-cache.js";

/** Where a step at a device position writes in a cache, and which slots its query sees. */
export interface DeviceSlots {
  /** int32 [1]: the slot the token's key and value go to. */
  slot: Tensor;
  /**
   * int32 [batch, 1, capacity]: 1 where a slot holds an earlier token in the window (the token's
   * own key is not among them: the step attends to it directly).
   */
  mask: Tensor;
}

/**
 * A step's position p, int32 [1] on the device, and what caches derive from it: computed once per
 * cache geometry (kind, slots, batch) and reused by every layer, until `position` is written again
 * (its version moves) or `dispose`. A captured program's replays recompute them on the device from
 * whatever `position` then holds.
 */
export class DevicePosition {
  private readonly derived = new Map<string, DeviceSlots>();
  private readonly perSequence = new Map<number, Tensor>();
  private readonly remainders = new Map<number, Tensor>();
  private version: number;

  /**
   * @param position int32 [1], the position p (owned by the caller; not disposed here).
   * @param bound every position this may hold is < bound: RoPE tables are sized by it, and the
   *   caller must keep p below it (a device value is not checked).
   */
  constructor(
    readonly position: Tensor,
    readonly bound: number,
  ) {
    if (position.dtype !== "int32" || position.rank !== 1 || position.shape[0] !== 1) {
      throw new RangeError(
        `DevicePosition: position must be int32 [1], got ${position.dtype} [${position.shape.join(", ")}].`,
      );
    }
    if (!Number.isInteger(bound) || bound < 1) {
      throw new RangeError(`DevicePosition: bound must be an integer ≥ 1, got ${bound}.`);
    }
    this.version = position.version;
  }

  /** int32 [batch]: p once per sequence (the positions applyRopeAt takes). */
  positions(batch: number): Tensor {
    if (batch === 1) return this.position;
    this.dropStale();
    let spread = this.perSequence.get(batch);
    if (spread === undefined) {
      spread = keep(broadcastTo(this.position, [batch]));
      this.perSequence.set(batch, spread);
    }
    return spread;
  }

  /**
   * The slot of p in `cache` (p in a full cache, `remainder(capacity)` in a ring) and the mask of the
   * slots before it: slots j < p in a full cache (whose window covers it: slot = position); in a
   * ring, slots j < p except p's own slot, whose token (p − capacity) leaves the window.
   */
  slots(cache: KVCache): DeviceSlots {
    this.dropStale();
    const key = `${cache.kind}:${cache.capacity}:${cache.batch}`;
    let found = this.derived.get(key);
    if (found === undefined) {
      const p = this.position;
      const slot = cache.kind === "full" ? p : this.remainder(cache.capacity);
      const mask = keep(
        tidy(() => {
          const earlier = less(cache.slotIds, p);
          const visible =
            cache.kind === "full" ? earlier : mul(earlier, notEqual(cache.slotIds, slot));
          const rows = reshape(visible, [1, 1, cache.capacity]);
          return cache.batch === 1 ? rows : broadcastTo(rows, [cache.batch, 1, cache.capacity]);
        }),
      );
      found = { slot, mask };
      this.derived.set(key, found);
    }
    return found;
  }

  /** int32 [1]: p mod n (a ring's slot; int32 division truncates, and p ≥ 0). */
  remainder(n: number): Tensor {
    if (!Number.isInteger(n) || n < 1) {
      throw new RangeError(`DevicePosition.remainder: n must be an integer ≥ 1, got ${n}.`);
    }
    this.dropStale();
    let r = this.remainders.get(n);
    if (r === undefined) {
      const p = this.position;
      r = keep(tidy(() => sub(p, mul(div(p, n), n))));
      this.remainders.set(n, r);
    }
    return r;
  }

  /** Frees values derived from an earlier value of `position`. */
  private dropStale(): void {
    if (this.position.version === this.version) return;
    this.dispose();
    this.version = this.position.version;
  }

  /** Frees the derived values (the position stays the caller's). */
  dispose(): void {
    for (const { mask } of this.derived.values()) mask.dispose();
    for (const t of [...this.perSequence.values(), ...this.remainders.values()]) t.dispose();
    this.derived.clear();
    this.perSequence.clear();
    this.remainders.clear();
  }
}
