/**
 * Storage of the tfjs adapter: each BufferId names one 1-D tf.Tensor (float32 or int32) of
 * bytes / 4 elements, created lazily (zeros) and replaced, never mutated, by the kernels that
 * write it. tfjs's own memory management (reference-counted data ids) sits underneath: replacing
 * a buffer's tensor disposes the old one.
 */
import type { BufferId, DType, TypedArray } from "@bmojo/tensor";
import * as tf from "@tensorflow/tfjs-core";

export type TfDType = "float32" | "int32";

interface Slot {
  /** Elements (bytes / 4). */
  readonly size: number;
  tensor: tf.Tensor | null;
}

export function tfDType(dtype: DType, where: string): TfDType {
  if (dtype === "float32" || dtype === "int32") return dtype;
  throw new TypeError(
    `tfjs backend: ${where}: dtype ${dtype} is not supported (tfjs has float32 and int32 only)`,
  );
}

export function requireFloat(dtype: DType, where: string): "float32" {
  if (dtype !== "float32") {
    throw new TypeError(`tfjs backend: ${where} does not support dtype ${dtype}; use float32`);
  }
  return dtype;
}

export class TensorStore {
  private readonly slots = new Map<BufferId, Slot>();
  private nextId = 1;

  alloc(bytes: number): BufferId {
    const id = this.nextId++;
    this.slots.set(id, { size: Math.ceil(bytes / 4), tensor: null });
    return id;
  }

  free(id: BufferId): void {
    const slot = this.slot(id);
    slot.tensor?.dispose();
    this.slots.delete(id);
  }

  get count(): number {
    return this.slots.size;
  }

  clear(): void {
    for (const slot of this.slots.values()) slot.tensor?.dispose();
    this.slots.clear();
  }

  /** Elements of the buffer. */
  size(id: BufferId): number {
    return this.slot(id).size;
  }

  /**
   * The whole buffer as a 1-D tensor of `dtype`. The stored tensor itself when its dtype matches
   * (do not dispose it); otherwise a converted copy, owned by the caller's tidy scope.
   */
  get(id: BufferId, dtype: DType): tf.Tensor1D {
    const d = tfDType(dtype, "read");
    const slot = this.slot(id);
    if (slot.tensor === null) slot.tensor = tf.keep(tf.zeros([slot.size], d));
    const t = slot.tensor as tf.Tensor1D;
    return t.dtype === d ? t : tf.cast(t, d);
  }

  /** The first `n` elements as `dtype`, reshaped to `shape` (default [n]). */
  prefix(id: BufferId, dtype: DType, shape: readonly number[]): tf.Tensor {
    const n = shape.reduce((a, b) => a * b, 1);
    const whole = this.get(id, dtype);
    const part = n === whole.size ? whole : tf.slice(whole, 0, n);
    return tf.reshape(part, shape as number[]);
  }

  /**
   * Replaces the buffer's first `value.size` elements with `value` (any shape); the rest keep
   * their contents. The stored tensor is a fresh one, kept out of the caller's tidy scope.
   */
  set(id: BufferId, value: tf.Tensor): void {
    const slot = this.slot(id);
    let flat: tf.Tensor = tf.reshape(value, [value.size]);
    if (value.size > slot.size) {
      throw new RangeError(
        `tfjs backend: writing ${value.size} elements into buffer ${id} of ${slot.size}`,
      );
    }
    if (value.size < slot.size) {
      const rest = tf.slice(this.get(id, value.dtype as TfDType), value.size);
      flat = tf.concat([flat, rest]);
    }
    const old = slot.tensor;
    slot.tensor = tf.keep(flat);
    if (old !== null && old !== slot.tensor) old.dispose();
  }

  write(id: BufferId, data: TypedArray): void {
    let dtype: TfDType;
    if (data instanceof Float32Array) dtype = "float32";
    else if (data instanceof Int32Array) dtype = "int32";
    else throw new TypeError("tfjs backend: write: only Float32Array and Int32Array are supported");
    // A copy: tfjs's cpu backend keeps the array it is given, and the caller may reuse `data`.
    tf.tidy(() => this.set(id, tf.tensor1d(data.slice(), dtype)));
  }

  async read(id: BufferId, dtype: DType, size: number): Promise<TypedArray> {
    const t = tf.tidy(() => this.prefix(id, dtype, [size]));
    try {
      // A copy: tfjs's cpu backend hands out the array it stores.
      return ((await t.data()) as TypedArray).slice();
    } finally {
      t.dispose();
    }
  }

  readSync(id: BufferId, dtype: DType, size: number): TypedArray {
    const t = tf.tidy(() => this.prefix(id, dtype, [size]));
    try {
      return (t.dataSync() as TypedArray).slice();
    } finally {
      t.dispose();
    }
  }

  private slot(id: BufferId): Slot {
    const slot = this.slots.get(id);
    if (slot === undefined) {
      throw new Error(`tfjs backend: unknown buffer ${id} (freed or never allocated)`);
    }
    return slot;
  }
}

function rowMajor(shape: readonly number[]): number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    strides[d] = s;
    s *= shape[d];
  }
  return strides;
}

/** Flat source positions of every element of a strided view, in row-major order. */
function stridedIndices(
  shape: readonly number[],
  strides: readonly number[],
  offset: number,
): Int32Array {
  const n = shape.reduce((a, b) => a * b, 1);
  const out = new Int32Array(n);
  const rank = shape.length;
  const index = new Array<number>(rank).fill(0);
  let pos = offset;
  for (let i = 0; i < n; i++) {
    out[i] = pos;
    for (let d = rank - 1; d >= 0; d--) {
      if (++index[d] < shape[d]) {
        pos += strides[d];
        break;
      }
      index[d] = 0;
      pos -= strides[d] * (shape[d] - 1);
    }
  }
  return out;
}

/**
 * The strided view `v[i] = flat[offset + Σ i_d·strides[d]]` of shape `shape` as a tensor:
 * a slice + reshape (+ broadcastTo over stride-0 axes) when the non-broadcast axes are row-major
 * contiguous, else one tf.gather with host-computed indices.
 */
export function stridedView(
  flat: tf.Tensor1D,
  shape: readonly number[],
  strides: readonly number[],
  offset: number,
): tf.Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  if (n === 0) return tf.zeros(shape as number[], flat.dtype);
  const compact = shape.map((e, d) => (strides[d] === 0 ? 1 : e));
  const expected = rowMajor(compact);
  const contiguous = compact.every((e, d) => e === 1 || strides[d] === expected[d]);
  if (contiguous) {
    const m = compact.reduce((a, b) => a * b, 1);
    const part = offset === 0 && m === flat.size ? flat : tf.slice(flat, offset, m);
    const shaped = tf.reshape(part, compact);
    return compact.every((e, d) => e === shape[d])
      ? shaped
      : tf.broadcastTo(shaped, shape as number[]);
  }
  const idx = tf.tensor1d(stridedIndices(shape, strides, offset), "int32");
  return tf.reshape(tf.gather(flat, idx), shape as number[]);
}

/**
 * `old` with the elements at `offset + Σ i_d·strides[d]` (row-major over `shape`) replaced by
 * `values` (row-major, same element count): a concat when the region is contiguous, else one
 * gather from [old; values] with a host-computed source map.
 */
export function stridedWrite(
  old: tf.Tensor1D,
  values: tf.Tensor,
  shape: readonly number[],
  strides: readonly number[],
  offset: number,
): tf.Tensor1D {
  const n = values.size;
  if (n === 0) return old;
  const flatValues = tf.reshape(values, [n]) as tf.Tensor1D;
  const expected = rowMajor(shape);
  if (shape.every((e, d) => e === 1 || strides[d] === expected[d])) {
    const parts: tf.Tensor1D[] = [];
    if (offset > 0) parts.push(tf.slice(old, 0, offset));
    parts.push(flatValues);
    if (offset + n < old.size) parts.push(tf.slice(old, offset + n));
    return parts.length === 1 ? flatValues : tf.concat(parts);
  }
  const map = new Int32Array(old.size);
  for (let i = 0; i < map.length; i++) map[i] = i;
  const targets = stridedIndices(shape, strides, offset);
  for (let j = 0; j < n; j++) map[targets[j]] = old.size + j;
  return tf.gather(tf.concat([old, flatValues]), tf.tensor1d(map, "int32")) as tf.Tensor1D;
}
