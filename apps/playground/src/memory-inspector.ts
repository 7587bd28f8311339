/**
 * What B'MOJO's eidetic memory held for one MQAR example, read with the model's inspection API
 * (`model.lastSelections()` after a parallel forward, as `bmojo inspect-memory` does).
 *
 * On WebGPU the selection runs on the device and is not read back, so `lastSelections()` is empty
 * there; the inspector therefore copies the current weights into a mirror of the model on the
 * reference cpu backend and runs the example through it. The selection rule is the same on every
 * backend, so the mirror holds the tokens the trained model holds.
 */
import { IGNORE_INDEX, type SyntheticTask, type TaskBatch } from "@bmojo/data";
import { LanguageModel } from "@bmojo/model";
import { type HostTensor, loadParametersInto } from "@bmojo/nn";
import { type Random, argmax, backendByName, dispose, tensor } from "@bmojo/tensor";
import type { LayerMemoryView, MemoryInspection } from "./protocol.js";

/** Roles of an MQAR example's positions: "k"/"v" for the pairs, "q" where a key is asked again. */
export function mqarRoles(targets: ArrayLike<number>, pairs: number): string[] {
  return Array.from(targets, (target, t) => {
    if (t < 2 * pairs) return t % 2 === 0 ? "k" : "v";
    return target === IGNORE_INDEX ? "" : "q";
  });
}

/**
 * True when some query in the example's last chunk asks a key whose pair lies outside the query's
 * window: only memory (fading or eidetic) can answer it.
 */
export function asksBeyondWindow(example: TaskBatch, pairs: number, window: number): boolean {
  const { inputs, targets, length } = example;
  const lastChunkStart = Math.floor((length - 1) / window) * window;
  for (let t = lastChunkStart; t < length; t++) {
    if (targets[t] === IGNORE_INDEX) continue;
    for (let i = 0; i < pairs; i++) {
      if (inputs[2 * i] === inputs[t] && t - 2 * i >= window) return true;
    }
  }
  return false;
}

/** The first of up to `tries` examples from `rng` that asks beyond the window, else the first. */
export function pickExample(
  task: SyntheticTask,
  rng: Random,
  pairs: number,
  window: number,
  tries = 64,
): TaskBatch {
  const first = task.sample(rng, 1);
  if (asksBeyondWindow(first, pairs, window)) return first;
  for (let i = 1; i < tries; i++) {
    const example = task.sample(rng, 1);
    if (asksBeyondWindow(example, pairs, window)) return example;
  }
  return first;
}

export class MemoryInspector {
  private mirror: LanguageModel | null = null;

  constructor(
    private readonly example: TaskBatch,
    private readonly pairs: number,
  ) {}

  /** Runs the example through a cpu copy of `model`'s current weights. */
  async inspect(model: LanguageModel, step: number): Promise<MemoryInspection> {
    const host: Record<string, HostTensor> = {};
    for (const [name, t] of model.namedParameters()) {
      host[name] = { dtype: t.dtype, shape: [...t.shape], data: await t.data() };
    }
    if (this.mirror === null) {
      this.mirror = new LanguageModel(model.config, { backend: await backendByName("cpu") });
    }
    const mirror = this.mirror;
    loadParametersInto(mirror, host);
    const { inputs, targets, length } = this.example;
    const ids = tensor(inputs, [1, length], {
      dtype: "int32",
      backend: mirror.embedding.weight.backend,
    });
    const logits = mirror.forward(ids);
    const predicted = argmax(logits, -1);
    const predictions = Array.from(predicted.dataSync());
    dispose([ids, logits, predicted]);
    const layers: LayerMemoryView[] = mirror.lastSelections().map(({ layer, memory }) => ({
      layer,
      scores: Array.from(memory.scores[0]),
      held: memory.positions[0].map((slots) => slots.filter((p) => p >= 0).sort((a, b) => a - b)),
    }));
    const config = mirror.config;
    return {
      step,
      tokens: Array.from(inputs),
      roles: mqarRoles(targets, this.pairs),
      targets: Array.from(targets),
      predictions,
      window: config.window,
      layers,
      fadingTokens: config.bmojo.fadingTokens,
      eideticTokens: config.layers.some((l) => l.kind === "bmojo") ? config.bmojo.eideticTokens : 0,
    };
  }

  dispose(): void {
    this.mirror?.dispose();
    this.mirror = null;
  }
}
