import { IGNORE_INDEX, mqar } from "@bmojo/data";
import { Random, backendByName } from "@bmojo/tensor";
import { describe, expect, it } from "vitest";
import {
  MemoryInspector,
  asksBeyondWindow,
  mqarRoles,
  pickExample,
} from "../src/memory-inspector.js";
import { MqarTrainer, STREAM, checkTrainSettings, streamSeed } from "../src/mqar-trainer.js";
import type { TrainSettings } from "../src/protocol.js";

const settings: TrainSettings = {
  plan: "bmojo",
  backend: "cpu",
  mqar: { vocabSize: 16, length: 12, pairs: 2, placement: "uniform", randomFillers: true },
  window: 4,
  eideticTokens: 3,
  steps: 3,
  batch: 4,
  lr: 0.01,
  seed: 7,
  evalEvery: 3,
  evalExamples: 6,
};

describe("MqarTrainer", () => {
  it("is deterministic per seed and scores the batch it trains on before updating", async () => {
    const cpu = await backendByName("cpu");
    const a = new MqarTrainer(settings, cpu);
    const b = new MqarTrainer(settings, cpu);
    const probe = new MqarTrainer(settings, cpu);
    try {
      // The first training batch, drawn as the trainer draws it, scored by the untrained model.
      const batch = probe.task.sample(new Random(streamSeed(7, STREAM.train)), 4);
      const expected = probe.task.accuracy(await probe.predict(batch), batch.targets).accuracy;
      const first = await a.trainStep();
      expect(first.accuracy).toBe(expected);
      expect((await b.trainStep()).loss).toBe(first.loss);
      const second = await a.trainStep();
      expect(second.step).toBe(2);
      expect((await b.trainStep()).loss).toBe(second.loss);
      const evaluation = await a.evaluate();
      expect(evaluation.total).toBe(6 * 2); // every held-out example asks each of its 2 keys
      expect(evaluation).toEqual(await a.evaluate());
    } finally {
      for (const t of [a, b, probe]) t.dispose();
    }
  });
});

describe("checkTrainSettings", () => {
  it("names the setting that is out of range", () => {
    expect(() => checkTrainSettings({ ...settings, evalEvery: 0 })).toThrow(
      "evalEvery must be a positive integer, got 0.",
    );
    expect(() => checkTrainSettings({ ...settings, batch: 2.5 })).toThrow("batch must be");
    expect(() => checkTrainSettings({ ...settings, lr: 0 })).toThrow("learning rate must be");
    expect(() => checkTrainSettings({ ...settings, seed: -1 })).toThrow("seed must be");
    expect(() => checkTrainSettings(settings)).not.toThrow();
  });
});

describe("MemoryInspector", () => {
  it("reports, per chunk, the top-m_e innovation scores before the chunk (ties: earlier)", async () => {
    const cpu = await backendByName("cpu");
    const trainer = new MqarTrainer(settings, cpu);
    const example = pickExample(trainer.task, new Random(3), 2, 4);
    const inspector = new MemoryInspector(example, 2);
    try {
      await trainer.trainStep();
      const view = await inspector.inspect(trainer.model, 1);
      expect(view.layers.map((l) => l.layer)).toEqual([0, 1]);
      expect(view.eideticTokens).toBe(3);
      expect(view.tokens).toEqual(Array.from(example.inputs));
      for (const { scores, held } of view.layers) {
        expect(held).toHaveLength(3);
        held.forEach((positions, chunk) => {
          const before = Array.from({ length: chunk * 4 }, (_, s) => s);
          const top = before
            .sort((p, q) => scores[q] - scores[p] || p - q)
            .slice(0, 3)
            .sort((p, q) => p - q);
          expect(positions).toEqual(top);
        });
      }
      const direct = Array.from(await trainer.predict(example));
      expect(view.predictions).toEqual(direct);
    } finally {
      inspector.dispose();
      trainer.dispose();
    }
  });
});

describe("MQAR example helpers", () => {
  it("labels pairs and queries", () => {
    const targets = [-100, -100, -100, -100, 9, -100, -100, -100];
    expect(mqarRoles(targets, 2)).toEqual(["k", "v", "k", "v", "q", "", "", ""]);
  });

  it("prefers an example whose last chunk asks a key from beyond the window", () => {
    const task = mqar({ vocabSize: 32, length: 24, pairs: 3, queryPlacement: "uniform" });
    const example = pickExample(task, new Random(0), 3, 8);
    expect(asksBeyondWindow(example, 3, 8)).toBe(true);
    const asked = Array.from(example.targets.subarray(16)).some((t) => t !== IGNORE_INDEX);
    expect(asked).toBe(true);
  });
});
