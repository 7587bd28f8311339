/**
 * The generation section: streams a continuation of the prompt from the character model shipped
 * in public/char-model, produced by a generation worker on the chosen backend. The worker is made
 * once per backend choice and keeps the loaded model between runs.
 */
import { byId, numberField, showError, textField, workerErrorMessage } from "./dom.js";
import type {
  BackendChoice,
  BackendInfo,
  GenerateMessage,
  GenerateRequest,
  GenerateSettings,
} from "./protocol.js";

/** The checkpoint `bmojo train --out` wrote, copied to public/char-model (see the README). */
function checkpointUrls(): { modelUrl: string; tokenizerUrl: string } {
  const base = new URL(`${import.meta.env.BASE_URL}char-model/`, document.baseURI);
  return {
    modelUrl: new URL("model.safetensors", base).href,
    tokenizerUrl: new URL("tokenizer.json", base).href,
  };
}

export function setupGeneration(options: {
  backendChoice: () => BackendChoice;
  onBackend: (info: BackendInfo) => void;
}): void {
  const section = byId<HTMLElement>("generation");
  const form = byId<HTMLFormElement>("generate-form");
  const startButton = byId<HTMLButtonElement>("generate-start");
  const stopButton = byId<HTMLButtonElement>("generate-stop");
  const modelLine = byId<HTMLElement>("generate-model");
  const output = byId<HTMLElement>("generate-output");
  const status = byId<HTMLElement>("generate-status");
  const error = byId<HTMLElement>("generate-error");

  let worker: { instance: Worker; backend: BackendChoice } | null = null;
  let prompt = "";

  const setState = (state: "running" | "done" | "error") => {
    section.dataset.state = state;
    startButton.disabled = state === "running";
    stopButton.disabled = state !== "running";
  };
  const fail = (message: string) => {
    showError(error, message);
    setState("error");
    worker?.instance.terminate();
    worker = null;
  };
  const onMessage = (message: GenerateMessage) => {
    switch (message.type) {
      case "backend":
        options.onBackend(message.backend);
        break;
      case "model":
        modelLine.textContent = `Character model trained on tinyshakespeare by the bmojo CLI: ${message.label}, ${message.parameters.toLocaleString("en-US")} parameters.`;
        break;
      case "text":
        output.textContent = prompt + message.text;
        status.textContent = `${message.tokens} tokens…`;
        break;
      case "done":
        status.textContent = `${message.tokens} tokens: the first after ${message.firstTokenSeconds.toFixed(2)} s, then ${message.tokensPerSecond.toFixed(1)} tokens/s; stopped: ${message.stopReason}`;
        status.dataset.tokensPerSecond = String(message.tokensPerSecond);
        setState("done");
        break;
      case "error":
        fail(message.message);
        break;
    }
  };
  const workerFor = (backend: BackendChoice): Worker => {
    if (worker !== null && worker.backend === backend) return worker.instance;
    worker?.instance.terminate();
    const instance = new Worker(new URL("./generate-worker.ts", import.meta.url), {
      type: "module",
    });
    instance.addEventListener("message", (e: MessageEvent<GenerateMessage>) => {
      if (worker?.instance === instance) onMessage(e.data);
    });
    instance.addEventListener("error", (e) => {
      if (worker?.instance === instance) fail(workerErrorMessage(e, "generation"));
    });
    worker = { instance, backend };
    return instance;
  };

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    showError(error, null);
    let settings: GenerateSettings;
    try {
      settings = {
        backend: options.backendChoice(),
        ...checkpointUrls(),
        prompt: textField(form, "prompt"),
        maxTokens: numberField(form, "maxTokens"),
        temperature: numberField(form, "temperature"),
        topK: numberField(form, "topK"),
        seed: numberField(form, "seed"),
      };
    } catch (err) {
      fail((err as Error).message);
      return;
    }
    prompt = settings.prompt;
    output.textContent = prompt;
    status.textContent = "loading the model…";
    const request: GenerateRequest = { type: "generate", settings };
    workerFor(settings.backend).postMessage(request);
    setState("running");
  });

  stopButton.addEventListener("click", () => {
    const request: GenerateRequest = { type: "stop" };
    worker?.instance.postMessage(request);
  });
}
