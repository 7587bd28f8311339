/**
 * A training run's checkpoint directory:
 *
 *   model.safetensors      the weights, with the model config in the metadata (saveModel)
 *   optimizer.safetensors  AdamW moments as m.<param> / v.<param>, the step in the metadata
 *   tokenizer.json         text runs only: the tokenizer (tokenizer.toJSON())
 *   train.json             the run record: config, data source, flags, seeds, step, metrics
 *
 * Every file is written to a temp file in the same directory, flushed, then renamed over the old
 * one, so a crash never leaves a torn file. train.json is written last and names the step; the
 * loader checks that the optimizer file and the model agree with it.
 */
import { mkdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { type Tokenizer, tokenizerFromJSON } from "@bmojo/data";
import { type LanguageModel, type ResolvedConfig, loadModel, saveModel } from "@bmojo/model";
import {
  type AdamW,
  type HostTensor,
  type Moments,
  decodeSafetensors,
  encodeSafetensors,
} from "@bmojo/nn";
import { tensor, writeFileAtomic } from "@bmojo/tensor";
import type { DataRecord } from "./data-source.js";
import { UsageError, messageOf } from "./errors.js";

export const MODEL_FILE = "model.safetensors";
export const OPTIMIZER_FILE = "optimizer.safetensors";
export const TOKENIZER_FILE = "tokenizer.json";
export const RECORD_FILE = "train.json";
const RECORD_FORMAT = "bmojo-train";
const OPTIMIZER_FORMAT = "bmojo-adamw";

/** One evaluation: on `batches` × `batch` sequences drawn from the stream of `seed`. */
export interface EvalResult {
  step: number;
  seed: number;
  batches: number;
  batch: number;
  loss: number;
  perplexity: number;
  accuracy: number;
  correct: number;
  total: number;
}

/** What the run measured; carried over when it is resumed. */
export interface TrainMetrics {
  /** The loss of every step taken, in order (index = step − 1). */
  losses: number[];
  /** The progress EMA of the loss after the last step (null before the first). */
  lossEma: number | null;
  /** Tokens trained on so far. */
  tokens: number;
  /** Seconds spent in training steps so far, over all sessions. */
  seconds: number;
  evals: EvalResult[];
}

/** Optimiser settings, and how many parameters each AdamW group holds. */
export interface OptimizerRecord {
  lr: number;
  ssmLr: number;
  weightDecay: number;
  betas: [number, number];
  warmup: number;
  minLrRatio: number;
  clip: number;
  groups: Record<string, number>;
}

/** How often the run evaluates and saves; a resumed run keeps these unless the flags change them. */
export interface RunSettings {
  evalEvery: number;
  evalBatches: number;
  saveEvery: number;
}

/** A flag value as recorded (null: not given and no default). */
export type RecordedArg = string | number | boolean | string[] | null;

/** The contents of train.json. */
export interface TrainRecord {
  format: typeof RECORD_FORMAT;
  version: 1;
  /** Steps taken. */
  step: number;
  /** The step the run was asked to reach (--steps). */
  totalSteps: number;
  model: ResolvedConfig;
  /** e.g. "bmojo tiny". */
  modelLabel: string;
  parameters: number;
  /** The flags that fix the run (model, data, optimiser, seed), resolved to their values. */
  args: Record<string, RecordedArg>;
  data: DataRecord;
  seeds: { train: number; eval: number };
  optimizer: OptimizerRecord;
  settings: RunSettings;
  metrics: TrainMetrics;
  backend: string;
  updatedAt: string;
}

/** Bytes of optimizer.safetensors: every moment buffer, and the step in the metadata. */
async function encodeOptimizer(optimizer: AdamW): Promise<Uint8Array> {
  const { step, moments } = optimizer.state();
  const tensors: Record<string, HostTensor> = {};
  for (const [name, { m, v }] of Object.entries(moments)) {
    tensors[`m.${name}`] = { dtype: m.dtype, shape: [...m.shape], data: await m.data() };
    tensors[`v.${name}`] = { dtype: v.dtype, shape: [...v.shape], data: await v.data() };
  }
  return encodeSafetensors(tensors, { format: OPTIMIZER_FORMAT, step: String(step) });
}

/** Everything a checkpoint holds, to be written by `saveRun`. */
export interface RunState {
  model: LanguageModel;
  optimizer: AdamW;
  record: TrainRecord;
  tokenizer: Tokenizer | undefined;
}

/** Writes the checkpoint (each file atomically; train.json last). */
export async function saveRun(dir: string, state: RunState): Promise<void> {
  await mkdir(dir, { recursive: true });
  if (state.tokenizer !== undefined) {
    await writeFileAtomic(
      "bmojo",
      join(dir, TOKENIZER_FILE),
      `${JSON.stringify(state.tokenizer.toJSON())}\n`,
    );
  }
  await saveModel(join(dir, MODEL_FILE), state.model);
  await writeFileAtomic("bmojo", join(dir, OPTIMIZER_FILE), await encodeOptimizer(state.optimizer));
  await writeFileAtomic(
    "bmojo",
    join(dir, RECORD_FILE),
    `${JSON.stringify(state.record, null, 2)}\n`,
  );
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/** Whether `dir` holds a checkpoint (a train.json). */
export function hasRun(dir: string): Promise<boolean> {
  return exists(join(dir, RECORD_FILE));
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Parses and checks train.json (the fields the CLI relies on). */
function parseRecord(text: string, path: string): TrainRecord {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new Error(`${path} is not valid JSON (${messageOf(err)}).`);
  }
  const problems: string[] = [];
  if (!isObject(json)) throw new Error(`${path}: expected a JSON object.`);
  if (json.format !== RECORD_FORMAT)
    problems.push(`format is ${JSON.stringify(json.format)}, expected "${RECORD_FORMAT}"`);
  if (json.version !== 1)
    problems.push(`version ${JSON.stringify(json.version)} is not supported (expected 1)`);
  if (!Number.isInteger(json.step) || (json.step as number) < 0)
    problems.push("step must be an integer ≥ 0");
  if (!Number.isInteger(json.totalSteps)) problems.push("totalSteps must be an integer");
  if (!isObject(json.model) || !Array.isArray(json.model.layers))
    problems.push("model must be a resolved model config");
  const data = json.data;
  if (!isObject(data) || (data.kind !== "task" && data.kind !== "text"))
    problems.push('data.kind must be "task" or "text"');
  for (const key of ["args", "seeds", "optimizer", "settings", "metrics"]) {
    if (!isObject(json[key])) problems.push(`${key} must be an object`);
  }
  if (isObject(json.metrics) && !Array.isArray(json.metrics.losses))
    problems.push("metrics.losses must be an array");
  if (problems.length > 0)
    throw new Error(`${path} is not a bmojo training record: ${problems.join("; ")}.`);
  return json as unknown as TrainRecord;
}

/** A loaded checkpoint: its record, the model, and the tokenizer of a text run. */
export interface LoadedRun {
  dir: string;
  record: TrainRecord;
  model: LanguageModel;
  tokenizer: Tokenizer | undefined;
}

/**
 * Reads a checkpoint directory. A directory without train.json is a usage error naming `flag`;
 * damaged or inconsistent files are runtime errors naming the file.
 */
export async function loadRun(dir: string, flag: string): Promise<LoadedRun> {
  const recordPath = join(dir, RECORD_FILE);
  if (!(await exists(recordPath))) {
    throw new UsageError(
      `${flag} ${dir}: no checkpoint there (no ${RECORD_FILE}); point it at a directory written by \`bmojo train --out DIR\`.`,
    );
  }
  const record = parseRecord(await readFile(recordPath, "utf8"), recordPath);
  const model = await loadModel(join(dir, MODEL_FILE));
  if (JSON.stringify(model.config) !== JSON.stringify(record.model)) {
    model.dispose();
    throw new Error(
      `${dir}: ${MODEL_FILE} holds a different model config than ${RECORD_FILE}; the checkpoint is inconsistent.`,
    );
  }
  let tokenizer: Tokenizer | undefined;
  if (record.data.kind === "text") {
    const path = join(dir, TOKENIZER_FILE);
    try {
      tokenizer = tokenizerFromJSON(JSON.parse(await readFile(path, "utf8")));
    } catch (err) {
      model.dispose();
      throw new Error(`${path}: cannot load the tokenizer (${messageOf(err)}).`, { cause: err });
    }
  }
  return { dir, record, model, tokenizer };
}

/** Restores the optimizer's moments and step from optimizer.safetensors; checks the step. */
export async function loadOptimizerInto(
  dir: string,
  optimizer: AdamW,
  expectedStep: number,
): Promise<void> {
  const path = join(dir, OPTIMIZER_FILE);
  const bytes = await readFile(path);
  let decoded: ReturnType<typeof decodeSafetensors>;
  try {
    decoded = decodeSafetensors(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  } catch (err) {
    throw new Error(`${path}: ${messageOf(err)}`, { cause: err });
  }
  const { tensors, metadata } = decoded;
  if (metadata.format !== OPTIMIZER_FORMAT) {
    throw new Error(
      `${path}: not an optimizer checkpoint (format ${JSON.stringify(metadata.format)}).`,
    );
  }
  const step = Number(metadata.step);
  if (step !== expectedStep) {
    throw new Error(
      `${path} is at step ${metadata.step} but ${RECORD_FILE} says ${expectedStep}; the checkpoint is inconsistent (a save was interrupted).`,
    );
  }
  const parts: Record<string, Partial<Moments>> = {};
  try {
    for (const [key, host] of Object.entries(tensors)) {
      const match = /^([mv])\.(.+)$/.exec(key);
      if (match === null) throw new Error(`${path}: unexpected tensor ${key}.`);
      const [, which, name] = match;
      const entry: Partial<Moments> = parts[name] ?? {};
      parts[name] = entry;
      entry[which as keyof Moments] = tensor(host.data, host.shape, { dtype: host.dtype });
    }
    const moments: Record<string, Moments> = {};
    for (const [name, { m, v }] of Object.entries(parts)) {
      if (m === undefined || v === undefined) {
        throw new Error(
          `${path}: parameter ${name} has ${m === undefined ? "no m" : "no v"} moment.`,
        );
      }
      moments[name] = { m, v };
    }
    optimizer.loadState({ step, moments });
  } finally {
    for (const { m, v } of Object.values(parts)) {
      m?.dispose();
      v?.dispose();
    }
  }
}
