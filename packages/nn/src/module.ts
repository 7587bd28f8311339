/**
 * Module: a tree of named parameters and child modules. Parameter names are dotted paths
 * (`layers.0.mixer.in_proj.weight`), the names checkpoints use.
 *
 * Gradients: pass `model.parameters()` (a plain object name → tensor) to `valueAndGrad`; the loss
 * function can call the model directly, because the tape follows the parameter tensors themselves.
 */
import type { Tensor } from "@bmojo/tensor";

export class Module {
  private readonly ownParameters = new Map<string, Tensor>();
  private readonly children = new Map<string, Module>();
  private trainingMode = true;

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
  }
}
