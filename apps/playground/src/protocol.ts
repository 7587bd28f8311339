/**
 * Messages between the page and its two module workers: the training worker (train-worker.ts)
 * and the generation worker (generate-worker.ts). Everything here is plain data (structured-clone
 * safe).
 */

/** The model plans the page offers (presets of @bmojo/model at the "tiny" size). */
export const PLANS = ["bmojo", "bmojo-f", "swa", "transformer", "mamba"] as const;
export type Plan = (typeof PLANS)[number];

/**
 * "auto" takes WebGPU when the browser offers an adapter, else the wasm backend (WebAssembly SIMD
 * on the CPU, threaded when the page is cross-origin isolated), else the reference cpu backend.
 */
export const BACKEND_CHOICES = ["auto", "webgpu", "wasm", "cpu"] as const;
export type BackendChoice = (typeof BACKEND_CHOICES)[number];

export interface MqarSettings {
  vocabSize: number;
  length: number;
  pairs: number;
  placement: "power-law" | "uniform";
  /** Zoology's randomNonQueries: the unscored slots hold random ids instead of 0. */
  randomFillers: boolean;
}

export interface TrainSettings {
  plan: Plan;
  backend: BackendChoice;
  mqar: MqarSettings;
  /** Sliding window of swa blocks; window and chunk length of B'MOJO blocks. */
  window: number;
  /** m_e of bmojo blocks. */
  eideticTokens: number;
  steps: number;
  batch: number;
  lr: number;
  /** Seeds the weights, the training batches and the held-out examples. */
  seed: number;
  /** Held-out evaluation every this many steps (and after the last one). */
  evalEvery: number;
  /** Size of the held-out set. */
  evalExamples: number;
}

/** Which backend a worker runs on, and why. */
export interface BackendInfo {
  name: string;
  /** The WebGPU adapter ("navigator.gpu: …"), when the backend is webgpu. */
  adapter?: string;
  /** The wasm backend's threads (the worker's own thread included), when the backend is wasm. */
  threads?: number;
  /** How the wasm backend's threads came about, e.g. "2 threads (shared memory)" or why there is one. */
  threading?: string;
  /** Why WebGPU is not used, when it was wanted ("auto") but unavailable. */
  webgpuUnavailable?: string;
  /** Why the wasm backend is not used, when "auto" fell back past it to cpu. */
  wasmUnavailable?: string;
}

/** One B'MOJO layer's view of the inspected example. */
export interface LayerMemoryView {
  layer: number;
  /** Innovation score of every input position. */
  scores: number[];
  /** Per chunk: the input positions held in eidetic memory for that chunk, ascending. */
  held: number[][];
}

/** A held-out MQAR example run through the current weights (on the cpu backend). */
export interface MemoryInspection {
  step: number;
  tokens: number[];
  /** "k", "v" for the key-value pairs, "q" where a key is asked again, "" elsewhere. */
  roles: string[];
  /** The value to recall at each query, −100 elsewhere. */
  targets: number[];
  /** The model's argmax prediction at every position. */
  predictions: number[];
  /** Chunk length (the window) of the B'MOJO layers. */
  window: number;
  /** Empty when the plan has no B'MOJO layer. */
  layers: LayerMemoryView[];
  /** m_f of the B'MOJO layers. */
  fadingTokens: number;
  /** m_e of the B'MOJO layers (0 for bmojo-f). */
  eideticTokens: number;
}

export type TrainRequest = { type: "start"; settings: TrainSettings } | { type: "stop" };

export type TrainMessage =
  | { type: "backend"; backend: BackendInfo }
  | { type: "model"; label: string; parameters: number }
  | {
      type: "progress";
      step: number;
      steps: number;
      loss: number;
      /** Recall accuracy on this step's fresh batch, measured before the update. */
      accuracy: number;
      /** Over the latest (up to 10) steps. */
      tokensPerSecond: number;
      seconds: number;
    }
  | {
      type: "eval";
      step: number;
      accuracy: number;
      correct: number;
      total: number;
    }
  | { type: "memory"; inspection: MemoryInspection }
  | { type: "done"; step: number; stopped: boolean; seconds: number }
  | { type: "error"; message: string };

export interface GenerateSettings {
  backend: BackendChoice;
  /** Absolute URLs of the checkpoint (safetensors with the config in its metadata) and tokenizer. */
  modelUrl: string;
  tokenizerUrl: string;
  prompt: string;
  maxTokens: number;
  temperature: number;
  topK: number;
  seed: number;
}

export type GenerateRequest = { type: "generate"; settings: GenerateSettings } | { type: "stop" };

export type GenerateMessage =
  | { type: "backend"; backend: BackendInfo }
  | { type: "model"; label: string; parameters: number }
  /** The text generated so far (replaces the previous one). */
  | { type: "text"; text: string; tokens: number }
  | {
      type: "done";
      tokens: number;
      /** From the request to the first token: the prefill (and, the first time, shader compilation). */
      firstTokenSeconds: number;
      /** Decoding speed after the first token. */
      tokensPerSecond: number;
      stopReason: string;
    }
  | { type: "error"; message: string };

/** The parts of a dedicated worker's global scope the workers use (the DOM lib types `self` as Window). */
export interface WorkerScope<Request, Message> {
  postMessage(message: Message): void;
  addEventListener(type: "message", listener: (event: MessageEvent<Request>) => void): void;
}
