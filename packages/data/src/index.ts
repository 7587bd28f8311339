/**
 * @bmojo/data: seeded synthetic sequence tasks (MQAR, noisy and fuzzy MQAR, selective copying,
 * induction heads), byte and character tokenizers, and text datasets (tinyshakespeare included).
 */
export {
  type AccuracyResult,
  IGNORE_INDEX,
  type SyntheticTask,
  TASK_NAMES,
  type TaskBatch,
  type TaskName,
} from "./tasks/types.js";
export { argmaxPredictions, maskedAccuracy } from "./tasks/metrics.js";
export { createTask } from "./tasks/registry.js";
export { type MqarOptions, type QueryPlacement, mqar } from "./tasks/mqar.js";
export { type NoisyMqarOptions, noisyMqar } from "./tasks/noisy-mqar.js";
export { type FuzzyMqarOptions, fuzzyMqar } from "./tasks/fuzzy-mqar.js";
export { type SelectiveCopyOptions, selectiveCopy } from "./tasks/selective-copy.js";
export { type InductionHeadsOptions, inductionHeads } from "./tasks/induction-heads.js";
export type { Tokenizer } from "./text/tokenizer.js";
export { ByteTokenizer } from "./text/byte-tokenizer.js";
export { CharTokenizer } from "./text/char-tokenizer.js";
export { loadTokenizer, saveTokenizer, tokenizerFromJSON } from "./text/tokenizer-json.js";
export { type Split, TextDataset, type TextDatasetOptions } from "./text/dataset.js";
export { tinyShakespearePath } from "./paths.js";
