import { describe, expect, it } from "vitest";
import {
  compareArrays,
  gflops,
  matmulFlops,
  median,
  summarize,
  timeAsync,
  timeSync,
} from "../src/stats.js";

describe("stats", () => {
  it("takes the median of odd and even counts without reordering the input", () => {
    const values = [5, 1, 3];
    expect(median(values)).toBe(3);
    expect(values).toEqual([5, 1, 3]);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([7])).toBe(7);
    expect(() => median([])).toThrow(RangeError);
  });

  it("summarizes samples", () => {
    expect(summarize([30, 10, 20, 40])).toEqual({
      samplesMs: [30, 10, 20, 40],
      medianMs: 25,
      bestMs: 10,
      worstMs: 40,
      meanMs: 25,
    });
    expect(() => summarize([])).toThrow(RangeError);
    expect(() => summarize([1, Number.NaN])).toThrow(/finite/);
  });

  it("computes matmul GFLOP/s", () => {
    expect(matmulFlops(1024, 1024, 1024)).toBe(2 * 1024 ** 3);
    // 2·1024³ flops in 100 ms = 21.47 GFLOP/s.
    expect(gflops(matmulFlops(1024, 1024, 1024), 100)).toBeCloseTo(21.474836, 5);
    expect(() => gflops(1, 0)).toThrow(RangeError);
  });

  it("compares arrays relative to the largest |expected|", () => {
    const r = compareArrays([1, -2.5, 4], [1, -2, 4.1]);
    expect(r.maxAbsDiff).toBeCloseTo(0.5);
    expect(r.maxAbsExpected).toBeCloseTo(4.1);
    expect(r.relative).toBeCloseTo(0.5 / 4.1);
    expect(compareArrays([0.5], [0]).relative).toBe(0.5);
    expect(compareArrays([Number.NaN, 1], [1, 1]).relative).toBeNaN();
    expect(compareArrays([1, 1], [1, Number.NaN]).maxAbsDiff).toBeNaN();
    expect(() => compareArrays([1], [1, 2])).toThrow(/length mismatch/);
  });

  it("times sync and async calls", async () => {
    expect(timeSync(() => {})).toBeGreaterThanOrEqual(0);
    const ms = await timeAsync(() => new Promise((r) => setTimeout(r, 20)));
    expect(ms).toBeGreaterThanOrEqual(15);
  });
});
