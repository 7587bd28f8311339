/**
 * AdamW with parameter groups (PyTorch's `torch.optim.AdamW`, decoupled weight decay), updating
 * parameters in place through the `adamw` op of @bmojo/tensor.
 */
import { type Tensor, adamw, assign, formatShape, isFloat, keep, zerosLike } from "@bmojo/tensor";

/** A parameter group: the parameters whose names `match` accepts, with their own lr / decay. */
export interface ParamGroup {
  /** Reported by `groupOf`; unique, not empty, and not "default". */
  name: string;
  /** A regular expression tested against the dotted parameter name, or a predicate. */
  match: RegExp | ((paramName: string) => boolean);
  /** The group's learning rate (default: the optimiser's `lr`). */
  lr?: number;
  /** The group's decoupled weight decay (default: the optimiser's `weightDecay`). */
  weightDecay?: number;
}

export interface AdamWOptions {
  /** Learning rate of the default group (and of groups without their own). */
  lr: number;
  /** Moment decay rates [β1, β2]; default [0.9, 0.95]. */
  betas?: [number, number];
  /** Added to the denominator; default 1e-8. */
  eps?: number;
  /** Decoupled weight decay of the default group; default 0.1. */
  weightDecay?: number;
  /** Each parameter joins the FIRST group whose `match` accepts its name, else "default". */
  groups?: ParamGroup[];
}

/** First and second moment buffers of one parameter. */
export interface Moments {
  m: Tensor;
  v: Tensor;
}

/** What `state()` gives and `loadState()` takes: the last step taken and the moment buffers. */
export interface AdamWState {
  /** Number of updates taken so far (0 before the first). */
  step: number;
  moments: Record<string, Moments>;
}

interface ResolvedGroup {
  name: string;
  lr: number;
  weightDecay: number;
}

const DEFAULT_GROUP = "default";

/**
 * AdamW over a fixed set of named parameters.
 *
 * ```ts
 * const opt = new AdamW(model.parameters(), {
 *   lr: 1e-3,
 *   groups: [{ name: "no-decay", match: /(norm\d*|norm_f)\.weight$|\.bias$/, weightDecay: 0 }],
 * });
 * opt.step(grads, schedule(step));
 * ```
 *
 * Moment buffers are created on the first step, on each parameter's backend and dtype, and live
 * outside any `tidy` scope until `dispose()`.
 */
export class AdamW {
  private readonly params: ReadonlyMap<string, Tensor>;
  private readonly groupByParam = new Map<string, ResolvedGroup>();
  private readonly moments = new Map<string, Moments>();
  private readonly beta1: number;
  private readonly beta2: number;
  private readonly eps: number;
  private steps = 0;

  constructor(params: Record<string, Tensor>, options: AdamWOptions) {
    const { lr, betas = [0.9, 0.95], eps = 1e-8, weightDecay = 0.1, groups = [] } = options;
    assertNonNegative("lr", lr);
    assertNonNegative("weightDecay", weightDecay);
    assertNonNegative("eps", eps);
    if (!Array.isArray(betas) || betas.length !== 2 || !betas.every((b) => b >= 0 && b < 1)) {
      throw new RangeError(
        `AdamW: betas must be two numbers in [0, 1), e.g. [0.9, 0.95]; got ${JSON.stringify(betas)}.`,
      );
    }
    [this.beta1, this.beta2] = betas;
    this.eps = eps;

    const resolved = resolveGroups(groups, lr, weightDecay);
    const byName = new Map<string, Tensor>();
    for (const [name, t] of Object.entries(params)) {
      t.assertAlive(`AdamW (parameter ${name})`);
      if (!isFloat(t.dtype)) {
        throw new TypeError(
          `AdamW: parameter ${name} is ${t.dtype}; only float32/float64 tensors can be optimised. ` +
            "Leave integer buffers out of the parameters you pass.",
        );
      }
      const twin = [...byName].find(([, other]) => other === t);
      if (twin !== undefined) {
        throw new RangeError(
          `AdamW: parameters ${twin[0]} and ${name} are the same tensor; pass each tensor once.`,
        );
      }
      byName.set(name, t);
      const index = groups.findIndex((g) => matches(g.match, name));
      this.groupByParam.set(name, index < 0 ? resolved.fallback : resolved.groups[index]);
    }
    this.params = byName;
  }

  /** Number of updates taken so far (the next `step` uses stepCount + 1 for bias correction). */
  get stepCount(): number {
    return this.steps;
  }

  /** The name of the group that parameter `name` belongs to ("default" when no group matched). */
  groupOf(name: string): string {
    const group = this.groupByParam.get(name);
    if (group === undefined) {
      throw new RangeError(`AdamW.groupOf: no parameter named ${name} in this optimiser.`);
    }
    return group.name;
  }

  /** The learning rate of parameter `name`'s group, before any `lrScale`. */
  lrOf(name: string): number {
    this.groupOf(name);
    return (this.groupByParam.get(name) as ResolvedGroup).lr;
  }

  /**
   * One AdamW update of every parameter, in place. `grads` has exactly the parameters' names and
   * shapes (what `valueAndGrad(loss)(model.parameters())` returns); each group's lr is multiplied
   * by `lrScale` (a schedule's value for this step). Everything is checked before any parameter
   * changes, so a failed call leaves parameters, moments and the step count untouched.
   */
  step(grads: Record<string, Tensor>, lrScale = 1): void {
    if (!(Number.isFinite(lrScale) && lrScale >= 0)) {
      throw new RangeError(`AdamW.step: lrScale must be a finite number ≥ 0, got ${lrScale}.`);
    }
    this.checkGrads(grads);
    const step = this.steps + 1;
    for (const [name, param] of this.params) {
      const group = this.groupByParam.get(name) as ResolvedGroup;
      const { m, v } = this.momentsFor(name, param);
      adamw(param, grads[name], m, v, {
        lr: group.lr * lrScale,
        beta1: this.beta1,
        beta2: this.beta2,
        eps: this.eps,
        weightDecay: group.weightDecay,
        step,
      });
    }
    this.steps = step;
  }

  /**
   * The step count and the live moment buffers (not copies: they belong to the optimiser, so read
   * them, e.g. `await m.data()`, but do not dispose them). Parameters that have not been updated
   * yet have no entry.
   */
  state(): AdamWState {
    return { step: this.steps, moments: Object.fromEntries(this.moments) };
  }

  /**
   * Restores `state()` output (e.g. to resume training). The moments are copied into buffers the
   * optimiser owns, so the caller may dispose its tensors afterwards. Everything is validated
   * first: unknown names, shapes, dtypes, and (for step > 0) a missing parameter are errors.
   */
  loadState(state: AdamWState): void {
    const { step, moments } = state;
    if (!Number.isInteger(step) || step < 0) {
      throw new RangeError(`AdamW.loadState: step must be an integer ≥ 0, got ${step}.`);
    }
    const problems: string[] = [];
    for (const [name, entry] of Object.entries(moments)) {
      const param = this.params.get(name);
      if (param === undefined) {
        problems.push(`unknown parameter ${name}`);
        continue;
      }
      for (const key of ["m", "v"] as const) {
        const t = entry?.[key];
        if (t === undefined || t === null) problems.push(`${key} of ${name} is missing`);
        else if (t.isDisposed) problems.push(`${key} of ${name} was disposed`);
        else if (!sameShape(t.shape, param.shape) || t.dtype !== param.dtype) {
          problems.push(
            `${key} of ${name} is ${t.dtype} ${formatShape(t.shape)} but the parameter is ${param.dtype} ${formatShape(param.shape)}`,
          );
        }
      }
    }
    if (step > 0) {
      for (const name of this.params.keys()) {
        if (!(name in moments)) problems.push(`no moments for ${name} (needed when step > 0)`);
      }
    }
    if (problems.length > 0) {
      throw new Error(`AdamW.loadState: the state does not match: ${problems.join("; ")}.`);
    }
    const fresh = new Map<string, Moments>();
    try {
      for (const [name, entry] of Object.entries(moments)) {
        const param = this.params.get(name) as Tensor;
        const copy = { m: keep(zerosLike(param)), v: keep(zerosLike(param)) };
        fresh.set(name, copy);
        assign(copy.m, entry.m);
        assign(copy.v, entry.v);
      }
    } catch (err) {
      for (const { m, v } of fresh.values()) disposeBoth(m, v);
      throw err;
    }
    this.dispose();
    for (const [name, entry] of fresh) this.moments.set(name, entry);
    this.steps = step;
  }

  /** Frees every moment buffer; the next step starts from zero moments (the count is kept). */
  dispose(): void {
    for (const { m, v } of this.moments.values()) disposeBoth(m, v);
    this.moments.clear();
  }

  private momentsFor(name: string, param: Tensor): Moments {
    let entry = this.moments.get(name);
    if (entry === undefined) {
      // keep(): lazily created inside a user's tidy(), they must outlive it.
      entry = { m: keep(zerosLike(param)), v: keep(zerosLike(param)) };
      this.moments.set(name, entry);
    }
    return entry;
  }

  private checkGrads(grads: Record<string, Tensor>): void {
    const problems: string[] = [];
    for (const [name, param] of this.params) {
      param.assertAlive(`AdamW.step (parameter ${name})`);
      const g = grads[name];
      if (g === undefined) problems.push(`missing gradient for ${name}`);
      else if (g.isDisposed) problems.push(`the gradient of ${name} was disposed`);
      else if (!sameShape(g.shape, param.shape)) {
        problems.push(
          `gradient of ${name} has shape ${formatShape(g.shape)} but the parameter has ${formatShape(param.shape)}`,
        );
      } else if (g.dtype !== param.dtype) {
        problems.push(`gradient of ${name} is ${g.dtype} but the parameter is ${param.dtype}`);
      } else if (g.backend !== param.backend) {
        problems.push(
          `gradient of ${name} is on backend '${g.backend.name}' but the parameter is on '${param.backend.name}'`,
        );
      }
    }
    for (const name of Object.keys(grads)) {
      if (!this.params.has(name)) problems.push(`gradient for unknown parameter ${name}`);
    }
    if (problems.length > 0) {
      throw new Error(
        `AdamW.step: ${problems.join("; ")}. Pass the gradients of exactly the parameters given to the optimiser (valueAndGrad(loss)(params).grads).`,
      );
    }
  }
}

function resolveGroups(
  groups: readonly ParamGroup[],
  lr: number,
  weightDecay: number,
): { groups: ResolvedGroup[]; fallback: ResolvedGroup } {
  const seen = new Set<string>();
  const resolved = groups.map((g, i) => {
    if (typeof g.name !== "string" || g.name.length === 0 || g.name === DEFAULT_GROUP) {
      throw new RangeError(
        `AdamW: groups[${i}].name must be a non-empty string other than "${DEFAULT_GROUP}", got ${JSON.stringify(g.name)}.`,
      );
    }
    if (seen.has(g.name))
      throw new RangeError(`AdamW: groups[${i}].name "${g.name}" is used twice.`);
    seen.add(g.name);
    if (!(g.match instanceof RegExp) && typeof g.match !== "function") {
      throw new TypeError(
        `AdamW: groups[${i}].match must be a RegExp or a function (name) => boolean.`,
      );
    }
    const group = { name: g.name, lr: g.lr ?? lr, weightDecay: g.weightDecay ?? weightDecay };
    assertNonNegative(`groups[${i}].lr`, group.lr);
    assertNonNegative(`groups[${i}].weightDecay`, group.weightDecay);
    return group;
  });
  return { groups: resolved, fallback: { name: DEFAULT_GROUP, lr, weightDecay } };
}

function matches(match: ParamGroup["match"], name: string): boolean {
  if (typeof match === "function") return match(name);
  match.lastIndex = 0; // a /g or /y regex keeps state between test() calls
  return match.test(name);
}

function assertNonNegative(field: string, value: number): void {
  if (!(Number.isFinite(value) && value >= 0)) {
    throw new RangeError(`AdamW: ${field} must be a finite number ≥ 0, got ${value}.`);
  }
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

function disposeBoth(m: Tensor, v: Tensor): void {
  m.dispose();
  v.dispose();
}
