/**
 * What every op uses: output allocation, input checks, kernel lookup and gradient recording.
 */
import { type Backend, kernelOf } from "../backend/backend.js";
import type { KernelName, KernelTable } from "../backend/kernels.js";
import { type DType, type StorageArray, bytesPerElement, isFloat, storageArray } from "../dtype.js";
import { type TapeNode, engine } from "../engine.js";
import { getBackend } from "../registry.js";
import {
  type Shape,
  assertValidShape,
  formatShape,
  normalizeAxis,
  shapesEqual,
  sizeOf,
  stridesOf,
} from "../shape.js";
import { Storage, Tensor } from "../tensor.js";

/** A new tensor with uninitialised contents on `backend`. */
export function emptyTensor(shape: Shape, dtype: DType, backend: Backend = getBackend()): Tensor {
  assertValidShape(shape, "tensor");
  assertBackendDType(backend, dtype, "tensor");
  const bytes = sizeOf(shape) * bytesPerElement(dtype);
  return new Tensor(shape, dtype, new Storage(backend, backend.alloc(bytes), bytes));
}

/** A new tensor holding a copy of `data` (host values; bfloat16 rounds them, or takes patterns). */
export function tensorFromHost(
  data: StorageArray,
  shape: Shape,
  dtype: DType,
  backend: Backend = getBackend(),
): Tensor {
  const t = emptyTensor(shape, dtype, backend);
  if (data.length > 0) backend.write(t.storage.id, storageArray(dtype, data));
  return t;
}

/** Where the strided copy kernel reads and writes; strides default to row-major, offsets to 0. */
export interface CopyLayout {
  readonly shape: Shape;
  readonly xStrides?: readonly number[];
  readonly xOffset?: number;
  readonly outStrides?: readonly number[];
  readonly outOffset?: number;
}

/** Runs the strided copy kernel from `x` into `out` (not recorded on the gradient tape). */
export function stridedCopy(x: Tensor, out: Tensor, layout: CopyLayout): void {
  if (sizeOf(layout.shape) === 0) return;
  const contiguous = stridesOf(layout.shape);
  kernelOf(
    out.backend,
    "copy",
  )({
    dtype: x.dtype,
    x: x.bufferFor("copy"),
    out: out.storage.id,
    shape: layout.shape,
    xStrides: layout.xStrides ?? contiguous,
    xOffset: layout.xOffset ?? 0,
    outStrides: layout.outStrides ?? contiguous,
    outOffset: layout.outOffset ?? 0,
  });
}

/** A copy of `t` in a new buffer, not recorded on the gradient tape (for ops that write in place). */
export function copyUntracked(t: Tensor): Tensor {
  const out = emptyTensor(t.shape, t.dtype, t.backend);
  stridedCopy(t, out, { shape: t.shape });
  return out;
}

/** A tensor sharing `t`'s buffer with another shape of the same size. */
export function aliasTensor(t: Tensor, shape: Shape): Tensor {
  t.assertAlive("reshape");
  return new Tensor(shape, t.dtype, t.storage.retain());
}

export function assertBackendDType(backend: Backend, dtype: DType, op: string): void {
  if (!backend.dtypes.includes(dtype)) {
    throw new TypeError(
      `${op}: backend '${backend.name}' does not support dtype ${dtype} (it supports ${backend.dtypes.join(", ")}). ` +
        (dtype === "float64" ? "float64 is for gradient checks on the 'cpu' backend." : "") +
        (dtype === "bfloat16"
          ? "bfloat16 storage is the 'cuda' backend's (the 'cpu' backend emulates it)."
          : ""),
    );
  }
}

/** The one backend all inputs live on, or an error naming the op and the backends. */
export function backendOf(op: string, ...inputs: (Tensor | null | undefined)[]): Backend {
  let backend: Backend | null = null;
  for (const t of inputs) {
    if (t === null || t === undefined) continue;
    t.assertAlive(op);
    if (backend === null) backend = t.backend;
    else if (backend !== t.backend) {
      throw new Error(
        `${op}: inputs live on different backends ('${backend.name}' and '${t.backend.name}'); ` +
          "move one with toBackend(t, name) first.",
      );
    }
  }
  return backend ?? getBackend();
}

export function kernel<K extends KernelName>(backend: Backend, name: K): KernelTable[K] {
  return kernelOf(backend, name);
}

export function assertFloat(op: string, arg: string, t: Tensor): void {
  if (!isFloat(t.dtype)) {
    throw new TypeError(
      `${op}: ${arg} must be a float (float32, float64 or bfloat16), got ${t.dtype}; cast it first with cast(${arg}, "float32").`,
    );
  }
}

export function assertDTypeIs(op: string, arg: string, t: Tensor, dtype: DType): void {
  if (t.dtype !== dtype) {
    throw new TypeError(
      `${op}: ${arg} must be ${dtype}, got ${t.dtype}; cast it with cast(${arg}, "${dtype}").`,
    );
  }
}

export function assertSameDType(
  op: string,
  tensors: Record<string, Tensor | null | undefined>,
): DType {
  let firstName = "";
  let dtype: DType | null = null;
  for (const name in tensors) {
    const t = tensors[name];
    if (t === null || t === undefined) continue;
    if (dtype === null) {
      firstName = name;
      dtype = t.dtype;
    } else if (t.dtype !== dtype) {
      throw new TypeError(
        `${op}: ${firstName} is ${dtype} but ${name} is ${t.dtype}; cast them to one dtype first.`,
      );
    }
  }
  if (dtype === null) throw new Error(`${op}: no tensor inputs`);
  return dtype;
}

/** Checks a tensor's exact shape; `expected` entries of -1 match any size. */
export function assertShape(
  op: string,
  arg: string,
  t: Tensor,
  expected: readonly number[],
  layout: string,
): void {
  const ok = t.rank === expected.length && expected.every((d, i) => d === -1 || d === t.shape[i]);
  if (!ok) {
    const want = `[${expected.map((d) => (d === -1 ? "*" : d)).join(", ")}]`;
    throw new RangeError(
      `${op}: ${arg} must have shape ${layout} = ${want}, got ${formatShape(t.shape)}.`,
    );
  }
}

export function assertRank(op: string, arg: string, t: Tensor, rank: number, layout: string): void {
  if (t.rank !== rank) {
    throw new RangeError(
      `${op}: ${arg} must have rank ${rank} (${layout}), got shape ${formatShape(t.shape)}.`,
    );
  }
}

/**
 * Records an op on the gradient tape when one is active and an input depends on a watched
 * parameter. `saved` are the tensors `backward` reads; the tape keeps them alive (by alias) even
 * if the caller disposes them.
 */
export function recordGrad(
  name: string,
  inputs: readonly (Tensor | null | undefined)[],
  outputs: readonly Tensor[],
  saved: readonly Tensor[],
  backward: TapeNode["backward"],
): void {
  const tape = engine.tape;
  if (tape === null) return;
  const present = inputs.filter((t): t is Tensor => t !== null && t !== undefined);
  if (!present.some((t) => tape.tracked.has(t.id))) return;
  const aliases = saved.map((t) => {
    t.assertAlive(name);
    const alias = new Tensor(t.shape, t.dtype, t.storage.retain());
    // Aliases belong to the tape, not to any tidy scope.
    untrackFromScope(alias);
    return alias;
  });
  for (const out of outputs) tape.tracked.add(out.id);
  tape.nodes.push({
    name,
    inputs: inputs.map((t) => t ?? NO_INPUT),
    outputs,
    saved: aliases,
    backward,
  });
}

/** Stand-in for an absent optional input in a tape node. */
const NO_INPUT = Object.freeze({ id: -1 }) as unknown as Tensor;

function untrackFromScope(t: Tensor): void {
  const scope = engine.scopes[engine.scopes.length - 1];
  if (scope === undefined) return;
  const i = scope.tensors.lastIndexOf(t);
  if (i >= 0) scope.tensors.splice(i, 1);
}

/**
 * The [outer, rows, inner] view and row count of a scatter into `target` along `axis` (scatterAdd,
 * assignRows), after checking int32 indices and that `updates` has the shape gather(target,
 * indices, axis) returns, in target's dtype.
 */
export function scatterLayout(
  op: string,
  target: Tensor,
  indices: Tensor,
  updates: Tensor,
  axis: number,
): { outer: number; rows: number; inner: number; count: number } {
  assertDTypeIs(op, "indices", indices, "int32");
  const ax = normalizeAxis(op, axis, target.rank);
  const pre = target.shape.slice(0, ax);
  const post = target.shape.slice(ax + 1);
  const expected = [...pre, ...indices.shape, ...post];
  if (updates.dtype !== target.dtype || !shapesEqual(updates.shape, expected)) {
    throw new RangeError(
      `${op}: updates must be ${target.dtype} ${formatShape(expected)} (target ${formatShape(target.shape)}, ` +
        `indices ${formatShape(indices.shape)}, axis ${ax}), got ${updates.dtype} ${formatShape(updates.shape)}.`,
    );
  }
  return { outer: sizeOf(pre), rows: target.shape[ax], inner: sizeOf(post), count: indices.size };
}
