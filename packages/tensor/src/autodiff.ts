/**
 * Reverse-mode autodiff on a tape: `valueAndGrad`, `grad`, `noGrad`, `stopGradient`,
 * `recordingGradients`.
 * Ops record themselves (ops/internal.ts `recordGrad`) while a tape is active; each op's gradient
 * is written once, in the op's own file.
 */
import { isFloat } from "./dtype.js";
import { type Tape, type TensorTree, collectTensors, engine, isTensor, tidy } from "./engine.js";
import { full } from "./ops/creation.js";
import { add } from "./ops/elementwise.js";
import { aliasTensor } from "./ops/internal.js";
import { formatShape, shapesEqual } from "./shape.js";
import type { Tensor } from "./tensor.js";

export interface ValueAndGrad<T> {
  /** The scalar value of the function. */
  value: Tensor;
  /** Gradients: the parameter tree with every tensor replaced by its gradient. */
  grads: T;
}

/**
 * Returns a function computing f's scalar value and its gradient with respect to every tensor in
 * `params` (a tensor, or arrays / plain objects of tensors). Extra arguments pass through
 * without gradients. A parameter that does not affect the value gets a zero gradient.
 */
export function valueAndGrad<P extends TensorTree, A extends unknown[]>(
  f: (params: P, ...args: A) => Tensor,
): (params: P, ...args: A) => ValueAndGrad<P> {
  return (params: P, ...args: A) => {
    if (engine.tape !== null) {
      throw new Error(
        "valueAndGrad: already computing a gradient; nested (higher-order) gradients are not supported.",
      );
    }
    const leaves = collectTensors(params);
    for (const t of leaves) {
      t.assertAlive("valueAndGrad");
      if (!isFloat(t.dtype)) {
        throw new TypeError(
          `valueAndGrad: parameter #${t.id} is ${t.dtype}; gradients need float parameters (float32, float64 or bfloat16).`,
        );
      }
    }
    const tape: Tape = { nodes: [], tracked: new Set(leaves.map((t) => t.id)) };
    engine.tape = tape;
    let value: Tensor;
    try {
      value = tidy(() => f(params, ...args));
    } catch (err) {
      releaseTape(tape);
      throw err;
    } finally {
      engine.tape = null;
    }
    try {
      if (!isTensor(value) || value.size !== 1 || !isFloat(value.dtype)) {
        const got = isTensor(value) ? `${value.dtype} ${formatShape(value.shape)}` : typeof value;
        throw new TypeError(
          `valueAndGrad: f must return a scalar float tensor (the loss), got ${got}.`,
        );
      }
      const leafGrads = tidy(() => backpropagate(tape, value, leaves));
      const byLeaf = new Map(leaves.map((t, i) => [t, leafGrads[i]]));
      return { value, grads: mapTree(params, (t) => byLeaf.get(t) as Tensor) };
    } finally {
      releaseTape(tape);
    }
  };
}

/** Like valueAndGrad, returning only the gradients. */
export function grad<P extends TensorTree, A extends unknown[]>(
  f: (params: P, ...args: A) => Tensor,
): (params: P, ...args: A) => P {
  const vg = valueAndGrad(f);
  return (params: P, ...args: A) => {
    const { value, grads } = vg(params, ...args);
    value.dispose();
    return grads;
  };
}

/** Whether ops are being recorded for a gradient now (inside `valueAndGrad`, outside `noGrad`). */
export function recordingGradients(): boolean {
  return engine.tape !== null;
}

/** Runs fn without recording gradients (e.g. evaluation inside a loss function). */
export function noGrad<T>(fn: () => T): T {
  const tape = engine.tape;
  engine.tape = null;
  try {
    return fn();
  } finally {
    engine.tape = tape;
  }
}

/** The same values as a new tensor through which no gradient flows. */
export function stopGradient(t: Tensor): Tensor {
  return aliasTensor(t, t.shape);
}

function backpropagate(tape: Tape, value: Tensor, leaves: readonly Tensor[]): Tensor[] {
  const grads = new Map<number, Tensor>();
  grads.set(value.id, full(value.shape, 1, { dtype: value.dtype, backend: value.backend }));
  for (let i = tape.nodes.length - 1; i >= 0; i--) {
    const node = tape.nodes[i];
    if (!node.outputs.some((o) => grads.has(o.id))) continue;
    const dOutputs = node.outputs.map(
      (o) => grads.get(o.id) ?? full(o.shape, 0, { dtype: o.dtype, backend: o.backend }),
    );
    for (const o of node.outputs) grads.delete(o.id);
    const dInputs = node.backward(dOutputs, node.saved);
    node.inputs.forEach((input, j) => {
      const g = dInputs[j];
      if (g === null || g === undefined || !tape.tracked.has(input.id)) return;
      if (!shapesEqual(g.shape, input.shape)) {
        throw new Error(
          `internal error: the gradient of '${node.name}' for input ${j} has shape ${formatShape(g.shape)}, ` +
            `expected ${formatShape(input.shape)}.`,
        );
      }
      const previous = grads.get(input.id);
      grads.set(input.id, previous === undefined ? g : add(previous, g));
    });
    // Output gradients not passed through unchanged are done with; free them now.
    const live = new Set(grads.values());
    for (const d of dOutputs) if (!live.has(d)) d.dispose();
  }
  return leaves.map(
    (t) => grads.get(t.id) ?? full(t.shape, 0, { dtype: t.dtype, backend: t.backend }),
  );
}

function releaseTape(tape: Tape): void {
  for (const node of tape.nodes) for (const t of node.saved) t.dispose();
  tape.nodes.length = 0;
}

function mapTree<T>(tree: T, fn: (t: Tensor) => Tensor): T {
  if (isTensor(tree)) return fn(tree) as T;
  if (Array.isArray(tree)) return tree.map((item) => mapTree(item, fn)) as T;
  if (
    tree !== null &&
    typeof tree === "object" &&
    Object.getPrototypeOf(tree) === Object.prototype
  ) {
    const out: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(tree)) out[key] = mapTree(value, fn);
    return out as T;
  }
  return tree;
}
