/**
 * Training a small model on MQAR (@bmojo/data) on whatever backend is current: one AdamW step per
 * fresh batch (valueAndGrad of the masked cross-entropy), the recall accuracy of that batch read
 * from the same forward pass, and a held-out evaluation. No DOM and no worker API, so it runs in
 * the training worker and in Node tests alike.
 */
import { IGNORE_INDEX, type SyntheticTask, type TaskBatch, mqar } from "@bmojo/data";
import { LanguageModel, type ModelConfig, preset } from "@bmojo/model";
import { AdamW, type Schedule, cosineSchedule } from "@bmojo/nn";
import {
  type Backend,
  type Tensor,
  Random,
  argmax,
  crossEntropy,
  dispose,
  keep,
  tensor,
  valueAndGrad,
} from "@bmojo/tensor";
import type { TrainSettings } from "./protocol.js";

/** Norm gains, biases and the SSM's A_log and D: no weight decay. */
const NO_DECAY = /(?:^|\.)norm(?:\d+|_f)?\.weight$|\.bias$|\.A_log$|\.D$/;

/** Independent streams per purpose, all derived from the one seed the user picks. */
export const STREAM = { train: 1, eval: 2, example: 3 } as const;

/** A 32-bit seed for `purpose` derived from `seed` (murmur3's finaliser over both). */
export function streamSeed(seed: number, purpose: number): number {
  let h = Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(purpose, 0xc2b2ae35);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * Throws a RangeError naming the first training setting that is out of range (the model config
 * and the MQAR options are checked by @bmojo/model and @bmojo/data with their own messages).
 */
export function checkTrainSettings(settings: TrainSettings): void {
  const positive = ["steps", "batch", "evalEvery", "evalExamples"] as const;
  for (const name of positive) {
    const value = settings[name];
    if (!Number.isInteger(value) || value < 1) {
      throw new RangeError(`${name} must be a positive integer, got ${value}.`);
    }
  }
  if (!Number.isInteger(settings.seed) || settings.seed < 0 || settings.seed >= 2 ** 32) {
    throw new RangeError(`seed must be an integer in [0, 2^32), got ${settings.seed}.`);
  }
  if (!(settings.lr > 0 && Number.isFinite(settings.lr))) {
    throw new RangeError(`learning rate must be a number > 0, got ${settings.lr}.`);
  }
}

/** The model of a plan at the "tiny" preset size, sized for the task. */
function modelConfig(settings: TrainSettings): ModelConfig {
  return preset(settings.plan, "tiny", {
    vocabSize: settings.mqar.vocabSize,
    window: settings.window,
    bmojo: { eideticTokens: settings.eideticTokens },
    seed: settings.seed,
  });
}

function mqarTask(settings: TrainSettings): SyntheticTask {
  const { vocabSize, length, pairs, placement, randomFillers } = settings.mqar;
  return mqar({
    vocabSize,
    length,
    pairs,
    queryPlacement: placement,
    randomNonQueries: randomFillers,
  });
}

export interface StepResult {
  step: number;
  loss: number;
  /** Recall accuracy of the batch, before the update. */
  accuracy: number;
}

export interface EvalResult {
  accuracy: number;
  correct: number;
  total: number;
}

export class MqarTrainer {
  readonly model: LanguageModel;
  readonly task: SyntheticTask;
  private readonly optimizer: AdamW;
  private readonly schedule: Schedule;
  private readonly trainRng: Random;
  /** The held-out examples, drawn once. */
  private readonly heldOut: TaskBatch;
  private steps = 0;

  constructor(
    readonly settings: TrainSettings,
    private readonly backend: Backend,
  ) {
    checkTrainSettings(settings);
    this.task = mqarTask(settings);
    this.model = new LanguageModel(modelConfig(settings), { backend });
    this.optimizer = new AdamW(this.model.parameters(), {
      lr: settings.lr,
      betas: [0.9, 0.95],
      weightDecay: 0.1,
      groups: [{ name: "no-decay", match: NO_DECAY, weightDecay: 0 }],
    });
    this.schedule = cosineSchedule({
      warmupSteps: Math.min(10, settings.steps),
      totalSteps: settings.steps,
      minRatio: 0.1,
    });
    this.trainRng = new Random(streamSeed(settings.seed, STREAM.train));
    this.heldOut = this.task.sample(
      new Random(streamSeed(settings.seed, STREAM.eval)),
      settings.evalExamples,
    );
  }

  get step(): number {
    return this.steps;
  }

  /** Tokens one training step reads. */
  get tokensPerStep(): number {
    return this.settings.batch * this.task.length;
  }

  private tensors(b: TaskBatch): { ids: Tensor; targets: Tensor } {
    const shape = [b.batch, b.length];
    return {
      ids: tensor(b.inputs, shape, { dtype: "int32", backend: this.backend }),
      targets: tensor(b.targets, shape, { dtype: "int32", backend: this.backend }),
    };
  }

  /** One AdamW step on a fresh batch; throws if the loss is not finite (before updating). */
  async trainStep(): Promise<StepResult> {
    const step = this.steps + 1;
    const batch = this.task.sample(this.trainRng, this.settings.batch);
    const { ids, targets } = this.tensors(batch);
    // The argmax of the same forward pass, kept out of valueAndGrad's scope for the accuracy.
    const kept: { predictions?: Tensor } = {};
    const lossAndGrads = valueAndGrad((_p: Record<string, Tensor>) => {
      const logits = this.model.forward(ids);
      kept.predictions = keep(argmax(logits, -1));
      return crossEntropy(logits, targets, { ignoreIndex: IGNORE_INDEX });
    });
    const { value, grads } = lossAndGrads(this.model.parameters());
    try {
      const loss = (await value.data())[0];
      if (!Number.isFinite(loss)) {
        throw new Error(
          `training diverged: the loss at step ${step} is ${loss}; lower the learning rate.`,
        );
      }
      const predicted = await kept.predictions!.data();
      this.optimizer.step(grads, this.schedule(step));
      this.steps = step;
      return { step, loss, accuracy: this.task.accuracy(predicted, batch.targets).accuracy };
    } finally {
      dispose([ids, targets, value, grads, kept.predictions]);
    }
  }

  /** Recall accuracy on the held-out examples, in batches of the training batch size. */
  async evaluate(): Promise<EvalResult> {
    const { inputs, targets, length, batch: examples } = this.heldOut;
    let correct = 0;
    let total = 0;
    for (let start = 0; start < examples; start += this.settings.batch) {
      const count = Math.min(this.settings.batch, examples - start);
      const rows = { start: start * length, end: (start + count) * length };
      const part: TaskBatch = {
        inputs: inputs.subarray(rows.start, rows.end),
        targets: targets.subarray(rows.start, rows.end),
        batch: count,
        length,
      };
      const predicted = await this.predict(part);
      const result = this.task.accuracy(predicted, part.targets);
      correct += result.correct;
      total += result.total;
    }
    return { accuracy: total === 0 ? 0 : correct / total, correct, total };
  }

  /** Argmax predictions [batch·length] for a batch. */
  async predict(b: TaskBatch): Promise<Int32Array> {
    const ids = tensor(b.inputs, [b.batch, b.length], { dtype: "int32", backend: this.backend });
    const logits = this.model.forward(ids);
    const predicted = argmax(logits, -1);
    try {
      return (await predicted.data()) as Int32Array;
    } finally {
      dispose([ids, logits, predicted]);
    }
  }

  dispose(): void {
    this.optimizer.dispose();
    this.model.dispose();
  }
}
