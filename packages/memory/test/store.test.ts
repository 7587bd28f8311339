import { describe, expect, it } from "vitest";
import { EideticStore, topKBruteForce } from "../src/index.js";
import { integerScores, uniform } from "./helpers.js";

/**
 * Feeds `scores` one by one and checks the store against the brute-force rule after each offer,
 * and that the offer result describes the change exactly. Returns the number of prefixes checked
 * (plain comparisons in the loop keep the 100k-check sweeps fast; a mismatch throws with detail).
 */
function checkEveryPrefix(scores: ArrayLike<number>, capacity: number): number {
  const store = new EideticStore(capacity);
  const fail = (p: number, why: string): never => {
    throw new Error(`capacity ${capacity}, after position ${p}: ${why}`);
  };
  for (let p = 0; p < scores.length; p++) {
    const before = store.positions();
    const result = store.offer(p, scores[p]);
    const expected = topKBruteForce(scores, p + 1, capacity);
    const got = store.positions();
    if (got.join() !== expected.join()) fail(p, `store [${got}] vs brute force [${expected}]`);
    if (result.admitted !== got.includes(p)) fail(p, `admitted = ${result.admitted}`);
    if (result.admitted && store.positionAt(result.slot) !== p) fail(p, `slot ${result.slot}`);
    const evicted = before.filter((q) => !got.includes(q));
    if ((result.evicted === null ? [] : [result.evicted]).join() !== evicted.join()) {
      fail(p, `evicted = ${result.evicted}, but [${evicted}] left`);
    }
    if (store.size !== expected.length) fail(p, `size ${store.size}`);
  }
  return scores.length;
}

describe("EideticStore against topKBruteForce after every prefix", () => {
  it("random continuous scores, 60 seeds × capacities 0..9", () => {
    let checked = 0;
    for (let seed = 0; seed < 60; seed++) {
      const scores = uniform(seed, 50, 0, 10);
      for (let capacity = 0; capacity < 10; capacity++)
        checked += checkEveryPrefix(scores, capacity);
    }
    expect(checked).toBe(60 * 10 * 50);
  });

  it("small integer scores with many ties, 60 seeds × capacities 0..9 × 2, 3, 5 levels", () => {
    let checked = 0;
    for (let seed = 0; seed < 60; seed++) {
      for (const levels of [2, 3, 5]) {
        const scores = integerScores(1000 + seed, 40, levels);
        for (let capacity = 0; capacity < 10; capacity++)
          checked += checkEveryPrefix(scores, capacity);
      }
    }
    expect(checked).toBe(60 * 3 * 10 * 40);
  });

  it("scores with ±Infinity, −0 and NaN mixed in", () => {
    const base = [3, Number.NaN, 0, -0, Number.POSITIVE_INFINITY, 1, Number.NEGATIVE_INFINITY];
    for (let seed = 0; seed < 20; seed++) {
      const picks = integerScores(seed, 30, base.length);
      const scores = Array.from(picks, (i) => base[i]);
      for (let capacity = 0; capacity < 6; capacity++) {
        expect(checkEveryPrefix(scores, capacity)).toBe(30);
      }
    }
  });
});

describe("EideticStore rule", () => {
  it("fills free slots in order, then evicts the smallest score into its slot", () => {
    const store = new EideticStore(3);
    expect(store.offer(0, 5)).toEqual({ admitted: true, slot: 0, evicted: null });
    expect(store.offer(1, 2)).toEqual({ admitted: true, slot: 1, evicted: null });
    expect(store.offer(2, 7)).toEqual({ admitted: true, slot: 2, evicted: null });
    expect(store.full).toBe(true);
    expect(store.offer(3, 1)).toEqual({ admitted: false, slot: -1, evicted: null });
    expect(store.offer(4, 2)).toEqual({ admitted: false, slot: -1, evicted: null }); // not strictly greater
    expect(store.offer(5, 6)).toEqual({ admitted: true, slot: 1, evicted: 1 });
    expect(store.entries()).toEqual([
      { position: 0, score: 5, slot: 0 },
      { position: 2, score: 7, slot: 2 },
      { position: 5, score: 6, slot: 1 },
    ]);
    expect(store.positions()).toEqual([0, 2, 5]);
    expect([store.positionAt(1), store.scoreAt(1)]).toEqual([5, 6]);
  });

  it("among equal smallest scores the latest position is evicted (the earlier stays)", () => {
    const store = new EideticStore(3);
    store.offer(0, 1);
    store.offer(4, 1);
    store.offer(7, 1);
    expect(store.offer(8, 1).admitted).toBe(false); // a tie never enters
    expect(store.offer(9, 2)).toEqual({ admitted: true, slot: 2, evicted: 7 });
    expect(store.offer(10, 3)).toEqual({ admitted: true, slot: 1, evicted: 4 });
    expect(store.offer(11, 4)).toEqual({ admitted: true, slot: 0, evicted: 0 });
    expect(store.positions()).toEqual([9, 10, 11]);
  });

  it("capacity 0 never admits; capacity 1 keeps the earliest maximum", () => {
    const empty = new EideticStore(0);
    for (let p = 0; p < 5; p++) {
      expect(empty.offer(p, 100 + p)).toEqual({ admitted: false, slot: -1, evicted: null });
    }
    expect(empty.size).toBe(0);
    expect(empty.positions()).toEqual([]);

    const one = new EideticStore(1);
    const scores = [2, 5, 5, 1, 7, 7, 3];
    scores.forEach((s, p) => {
      one.offer(p, s);
    });
    expect(one.entries()).toEqual([{ position: 4, score: 7, slot: 0 }]);
  });

  it("positions out of order are an error, and so is a bad position or capacity", () => {
    const store = new EideticStore(2);
    store.offer(3, 1);
    expect(() => store.offer(3, 2)).toThrow(
      /position 3 does not come after the last offered position 3/,
    );
    expect(() => store.offer(1, 2)).toThrow(/strictly increasing/);
    expect(() => store.offer(-1, 2)).toThrow(/non-negative integer/);
    expect(() => store.offer(4.5, 2)).toThrow(/non-negative integer/);
    store.offer(10, 1); // gaps are fine
    expect(store.lastPosition).toBe(10);
    store.clear();
    expect(store.offer(0, 1).admitted).toBe(true); // clear() starts a new sequence
    expect(() => new EideticStore(-1)).toThrow(/capacity \(m_e\) must be a non-negative integer/);
    expect(() => new EideticStore(1.5)).toThrow(/capacity/);
  });

  it("a NaN score is never admitted, even into a free slot, but its position is consumed", () => {
    const store = new EideticStore(3);
    expect(store.offer(0, Number.NaN)).toEqual({ admitted: false, slot: -1, evicted: null });
    store.offer(1, 0);
    store.offer(2, Number.NaN);
    store.offer(3, -1);
    store.offer(4, -2);
    expect(store.positions()).toEqual([1, 3, 4]);
    expect(store.offer(5, Number.NaN).admitted).toBe(false);
    expect(() => store.offer(5, 1)).toThrow(/strictly increasing/);
    expect(store.positions()).toEqual([1, 3, 4]);
  });

  it("writePositions pads with −1", () => {
    const store = new EideticStore(4);
    store.offer(2, 1);
    store.offer(5, 9);
    const out = new Int32Array(6).fill(99);
    store.writePositions(out, 1);
    expect(Array.from(out)).toEqual([99, 2, 5, -1, -1, 99]);
    expect(store.positionAt(3)).toBe(-1);
    expect(store.scoreAt(3)).toBeNaN();
    expect(() => store.positionAt(4)).toThrow(/slot must be an integer in \[0, 4\)/);
  });

  it("snapshot / restore / clone round-trip and continue identically", () => {
    const scores = integerScores(42, 60, 4);
    const a = new EideticStore(5);
    for (let p = 0; p < 30; p++) a.offer(p, scores[p]);
    const snap = a.snapshot();
    const json = JSON.parse(JSON.stringify(snap));
    const b = EideticStore.fromSnapshot(json);
    const c = a.clone();
    expect(b.entries()).toEqual(a.entries());
    for (let p = 30; p < 60; p++) {
      const ra = a.offer(p, scores[p]);
      expect(b.offer(p, scores[p])).toEqual(ra);
      expect(c.offer(p, scores[p])).toEqual(ra);
    }
    expect(b.positions()).toEqual(topKBruteForce(scores, 60, 5));
    // The snapshot is a copy: later offers did not change it.
    a.restore(snap);
    expect(a.positions()).toEqual(topKBruteForce(scores, 30, 5));
    expect(a.lastPosition).toBe(29);
  });

  it("restore rejects inconsistent snapshots", () => {
    const store = new EideticStore(2);
    const ok = { capacity: 2, lastPosition: 5, positions: [1, 4], scores: [1, 2] };
    expect(() => store.restore({ ...ok, capacity: 3 })).toThrow(/capacity 3 does not match/);
    expect(() => store.restore({ ...ok, scores: [1] })).toThrow(/2 positions but 1 scores/);
    expect(() => store.restore({ ...ok, positions: [1, 1] })).toThrow(/stored twice/);
    expect(() => store.restore({ ...ok, positions: [1, 6] })).toThrow(
      /not an integer in \[0, lastPosition = 5\]/,
    );
    expect(() => store.restore({ ...ok, scores: [1, Number.NaN] })).toThrow(/NaN/);
    store.restore(ok);
    expect(store.offer(6, 1.5)).toEqual({ admitted: true, slot: 0, evicted: 1 });
  });
});

describe("topKBruteForce", () => {
  it("orders by score descending then position ascending, returns positions ascending", () => {
    const scores = [1, 3, 3, 2, 3, Number.NaN, 9];
    expect(topKBruteForce(scores, 5, 2)).toEqual([1, 2]);
    expect(topKBruteForce(scores, 5, 4)).toEqual([1, 2, 3, 4]);
    expect(topKBruteForce(scores, 7, 2)).toEqual([1, 6]);
    expect(topKBruteForce(scores, 100, 10)).toEqual([0, 1, 2, 3, 4, 6]); // NaN excluded
    expect(topKBruteForce(scores, 0, 3)).toEqual([]);
  });
});
