import { Random } from "@bmojo/tensor";
import { describe, expect, it } from "vitest";
import {
  IGNORE_INDEX,
  TASK_NAMES,
  argmaxPredictions,
  createTask,
  maskedAccuracy,
  mqar,
} from "../src/index.js";

describe("createTask", () => {
  it("builds every task by name, with defaults and with options", () => {
    expect(TASK_NAMES).toEqual([
      "mqar",
      "noisy-mqar",
      "fuzzy-mqar",
      "selective-copy",
      "induction-heads",
    ]);
    const expected = {
      mqar: [8192, 256],
      "noisy-mqar": [32, 128],
      "fuzzy-mqar": [16, 128],
      "selective-copy": [16, 256],
      "induction-heads": [16, 256],
    };
    for (const name of TASK_NAMES) {
      const task = createTask(name);
      expect(task.name).toBe(name);
      expect([task.vocabSize, task.length]).toEqual(expected[name]);
    }
    const task = createTask("mqar", { vocabSize: 1024, length: 128, pairs: 8 });
    expect(task.options).toMatchObject({ vocabSize: 1024, length: 128, pairs: 8 });
  });

  it("rejects unknown names and options, listing the accepted ones", () => {
    expect(() => createTask("copy" as never)).toThrow(
      'createTask: unknown task "copy"; accepted tasks: mqar, noisy-mqar, fuzzy-mqar, selective-copy, induction-heads.',
    );
    expect(() => createTask("noisy-mqar", { noise: 3 })).toThrow(
      'noisy-mqar: unknown option "noise"; accepted options: vocabSize, length, noiseVocab, fracNoise.',
    );
    expect(() => createTask("selective-copy", { tokensToCopy: "4" })).toThrow(
      'selective-copy: tokensToCopy must be an integer ≥ 1, got "4".',
    );
    expect(() => createTask("induction-heads", [] as never)).toThrow(
      "induction-heads: options must be an object, got an array.",
    );
    expect(() => createTask("fuzzy-mqar", { keyMotif: undefined })).not.toThrow();
  });
});

describe("every task", () => {
  for (const name of TASK_NAMES) {
    it(`${name}: ids in range, deterministic per seed, oracle accuracy 1`, () => {
      const task = createTask(name);
      const a = task.sample(new Random(123), 16);
      const b = task.sample(new Random(123), 16);
      expect(b.inputs).toEqual(a.inputs);
      expect(b.targets).toEqual(a.targets);
      expect(task.sample(new Random(124), 16).inputs).not.toEqual(a.inputs);
      expect(a.inputs).toHaveLength(16 * task.length);
      for (const id of a.inputs) expect(id >= 0 && id < task.vocabSize).toBe(true);
      let perRow = Number.POSITIVE_INFINITY;
      for (let r = 0; r < 16; r++) {
        let count = 0;
        for (let t = 0; t < task.length; t++) {
          const target = a.targets[r * task.length + t];
          if (target === IGNORE_INDEX) continue;
          count++;
          expect(target >= 0 && target < task.vocabSize).toBe(true);
        }
        perRow = Math.min(perRow, count);
      }
      expect(perRow).toBeGreaterThanOrEqual(1); // every example has something to score
      const oracle = task.accuracy(a.targets, a.targets);
      expect(oracle.accuracy).toBe(1);
      expect(task.accuracy(new Int32Array(a.targets.length).fill(-1), a.targets).accuracy).toBe(0);
    });
  }
});

describe("accuracy", () => {
  it("counts only the scored positions", () => {
    const _ = IGNORE_INDEX;
    const targets = [_, 5, 7, _, 9, _];
    expect(maskedAccuracy([0, 5, 1, 3, 9, 4], targets)).toEqual({
      correct: 2,
      total: 3,
      accuracy: 2 / 3,
    });
    expect(mqar().accuracy(new Int32Array([5, 5, 7, 0, 0, 0]), targets)).toEqual({
      correct: 2,
      total: 3,
      accuracy: 2 / 3,
    });
    expect(maskedAccuracy([1, 2], [_, _])).toEqual({ correct: 0, total: 0, accuracy: 0 });
    expect(() => maskedAccuracy([1, 2, 3], [1, 2])).toThrow(
      "accuracy: predictions (3) and targets (2) must have the same length.",
    );
  });

  it("argmaxPredictions takes the first largest logit of each row", () => {
    const logits = new Float32Array([0.1, 2, -1, 5, 5, 0, Number.NaN, -3, -2]);
    expect(Array.from(argmaxPredictions(logits, 3, 3))).toEqual([1, 0, 2]);
    expect(() => argmaxPredictions(logits, 2, 3)).toThrow(
      "argmaxPredictions: logits has 9 values but rows·vocab = 2·3 = 6.",
    );
    // From logits to accuracy: row t predicts target t.
    const predictions = argmaxPredictions(logits, 3, 3);
    expect(maskedAccuracy(predictions, [1, IGNORE_INDEX, 0]).accuracy).toBe(0.5);
  });
});
