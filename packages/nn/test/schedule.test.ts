import { describe, expect, it } from "vitest";
import { constantSchedule, cosineSchedule } from "../src/index.js";

describe("cosineSchedule", () => {
  const s = cosineSchedule({ warmupSteps: 10, totalSteps: 110, minRatio: 0.1 });

  it("warms up linearly from 1/warmupSteps to 1 at step = warmupSteps", () => {
    expect(s(1)).toBeCloseTo(0.1, 15);
    expect(s(5)).toBeCloseTo(0.5, 15);
    expect(s(10)).toBe(1);
  });

  it("decays along a cosine to minRatio at totalSteps, then stays at the floor", () => {
    // Midpoint of the decay: progress 1/2 → 0.1 + 0.9·(1 + cos(π/2))/2 = 0.55.
    expect(s(60)).toBeCloseTo(0.55, 15);
    // A quarter in: 0.1 + 0.9·(1 + cos(π/4))/2.
    expect(s(35)).toBeCloseTo(0.1 + (0.9 * (1 + Math.SQRT1_2)) / 2, 15);
    expect(s(11)).toBeCloseTo(0.1 + (0.9 * (1 + Math.cos(Math.PI / 100))) / 2, 15);
    expect(s(110)).toBe(0.1);
    expect(s(111)).toBe(0.1);
    expect(s(10_000)).toBe(0.1);
    // Monotone non-increasing after warmup.
    for (let step = 11; step <= 120; step++) expect(s(step)).toBeLessThanOrEqual(s(step - 1));
  });

  it("works without warmup and with warmup = total", () => {
    const noWarmup = cosineSchedule({ warmupSteps: 0, totalSteps: 4, minRatio: 0 });
    expect(noWarmup(2)).toBeCloseTo(0.5, 15);
    expect(noWarmup(4)).toBe(0);
    const allWarmup = cosineSchedule({ warmupSteps: 4, totalSteps: 4, minRatio: 0.2 });
    expect(allWarmup(4)).toBe(1);
    expect(allWarmup(5)).toBe(0.2);
  });

  it("validates its arguments, naming the field", () => {
    expect(() => cosineSchedule({ warmupSteps: -1, totalSteps: 10, minRatio: 0 })).toThrow(
      "cosineSchedule: warmupSteps must be an integer ≥ 0, got -1.",
    );
    expect(() => cosineSchedule({ warmupSteps: 0, totalSteps: 0, minRatio: 0 })).toThrow(
      "cosineSchedule: totalSteps must be an integer ≥ 1, got 0.",
    );
    expect(() => cosineSchedule({ warmupSteps: 20, totalSteps: 10, minRatio: 0 })).toThrow(
      "warmupSteps (20) must not exceed totalSteps (10)",
    );
    expect(() => cosineSchedule({ warmupSteps: 0, totalSteps: 10, minRatio: 1.5 })).toThrow(
      "cosineSchedule: minRatio must be in [0, 1], got 1.5.",
    );
    expect(() => cosineSchedule({ warmupSteps: 0, totalSteps: 10, minRatio: Number.NaN })).toThrow(
      "minRatio",
    );
    expect(() => s(0)).toThrow(
      "cosineSchedule: step must be an integer ≥ 1 (steps count from 1), got 0.",
    );
    expect(() => s(1.5)).toThrow("step must be an integer");
  });
});

describe("constantSchedule", () => {
  it("returns the same multiplier at every step", () => {
    expect(constantSchedule()(1)).toBe(1);
    expect(constantSchedule(0.5)(1000)).toBe(0.5);
    expect(() => constantSchedule(-1)).toThrow(
      "constantSchedule: value must be a finite number ≥ 0",
    );
  });
});
