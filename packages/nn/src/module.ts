/**
 * Module: a tree of named parameters and child modules. Parameter names are dotted paths
 * (`layers.0.mixer.in_proj.weight`), the names checkpoints use.
 *
 * Gradients: pass `model.parameters()` (a plain object name → tensor) to `valueAndGrad`; the loss
 * function can call the model directly, because the tape follows the parameter tensors themselves.
 */
import { type Tensor, cast, keep, noGrad, recordingGradients } from "@bmojo/tensor";

/**
 * Whether float32 `t` is computed on as bfloat16 where it meets activations `x` (mixed precision:
 * bfloat16 activations, float32 parameters).
 */
export function meetsBfloat16(t: Tensor, x: Tensor): boolean {
  return t.dtype === "float32" && x.dtype === "bfloat16";
}

/** `t` in the dtype of activations `x` it meets: cast to bfloat16 where `meetsBfloat16`. */
export function castToCompute(t: Tensor, x: Tensor): Tensor {
  return meetsBfloat16(t, x) ? cast(t, "bfloat16") : t;
}

export class Module {
  private readonly ownParameters = new Map<string, Tensor>();
  private readonly children = new Map<string, Module>();
  private readonly computeCopies = new Map<Tensor, { version: number; copy: Tensor }>();
  private trainingMode = true;

  /**
   * `param` in the dtype of the activations `x` it meets (mixed precision): a float32 parameter
   * meeting bfloat16 activations is cast to bfloat16; any other pair is returned as it is (an op
   * then names a mismatch). While a gradient is recorded the cast is recorded too (the gradient
   * reaches the parameter as float32); otherwise (inference, decode steps) the copy is kept until
   * the parameter changes (`Tensor.version`) or the module is disposed, so steps read bfloat16
   * weights without casting them again.
   */
  protected computeParameter(param: Tensor, x: Tensor): Tensor {
    if (!meetsBfloat16(param, x)) return param;
    if (recordingGradients()) return cast(param, "bfloat16");
    const kept = this.computeCopies.get(param);
    if (kept !== undefined && kept.version === param.version && !kept.copy.isDisposed) {
      return kept.copy;
    }
    kept?.copy.dispose();
    const copy = keep(noGrad(() => cast(param, "bfloat16")));
    this.computeCopies.set(param, { version: param.version, copy });
    return copy;
  }

  /** Registers a parameter tensor under `name` and returns it. */
  protected registerParameter(name: string, t: Tensor): Tensor {
    this.assertFreeName(name);
    this.ownParameters.set(name, t);
    return t;
  }

  /** Registers a child module under `name` (e.g. "mixer" or "layers.3") and returns it. */
  protected registerModule<M extends Module>(name: string, m: M): M {
    this.assertFreeName(name);
    this.children.set(name, m);
    return m;
  }

  private assertFreeName(name: string): void {
    if (name.length === 0 || this.ownParameters.has(name) || this.children.has(name)) {
      throw new Error(
        `${this.constructor.name}: the name '${name}' is empty or already registered.`,
      );
    }
  }

  /** Every parameter with its dotted name, in registration order (depth first). */
  namedParameters(prefix = ""): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [name, t] of this.ownParameters) out.push([prefix + name, t]);
    for (const [name, child] of this.children)
      out.push(...child.namedParameters(`${prefix}${name}.`));
    return out;
  }

  /** Parameters as a plain object, name → tensor: a tree for `valueAndGrad` and checkpoints. */
  parameters(): Record<string, Tensor> {
    return Object.fromEntries(this.namedParameters());
  }

  /** Child modules with their dotted names (direct children only). */
  namedChildren(): [string, Module][] {
    return [...this.children];
  }

  /** Total number of scalar parameters. */
  numParameters(): number {
    return this.namedParameters().reduce((acc, [, t]) => acc + t.size, 0);
  }

  /** True in training mode (dropout active), the default. */
  get training(): boolean {
    return this.trainingMode;
  }

  /** Sets training mode on this module and every descendant; returns this. */
  train(on = true): this {
    this.trainingMode = on;
    for (const child of this.children.values()) child.train(on);
    return this;
  }

  /** Evaluation mode (dropout off); returns this. */
  eval(): this {
    return this.train(false);
  }

  /** Disposes every parameter tensor, child by child (so a subclass can free what it caches). */
  dispose(): void {
    for (const child of this.children.values()) child.dispose();
    for (const t of this.ownParameters.values()) t.dispose();
    for (const { copy } of this.computeCopies.values()) copy.dispose();
    this.computeCopies.clear();
  }
}
