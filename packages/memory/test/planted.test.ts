/**
 * End to end: innovation scores of a sequence with three planted "surprises", then the store.
 *
 * The sequence is a noisy STAIRCASE: y_t = c + Σ_{i: p_i ≤ t} J_i·e_i + noise, i.e. the level
 * jumps by J_i (along unit direction e_i) at planted position p_i and stays there. With the k = 4
 * running mean (the default), the error at a planted position is ≈ J_i (the whole jump: the 4
 * previous outputs are all on the old level, plants are ≥ 5 apart), and at the 3 tokens after it
 * ≈ 3J_i/4, J_i/2, J_i/4 (the mean still partly on the old level), then ≈ noise (≤ 0.01).
 * ε_0 = ‖y_0‖ ≈ ‖c‖ < 1. The jumps are J = 10, 11, 12, so the smallest planted error (10) beats
 * the largest follower (3·12/4 = 9) by a margin ≫ noise: the planted tokens are the strict top 3,
 * with no ties for the tie rule to decide.
 *
 * A single SPIKE (y_p = c + J·e_p, then back to c) also works with k = 4 (the 3 tokens after it
 * score J/4), but NOT with k = 1: the token right after the spike is predicted by the spike itself
 * and ties it exactly (‖c − (c + J·e)‖ = J), so a capacity-3 store keeps the earliest tied tokens
 * [p1, p1 + 1, p2]. Both cases are tested below.
 */
import { tensor } from "@bmojo/tensor";
import { describe, expect, it } from "vitest";
import {
  EideticStore,
  InnovationTracker,
  innovationScores,
  selectEidetic,
  selectEideticBatch,
} from "../src/index.js";
import { rng } from "./helpers.js";

const D = 8;
const JUMPS = [10, 11, 12];

function staircase(length: number, planted: number[], seed: number, noise = 0.01): Float32Array {
  const r = rng(seed);
  const c = Array.from({ length: D }, () => 0.5 * (r() - 0.5)); // ‖c‖ ≤ 0.25·√8 ≈ 0.7
  const level = [...c];
  const y = new Float32Array(length * D);
  for (let t = 0; t < length; t++) {
    const k = planted.indexOf(t);
    if (k >= 0) level[k % D] += JUMPS[k];
    for (let i = 0; i < D; i++) y[t * D + i] = level[i] + noise * (r() - 0.5);
  }
  return y;
}

describe("planted surprises", () => {
  const L = 64;
  const planted = [11, 30, 47];

  it("the store holds exactly the planted positions (k = 4, capacity 3)", () => {
    const values = staircase(L, planted, 1);
    const y = tensor(values, [1, L, D]);
    const eps = Float64Array.from(innovationScores(y).dataSync());
    y.dispose();
    // The numbers the argument above relies on.
    planted.forEach((p, i) => {
      expect(eps[p]).toBeCloseTo(JUMPS[i], 1);
      expect(eps[p + 1]).toBeCloseTo((3 * JUMPS[i]) / 4, 1);
      expect(eps[p + 2]).toBeCloseTo(JUMPS[i] / 2, 1);
      expect(eps[p + 3]).toBeCloseTo(JUMPS[i] / 4, 1);
      expect(eps[p + 4]).toBeLessThan(0.05);
    });
    expect(eps[0]).toBeLessThan(1);

    const store = new EideticStore(3);
    for (let t = 0; t < L; t++) store.offer(t, eps[t]);
    expect(store.positions()).toEqual(planted);

    // The chunked form: chunk c holds the planted positions before c·w.
    const w = 16;
    const sel = selectEidetic(eps, w, 3, 5);
    expect(Array.from(sel)).toEqual([
      ...[-1, -1, -1], // chunk 0
      // chunk 1 (before 16): plant 11 (10) and its followers 12 (7.5), 13 (5)
      ...[11, 12, 13],
      // chunk 2 (before 32): 30 (11), 11 (10), 31 (8.25) beat 12 (7.5)
      ...[11, 30, 31],
      ...[11, 30, 47], // chunk 3 (before 48)
      ...[11, 30, 47], // chunk 4 (the whole sequence)
    ]);
  });

  it("the recurrent path (InnovationTracker → EideticStore) selects the same tokens", () => {
    const values = staircase(L, planted, 2);
    const tracker = new InnovationTracker(1, D);
    const store = new EideticStore(3);
    for (let t = 0; t < L; t++) {
      store.offer(t, tracker.score(values.subarray(t * D, (t + 1) * D))[0]);
    }
    expect(store.positions()).toEqual(planted);
    const y = tensor(values, [1, L, D]);
    const eps = innovationScores(y);
    expect(Array.from(selectEidetic(eps.dataSync(), L, 3, 2).subarray(3))).toEqual(planted);
    y.dispose();
    eps.dispose();
  });

  it("per batch element, with k = 1 on a staircase (only the jump itself is surprising)", () => {
    const plants = [
      [5, 20, 33],
      [2, 3, 60],
    ];
    const values = new Float32Array(2 * L * D);
    plants.forEach((p, b) => {
      values.set(staircase(L, p, 10 + b), b * L * D);
    });
    const y = tensor(values, [2, L, D]);
    const eps = innovationScores(y, { predictorLength: 1 });
    const sel = selectEideticBatch(eps.dataSync() as Float32Array, 2, L, L, 3, 2);
    expect(Array.from(sel)).toEqual([-1, -1, -1, ...plants[0], -1, -1, -1, ...plants[1]]);
    y.dispose();
    eps.dispose();
  });

  it("spikes: k = 4 selects the spikes; k = 1 ties each spike with its successor", () => {
    const spikes = [9, 25, 40];
    const c = [0.3, -0.2, 0.1, 0, 0.25, -0.1, 0.05, 0.2];
    const values = new Float32Array(L * D);
    for (let t = 0; t < L; t++) {
      for (let i = 0; i < D; i++)
        values[t * D + i] = c[i] + (spikes.includes(t) && i === 2 ? 10 : 0);
    }
    const y = tensor(values, [1, L, D]);
    const eps4 = innovationScores(y).dataSync();
    const eps1 = innovationScores(y, { predictorLength: 1 }).dataSync();
    y.dispose();
    for (const p of spikes) {
      expect(eps4[p]).toBeCloseTo(10, 5);
      for (const q of [p + 1, p + 2, p + 3]) expect(eps4[q]).toBeCloseTo(2.5, 5);
      expect(eps1[p]).toBe(eps1[p + 1]); // an exact tie
    }
    const store = new EideticStore(3);
    eps4.forEach((e, t) => {
      store.offer(t, e);
    });
    expect(store.positions()).toEqual(spikes);
    store.clear();
    eps1.forEach((e, t) => {
      store.offer(t, e);
    });
    expect(store.positions()).toEqual([9, 10, 25]); // ties: the earlier tokens stay
  });
});
