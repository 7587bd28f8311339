/**
 * Checkpoints: a module's parameters in a safetensors file, with the model config as JSON in the
 * `__metadata__` under "config" (shared/reference/conventions.md).
 *
 * `saveCheckpoint`, `readCheckpoint` and `loadCheckpoint` are Node only; they import node:fs
 * lazily, so this module (and the package index) still loads in a browser, where
 * `loadParametersInto` works on tensors from `decodeSafetensors(await (await fetch(url)).bytes())`.
 */
import { type Tensor, assignHost, formatShape, writeFileAtomic } from "@bmojo/tensor";
import type { Module } from "./module.js";
import {
  type HostTensor,
  SAFETENSORS_DTYPE,
  decodeSafetensors,
  encodeSafetensors,
} from "./safetensors.js";

/** The `__metadata__.format` value written by `saveCheckpoint`. */
export const CHECKPOINT_FORMAT = "bmojo";

/**
 * Writes every parameter of `module` (by its dotted name) and `config` (JSON) to `path`,
 * atomically: the file is written to `${path}.tmp-<pid>-<random>`, flushed, then renamed over
 * `path`, so a crash or an error leaves any previous file intact (the temp file is removed).
 */
export async function saveCheckpoint(path: string, module: Module, config: unknown): Promise<void> {
  let configJson: string | undefined;
  try {
    configJson = JSON.stringify(config);
  } catch (err) {
    throw new TypeError(
      `saveCheckpoint: config cannot be converted to JSON (${(err as Error).message}); pass plain data (no BigInt, cycles or functions).`,
    );
  }
  if (configJson === undefined) {
    throw new TypeError(
      `saveCheckpoint: config must be JSON data (an object, array, string, number, boolean or null), got ${typeof config}.`,
    );
  }
  const tensors: Record<string, HostTensor> = {};
  for (const [name, t] of module.namedParameters()) {
    tensors[name] = { dtype: t.dtype, shape: [...t.shape], data: await t.data() };
  }
  const bytes = encodeSafetensors(tensors, { config: configJson, format: CHECKPOINT_FORMAT });
  await writeFileAtomic("saveCheckpoint", path, bytes);
}

export interface Checkpoint {
  /** The parsed `__metadata__.config`. */
  config: unknown;
  /** Every tensor by name, in host memory. */
  tensors: Record<string, HostTensor>;
  /** The whole `__metadata__` (config, format, anything another writer added). */
  metadata: Record<string, string>;
}

/** Reads and validates a checkpoint file; errors name the file and the problem. */
export async function readCheckpoint(path: string): Promise<Checkpoint> {
  const { readFile } = await import("node:fs/promises");
  const buffer = await readFile(path);
  const bytes = new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  let decoded: ReturnType<typeof decodeSafetensors>;
  try {
    decoded = decodeSafetensors(bytes);
  } catch (err) {
    throw new Error(`readCheckpoint(${path}): ${(err as Error).message}`, { cause: err });
  }
  const { tensors, metadata } = decoded;
  if (metadata.config === undefined) {
    throw new Error(
      `readCheckpoint(${path}): no model config (expected JSON in __metadata__.config); it was not written by saveCheckpoint. Load its tensors with decodeSafetensors and loadParametersInto.`,
    );
  }
  let config: unknown;
  try {
    config = JSON.parse(metadata.config);
  } catch (err) {
    throw new Error(
      `readCheckpoint(${path}): __metadata__.config is not valid JSON (${(err as Error).message}).`,
    );
  }
  return { config, tensors, metadata };
}

export interface LoadOptions {
  /** When true (the default), tensors the module has no parameter for are an error; when false they are ignored. */
  strict?: boolean;
}

export interface LoadReport {
  /** Parameter names written. */
  loaded: string[];
  /** Checkpoint tensors ignored because the module has no such parameter (strict: false). */
  ignored: string[];
}

/**
 * Writes checkpoint tensors into the module's parameters in place (`assignHost`). Everything is
 * checked first, and any problem (missing parameter, unexpected tensor when strict, shape or
 * dtype mismatch) throws ONE error listing them all, with nothing written. A tensor whose shape
 * differs from the parameter's only by size-1 axes is accepted (a conv1d weight stored [E, K]
 * loads into [E, 1, K]): the elements are in the same order.
 */
export function loadParametersInto(
  module: Module,
  tensors: Record<string, HostTensor>,
  options: LoadOptions = {},
): LoadReport {
  const strict = options.strict ?? true;
  const params = module.namedParameters();
  const problems: string[] = [];
  const plan: [string, Tensor, HostTensor][] = [];
  for (const [name, param] of params) {
    const t = Object.hasOwn(tensors, name) ? tensors[name] : undefined;
    if (t === undefined) {
      problems.push(`missing ${name} ${formatShape(param.shape)}`);
      continue;
    }
    if (param.isDisposed) {
      problems.push(`parameter ${name} of the model was disposed`);
      continue;
    }
    let ok = true;
    if (!sameUpToUnitAxes(t.shape, param.shape)) {
      problems.push(
        `shape of ${name} is ${formatShape(t.shape)} in the checkpoint but ${formatShape(param.shape)} in the model`,
      );
      ok = false;
    }
    if (t.dtype !== param.dtype) {
      problems.push(
        `dtype of ${name} is ${t.dtype} (${SAFETENSORS_DTYPE[t.dtype] ?? "?"}) in the checkpoint but ${param.dtype} in the model`,
      );
      ok = false;
    }
    if (ok && t.data.length !== param.size) {
      problems.push(
        `${name} has ${t.data.length} values in the checkpoint but shape ${formatShape(t.shape)}`,
      );
      ok = false;
    }
    if (ok) plan.push([name, param, t]);
  }
  const known = new Set(params.map(([name]) => name));
  const unexpected = Object.keys(tensors).filter((name) => !known.has(name));
  if (strict) for (const name of unexpected) problems.push(`unexpected ${name}`);
  if (problems.length > 0) {
    const hint =
      strict && unexpected.length > 0
        ? " (pass { strict: false } to ignore unexpected tensors)"
        : "";
    throw new Error(`checkpoint does not match the model: ${problems.join("; ")}${hint}.`);
  }
  for (const [, param, t] of plan) assignHost(param, t.data);
  return { loaded: plan.map(([name]) => name), ignored: unexpected };
}

/** `readCheckpoint` then `loadParametersInto`; returns the checkpoint's config. */
export async function loadCheckpoint(
  path: string,
  module: Module,
  options: LoadOptions = {},
): Promise<{ config: unknown; report: LoadReport }> {
  const { config, tensors } = await readCheckpoint(path);
  try {
    return { config, report: loadParametersInto(module, tensors, options) };
  } catch (err) {
    throw new Error(`loadCheckpoint(${path}): ${(err as Error).message}`, { cause: err });
  }
}

/** True when the shapes are equal after dropping every size-1 axis (same row-major layout). */
function sameUpToUnitAxes(a: readonly number[], b: readonly number[]): boolean {
  const sa = a.filter((d) => d !== 1);
  const sb = b.filter((d) => d !== 1);
  return sa.length === sb.length && sa.every((d, i) => d === sb[i]);
}
