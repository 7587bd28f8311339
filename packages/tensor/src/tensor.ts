/**
 * Tensor: shape, dtype, the backend that holds it, and a reference-counted buffer. Ops are plain
 * functions (ops/*.ts); the methods here are sugar over them.
 */
import type { Backend } from "./backend/backend.js";
import type { BufferId } from "./backend/kernels.js";
import { type DType, type TypedArray, hostArray } from "./dtype.js";
import { engine } from "./engine.js";
import * as ew from "./ops/elementwise.js";
import * as mm from "./ops/matmul.js";
import * as red from "./ops/reduction.js";
import * as so from "./ops/shape-ops.js";
import { type Shape, formatShape, sizeOf } from "./shape.js";

/**
 * A backend buffer shared by a tensor and its reshapes; freed when the last user lets go. A view
 * (a range of another buffer, see `Backend.view`) holds a reference to its parent, released
 * after the view itself is freed.
 */
export class Storage {
  private refs = 1;
  /** In-place writes to this buffer's memory, counted on the root buffer (see `Tensor.version`). */
  private writes = 0;

  constructor(
    readonly backend: Backend,
    readonly id: BufferId,
    readonly bytes: number,
    /** The buffer this one is a view of (one reference to it is owned), or null. */
    readonly parent: Storage | null = null,
  ) {
    if (parent === null) engine.allocated(backend, bytes);
  }

  retain(): this {
    this.refs++;
    return this;
  }

  release(): void {
    if (--this.refs === 0) {
      this.backend.free(this.id);
      if (this.parent === null) engine.freed(this.backend, this.bytes);
      else this.parent.release();
    }
  }

  /** The in-place write count of the memory (shared by a buffer and all its views). */
  get version(): number {
    return this.parent === null ? this.writes : this.parent.version;
  }

  /** Records an in-place write. */
  bump(): void {
    if (this.parent === null) this.writes++;
    else this.parent.bump();
  }
}

export type NestedArray = number | NestedArray[];

type Operand = Tensor | number;

export class Tensor {
  /** Structural marker used by tidy/valueAndGrad to find tensors in trees. */
  readonly __isTensor = true;
  readonly id: number;
  readonly shape: readonly number[];
  readonly size: number;
  private disposed = false;
  private kept = false;

  /** Use the creation functions (`tensor`, `zeros`, …); this constructor takes ownership of one reference to `storage`. */
  constructor(
    shape: Shape,
    readonly dtype: DType,
    readonly storage: Storage,
  ) {
    // A copy, not frozen: V8 takes slow paths on frozen arrays (slice, spread, map), which cost a
    // decode step about a third of its JavaScript time; `shape` is readonly in the types.
    this.shape = shape.slice();
    this.size = sizeOf(shape);
    this.id = engine.newTensorId();
    engine.track(this);
  }

  get backend(): Backend {
    return this.storage.backend;
  }

  get rank(): number {
    return this.shape.length;
  }

  /**
   * How many times this tensor's buffer has been written in place (by assign, assignSlice,
   * assignHost, adamw, the decode steps' state updates), shared with its reshapes: like
   * PyTorch's `_version`, it lets a cache of values derived from a tensor (e.g. A = −exp(A_log)
   * during decoding) notice that the tensor changed. Views of one buffer (`split`'s parts) share
   * the count. Writes that bypass the ops (a backend's `write` on the raw buffer) are not counted.
   */
  get version(): number {
    return this.storage.version;
  }

  get isDisposed(): boolean {
    return this.disposed;
  }

  get isKept(): boolean {
    return this.kept;
  }

  /** Used by `keep()`. */
  markKept(): void {
    this.kept = true;
  }

  /** The buffer id, after checking the tensor is still alive. `op` names the caller in the error. */
  bufferFor(op: string): BufferId {
    this.assertAlive(op);
    return this.storage.id;
  }

  assertAlive(op: string): void {
    if (this.disposed) {
      throw new Error(
        `${op}: tensor #${this.id} (${this.dtype} ${formatShape(this.shape)}) was disposed and cannot be used. ` +
          "Keep it alive: return it from tidy(), call keep(t), or dispose it only after its last use.",
      );
    }
  }

  /** Frees this tensor's reference to its buffer. Disposing twice is a no-op. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    engine.liveTensors--;
    this.storage.release();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  /** The elements, row-major, as a new host array (a Float32Array for bfloat16). */
  async data(): Promise<TypedArray> {
    this.assertAlive("data");
    return hostArray(this.dtype, await this.backend.read(this.storage.id, this.dtype, this.size));
  }

  /** The elements synchronously, where the backend can read synchronously (the cpu backend can). */
  dataSync(): TypedArray {
    this.assertAlive("dataSync");
    const read = this.backend.readSync;
    if (read === undefined) {
      throw new Error(
        `dataSync: backend '${this.backend.name}' cannot read synchronously; use \`await t.data()\`.`,
      );
    }
    return hostArray(this.dtype, read.call(this.backend, this.storage.id, this.dtype, this.size));
  }

  /** Nested JS arrays (a number for a scalar). */
  async array(): Promise<NestedArray> {
    return nest(await this.data(), this.shape);
  }

  arraySync(): NestedArray {
    return nest(this.dataSync(), this.shape);
  }

  /** The single element of a one-element tensor. */
  item(): number {
    if (this.size !== 1) {
      throw new RangeError(
        `item: tensor has shape ${formatShape(this.shape)}; item() needs exactly one element.`,
      );
    }
    return this.dataSync()[0];
  }

  toString(): string {
    return `Tensor(${this.dtype} ${formatShape(this.shape)} on ${this.backend.name})`;
  }

  // Method sugar.
  add(b: Operand): Tensor {
    return ew.add(this, b);
  }
  sub(b: Operand): Tensor {
    return ew.sub(this, b);
  }
  mul(b: Operand): Tensor {
    return ew.mul(this, b);
  }
  div(b: Operand): Tensor {
    return ew.div(this, b);
  }
  pow(b: Operand): Tensor {
    return ew.pow(this, b);
  }
  maximum(b: Operand): Tensor {
    return ew.maximum(this, b);
  }
  minimum(b: Operand): Tensor {
    return ew.minimum(this, b);
  }
  neg(): Tensor {
    return ew.neg(this);
  }
  abs(): Tensor {
    return ew.abs(this);
  }
  exp(): Tensor {
    return ew.exp(this);
  }
  log(): Tensor {
    return ew.log(this);
  }
  sqrt(): Tensor {
    return ew.sqrt(this);
  }
  square(): Tensor {
    return ew.square(this);
  }
  sigmoid(): Tensor {
    return ew.sigmoid(this);
  }
  tanh(): Tensor {
    return ew.tanh(this);
  }
  relu(): Tensor {
    return ew.relu(this);
  }
  silu(): Tensor {
    return ew.silu(this);
  }
  cast(dtype: DType): Tensor {
    return ew.cast(this, dtype);
  }
  reshape(shape: readonly number[]): Tensor {
    return so.reshape(this, shape);
  }
  transpose(perm?: readonly number[]): Tensor {
    return so.transpose(this, perm);
  }
  sum(axes?: number | readonly number[], keepDims = false): Tensor {
    return red.sum(this, axes, keepDims);
  }
  mean(axes?: number | readonly number[], keepDims = false): Tensor {
    return red.mean(this, axes, keepDims);
  }
  max(axes?: number | readonly number[], keepDims = false): Tensor {
    return red.max(this, axes, keepDims);
  }
  min(axes?: number | readonly number[], keepDims = false): Tensor {
    return red.min(this, axes, keepDims);
  }
  argmax(axis = -1): Tensor {
    return red.argmax(this, axis);
  }
  matmul(b: Tensor, options?: mm.MatmulOptions): Tensor {
    return mm.matmul(this, b, options);
  }
}

function nest(data: TypedArray, shape: Shape): NestedArray {
  if (shape.length === 0) return data[0];
  const build = (offset: number, axis: number): NestedArray[] => {
    const n = shape[axis];
    const out: NestedArray[] = new Array(n);
    if (axis === shape.length - 1) {
      for (let i = 0; i < n; i++) out[i] = data[offset + i];
      return out;
    }
    const step = sizeOf(shape.slice(axis + 1));
    for (let i = 0; i < n; i++) out[i] = build(offset + i * step, axis + 1);
    return out;
  };
  return build(0, 0);
}
