/**
 * Global engine state: memory scopes (`tidy`), the gradient tape, and live-object counts.
 * The backend registry lives in registry.ts.
 */
import type { Tensor } from "./tensor.js";

/** One recorded op on the gradient tape. */
export interface TapeNode {
  readonly name: string;
  readonly inputs: readonly Tensor[];
  readonly outputs: readonly Tensor[];
  /** Aliases of the tensors the backward function needs; released with the tape. */
  readonly saved: readonly Tensor[];
  /**
   * Gradients of the inputs (null where an input gets none) given the gradients of the outputs
   * (zeros of the right shape where an output received none).
   */
  readonly backward: (dOutputs: readonly Tensor[], saved: readonly Tensor[]) => (Tensor | null)[];
}

export interface Tape {
  readonly nodes: TapeNode[];
  /** Ids of tensors that depend on a watched parameter. */
  readonly tracked: Set<number>;
}

interface Scope {
  readonly tensors: Tensor[];
}

/** Bytes of tensor buffers one backend holds, and the most it held since the last reset. */
export interface BufferBytes {
  live: number;
  peak: number;
}

class Engine {
  readonly scopes: Scope[] = [];
  tape: Tape | null = null;
  liveTensors = 0;
  private nextTensorId = 1;
  /** Per backend (by identity): bytes of the buffers tensors own (views not counted). */
  private readonly bufferBytes = new WeakMap<object, BufferBytes>();

  /** Counts a buffer the core allocated on `backend`. */
  allocated(backend: object, bytes: number): void {
    const entry = this.bytesOf(backend);
    entry.live += bytes;
    if (entry.live > entry.peak) entry.peak = entry.live;
  }

  /** Counts a buffer the core freed on `backend`. */
  freed(backend: object, bytes: number): void {
    this.bytesOf(backend).live -= bytes;
  }

  /** The live entry for `backend` (created at zero). */
  bytesOf(backend: object): BufferBytes {
    let entry = this.bufferBytes.get(backend);
    if (entry === undefined) {
      entry = { live: 0, peak: 0 };
      this.bufferBytes.set(backend, entry);
    }
    return entry;
  }

  newTensorId(): number {
    return this.nextTensorId++;
  }

  /** Called by every new Tensor: it belongs to the innermost tidy scope, if any. */
  track(t: Tensor): void {
    this.liveTensors++;
    const scope = this.scopes[this.scopes.length - 1];
    if (scope !== undefined) scope.tensors.push(t);
  }
}

export const engine = new Engine();

/** Structures that `tidy` and `valueAndGrad` look through for tensors. */
export type TensorTree = Tensor | readonly TensorTree[] | { readonly [key: string]: TensorTree };

/** Every tensor in a tree of arrays and plain objects (other values are ignored). */
export function collectTensors(
  tree: unknown,
  out: Tensor[] = [],
  seen = new Set<unknown>(),
): Tensor[] {
  if (tree === null || typeof tree !== "object" || seen.has(tree)) return out;
  seen.add(tree);
  if (isTensor(tree)) {
    out.push(tree);
  } else if (Array.isArray(tree)) {
    for (const item of tree) collectTensors(item, out, seen);
  } else if (Object.getPrototypeOf(tree) === Object.prototype) {
    for (const value of Object.values(tree)) collectTensors(value, out, seen);
  }
  return out;
}

/** Structural check that avoids importing the Tensor class here (tensor.ts imports this file). */
export function isTensor(x: unknown): x is Tensor {
  return typeof x === "object" && x !== null && (x as { __isTensor?: boolean }).__isTensor === true;
}

/**
 * Runs `fn` and disposes every tensor it created except those it returns (anywhere in an array or
 * plain object) and those marked with `keep`. Returned tensors move to the enclosing scope.
 * `fn` must be synchronous: an async function would leave the scope before its work is done.
 */
export function tidy<T>(fn: () => T): T;
export function tidy<T>(name: string, fn: () => T): T;
export function tidy<T>(nameOrFn: string | (() => T), maybeFn?: () => T): T {
  const fn = typeof nameOrFn === "function" ? nameOrFn : maybeFn;
  if (typeof fn !== "function")
    throw new TypeError("tidy: pass a function, e.g. tidy(() => a.add(b)).");
  const scope: Scope = { tensors: [] };
  engine.scopes.push(scope);
  let result: T;
  try {
    result = fn();
  } catch (err) {
    engine.scopes.pop();
    disposeScope(scope, []);
    throw err;
  }
  engine.scopes.pop();
  if (result instanceof Promise) {
    disposeScope(scope, []);
    throw new TypeError(
      "tidy: the function returned a Promise; tidy only tracks synchronous work. " +
        "Do the async part outside tidy, or manage tensors with dispose()/using.",
    );
  }
  // The common results (one tensor, nothing) skip the tree walk and its sets: tidy runs around
  // most layer calls, many times per decode step.
  const returned: readonly Tensor[] = isTensor(result)
    ? [result]
    : result === undefined
      ? []
      : collectTensors(result);
  disposeScope(scope, returned.length > 8 ? new Set(returned) : returned);
  const parent = engine.scopes[engine.scopes.length - 1];
  if (parent !== undefined) for (const t of returned) if (!t.isDisposed) parent.tensors.push(t);
  return result;
}

/** Disposes the scope's tensors except kept ones and `survivors` (a set when there are many). */
function disposeScope(scope: Scope, survivors: ReadonlySet<Tensor> | readonly Tensor[]): void {
  const set = survivors instanceof Set ? survivors : null;
  const list = survivors as readonly Tensor[];
  for (const t of scope.tensors) {
    if (t.isKept || t.isDisposed) continue;
    if (set !== null ? set.has(t) : list.includes(t)) continue;
    t.dispose();
  }
}

/** Marks a tensor to survive every enclosing `tidy`; returns it. */
export function keep<T extends Tensor>(t: T): T {
  t.markKept();
  return t;
}

/** Disposes every tensor in a tree (arrays and plain objects). */
export function dispose(tree: unknown): void {
  for (const t of collectTensors(tree)) if (!t.isDisposed) t.dispose();
}
