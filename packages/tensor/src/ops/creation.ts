/** Creating tensors from host data and constants, and moving them between backends. */
import type { Backend } from "../backend/backend.js";
import {
  type DType,
  type TypedArray,
  allocTyped,
  assertDType,
  dtypeOfTypedArray,
} from "../dtype.js";
import { backendByName, getBackend } from "../registry.js";
import { type Shape, assertValidShape, formatShape, sizeOf } from "../shape.js";
import type { NestedArray, Tensor } from "../tensor.js";
import { emptyTensor, kernel, tensorFromHost } from "./internal.js";

export interface CreateOptions {
  dtype?: DType;
  /** A backend instance; defaults to the current backend. */
  backend?: Backend;
}

/**
 * A tensor from a typed array, a flat or nested JS array, or a number. The shape is inferred from
 * nesting unless given; dtype defaults to the typed array's, else float32.
 */
export function tensor(
  values: TypedArray | NestedArray | readonly number[],
  shape?: Shape,
  options: CreateOptions = {},
): Tensor {
  const inferred = inferShape(values);
  const finalShape = shape ?? inferred;
  assertValidShape(finalShape, "tensor");
  const dtype = assertDType(
    options.dtype ??
      (ArrayBuffer.isView(values) ? dtypeOfTypedArray(values as TypedArray) : "float32"),
    "tensor",
  );
  const flat = flatten(values);
  if (flat.length !== sizeOf(finalShape)) {
    throw new RangeError(
      `tensor: ${flat.length} values do not fill shape ${formatShape(finalShape)} (${sizeOf(finalShape)} elements).`,
    );
  }
  const data = allocTyped(dtype, flat.length);
  for (let i = 0; i < flat.length; i++) data[i] = flat[i];
  return tensorFromHost(data, finalShape, dtype, options.backend);
}

export function scalar(value: number, options: CreateOptions = {}): Tensor {
  return tensor([value], [], options);
}

/** A tensor of `shape` filled with `value`. */
export function full(shape: Shape, value: number, options: CreateOptions = {}): Tensor {
  const dtype = options.dtype ?? "float32";
  const out = emptyTensor(shape, dtype, options.backend);
  if (out.size > 0)
    kernel(out.backend, "fill")({ dtype, out: out.storage.id, value, size: out.size });
  return out;
}

export function zeros(shape: Shape, options: CreateOptions = {}): Tensor {
  return full(shape, 0, options);
}

export function ones(shape: Shape, options: CreateOptions = {}): Tensor {
  return full(shape, 1, options);
}

export function zerosLike(t: Tensor): Tensor {
  return full(t.shape, 0, { dtype: t.dtype, backend: t.backend });
}

export function onesLike(t: Tensor): Tensor {
  return full(t.shape, 1, { dtype: t.dtype, backend: t.backend });
}

/** [start, start + step, …) up to but excluding `stop`; int32 unless a dtype is given. */
export function arange(
  start: number,
  stop?: number,
  step = 1,
  options: CreateOptions = {},
): Tensor {
  if (stop === undefined) {
    stop = start;
    start = 0;
  }
  if (step === 0) throw new RangeError("arange: step must not be 0.");
  const n = Math.max(0, Math.ceil((stop - start) / step));
  const dtype = options.dtype ?? "int32";
  const data = allocTyped(dtype, n);
  for (let i = 0; i < n; i++) data[i] = start + i * step;
  return tensorFromHost(data, [n], dtype, options.backend);
}

/** A copy of `t` on another backend (by name or instance). */
export async function toBackend(t: Tensor, target: string | Backend): Promise<Tensor> {
  const backend = typeof target === "string" ? await backendByName(target) : target;
  const data = await t.data();
  return tensorFromHost(data, t.shape, t.dtype, backend);
}

/** The current backend (brought up on first use). */
export function currentBackend(): Backend {
  return getBackend();
}

function inferShape(values: TypedArray | NestedArray | readonly number[]): number[] {
  if (typeof values === "number") return [];
  if (ArrayBuffer.isView(values)) return [(values as TypedArray).length];
  const shape: number[] = [];
  let level: unknown = values;
  while (Array.isArray(level)) {
    shape.push(level.length);
    level = level[0];
  }
  return shape;
}

function flatten(values: TypedArray | NestedArray | readonly number[]): ArrayLike<number> {
  if (typeof values === "number") return [values];
  if (ArrayBuffer.isView(values)) return values as TypedArray;
  const out: number[] = [];
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) for (const item of v) walk(item);
    else if (typeof v === "number") out.push(v);
    else
      throw new TypeError(`tensor: expected numbers or nested arrays of numbers, got ${typeof v}.`);
  };
  walk(values);
  return out;
}
