/**
 * Loading a checkpoint written by `bmojo train --out DIR` over HTTP: model.safetensors (weights,
 * with the model config as JSON in its metadata) and tokenizer.json. The browser counterpart of
 * @bmojo/model's Node-only `loadModel`.
 */
import { type Tokenizer, tokenizerFromJSON } from "@bmojo/data";
import { LanguageModel, type ModelConfig } from "@bmojo/model";
import { decodeSafetensors, loadParametersInto } from "@bmojo/nn";
import type { Backend } from "@bmojo/tensor";

async function fetchOk(url: string): Promise<Response> {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`GET ${url}: ${response.status} ${response.statusText}`);
  return response;
}

/** Builds the model from the checkpoint's own config; errors name the file and the problem. */
export async function fetchModel(url: string, backend: Backend): Promise<LanguageModel> {
  const bytes = new Uint8Array(await (await fetchOk(url)).arrayBuffer());
  let decoded: ReturnType<typeof decodeSafetensors>;
  try {
    decoded = decodeSafetensors(bytes);
  } catch (err) {
    throw new Error(`${url}: ${(err as Error).message}`, { cause: err });
  }
  const { tensors, metadata } = decoded;
  if (metadata.config === undefined) {
    throw new Error(`${url}: no model config in the safetensors metadata (not written by bmojo).`);
  }
  const model = new LanguageModel(JSON.parse(metadata.config) as ModelConfig, { backend });
  try {
    loadParametersInto(model, tensors);
  } catch (err) {
    model.dispose();
    throw new Error(`${url}: ${(err as Error).message}`, { cause: err });
  }
  return model;
}

export async function fetchTokenizer(url: string): Promise<Tokenizer> {
  const json: unknown = await (await fetchOk(url)).json();
  try {
    return tokenizerFromJSON(json);
  } catch (err) {
    throw new Error(`${url}: ${(err as Error).message}`, { cause: err });
  }
}
