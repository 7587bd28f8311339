/**
 * `@bmojo/model/testing`: the whole-model check of a backend. A model built from the same config
 * and seed on two backends must give the same logits and the same gradients of its loss (the
 * backend under test against the reference cpu). Backend packages use it in their tests and GPU
 * checks; `exportForAnchor` writes the files the PyTorch anchor compares against.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { saveModel } from "../checkpoint.js";
import type { ModelConfig } from "../config.js";
import type { CompiledStep } from "../compiled-step.js";
import { LanguageModel } from "../language-model.js";
import { type HostTensor, encodeSafetensors } from "@bmojo/nn";
import { type Backend, Random, type Tensor, dispose, tensor, valueAndGrad } from "@bmojo/tensor";

export interface ModelCheckResult {
  /** Max |Δ| over the logits, divided by max |logit| of the reference. */
  logitsRelError: number;
  /**
   * The same over the decode path: the first sequence's last min(16, L/2) tokens stepped one at
   * a time after a prefill of the rest (caches, decode-step kernels, split views).
   */
  decodeRelError: number;
  /**
   * The same tokens decoded by replaying a compiled step (`compileStep`) against the reference's
   * stepped logits, where the model compiles on the tested backend; null where it does not.
   */
  replayRelError: number | null;
  /** Worst parameter gradient: max |Δ| / max |reference grad| of that parameter. */
  gradRelError: number;
  worstGrad: string;
  loss: [number, number];
  parameters: number;
}

/** max |actual − expected| over max |expected| (the absolute difference where expected is all 0). */
export function relError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  let maxDiff = 0;
  let maxRef = 0;
  for (let i = 0; i < expected.length; i++) {
    maxDiff = Math.max(maxDiff, Math.abs(actual[i] - expected[i]));
    maxRef = Math.max(maxRef, Math.abs(expected[i]));
  }
  return maxRef === 0 ? maxDiff : maxDiff / maxRef;
}

/** Tokens decoded one by one in the decode check (the rest of the sequence is the prefill). */
const DECODE_STEPS = 16;

/**
 * Logits of the last min(16, L/2) tokens of `row`, decoded one by one after a prefill of the rest:
 * by `step`, or (`replay`) by one compiled step replayed per token.
 */
async function decodeRun(
  model: LanguageModel,
  row: Int32Array,
  replay: boolean,
): Promise<Float32Array> {
  const backend = model.embedding.weight.backend;
  const prefix = Math.max(1, row.length - Math.min(DECODE_STEPS, row.length >> 1));
  const out: number[] = [];
  const cache = model.createCache(1);
  let compiled: CompiledStep | null = null;
  try {
    const prompt = model.idsTensor(Array.from(row.subarray(0, prefix)));
    (await model.prefill(prompt, cache)).dispose();
    prompt.dispose();
    if (replay) compiled = await model.compileStep(cache);
    for (let t = prefix; t < row.length; t++) {
      if (compiled !== null) {
        out.push(...(await (await compiled.run([row[t]])).data()));
        continue;
      }
      const input = tensor(Int32Array.of(row[t]), [1], { dtype: "int32", backend });
      const logits = await model.step(input, cache);
      out.push(...(await logits.data()));
      dispose([input, logits]);
    }
  } finally {
    compiled?.dispose();
    model.disposeCache(cache);
  }
  return Float32Array.from(out);
}

/** Logits, the decode run, gradients; and the replayed decode run where asked and possible. */
async function run(
  config: ModelConfig,
  backend: Backend,
  ids: Int32Array,
  targets: Int32Array,
  shape: [number, number],
  replay: boolean,
): Promise<{
  logits: Float32Array;
  decoded: Float32Array;
  replayed: Float32Array | null;
  loss: number;
  grads: Map<string, Float32Array>;
}> {
  const model = new LanguageModel(config, { backend });
  const idsT = tensor(ids, shape, { dtype: "int32", backend });
  const targetsT = tensor(targets, shape, { dtype: "int32", backend });
  try {
    const logitsT = model.forward(idsT);
    const logits = (await logitsT.data()) as Float32Array;
    logitsT.dispose();
    const params = Object.fromEntries(model.namedParameters()) as Record<string, Tensor>;
    const { value, grads } = valueAndGrad(() => model.loss(idsT, targetsT))(params);
    const loss = (await value.data())[0];
    const out = new Map<string, Float32Array>();
    for (const [name, g] of Object.entries(grads as Record<string, Tensor>)) {
      out.set(name, (await g.data()) as Float32Array);
    }
    dispose([value, grads]);
    const row = ids.subarray(0, shape[1]);
    const decoded = await decodeRun(model, row, false);
    const replayed =
      replay && model.compileStepBlocker() === null ? await decodeRun(model, row, true) : null;
    return { logits, decoded, replayed, loss, grads: out };
  } finally {
    dispose([idsT, targetsT]);
    model.dispose();
  }
}

/** The reference run of one config and batch, computed once and compared against several backends. */
export interface ReferenceRun {
  ids: Int32Array;
  targets: Int32Array;
  shape: [number, number];
  logits: Float32Array;
  decoded: Float32Array;
  loss: number;
  grads: Map<string, Float32Array>;
}

/** Runs `config` on `reference` over one random batch drawn from `seed`. */
export async function referenceRun(
  config: ModelConfig,
  reference: Backend,
  shape: [number, number],
  seed = 7,
): Promise<ReferenceRun> {
  const rng = new Random(seed);
  const n = shape[0] * shape[1];
  const ids = rng.intArray(n, 0, config.vocabSize);
  const targets = rng.intArray(n, 0, config.vocabSize);
  return { ids, targets, shape, ...(await run(config, reference, ids, targets, shape, false)) };
}

/** Runs `config` on `test` over the reference run's batch and measures how far it is. */
export async function compareWith(
  config: ModelConfig,
  ref: ReferenceRun,
  test: Backend,
): Promise<ModelCheckResult> {
  const b = await run(config, test, ref.ids, ref.targets, ref.shape, true);
  let gradRelError = 0;
  let worstGrad = "";
  for (const [name, g] of ref.grads) {
    const e = relError(b.grads.get(name) as Float32Array, g);
    if (e >= gradRelError) {
      gradRelError = e;
      worstGrad = name;
    }
  }
  return {
    logitsRelError: relError(b.logits, ref.logits),
    decodeRelError: relError(b.decoded, ref.decoded),
    replayRelError: b.replayed === null ? null : relError(b.replayed, ref.decoded),
    gradRelError,
    worstGrad,
    loss: [ref.loss, b.loss],
    parameters: ref.grads.size,
  };
}

/** Runs `config` on both backends over one random batch and measures how far `test` is from `reference`. */
export async function compareModel(
  config: ModelConfig,
  reference: Backend,
  test: Backend,
  shape: [number, number],
  seed = 7,
): Promise<ModelCheckResult> {
  return compareWith(config, await referenceRun(config, reference, shape, seed), test);
}

/**
 * Writes what the PyTorch anchor's check_logits.py compares against (packages/bench/anchors/pytorch):
 * DIR/model.safetensors (weights + config), ids.json, targets.json, logits.f32 (raw float32
 * [B, L, V]) and grads.safetensors (the loss gradients), all computed on `backend`.
 */
export async function exportForAnchor(
  config: ModelConfig,
  backend: Backend,
  shape: [number, number],
  dir: string,
  seed = 7,
): Promise<void> {
  mkdirSync(dir, { recursive: true });
  const rng = new Random(seed);
  const n = shape[0] * shape[1];
  const ids = rng.intArray(n, 0, config.vocabSize);
  const targets = rng.intArray(n, 0, config.vocabSize);
  const model = new LanguageModel(config, { backend });
  try {
    await saveModel(join(dir, "model.safetensors"), model);
    const r = await run(config, backend, ids, targets, shape, false);
    writeFileSync(join(dir, "ids.json"), JSON.stringify({ shape, ids: Array.from(ids) }));
    writeFileSync(join(dir, "targets.json"), JSON.stringify({ shape, ids: Array.from(targets) }));
    writeFileSync(
      join(dir, "logits.f32"),
      new Uint8Array(r.logits.buffer, r.logits.byteOffset, r.logits.byteLength),
    );
    const shapes = new Map(model.namedParameters().map(([name, t]) => [name, t.shape]));
    const grads: Record<string, HostTensor> = {};
    for (const [name, g] of r.grads)
      grads[name] = { dtype: "float32", shape: [...(shapes.get(name) ?? [g.length])], data: g };
    writeFileSync(join(dir, "grads.safetensors"), encodeSafetensors(grads));
  } finally {
    model.dispose();
  }
}
