import { Random } from "@bmojo/tensor";
import { describe, expect, it } from "vitest";
import { IGNORE_INDEX, mqar } from "../src/index.js";
import { row, scored } from "./helpers.js";

const V = 64;
const L = 32;
const N = 4;

describe("mqar", () => {
  it("reports its resolved options and defaults (Zoology: V 8192, L 256, 16 pairs, a 0.01)", () => {
    const task = mqar();
    expect(task.name).toBe("mqar");
    expect(task.vocabSize).toBe(8192);
    expect(task.length).toBe(256);
    expect(task.options).toEqual({
      vocabSize: 8192,
      length: 256,
      pairs: 16,
      powerA: 0.01,
      randomNonQueries: true,
      queryPlacement: "power-law",
    });
    expect(Object.isFrozen(task.options)).toBe(true);
  });

  for (const placement of ["power-law", "uniform"] as const) {
    it(`builds k1 v1 … kN vN then re-asks every key once, scored by its value (${placement})`, () => {
      const task = mqar({
        vocabSize: V,
        length: L,
        pairs: N,
        randomNonQueries: false,
        queryPlacement: placement,
      });
      const batch = task.sample(new Random(7), 200);
      expect(batch.batch).toBe(200);
      expect(batch.length).toBe(L);
      expect(batch.inputs).toHaveLength(200 * L);
      expect(batch.targets).toHaveLength(200 * L);
      for (let r = 0; r < batch.batch; r++) {
        const { inputs, targets } = row(batch, r);
        const keys = inputs.filter((_, t) => t < 2 * N && t % 2 === 0);
        const values = inputs.filter((_, t) => t < 2 * N && t % 2 === 1);
        for (const k of keys) expect(k >= 1 && k < V / 2).toBe(true);
        for (const v of values) expect(v >= V / 2 && v < V).toBe(true);
        expect(new Set(keys).size).toBe(N);
        expect(new Set(values).size).toBe(N);
        const positions = scored(targets);
        expect(positions).toHaveLength(N);
        const asked = new Set<number>();
        for (const t of positions) {
          expect(t).toBeGreaterThanOrEqual(2 * N);
          expect((t - 2 * N) % 2).toBe(0);
          const i = keys.indexOf(inputs[t]);
          expect(i).toBeGreaterThanOrEqual(0);
          expect(targets[t]).toBe(values[i]);
          asked.add(inputs[t]);
        }
        expect(asked.size).toBe(N);
        // Everything else in the query region is 0 without randomNonQueries.
        for (let t = 2 * N; t < L; t++) if (targets[t] === IGNORE_INDEX) expect(inputs[t]).toBe(0);
      }
    });
  }

  it("puts power-law queries early and spreads uniform ones (mean query position)", () => {
    const meanPosition = (placement: "power-law" | "uniform"): number => {
      const batch = mqar({ queryPlacement: placement }).sample(new Random(11), 512);
      const positions = scored(batch.targets).map((i) => i % batch.length);
      expect(positions).toHaveLength(512 * 16);
      return positions.reduce((a, b) => a + b, 0) / positions.length;
    };
    const power = meanPosition("power-law");
    const uniform = meanPosition("uniform");
    // Uniform slots g ∈ [0, 112): E[position] = 32 + 2·55.5 = 143.
    expect(uniform).toBeGreaterThan(141);
    expect(uniform).toBeLessThan(145);
    // p(g) ∝ g^−0.99 drawn without replacement: E[position] ≈ 88.
    expect(power).toBeGreaterThan(80);
    expect(power).toBeLessThan(96);
  });

  it("power-law placement with powerA = 1 is uniform placement in distribution", () => {
    const batch = mqar({ powerA: 1 }).sample(new Random(5), 512);
    const positions = scored(batch.targets).map((i) => i % batch.length);
    const mean = positions.reduce((a, b) => a + b, 0) / positions.length;
    expect(mean).toBeGreaterThan(141);
    expect(mean).toBeLessThan(145);
  });

  it("randomNonQueries replaces the zeros with uniform ids and keeps the queries", () => {
    const task = mqar({ vocabSize: V, length: L, pairs: N, randomNonQueries: true });
    const batch = task.sample(new Random(3), 300);
    let zeros = 0;
    let fillers = 0;
    const seen = new Set<number>();
    for (let r = 0; r < batch.batch; r++) {
      const { inputs, targets } = row(batch, r);
      const keys = inputs.filter((_, t) => t < 2 * N && t % 2 === 0);
      const values = inputs.filter((_, t) => t < 2 * N && t % 2 === 1);
      expect(scored(targets)).toHaveLength(N);
      for (const t of scored(targets)) expect(targets[t]).toBe(values[keys.indexOf(inputs[t])]);
      for (let t = 2 * N; t < L; t++) {
        if (targets[t] !== IGNORE_INDEX) continue;
        fillers++;
        seen.add(inputs[t]);
        if (inputs[t] === 0) zeros++;
      }
    }
    expect(fillers).toBe(300 * (L - 3 * N));
    expect(zeros / fillers).toBeLessThan(4 / V); // a filler is 0 with probability 1/V
    expect(seen.size).toBe(V); // every id shows up among 6000 fillers
  });

  it("is deterministic for a seed and advances the stream", () => {
    const task = mqar({ vocabSize: V, length: L, pairs: N });
    const a = task.sample(new Random(42), 8);
    const b = task.sample(new Random(42), 8);
    expect(b.inputs).toEqual(a.inputs);
    expect(b.targets).toEqual(a.targets);
    const rng = new Random(42);
    const first = task.sample(rng, 8);
    const second = task.sample(rng, 8);
    expect(first.inputs).toEqual(a.inputs);
    expect(second.inputs).not.toEqual(first.inputs);
    expect(task.sample(new Random(43), 8).inputs).not.toEqual(a.inputs);
    // A fresh task object gives the same examples (no state carried between calls).
    const again = mqar({ vocabSize: V, length: L, pairs: N });
    expect(again.sample(new Random(42), 8).inputs).toEqual(a.inputs);
  });

  it("pins the first example of seed 0 (changing the sampler breaks reproducibility)", () => {
    const task = mqar({ vocabSize: 32, length: 16, pairs: 2, randomNonQueries: false });
    const { inputs, targets } = row(task.sample(new Random(0), 1), 0);
    expect(inputs).toEqual([6, 31, 12, 27, 6, 0, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    const _ = IGNORE_INDEX;
    expect(targets).toEqual([_, _, _, _, 31, _, 27, _, _, _, _, _, _, _, _, _]);
  });

  it("validates its parameters", () => {
    expect(() => mqar({ pairs: 70 })).toThrow("mqar: pairs (70) needs 4·pairs ≤ length (256)");
    expect(() => mqar({ vocabSize: 200 })).toThrow("mqar: vocabSize (200) must be > length (256)");
    expect(() => mqar({ vocabSize: 40, length: 32, pairs: 8 })).not.toThrow();
    expect(() => mqar({ vocabSize: 8, length: 16, pairs: 4 })).toThrow(
      "mqar: vocabSize/2 - 1 (3) must be ≥ pairs (4) for distinct keys",
    );
    expect(() => mqar({ vocabSize: 16, length: 10, pairs: 3 })).toThrow(/4·pairs ≤ length/);
    expect(() => mqar({ length: 255 })).toThrow("mqar: length (255) must be even");
    expect(() => mqar({ powerA: 0 })).toThrow("mqar: powerA (0) must be > 0");
    expect(() => mqar({ pairs: 2.5 })).toThrow("mqar: pairs must be an integer ≥ 1, got 2.5");
    expect(() => mqar({ pairs: 0 })).toThrow("mqar: pairs must be an integer ≥ 1, got 0");
    expect(() => mqar({ queryPlacement: "late" as "uniform" })).toThrow(
      'mqar: queryPlacement must be one of "power-law", "uniform", got "late"',
    );
    expect(() => mqar({ randomNonQueries: 1 as unknown as boolean })).toThrow(
      "mqar: randomNonQueries must be true or false, got 1",
    );
    expect(() => mqar({ pair: 3 } as never)).toThrow(
      'mqar: unknown option "pair"; accepted options: vocabSize, length, pairs, powerA, randomNonQueries, queryPlacement',
    );
    expect(() => mqar().sample(new Random(0), 0)).toThrow(
      "mqar.sample: batch must be an integer ≥ 1, got 0",
    );
  });
});
