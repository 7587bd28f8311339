import { Random } from "@bmojo/tensor";
import { describe, expect, it } from "vitest";
import { IGNORE_INDEX, fuzzyMqar, noisyMqar, selectiveCopy } from "../src/index.js";
import { row, scored } from "./helpers.js";

describe("noisy-mqar", () => {
  it("defaults to MAD's baseline: vocab 32 with 16 noise ids, length 128, 20% noise", () => {
    const task = noisyMqar();
    expect(task.name).toBe("noisy-mqar");
    expect(task.options).toEqual({ vocabSize: 32, length: 128, noiseVocab: 16, fracNoise: 0.2 });
  });

  it("never scores noise, scores every repeated key with its value, and ends on a recall", () => {
    const task = noisyMqar();
    const batch = task.sample(new Random(1), 200);
    const L = 128;
    let items = 0;
    let noiseItems = 0;
    for (let r = 0; r < batch.batch; r++) {
      const { inputs, targets } = row(batch, r);
      expect(inputs[0]).toBeGreaterThanOrEqual(16); // the leading noise token
      const valueOfKey = new Map<number, number>();
      for (let at = 1; at < L - 1; at += 2) {
        items++;
        const [a, b] = [inputs[at], inputs[at + 1]];
        if (a >= 16) {
          noiseItems++;
          expect(b).toBeGreaterThanOrEqual(16);
          expect(targets[at]).toBe(IGNORE_INDEX);
          continue;
        }
        expect(a).toBeLessThan(8); // key ids [0, 8)
        expect(b >= 8 && b < 16).toBe(true); // value ids [8, 16)
        if (valueOfKey.has(a)) {
          expect(b).toBe(valueOfKey.get(a));
          expect(targets[at]).toBe(b);
        } else {
          valueOfKey.set(a, b);
          expect(targets[at]).toBe(IGNORE_INDEX);
        }
      }
      // Only key positions are scored: never a value, a noise token or the leading token.
      for (const t of scored(targets)) {
        expect(inputs[t]).toBeLessThan(8);
        expect(t === L - 1 || t % 2 === 1).toBe(true);
      }
      // The final position re-asks a presented key; its target is that key's value.
      expect(valueOfKey.has(inputs[L - 1])).toBe(true);
      expect(targets[L - 1]).toBe(valueOfKey.get(inputs[L - 1]));
    }
    expect(noiseItems / items).toBeGreaterThan(0.18);
    expect(noiseItems / items).toBeLessThan(0.22);
  });

  it("guarantees one key-value pair even when almost everything is noise", () => {
    const task = noisyMqar({ length: 8, fracNoise: 0.999 });
    const batch = task.sample(new Random(2), 100);
    for (let r = 0; r < 100; r++) {
      const { inputs, targets } = row(batch, r);
      expect(inputs[7]).toBeLessThan(8);
      expect(targets[7]).toBeGreaterThanOrEqual(8);
      expect(targets[7]).toBeLessThan(16);
    }
  });

  it("validates its parameters", () => {
    expect(() => noisyMqar({ length: 127 })).toThrow("noisy-mqar: length (127) must be even");
    expect(() => noisyMqar({ fracNoise: 1 })).toThrow(
      "noisy-mqar: fracNoise (1) must be in [0, 1)",
    );
    expect(() => noisyMqar({ vocabSize: 17 })).toThrow(
      "noisy-mqar: vocabSize - noiseVocab (1) must be ≥ 2 (one key and one value id)",
    );
    expect(() => noisyMqar({ noiseVocab: 0 })).toThrow(
      "noisy-mqar: noiseVocab must be an integer ≥ 1, got 0",
    );
    expect(() => noisyMqar({ length: 2 })).toThrow("noisy-mqar: length must be an integer ≥ 4");
  });
});

describe("fuzzy-mqar", () => {
  const K = 3;
  const PAD = 15;

  /**
   * Parses each example of a default-vocabulary batch into pairs (3 key ids from [0, 7), then a
   * run of 1–3 distinct value ids from [7, 15)), checks that a repeated key repeats its value and
   * that the targets are exactly the value tokens of repeated keys; returns the scored count and
   * the value sizes seen.
   */
  function checkFuzzy(length: number, seed: number, count: number) {
    const batch = fuzzyMqar({ length }).sample(new Random(seed), count);
    let totalScored = 0;
    const valueSizes = new Set<number>();
    for (let r = 0; r < batch.batch; r++) {
      const { inputs, targets } = row(batch, r);
      // The sequence the example was cut from: inputs plus the last target.
      const raw = [...inputs, targets[length - 1]];
      let at = 0;
      while (raw[at] === PAD) at++;
      expect(at).toBeGreaterThanOrEqual(2);
      const valueOfKey = new Map<string, number[]>();
      const expected = new Array<number>(length).fill(IGNORE_INDEX);
      while (at < raw.length) {
        const keyTokens = raw.slice(at, at + K);
        for (const k of keyTokens) expect(k).toBeLessThan(7);
        expect(new Set(keyTokens).size).toBe(K);
        const key = keyTokens.join(",");
        at += K;
        const value: number[] = [];
        while (at < raw.length && raw[at] >= 7 && raw[at] < PAD) value.push(raw[at++]);
        expect(value.length >= 1 && value.length <= 3).toBe(true);
        expect(new Set(value).size).toBe(value.length);
        valueSizes.add(value.length);
        const known = valueOfKey.get(key);
        if (known) {
          expect(value).toEqual(known);
          // The last key token predicts the first value token, and so on.
          for (let j = 0; j < value.length; j++) expected[at - value.length + j - 1] = value[j];
        } else {
          valueOfKey.set(key, value);
        }
      }
      expect(targets).toEqual(expected);
      // The final pair is the probe, presented before: its value is always scored.
      expect(targets[length - 1]).not.toBe(IGNORE_INDEX);
      totalScored += scored(targets).length;
    }
    return { meanScored: totalScored / count, valueSizes };
  }

  it("defaults to MAD's baseline: vocab 16, length 128, motifs of 3", () => {
    expect(fuzzyMqar().options).toEqual({ vocabSize: 16, length: 128, keyMotif: 3, valueMotif: 3 });
  });

  it("scores exactly the value tokens of repeated keys (3-token keys, 1–3-token values)", () => {
    const { meanScored, valueSizes } = checkFuzzy(128, 4, 300);
    expect(valueSizes).toEqual(new Set([1, 2, 3]));
    expect(meanScored).toBeGreaterThan(2);
  });

  it("always presents the probe pair before the final query, at every length", () => {
    for (const length of [13, 17, 20, 24, 31, 40]) checkFuzzy(length, length, 300);
  });

  it("validates its parameters", () => {
    expect(() => fuzzyMqar({ length: 12 })).toThrow(
      "fuzzy-mqar: length (12) must be > 2·(keyMotif + valueMotif) (12)",
    );
    expect(() => fuzzyMqar({ length: 13 })).not.toThrow();
    expect(() => fuzzyMqar({ vocabSize: 6 })).toThrow(
      "fuzzy-mqar: keyMotif (3) must be ≤ the 2 key ids (⌊(vocabSize − 1)/2⌋) for distinct key tokens",
    );
    expect(() => fuzzyMqar({ valueMotif: 9 })).toThrow(
      "fuzzy-mqar: valueMotif (9) must be ≤ the 8 value ids",
    );
  });
});

describe("selective-copy", () => {
  it("defaults to MAD's baseline: vocab 16, length 256, 16 tokens", () => {
    expect(selectiveCopy().options).toEqual({ vocabSize: 16, length: 256, tokensToCopy: 16 });
  });

  it("targets the data tokens in order at the trailing blanks", () => {
    const n = 16;
    const L = 256;
    const batch = selectiveCopy().sample(new Random(5), 300);
    let lastSlotData = 0;
    let meanPosition = 0;
    for (let r = 0; r < batch.batch; r++) {
      const { inputs, targets } = row(batch, r);
      const region = inputs.slice(0, L - n - 1);
      const data = region.filter((t) => t !== 14);
      for (const t of data) expect(t).toBeLessThan(14);
      expect(data).toHaveLength(n);
      expect(inputs[L - n - 1]).toBe(15); // copy token
      expect(inputs.slice(L - n)).toEqual(new Array(n).fill(14));
      expect(targets.slice(L - n)).toEqual(data);
      expect(scored(targets)).toEqual(Array.from({ length: n }, (_, j) => L - n + j));
      if (region[region.length - 1] !== 14) lastSlotData++;
      region.forEach((t, i) => {
        if (t !== 14) meanPosition += i / (n * 300);
      });
    }
    // Every arrangement is equally likely: the last slot holds data with probability n/239.
    expect(lastSlotData / 300).toBeGreaterThan(0.02);
    expect(lastSlotData / 300).toBeLessThan(0.13);
    expect(meanPosition).toBeGreaterThan(113);
    expect(meanPosition).toBeLessThan(125); // E = 119
  });

  it("validates its parameters", () => {
    expect(() => selectiveCopy({ length: 33 })).toThrow(
      "selective-copy: length (33) must be > 2·tokensToCopy + 1 (33)",
    );
    expect(() => selectiveCopy({ vocabSize: 2 })).toThrow(
      "selective-copy: vocabSize must be an integer ≥ 3, got 2",
    );
  });
});
