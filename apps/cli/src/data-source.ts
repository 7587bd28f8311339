/**
 * Where training and evaluation batches come from: a synthetic task (`--task`) or a text file
 * (`--text`), behind one interface. Batches are drawn from seeded streams (see seeds.ts), and a
 * `DataRecord` (kept in train.json) rebuilds the same source later.
 */
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import {
  type AccuracyResult,
  ByteTokenizer,
  CharTokenizer,
  type SyntheticTask,
  type TaskBatch,
  type TaskName,
  TextDataset,
  type Tokenizer,
  createTask,
  tinyShakespearePath,
} from "@bmojo/data";
import { Random } from "@bmojo/tensor";
import { UsageError, messageOf } from "./errors.js";
import { trainSeed } from "./seeds.js";

export const TASK_NAMES = [
  "mqar",
  "noisy-mqar",
  "fuzzy-mqar",
  "selective-copy",
  "induction-heads",
] as const satisfies readonly TaskName[];

export const TOKENIZER_KINDS = ["char", "byte"] as const;
export type TokenizerKind = (typeof TOKENIZER_KINDS)[number];

/** `--text tinyshakespeare` names the corpus bundled with @bmojo/data. */
export const TINY_SHAKESPEARE = "tinyshakespeare";

/** Share of a text held out for validation. */
export const VALIDATION_FRACTION = 0.1;

export type TaskOptionValue = number | string | boolean;

/** A synthetic task: its name and every option it resolved (so it can be rebuilt exactly). */
export interface TaskRecord {
  kind: "task";
  task: TaskName;
  options: Record<string, TaskOptionValue>;
  vocabSize: number;
  length: number;
}

/** A text file: where it was, its content hash, the tokenizer kind and the window length. */
export interface TextRecord {
  kind: "text";
  /** What --text said: a path or "tinyshakespeare". */
  source: string;
  /** The absolute path read. */
  path: string;
  sha256: string;
  tokenizer: TokenizerKind;
  seqLen: number;
  vocabSize: number;
  validationFraction: number;
  trainTokens: number;
  validationTokens: number;
}

export type DataRecord = TaskRecord | TextRecord;

/** A source of batches for training and evaluation. */
export interface DataSource {
  readonly record: DataRecord;
  readonly vocabSize: number;
  /** Tokens per sequence. */
  readonly length: number;
  /** The tokenizer of a text source. */
  readonly tokenizer: Tokenizer | undefined;
  /** Training batch of step `step` (1-based): a function of (seed, step) only. */
  trainBatch(seed: number, step: number, batch: number): TaskBatch;
  /** `count` evaluation batches drawn in order from one stream of `seed`. */
  evalBatches(seed: number, count: number, batch: number): TaskBatch[];
  /** Accuracy of argmax predictions against the targets (the task's own rule for tasks). */
  accuracy(predictions: ArrayLike<number>, targets: ArrayLike<number>): AccuracyResult;
  /** One line for summaries, e.g. "task mqar (vocabSize 64, length 64, pairs 4)". */
  describe(): string;
}

/** The mean over positions whose target is not ignored (negative targets are ignored). */
function tokenAccuracy(predictions: ArrayLike<number>, targets: ArrayLike<number>): AccuracyResult {
  let correct = 0;
  let total = 0;
  for (let i = 0; i < targets.length; i++) {
    if (targets[i] < 0) continue;
    total++;
    if (predictions[i] === targets[i]) correct++;
  }
  return { correct, total, accuracy: total === 0 ? 0 : correct / total };
}

/** A task source from `--task NAME` and its `--task-option` values. */
export function taskSource(name: TaskName, options: Record<string, TaskOptionValue>): DataSource {
  let task: SyntheticTask;
  try {
    task = createTask(name, options);
  } catch (err) {
    const flag = Object.keys(options).length > 0 ? "--task-option" : "--task";
    throw new UsageError(`${flag}: ${messageOf(err)}`);
  }
  const record: TaskRecord = {
    kind: "task",
    task: task.name,
    options: { ...task.options },
    vocabSize: task.vocabSize,
    length: task.length,
  };
  return {
    record,
    vocabSize: task.vocabSize,
    length: task.length,
    tokenizer: undefined,
    trainBatch: (seed, step, batch) => task.sample(new Random(trainSeed(seed, step)), batch),
    evalBatches: (seed, count, batch) => {
      const rng = new Random(seed);
      return Array.from({ length: count }, () => task.sample(rng, batch));
    },
    accuracy: (predictions, targets) => task.accuracy(predictions, targets),
    describe: () => {
      const opts = Object.entries(record.options)
        .map(([k, v]) => `${k} ${v}`)
        .join(", ");
      return `task ${record.task} (${opts})`;
    },
  };
}

/** The path `--text` names: a file, or the bundled tinyshakespeare. */
export function textPath(source: string): string {
  return source === TINY_SHAKESPEARE ? tinyShakespearePath() : resolve(source);
}

/** Reads a text file for `--text`; a missing or empty file is a usage error. */
export async function readText(
  source: string,
  flag = "--text",
): Promise<{ path: string; text: string }> {
  const path = textPath(source);
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    throw new UsageError(
      `${flag} ${source}: cannot read ${path} (${messageOf(err)}); give a UTF-8 text file or "${TINY_SHAKESPEARE}".`,
    );
  }
  if (text.length === 0) throw new UsageError(`${flag} ${source}: the file is empty.`);
  return { path, text };
}

/** The hex SHA-256 of a text, to notice when a resumed run's file has changed. */
export function sha256(text: string): string {
  return createHash("sha256").update(text, "utf8").digest("hex");
}

/** A new tokenizer of the given kind (a char tokenizer learns its alphabet from `text`). */
export function makeTokenizer(kind: TokenizerKind, text: string): Tokenizer {
  return kind === "char" ? CharTokenizer.fromText(text) : new ByteTokenizer();
}

/**
 * A text source: `text` split into training and validation tokens with `tokenizer`, sampled as
 * windows of `seqLen` tokens (targets: the next token).
 */
export function textSource(options: {
  source: string;
  path: string;
  text: string;
  tokenizer: Tokenizer;
  tokenizerKind: TokenizerKind;
  seqLen: number;
}): DataSource {
  const { tokenizer, seqLen } = options;
  let dataset: TextDataset;
  try {
    dataset = TextDataset.fromText(options.text, tokenizer, {
      validationFraction: VALIDATION_FRACTION,
    });
  } catch (err) {
    throw new UsageError(`--text ${options.source}: ${messageOf(err)}`);
  }
  for (const split of ["train", "validation"] as const) {
    const tokens = dataset[split].length;
    if (tokens < seqLen + 1) {
      throw new UsageError(
        `--seq-len ${seqLen}: the ${split} split of ${options.source} has only ${tokens} tokens; it needs at least ${seqLen + 1} (use a longer text or a smaller --seq-len).`,
      );
    }
  }
  const record: TextRecord = {
    kind: "text",
    source: options.source,
    path: options.path,
    sha256: sha256(options.text),
    tokenizer: options.tokenizerKind,
    seqLen,
    vocabSize: tokenizer.vocabSize,
    validationFraction: VALIDATION_FRACTION,
    trainTokens: dataset.train.length,
    validationTokens: dataset.validation.length,
  };
  return {
    record,
    vocabSize: tokenizer.vocabSize,
    length: seqLen,
    tokenizer,
    trainBatch: (seed, step, batch) =>
      dataset.sample("train", new Random(trainSeed(seed, step)), batch, seqLen),
    evalBatches: (seed, count, batch) => {
      const rng = new Random(seed);
      return Array.from({ length: count }, () => dataset.sample("validation", rng, batch, seqLen));
    },
    accuracy: tokenAccuracy,
    describe: () =>
      `text ${options.source} (${tokenizer.kind} tokenizer, vocab ${tokenizer.vocabSize}, ${record.trainTokens} train / ${record.validationTokens} validation tokens, seq-len ${seqLen})`,
  };
}
