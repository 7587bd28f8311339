import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Random } from "@bmojo/tensor";
import {
  TASK_NAMES,
  type TaskBatch,
  TextDataset,
  argmaxPredictions,
  createTask,
  loadTokenizer,
  mqar,
  saveTokenizer,
  tinyShakespearePath,
} from "../src/index.js";

/** A model-free baseline: predict the token that followed the previous occurrence of this one. */
function previousOccurrence({ inputs, batch, length }: TaskBatch, vocab: number): Int32Array {
  const predictions = new Int32Array(inputs.length);
  const last = new Int32Array(vocab);
  for (let r = 0; r < batch; r++) {
    last.fill(-1);
    for (let t = r * length; t < (r + 1) * length; t++) {
      const seen = last[inputs[t]];
      predictions[t] = seen >= 0 ? inputs[seen + 1] : 0;
      last[inputs[t]] = t;
    }
  }
  return predictions;
}

// Every task with its default (paper-baseline) options: same seed, same examples.
for (const name of TASK_NAMES) {
  const task = createTask(name);
  const batch = task.sample(new Random(0), 64);
  const { accuracy, total } = task.accuracy(
    previousOccurrence(batch, task.vocabSize),
    batch.targets,
  );
  console.log(`${name}: ${total} scored, previous-occurrence accuracy ${accuracy.toFixed(3)}`);
}

// Scoring logits: argmax over the vocabulary, then accuracy on the scored positions.
const task = mqar({ vocabSize: 512, length: 128, pairs: 8, queryPlacement: "uniform" });
const rng = new Random(1);
const batch = task.sample(rng, 4);
const logits = rng.uniformArray(batch.batch * batch.length * task.vocabSize); // a random "model"
const predictions = argmaxPredictions(logits, batch.batch * batch.length, task.vocabSize);
console.log(`random logits: ${task.accuracy(predictions, batch.targets).correct} of 32 correct`);

// Text: tinyshakespeare with a character tokenizer, the last 10% held out.
const data = await TextDataset.fromFile(tinyShakespearePath());
console.log(
  `${data.tokenizer.vocabSize} characters, ${data.train.length} train, ${data.validation.length} validation`,
);
const text = data.sample("train", new Random(2), 8, 64); // targets = inputs shifted by one
console.log(
  `a batch of ${text.batch}×${text.length}: ${JSON.stringify(data.tokenizer.decode(text.inputs.subarray(0, 24)))}…`,
);
let windows = 0;
for (const b of data.windows("validation", 32, 256)) windows += b.batch;
console.log(`validation: ${windows} windows of 256`);

// The tokenizer travels with a checkpoint as JSON.
const dir = await mkdtemp(join(tmpdir(), "bmojo-data-"));
await saveTokenizer(join(dir, "tokenizer.json"), data.tokenizer);
const tokenizer = await loadTokenizer(join(dir, "tokenizer.json"));
console.log(
  `reloaded tokenizer decodes: ${tokenizer.decode(tokenizer.encode("To be, or not to be"))}`,
);
await rm(dir, { recursive: true });
