import { describe, expect, it } from "vitest";
import { Random, philox4x32, randomBits, randomNormal } from "../src/index.js";

const hex = (words: Uint32Array) => Array.from(words, (w) => w.toString(16).padStart(8, "0"));

describe("Philox4x32-10", () => {
  it("matches the Random123 known-answer vectors", () => {
    expect(hex(philox4x32(0, 0, 0, 0, 0, 0))).toEqual([
      "6627e8d5",
      "e169c58d",
      "bc57ac4c",
      "9b00dbd8",
    ]);
    expect(
      hex(philox4x32(0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff)),
    ).toEqual(["408f276d", "41c83b0e", "a20bc7c6", "6d5451fd"]);
    expect(
      hex(philox4x32(0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0)),
    ).toEqual(["d16cfe09", "94fdcceb", "5001e420", "24126ea1"]);
  });

  it("any slice of a stream can be regenerated on its own", () => {
    const all = randomBits(42, 0, 23);
    expect(Array.from(randomBits(42, 5, 11))).toEqual(Array.from(all.subarray(5, 16)));
  });
});

describe("Random", () => {
  it("is deterministic per seed and differs across seeds", () => {
    const a = new Random(7).uniformArray(100);
    const b = new Random(7).uniformArray(100);
    const c = new Random(8).uniformArray(100);
    expect(Array.from(a)).toEqual(Array.from(b));
    expect(Array.from(a)).not.toEqual(Array.from(c));
  });

  it("consecutive calls continue the stream", () => {
    const rng = new Random(3);
    rng.uniformArray(10);
    expect(rng.offset).toBe(10);
    const next = rng.uniformArray(4);
    const whole = new Random(3).uniformArray(14);
    expect(Array.from(next)).toEqual(Array.from(whole.subarray(10)));
  });

  it("has the right moments", () => {
    const n = 200_000;
    const u = new Random(1).uniformArray(n, -1, 3, "float64") as Float64Array;
    const z = randomNormal([n], 2, { mean: 1, std: 2 }).dataSync();
    const moments = (x: ArrayLike<number>) => {
      let m = 0;
      for (let i = 0; i < x.length; i++) m += x[i];
      m /= x.length;
      let v = 0;
      for (let i = 0; i < x.length; i++) v += (x[i] - m) ** 2;
      return [m, v / x.length];
    };
    const [um, uv] = moments(u);
    expect(Math.abs(um - 1)).toBeLessThan(0.01);
    expect(Math.abs(uv - 16 / 12)).toBeLessThan(0.01);
    expect(u.reduce((a, b) => Math.min(a, b))).toBeGreaterThanOrEqual(-1);
    expect(u.reduce((a, b) => Math.max(a, b))).toBeLessThan(3);
    const [zm, zv] = moments(z);
    expect(Math.abs(zm - 1)).toBeLessThan(0.02);
    expect(Math.abs(zv - 4)).toBeLessThan(0.05);
    const ints = new Random(5).intArray(10_000, 3, 7);
    expect(new Set(ints)).toEqual(new Set([3, 4, 5, 6]));
  });

  it("rejects bad seeds and dtypes", () => {
    expect(() => new Random(-1)).toThrow(
      "random: seed must be a non-negative safe integer, got -1.",
    );
    expect(() => new Random(0).uniform([2], { dtype: "int32" })).toThrow(
      "random.uniform: dtype must be a float (float32, float64 or bfloat16), got int32; use random.int for integers.",
    );
  });
});
