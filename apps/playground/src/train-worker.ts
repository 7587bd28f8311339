/**
 * The training worker (a module Web Worker): brings up the backend, trains the chosen plan on
 * MQAR step by step, and posts progress, held-out evaluations and memory inspections to the page.
 * A "stop" message ends the run after the current step. One worker trains one run; the page
 * starts a fresh worker to restart.
 */
import { Random } from "@bmojo/tensor";
import { startBackend } from "./backend.js";
import { MemoryInspector, pickExample } from "./memory-inspector.js";
import { MqarTrainer, STREAM, streamSeed } from "./mqar-trainer.js";
import type { TrainMessage, TrainRequest, TrainSettings, WorkerScope } from "./protocol.js";

const scope = self as unknown as WorkerScope<TrainRequest, TrainMessage>;
let stopRequested = false;
/** Training speed is reported over this many latest steps. */
const RATE_WINDOW = 10;

/** Lets queued messages ("stop") run: on the cpu and wasm backends every await in a step resolves at once. */
function yieldToMessages(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

function describePlan(settings: TrainSettings, trainer: MqarTrainer): string {
  const kinds = trainer.model.config.layers.map((l) => l.kind).join(", ");
  return `${settings.plan} tiny: ${trainer.model.config.layers.length} blocks (${kinds}), d_model ${trainer.model.config.dModel}`;
}

async function train(settings: TrainSettings): Promise<void> {
  const { backend, info } = await startBackend(settings.backend);
  scope.postMessage({ type: "backend", backend: info });
  const trainer = new MqarTrainer(settings, backend);
  const example = pickExample(
    trainer.task,
    new Random(streamSeed(settings.seed, STREAM.example)),
    settings.mqar.pairs,
    settings.window,
  );
  const inspector = new MemoryInspector(example, settings.mqar.pairs);
  try {
    scope.postMessage({
      type: "model",
      label: describePlan(settings, trainer),
      parameters: trainer.model.numParameters(),
    });
    let seconds = 0;
    /** Durations of the latest steps, for a training speed free of the first steps' shader compilation. */
    const recent: number[] = [];
    const checkpoint = async (step: number) => {
      scope.postMessage({ type: "eval", step, ...(await trainer.evaluate()) });
      scope.postMessage({
        type: "memory",
        inspection: await inspector.inspect(trainer.model, step),
      });
    };
    await checkpoint(0);
    while (trainer.step < settings.steps && !stopRequested) {
      const started = performance.now();
      const { step, loss, accuracy } = await trainer.trainStep();
      const stepSeconds = (performance.now() - started) / 1000;
      seconds += stepSeconds;
      recent.push(stepSeconds);
      if (recent.length > RATE_WINDOW) recent.shift();
      scope.postMessage({
        type: "progress",
        step,
        steps: settings.steps,
        loss,
        accuracy,
        tokensPerSecond: (recent.length * trainer.tokensPerStep) / recent.reduce((a, b) => a + b),
        seconds,
      });
      if (step % settings.evalEvery === 0 || step === settings.steps) await checkpoint(step);
      await yieldToMessages();
    }
    if (stopRequested && trainer.step % settings.evalEvery !== 0) await checkpoint(trainer.step);
    scope.postMessage({ type: "done", step: trainer.step, stopped: stopRequested, seconds });
  } finally {
    inspector.dispose();
    trainer.dispose();
  }
}

scope.addEventListener("message", (event) => {
  const request = event.data;
  if (request.type === "stop") {
    stopRequested = true;
    return;
  }
  train(request.settings).catch((err: unknown) => {
    scope.postMessage({
      type: "error",
      message: err instanceof Error ? `${err.name}: ${err.message}` : String(err),
    });
  });
});
