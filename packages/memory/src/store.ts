/**
 * The eidetic store of one sequence (DESIGN §4): a running top-m_e of the tokens seen so far, by
 * innovation score. This is the recurrent rule of the paper's Algorithm 1,
 * `M_t = M_{t−1} ∪ {(u_t, ε_t)} if ε_t > min_{ε ∈ M_{t−1}} ε`, with a fixed capacity and the
 * eviction the paper leaves implicit.
 *
 * The rule, exactly:
 * - Positions arrive in strictly increasing order.
 * - While the store is not full, every offered token is admitted, into the next free slot
 *   (slots 0, 1, 2, … in arrival order).
 * - When full, a token is admitted only if its score is STRICTLY greater than the smallest stored
 *   score. It evicts the stored entry with the smallest score; among equal smallest scores, the
 *   LATEST position is evicted (the earlier token stays). The newcomer takes the evicted slot.
 * - A NaN score is never admitted, not even into a free slot (a NaN compares false with
 *   everything, so it could never be ranked or evicted consistently). ±Infinity are ordinary scores.
 *
 * Equivalently, after every offer the store holds the top-`capacity` of all non-NaN tokens offered
 * so far, ordered by (score descending, position ascending): `topKBruteForce` in selection.ts
 * states that ordering directly and the tests check the two agree.
 */

/** One stored token: its sequence position, its innovation score and the slot it occupies. */
export interface EideticEntry {
  position: number;
  score: number;
  slot: number;
}

/** What `EideticStore.offer` did with a token. */
export interface OfferResult {
  /** Whether the token is now stored. */
  admitted: boolean;
  /** The slot it was stored in, or −1 if it was not admitted. */
  slot: number;
  /** The position of the entry it evicted from that slot, or null (free slot, or not admitted). */
  evicted: number | null;
}

/**
 * A copy of a store's state, plain data (JSON-serialisable) for caches. `positions[i]` and
 * `scores[i]` are the entry in slot i; slots 0..size−1 are always the occupied ones.
 */
export interface EideticStoreSnapshot {
  capacity: number;
  /** The last position offered (−1 if none): later offers must come after it. */
  lastPosition: number;
  positions: number[];
  scores: number[];
}

/**
 * The running top-`capacity` store of one sequence. `offer` costs O(1) when a token is rejected or
 * fills a free slot and O(capacity) when it evicts (a rescan for the new minimum), with no
 * allocation besides the returned object.
 */
export class EideticStore {
  /** m_e, the number of slots. 0 is allowed: such a store never admits anything. */
  readonly capacity: number;
  private readonly slotPositions: Float64Array;
  private readonly slotScores: Float64Array;
  private readonly scratch: Float64Array;
  private count = 0;
  /** The slot a newcomer must beat (smallest score, latest position among ties); −1 when empty. */
  private minSlot = -1;
  private last = -1;

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 0) {
      throw new RangeError(
        `EideticStore: capacity (m_e) must be a non-negative integer, got ${capacity}.`,
      );
    }
    this.capacity = capacity;
    this.slotPositions = new Float64Array(capacity);
    this.slotScores = new Float64Array(capacity);
    this.scratch = new Float64Array(capacity);
  }

  /** A store in the state `snapshot` describes. */
  static fromSnapshot(snapshot: EideticStoreSnapshot): EideticStore {
    const store = new EideticStore(snapshot.capacity);
    store.restore(snapshot);
    return store;
  }

  /** The number of stored tokens (≤ capacity). */
  get size(): number {
    return this.count;
  }

  /** Whether every slot is occupied. */
  get full(): boolean {
    return this.count === this.capacity;
  }

  /** The last position offered, or −1 if nothing has been offered since construction/clear(). */
  get lastPosition(): number {
    return this.last;
  }

  /**
   * Offers the token at `position` with innovation score `score` (see the rule at the top of this
   * file). Throws if `position` is not a non-negative integer after the last offered position.
   */
  offer(position: number, score: number): OfferResult {
    if (!Number.isSafeInteger(position) || position < 0) {
      throw new RangeError(
        `EideticStore.offer: position must be a non-negative integer, got ${position}.`,
      );
    }
    if (position <= this.last) {
      throw new RangeError(
        `EideticStore.offer: position ${position} does not come after the last offered position ${this.last}; ` +
          "positions must arrive in strictly increasing order (call clear() to start a new sequence).",
      );
    }
    this.last = position;
    if (Number.isNaN(score)) return { admitted: false, slot: -1, evicted: null };
    if (this.count < this.capacity) {
      const slot = this.count++;
      this.slotPositions[slot] = position;
      this.slotScores[slot] = score;
      // The newcomer is the latest position, so it is the new minimum on a tie as well.
      if (this.minSlot < 0 || score <= this.slotScores[this.minSlot]) this.minSlot = slot;
      return { admitted: true, slot, evicted: null };
    }
    if (this.capacity === 0 || !(score > this.slotScores[this.minSlot])) {
      return { admitted: false, slot: -1, evicted: null };
    }
    const slot = this.minSlot;
    const evicted = this.slotPositions[slot];
    this.slotPositions[slot] = position;
    this.slotScores[slot] = score;
    this.minSlot = this.findMinSlot();
    return { admitted: true, slot, evicted };
  }

  /** The stored tokens, sorted by position ascending. */
  entries(): EideticEntry[] {
    const out: EideticEntry[] = [];
    for (let slot = 0; slot < this.count; slot++) {
      out.push({ position: this.slotPositions[slot], score: this.slotScores[slot], slot });
    }
    return out.sort((a, b) => a.position - b.position);
  }

  /** The stored positions, ascending. */
  positions(): number[] {
    return Array.from(this.sortedPositions());
  }

  /**
   * Writes the stored positions, ascending, into `out[offset .. offset + capacity)`, padding the
   * unoccupied tail with −1 (the layout `selectEidetic` returns per chunk).
   */
  writePositions(out: Int32Array | Float64Array | number[], offset = 0): void {
    const sorted = this.sortedPositions();
    for (let i = 0; i < this.capacity; i++) out[offset + i] = i < this.count ? sorted[i] : -1;
  }

  /** The position stored in `slot`, or −1 if that slot is unoccupied. */
  positionAt(slot: number): number {
    this.assertSlot(slot);
    return slot < this.count ? this.slotPositions[slot] : -1;
  }

  /** The score stored in `slot`, or NaN if that slot is unoccupied. */
  scoreAt(slot: number): number {
    this.assertSlot(slot);
    return slot < this.count ? this.slotScores[slot] : Number.NaN;
  }

  /** Empties the store; positions may start again from 0. */
  clear(): void {
    this.count = 0;
    this.minSlot = -1;
    this.last = -1;
  }

  /** A copy of the state (see `EideticStoreSnapshot`). */
  snapshot(): EideticStoreSnapshot {
    return {
      capacity: this.capacity,
      lastPosition: this.last,
      positions: Array.from(this.slotPositions.subarray(0, this.count)),
      scores: Array.from(this.slotScores.subarray(0, this.count)),
    };
  }

  /** Replaces the state with `snapshot`, after checking it is one this store could be in. */
  restore(snapshot: EideticStoreSnapshot): void {
    const { capacity, lastPosition, positions, scores } = snapshot;
    const bad = (why: string): never => {
      throw new RangeError(`EideticStore.restore: invalid snapshot: ${why}.`);
    };
    if (capacity !== this.capacity) {
      bad(`capacity ${capacity} does not match this store's ${this.capacity}`);
    }
    if (positions.length !== scores.length) {
      bad(`${positions.length} positions but ${scores.length} scores`);
    }
    if (positions.length > capacity) bad(`${positions.length} entries exceed capacity ${capacity}`);
    if (!Number.isSafeInteger(lastPosition) || lastPosition < -1) {
      bad(`lastPosition must be an integer ≥ −1, got ${lastPosition}`);
    }
    const seen = new Set<number>();
    positions.forEach((p, i) => {
      if (!Number.isSafeInteger(p) || p < 0 || p > lastPosition) {
        bad(`position ${p} (slot ${i}) is not an integer in [0, lastPosition = ${lastPosition}]`);
      }
      if (seen.has(p)) bad(`position ${p} is stored twice`);
      seen.add(p);
      if (Number.isNaN(scores[i])) bad(`the score of position ${p} (slot ${i}) is NaN`);
    });
    this.count = positions.length;
    this.slotPositions.set(positions);
    this.slotScores.set(scores);
    this.last = lastPosition;
    this.minSlot = this.findMinSlot();
  }

  /** An independent copy. */
  clone(): EideticStore {
    return EideticStore.fromSnapshot(this.snapshot());
  }

  /** The occupied slot with the smallest score, the latest position among ties; −1 if empty. */
  private findMinSlot(): number {
    let best = -1;
    for (let slot = 0; slot < this.count; slot++) {
      if (best < 0) {
        best = slot;
        continue;
      }
      const s = this.slotScores[slot];
      const m = this.slotScores[best];
      if (s < m || (s === m && this.slotPositions[slot] > this.slotPositions[best])) best = slot;
    }
    return best;
  }

  /** The occupied positions sorted ascending, in a reused scratch view. */
  private sortedPositions(): Float64Array {
    const view = this.scratch.subarray(0, this.count);
    view.set(this.slotPositions.subarray(0, this.count));
    return view.sort();
  }

  private assertSlot(slot: number): void {
    if (!Number.isInteger(slot) || slot < 0 || slot >= this.capacity) {
      throw new RangeError(
        `EideticStore: slot must be an integer in [0, ${this.capacity}), got ${slot}.`,
      );
    }
  }
}
