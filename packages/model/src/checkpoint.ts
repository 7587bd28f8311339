/**
 * Model checkpoints: safetensors weights with the model config as JSON in the metadata, written
 * atomically (temp file + rename), validated on load.
 */
import { loadParametersInto, readCheckpoint, saveCheckpoint } from "@bmojo/nn";
import type { Backend } from "@bmojo/tensor";
import type { ModelConfig } from "./config.js";
import { LanguageModel } from "./language-model.js";

/** Writes the model's parameters and config to `path` (the previous file survives a failure). */
export async function saveModel(path: string, model: LanguageModel): Promise<void> {
  await saveCheckpoint(path, model, model.config);
}

/** Builds a model from the config stored in the checkpoint and loads its parameters. */
export async function loadModel(
  path: string,
  options: { backend?: Backend } = {},
): Promise<LanguageModel> {
  const { config, tensors } = await readCheckpoint(path);
  const model = new LanguageModel(config as ModelConfig, options);
  try {
    loadParametersInto(model, tensors);
  } catch (err) {
    model.dispose();
    throw err;
  }
  return model;
}
