import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { isAbsolute, join } from "node:path";
import { Random } from "@bmojo/tensor";
import { describe, expect, it } from "vitest";
import {
  ByteTokenizer,
  CharTokenizer,
  type TaskBatch,
  TextDataset,
  tinyShakespearePath,
} from "../src/index.js";

/** 1000 characters over 26 letters. */
const TEXT = Array.from({ length: 1000 }, (_, i) => String.fromCharCode(97 + ((i * 7) % 26))).join(
  "",
);

/** The index where `window` occurs in `ids`, or −1. */
function find(ids: Int32Array, window: Int32Array): number {
  outer: for (let s = 0; s + window.length <= ids.length; s++) {
    for (let j = 0; j < window.length; j++) if (ids[s + j] !== window[j]) continue outer;
    return s;
  }
  return -1;
}

describe("TextDataset", () => {
  it("splits by position: the last fraction is validation", () => {
    const tok = CharTokenizer.fromText(TEXT);
    const ids = tok.encode(TEXT);
    const ds = TextDataset.fromText(TEXT, tok);
    expect(ds.tokenizer).toBe(tok);
    expect(ds.train).toHaveLength(900);
    expect(ds.validation).toHaveLength(100);
    expect(ds.train).toEqual(ids.subarray(0, 900));
    expect(ds.validation).toEqual(ids.subarray(900));
    const quarter = TextDataset.fromText(TEXT.slice(0, 999), tok, { validationFraction: 0.25 });
    expect([quarter.train.length, quarter.validation.length]).toEqual([750, 249]);
    const none = TextDataset.fromText(TEXT, tok, { validationFraction: 0 });
    expect([none.train.length, none.validation.length]).toEqual([1000, 0]);
    expect(() => TextDataset.fromText(TEXT, tok, { validationFraction: 1 })).toThrow(
      "TextDataset: validationFraction must be a number in [0, 1), got 1.",
    );
  });

  it("samples aligned windows: targets are the inputs shifted by one", () => {
    const ds = TextDataset.fromText(TEXT, CharTokenizer.fromText(TEXT));
    for (const split of ["train", "validation"] as const) {
      const ids = split === "train" ? ds.train : ds.validation;
      const batch = ds.sample(split, new Random(8), 32, 16);
      expect([batch.batch, batch.length]).toEqual([32, 16]);
      expect(batch.inputs).toHaveLength(32 * 16);
      for (let r = 0; r < 32; r++) {
        const inputs = batch.inputs.subarray(r * 16, (r + 1) * 16);
        const targets = batch.targets.subarray(r * 16, (r + 1) * 16);
        expect(targets.subarray(0, 15)).toEqual(inputs.subarray(1));
        const s = find(ids, inputs);
        expect(s).toBeGreaterThanOrEqual(0);
        expect(s + 16).toBeLessThan(ids.length);
        expect(targets).toEqual(ids.subarray(s + 1, s + 17));
      }
    }
    const a = ds.sample("train", new Random(1), 4, 8);
    expect(ds.sample("train", new Random(1), 4, 8)).toEqual(a);
  });

  it("sample reaches both ends of the split", () => {
    const ids = Int32Array.from({ length: 20 }, (_, i) => i);
    const ds = new TextDataset(new ByteTokenizer(), ids, new Int32Array(0));
    const batch = ds.sample("train", new Random(0), 500, 4);
    const starts = new Set<number>();
    for (let r = 0; r < 500; r++) starts.add(batch.inputs[r * 4]);
    // s ∈ [0, 20 − 4 − 1]: the last window's target is ids[19].
    expect([...starts].sort((x, y) => x - y)).toEqual(Array.from({ length: 16 }, (_, i) => i));
  });

  it("windows() covers the split with non-overlapping windows, in order", () => {
    const ids = Int32Array.from({ length: 103 }, (_, i) => i % 256);
    const ds = new TextDataset(new ByteTokenizer(), ids, ids.subarray(0, 10));
    const batches: TaskBatch[] = [...ds.windows("train", 4, 10)];
    // ⌊(103 − 1)/10⌋ = 10 windows: batches of 4, 4, 2.
    expect(batches.map((b) => b.batch)).toEqual([4, 4, 2]);
    expect(ds.windowCount("train", 10)).toBe(10);
    const inputs = batches.flatMap((b) => Array.from(b.inputs));
    const targets = batches.flatMap((b) => Array.from(b.targets));
    expect(inputs).toEqual(Array.from(ids.subarray(0, 100)));
    expect(targets).toEqual(Array.from(ids.subarray(1, 101)));
    // Exactly divisible: every token but the first is a target.
    const exact = [...ds.windows("validation", 8, 3)];
    expect(exact.map((b) => b.batch)).toEqual([3]);
    expect(Array.from(exact[0].targets)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it("checks its arguments", () => {
    const ds = TextDataset.fromText(TEXT, CharTokenizer.fromText(TEXT));
    const rng = new Random(0);
    expect(() => ds.sample("validation", rng, 1, 100)).toThrow(
      "TextDataset.sample: the validation split has 100 tokens; a window of length 100 needs 101.",
    );
    expect(() => ds.sample("test" as "train", rng, 1, 4)).toThrow(
      'TextDataset.sample: split must be "train" or "validation", got "test".',
    );
    expect(() => ds.sample("train", rng, 0, 4)).toThrow(
      "TextDataset.sample: batch must be an integer ≥ 1, got 0.",
    );
    expect(() => ds.windows("train", 2, 0)).toThrow(
      "TextDataset.windows: length must be an integer ≥ 1, got 0.",
    );
  });

  it("fromFile reads UTF-8 and defaults to a CharTokenizer over the whole file", async () => {
    const dir = await mkdtemp(join(tmpdir(), "bmojo-data-ds-"));
    try {
      const path = join(dir, "text.txt");
      await writeFile(path, "ab".repeat(45) + "çç".repeat(5));
      const ds = await TextDataset.fromFile(path);
      expect(ds.tokenizer.kind).toBe("char");
      expect(ds.tokenizer.vocabSize).toBe(3); // "ç" only occurs in validation
      expect([ds.train.length, ds.validation.length]).toEqual([90, 10]);
      const bytes = await TextDataset.fromFile(path, new ByteTokenizer(), {
        validationFraction: 0.5,
      });
      expect([bytes.train.length, bytes.validation.length]).toEqual([55, 55]);
      await expect(TextDataset.fromFile(join(dir, "nope.txt"))).rejects.toThrow(
        "TextDataset.fromFile: could not read",
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("tinyShakespearePath", () => {
  it("points at the shipped text, which starts with First Citizen", async () => {
    const path = tinyShakespearePath();
    expect(isAbsolute(path)).toBe(true);
    expect(existsSync(path)).toBe(true);
    const text = await readFile(path, "utf8");
    expect(text.startsWith("First Citizen")).toBe(true);
    expect(text).toHaveLength(1_115_394);
  });

  it("loads as a 65-character dataset split 90/10", async () => {
    const ds = await TextDataset.fromFile(tinyShakespearePath());
    expect(ds.tokenizer.vocabSize).toBe(65);
    expect(ds.train.length).toBe(1_003_855);
    expect(ds.validation.length).toBe(111_539);
    expect(ds.tokenizer.decode(ds.train.subarray(0, 13))).toBe("First Citizen");
  });
});
