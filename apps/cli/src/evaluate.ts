/**
 * Evaluation of a model on freshly sampled batches: mean next-token loss (over the targets that
 * are not ignored), perplexity, and accuracy of the argmax predictions (the task's own rule for
 * synthetic tasks, next-token accuracy for text).
 */
import { IGNORE_INDEX, type TaskBatch, argmaxPredictions } from "@bmojo/data";
import type { LanguageModel } from "@bmojo/model";
import { crossEntropy, dispose, tensor } from "@bmojo/tensor";
import type { DataSource } from "./data-source.js";
import type { EvalResult } from "./run-dir.js";

/** Token ids and targets of a batch as int32 [batch, length] tensors on the model's backend. */
export function batchTensors(model: LanguageModel, b: TaskBatch) {
  const backend = model.embedding.weight.backend;
  const shape = [b.batch, b.length];
  return {
    ids: tensor(b.inputs, shape, { dtype: "int32", backend }),
    targets: tensor(b.targets, shape, { dtype: "int32", backend }),
  };
}

export interface EvalOptions {
  /** The step the model is at (recorded with the result). */
  step: number;
  /** The stream the batches are drawn from. */
  seed: number;
  batches: number;
  batch: number;
}

/** Loss, perplexity and accuracy on `batches` evaluation batches drawn from `seed`. */
export async function evaluate(
  model: LanguageModel,
  source: DataSource,
  options: EvalOptions,
): Promise<EvalResult> {
  const vocab = model.config.vocabSize;
  let lossSum = 0;
  let lossCount = 0;
  let correct = 0;
  let total = 0;
  for (const b of source.evalBatches(options.seed, options.batches, options.batch)) {
    const { ids, targets } = batchTensors(model, b);
    const logits = model.forward(ids);
    const loss = crossEntropy(logits, targets, { ignoreIndex: IGNORE_INDEX });
    try {
      let counted = 0;
      for (let i = 0; i < b.targets.length; i++) if (b.targets[i] !== IGNORE_INDEX) counted++;
      if (counted > 0) {
        lossSum += (await loss.data())[0] * counted;
        lossCount += counted;
      }
      const predictions = argmaxPredictions(await logits.data(), b.batch * b.length, vocab);
      const acc = source.accuracy(predictions, b.targets);
      correct += acc.correct;
      total += acc.total;
    } finally {
      dispose([ids, targets, logits, loss]);
    }
  }
  const meanLoss = lossCount > 0 ? lossSum / lossCount : Number.NaN;
  return {
    step: options.step,
    seed: options.seed,
    batches: options.batches,
    batch: options.batch,
    loss: meanLoss,
    perplexity: Math.exp(meanLoss),
    accuracy: total > 0 ? correct / total : 0,
    correct,
    total,
  };
}

/** "loss 1.2345, perplexity 3.44, accuracy 87.5% (280/320)". */
export function describeEval(result: EvalResult): string {
  return `loss ${result.loss.toFixed(4)}, perplexity ${result.perplexity.toFixed(2)}, accuracy ${(100 * result.accuracy).toFixed(1)}% (${result.correct}/${result.total})`;
}
