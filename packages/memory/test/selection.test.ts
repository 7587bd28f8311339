import { describe, expect, it } from "vitest";
import { EideticStore, selectEidetic, selectEideticBatch, topKBruteForce } from "../src/index.js";
import { integerScores, uniform } from "./helpers.js";

/** Row c of a [chunks, capacity] selection, without the −1 padding. */
function row(sel: Int32Array, c: number, capacity: number): number[] {
  return Array.from(sel.subarray(c * capacity, (c + 1) * capacity)).filter((p) => p >= 0);
}

describe("selectEidetic", () => {
  it("equals topKBruteForce(scores, c·w, m_e) for every chunk (random and tied scores)", () => {
    for (let seed = 0; seed < 40; seed++) {
      const L = 5 + (seed % 37);
      const variants = [uniform(seed, L), integerScores(500 + seed, L, 3)];
      for (const scores of variants) {
        for (const w of [1, 2, 3, 8]) {
          for (const capacity of [0, 1, 2, 5]) {
            const sel = selectEidetic(scores, w, capacity);
            const chunks = Math.ceil(L / w);
            expect(sel.length).toBe(chunks * capacity);
            for (let c = 0; c < chunks; c++) {
              const expected = topKBruteForce(scores, c * w, capacity);
              const got = Array.from(sel.subarray(c * capacity, (c + 1) * capacity));
              // Sorted ascending, then −1 padding.
              expect(got).toEqual([...expected, ...new Array(capacity - expected.length).fill(-1)]);
            }
          }
        }
      }
    }
  });

  it("chunk 0 is all −1; a capacity above the candidate count leaves −1 padding", () => {
    const scores = [0.5, 2, 1, 3, 0.1, 4, 4];
    const sel = selectEidetic(scores, 2, 5);
    expect(Array.from(sel)).toEqual([
      // chunk 0: nothing before position 0
      -1, -1, -1, -1, -1,
      // chunk 1: positions 0, 1
      0, 1, -1, -1, -1,
      // chunk 2: positions 0..3
      0, 1, 2, 3, -1,
      // chunk 3: positions 0..5, top 5 drops 4 (score 0.1)
      0, 1, 2, 3, 5,
    ]);
    expect(Array.from(selectEidetic(scores, 2, 2))).toEqual([-1, -1, 0, 1, 1, 3, 3, 5]);
  });

  it("the chunks argument: fewer chunks truncate, extra chunks see the whole sequence", () => {
    const scores = [1, 5, 2, 4];
    expect(Array.from(selectEidetic(scores, 2, 1, 1))).toEqual([-1]);
    expect(Array.from(selectEidetic(scores, 2, 1, 4))).toEqual([-1, 1, 1, 1]);
    expect(Array.from(selectEidetic(scores, 3, 2, 0))).toEqual([]);
    expect(Array.from(selectEidetic([], 3, 2))).toEqual([]);
  });

  it("matches a store fed token by token and read at chunk boundaries (the decoder's view)", () => {
    const L = 50;
    const [w, capacity] = [7, 4];
    const scores = integerScores(9, L, 4);
    const sel = selectEidetic(scores, w, capacity);
    const store = new EideticStore(capacity);
    for (let t = 0; t < L; t++) {
      if (t % w === 0) expect(row(sel, t / w, capacity)).toEqual(store.positions());
      store.offer(t, scores[t]);
    }
  });

  it("rejects bad sizes with a clear error", () => {
    expect(() => selectEidetic([1, 2], 0, 1)).toThrow(
      /selectEidetic: chunkSize must be a positive integer, got 0/,
    );
    expect(() => selectEidetic([1, 2], 1, -1)).toThrow(
      /selectEidetic: capacity must be a non-negative integer/,
    );
    expect(() => selectEidetic([1, 2], 1, 1, 1.5)).toThrow(/selectEidetic: chunks/);
  });
});

describe("selectEideticBatch", () => {
  it("equals selectEidetic per sequence, row-major [B, chunks, m_e]", () => {
    const [B, L, w, capacity] = [3, 23, 4, 3];
    const scores = Float32Array.from(uniform(77, B * L, 0, 1));
    const sel = selectEideticBatch(scores, B, L, w, capacity);
    const chunks = Math.ceil(L / w);
    expect(sel.length).toBe(B * chunks * capacity);
    for (let b = 0; b < B; b++) {
      const one = selectEidetic(scores.subarray(b * L, (b + 1) * L), w, capacity);
      expect(Array.from(sel.subarray(b * chunks * capacity, (b + 1) * chunks * capacity))).toEqual(
        Array.from(one),
      );
    }
  });

  it("checks the length of scores", () => {
    expect(() => selectEideticBatch(new Float32Array(10), 2, 4, 2, 1)).toThrow(
      /scores must hold batch · length = 2 · 4 = 8 values, got 10/,
    );
  });
});
