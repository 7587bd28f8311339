/** Token streams of a text, split into train and validation, served as next-token batches. */
import type { Random } from "@bmojo/tensor";
import type { TaskBatch } from "../tasks/types.js";
import { CharTokenizer } from "./char-tokenizer.js";
import { readText } from "./io.js";
import type { Tokenizer } from "./tokenizer.js";

export type Split = "train" | "validation";

export interface TextDatasetOptions {
  /** The fraction of tokens, taken from the end, that forms the validation split (0.1), in [0, 1). */
  validationFraction?: number;
}

/**
 * A tokenized text: `train` is the first ⌈(1 − f)·n⌉ tokens, `validation` the last ⌊f·n⌋
 * (f = validationFraction). Batches are next-token pairs: targets[t] = ids[s + t + 1].
 */
export class TextDataset {
  /** The ids of a text, already split (ids must be valid for the tokenizer). */
  constructor(
    readonly tokenizer: Tokenizer,
    readonly train: Int32Array,
    readonly validation: Int32Array,
  ) {}

  /** Tokenizes `text` and splits it by position: the last fraction is validation. */
  static fromText(
    text: string,
    tokenizer: Tokenizer,
    options: TextDatasetOptions = {},
  ): TextDataset {
    const fraction = options.validationFraction ?? 0.1;
    if (typeof fraction !== "number" || !(fraction >= 0 && fraction < 1)) {
      throw new RangeError(
        `TextDataset: validationFraction must be a number in [0, 1), got ${String(fraction)}.`,
      );
    }
    const ids = tokenizer.encode(text);
    const cut = ids.length - Math.floor(ids.length * fraction);
    return new TextDataset(tokenizer, ids.subarray(0, cut), ids.subarray(cut));
  }

  /**
   * Reads `path` (UTF-8) and calls `fromText`; the default tokenizer is
   * `CharTokenizer.fromText(text)` over the whole file. Node only.
   */
  static async fromFile(
    path: string,
    tokenizer?: Tokenizer,
    options: TextDatasetOptions = {},
  ): Promise<TextDataset> {
    const text = await readText("TextDataset.fromFile", path);
    return TextDataset.fromText(text, tokenizer ?? CharTokenizer.fromText(text), options);
  }

  /**
   * `batch` random windows of the split: inputs = ids[s .. s + length), targets =
   * ids[s + 1 .. s + length], with s uniform in [0, n − length − 1] (one draw per window).
   */
  sample(split: Split, rng: Random, batch: number, length: number): TaskBatch {
    const ids = this.ids("sample", split);
    checkSizes("sample", ids, split, batch, length);
    const starts = rng.intArray(batch, 0, ids.length - length);
    const inputs = new Int32Array(batch * length);
    const targets = new Int32Array(batch * length);
    for (let b = 0; b < batch; b++) {
      const s = starts[b];
      inputs.set(ids.subarray(s, s + length), b * length);
      targets.set(ids.subarray(s + 1, s + length + 1), b * length);
    }
    return { inputs, targets, batch, length };
  }

  /**
   * Every non-overlapping window of the split in order, `batch` windows per batch (the last batch
   * may hold fewer): window w has inputs ids[w·length .. (w+1)·length) and targets shifted by one,
   * for w < ⌊(n − 1)/length⌋, so every token but the first is a target once (up to a tail shorter
   * than a window).
   */
  windows(split: Split, batch: number, length: number): Iterable<TaskBatch> {
    const ids = this.ids("windows", split);
    checkSizes("windows", ids, split, batch, length);
    return windowBatches(ids, batch, length);
  }

  /** How many windows `windows(split, _, length)` yields in all. */
  windowCount(split: Split, length: number): number {
    const ids = this.ids("windowCount", split);
    return Math.max(0, Math.floor((ids.length - 1) / length));
  }

  private ids(method: string, split: Split): Int32Array {
    if (split === "train") return this.train;
    if (split === "validation") return this.validation;
    throw new RangeError(
      `TextDataset.${method}: split must be "train" or "validation", got ${JSON.stringify(split)}.`,
    );
  }
}

function checkSizes(
  method: string,
  ids: Int32Array,
  split: Split,
  batch: number,
  length: number,
): void {
  if (!Number.isSafeInteger(batch) || batch < 1) {
    throw new RangeError(`TextDataset.${method}: batch must be an integer ≥ 1, got ${batch}.`);
  }
  if (!Number.isSafeInteger(length) || length < 1) {
    throw new RangeError(`TextDataset.${method}: length must be an integer ≥ 1, got ${length}.`);
  }
  if (ids.length < length + 1) {
    throw new RangeError(
      `TextDataset.${method}: the ${split} split has ${ids.length} tokens; a window of length ${length} needs ${length + 1}.`,
    );
  }
}

function* windowBatches(ids: Int32Array, batch: number, length: number): Generator<TaskBatch> {
  const count = Math.floor((ids.length - 1) / length);
  for (let first = 0; first < count; first += batch) {
    const rows = Math.min(batch, count - first);
    const inputs = new Int32Array(rows * length);
    const targets = new Int32Array(rows * length);
    for (let r = 0; r < rows; r++) {
      const s = (first + r) * length;
      inputs.set(ids.subarray(s, s + length), r * length);
      targets.set(ids.subarray(s + 1, s + length + 1), r * length);
    }
    yield { inputs, targets, batch: rows, length };
  }
}
