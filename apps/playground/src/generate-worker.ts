/**
 * The generation worker (a module Web Worker): loads the character model shipped with the page
 * (once), then streams a continuation of the prompt token by token through the model's recurrent
 * cache (`generateTokens`), posting the text so far after every token. "stop" aborts before the
 * next token.
 */
import type { Tokenizer } from "@bmojo/data";
import { type LanguageModel, generateTokens } from "@bmojo/model";
import { startBackend } from "./backend.js";
import { fetchModel, fetchTokenizer } from "./char-model.js";
import type {
  GenerateMessage,
  GenerateRequest,
  GenerateSettings,
  WorkerScope,
} from "./protocol.js";

const scope = self as unknown as WorkerScope<GenerateRequest, GenerateMessage>;
let loaded: Promise<{ model: LanguageModel; tokenizer: Tokenizer }> | null = null;
let running: AbortController | null = null;

async function load(settings: GenerateSettings) {
  const { backend, info } = await startBackend(settings.backend);
  scope.postMessage({ type: "backend", backend: info });
  const [model, tokenizer] = await Promise.all([
    fetchModel(settings.modelUrl, backend),
    fetchTokenizer(settings.tokenizerUrl),
  ]);
  const kinds = model.config.layers.map((l) => l.kind).join(", ");
  scope.postMessage({
    type: "model",
    label: `${model.config.layers.length} blocks (${kinds}), d_model ${model.config.dModel}, ${tokenizer.kind} tokenizer (${tokenizer.vocabSize} symbols)`,
    parameters: model.numParameters(),
  });
  return { model, tokenizer };
}

async function generate(settings: GenerateSettings, signal: AbortSignal): Promise<void> {
  loaded ??= load(settings);
  const { model, tokenizer } = await loaded;
  const prompt = Array.from(tokenizer.encode(settings.prompt));
  const tokens: number[] = [];
  const started = performance.now();
  let firstTokenAt = started;
  const iterator = generateTokens(model, prompt, {
    maxTokens: settings.maxTokens,
    temperature: settings.temperature,
    topK: settings.topK,
    seed: settings.seed,
    signal,
  });
  let result = await iterator.next();
  while (!result.done) {
    if (tokens.length === 0) firstTokenAt = performance.now();
    tokens.push(result.value);
    scope.postMessage({ type: "text", text: tokenizer.decode(tokens), tokens: tokens.length });
    // Let a "stop" message in: on the cpu and wasm backends a step's awaits resolve without yielding.
    await new Promise((resolve) => setTimeout(resolve, 0));
    result = await iterator.next();
  }
  const decodeSeconds = (performance.now() - firstTokenAt) / 1000;
  scope.postMessage({
    type: "done",
    tokens: tokens.length,
    firstTokenSeconds: (firstTokenAt - started) / 1000,
    tokensPerSecond: tokens.length > 1 ? (tokens.length - 1) / decodeSeconds : 0,
    stopReason: result.value,
  });
}

scope.addEventListener("message", (event) => {
  const request = event.data;
  if (request.type === "stop") {
    running?.abort();
    return;
  }
  running?.abort();
  const controller = new AbortController();
  running = controller;
  generate(request.settings, controller.signal).catch((err: unknown) => {
    loaded = null;
    scope.postMessage({
      type: "error",
      message: err instanceof Error ? `${err.name}: ${err.message}` : String(err),
    });
  });
});
