/**
 * The training section: reads the form, runs a training worker, and shows its progress (status
 * line, live chart, held-out accuracy) and the memory inspector. Starting again terminates the
 * running worker and starts a fresh one; Stop asks the worker to end after its current step.
 */
import { type Point, chartSvg } from "./chart.js";
import {
  byId,
  checkboxField,
  compactNumber,
  numberField,
  percent,
  showError,
  textField,
  workerErrorMessage,
} from "./dom.js";
import { renderMemory } from "./memory-view.js";
import {
  type BackendChoice,
  type BackendInfo,
  type MemoryInspection,
  PLANS,
  type Plan,
  type TrainMessage,
  type TrainRequest,
  type TrainSettings,
} from "./protocol.js";

/** The held-out accuracy the result line reports reaching (and when). */
const TARGET_ACCURACY = 0.9;

function readSettings(form: HTMLFormElement, backend: BackendChoice): TrainSettings {
  const plan = textField(form, "plan");
  if (!(PLANS as readonly string[]).includes(plan)) throw new Error(`unknown plan "${plan}"`);
  const placement = textField(form, "placement");
  if (placement !== "power-law" && placement !== "uniform") {
    throw new Error(`unknown query placement "${placement}"`);
  }
  return {
    plan: plan as Plan,
    backend,
    mqar: {
      vocabSize: numberField(form, "vocabSize"),
      length: numberField(form, "length"),
      pairs: numberField(form, "pairs"),
      placement,
      randomFillers: checkboxField(form, "randomFillers"),
    },
    window: numberField(form, "window"),
    eideticTokens: numberField(form, "eideticTokens"),
    steps: numberField(form, "steps"),
    batch: numberField(form, "batch"),
    lr: numberField(form, "lr"),
    seed: numberField(form, "seed"),
    evalEvery: numberField(form, "evalEvery"),
    evalExamples: numberField(form, "evalExamples"),
  };
}

export function setupTraining(options: {
  backendChoice: () => BackendChoice;
  onBackend: (info: BackendInfo) => void;
}): void {
  const section = byId<HTMLElement>("training");
  const form = byId<HTMLFormElement>("train-form");
  const stopButton = byId<HTMLButtonElement>("train-stop");
  const modelLine = byId<HTMLElement>("train-model");
  const status = byId<HTMLElement>("train-status");
  const chart = byId<HTMLElement>("chart");
  const result = byId<HTMLElement>("train-result");
  const error = byId<HTMLElement>("train-error");
  const chunkSelect = byId<HTMLSelectElement>("memory-chunk");
  const memoryCaption = byId<HTMLElement>("memory-caption");
  const memoryView = byId<HTMLElement>("memory-view");

  let worker: Worker | null = null;
  const emptyChart = (steps: number) => ({
    steps,
    loss: [] as Point[],
    batchAccuracy: [] as Point[],
    heldOutAccuracy: [] as Point[],
  });
  let data = emptyChart(1);
  let inspection: MemoryInspection | null = null;
  let startedAt = 0;
  let reached: { step: number; wallSeconds: number } | null = null;
  let drawPending = false;

  const setState = (state: "running" | "stopping" | "done" | "error") => {
    section.dataset.state = state;
    stopButton.disabled = state !== "running";
  };
  const drawChart = () => {
    if (drawPending) return;
    drawPending = true;
    requestAnimationFrame(() => {
      drawPending = false;
      chart.innerHTML = chartSvg(data);
    });
  };
  const drawMemory = () => {
    const shown = inspection;
    if (shown === null) return;
    const { tokens, window, layers, step } = shown;
    const chunks = Math.ceil(tokens.length / window);
    if (chunkSelect.options.length !== chunks) {
      chunkSelect.replaceChildren(
        ...Array.from({ length: chunks }, (_, c) => {
          const start = c * window;
          const end = Math.min(tokens.length, start + window) - 1;
          return new Option(`${c + 1} of ${chunks} (positions ${start}–${end})`, String(c));
        }),
      );
      chunkSelect.value = String(chunks - 1);
    }
    memoryCaption.textContent =
      layers.length === 0
        ? `This plan has no B'MOJO layer, so there are no innovation scores or eidetic memory to show (step ${step}).`
        : `Step ${step}: ${layers.length} B'MOJO layer(s); each query attends to its window of ${window} tokens, ${shown.fadingTokens} fading token(s) and up to ${shown.eideticTokens} eidetic token(s).`;
    renderMemory(memoryView, shown, Number(chunkSelect.value));
  };
  chunkSelect.addEventListener("change", drawMemory);

  const fail = (message: string) => {
    showError(error, message);
    setState("error");
    worker?.terminate();
    worker = null;
  };

  const onMessage = (message: TrainMessage) => {
    switch (message.type) {
      case "backend":
        options.onBackend(message.backend);
        break;
      case "model":
        modelLine.textContent = `${message.label}, ${message.parameters.toLocaleString("en-US")} parameters`;
        break;
      case "progress":
        data.loss.push([message.step, message.loss]);
        data.batchAccuracy.push([message.step, message.accuracy]);
        status.textContent = `step ${message.step}/${message.steps} · loss ${message.loss.toFixed(4)} · batch accuracy ${percent(message.accuracy)} · ${compactNumber(message.tokensPerSecond)} tokens/s (last 10 steps) · ${message.seconds.toFixed(1)} s training`;
        status.dataset.tokensPerSecond = String(message.tokensPerSecond);
        drawChart();
        break;
      case "eval": {
        data.heldOutAccuracy.push([message.step, message.accuracy]);
        const wallSeconds = (performance.now() - startedAt) / 1000;
        if (reached === null && message.accuracy >= TARGET_ACCURACY) {
          reached = { step: message.step, wallSeconds };
        }
        const reachedText =
          reached === null
            ? ""
            : ` · first ≥ ${percent(TARGET_ACCURACY)} at step ${reached.step}, ${reached.wallSeconds.toFixed(1)} s after Start`;
        result.textContent = `held-out accuracy ${percent(message.accuracy)} (${message.correct}/${message.total}) at step ${message.step}${reachedText}`;
        result.dataset.accuracy = String(message.accuracy);
        if (reached !== null) result.dataset.reachedSeconds = String(reached.wallSeconds);
        drawChart();
        break;
      }
      case "memory":
        inspection = message.inspection;
        drawMemory();
        break;
      case "done":
        status.textContent = `${message.stopped ? "stopped" : "finished"} at step ${message.step}: ${message.seconds.toFixed(1)} s of training, ${((performance.now() - startedAt) / 1000).toFixed(1)} s since Start (with evaluations and memory inspections)`;
        setState("done");
        worker?.terminate();
        worker = null;
        break;
      case "error":
        fail(message.message);
        break;
    }
  };

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    worker?.terminate();
    worker = null;
    showError(error, null);
    let settings: TrainSettings;
    try {
      settings = readSettings(form, options.backendChoice());
    } catch (err) {
      fail((err as Error).message);
      return;
    }
    data = emptyChart(settings.steps);
    inspection = null;
    reached = null;
    chunkSelect.replaceChildren();
    memoryView.replaceChildren();
    result.textContent = "";
    delete result.dataset.accuracy;
    delete result.dataset.reachedSeconds;
    modelLine.textContent = "";
    status.textContent = "starting the worker…";
    drawChart();
    startedAt = performance.now();
    const current = new Worker(new URL("./train-worker.ts", import.meta.url), { type: "module" });
    worker = current;
    current.addEventListener("message", (e: MessageEvent<TrainMessage>) => {
      if (worker === current) onMessage(e.data);
    });
    current.addEventListener("error", (e) => {
      if (worker === current) fail(workerErrorMessage(e, "training"));
    });
    const request: TrainRequest = { type: "start", settings };
    current.postMessage(request);
    setState("running");
  });

  stopButton.addEventListener("click", () => {
    const request: TrainRequest = { type: "stop" };
    worker?.postMessage(request);
    status.textContent += " · stopping after this step…";
    setState("stopping");
  });
}
