/**
 * Option parsing shared by the task factories: defaults, type checks, unknown-option errors.
 * Every message starts with the task name and names the option, e.g.
 * `mqar: pairs must be an integer ≥ 1, got 2.5`.
 */

/** An integer option with an inclusive lower bound. */
export interface IntegerOption {
  readonly kind: "integer";
  readonly default: number;
  readonly min: number;
}

/** A finite number option (range rules are checked by the task). */
export interface NumberOption {
  readonly kind: "number";
  readonly default: number;
}

export interface BooleanOption {
  readonly kind: "boolean";
  readonly default: boolean;
}

/** One of a fixed list of strings. */
export interface ChoiceOption<C extends string = string> {
  readonly kind: "choice";
  readonly default: C;
  readonly choices: readonly C[];
}

export type OptionSpec = IntegerOption | NumberOption | BooleanOption | ChoiceOption;

/** The resolved value type of each option of a spec. */
export type Resolved<S extends Record<string, OptionSpec>> = {
  readonly [K in keyof S]: S[K]["default"];
};

export const integer = (defaultValue: number, min: number): IntegerOption => ({
  kind: "integer",
  default: defaultValue,
  min,
});
export const finite = (defaultValue: number): NumberOption => ({
  kind: "number",
  default: defaultValue,
});
export const flag = (defaultValue: boolean): BooleanOption => ({
  kind: "boolean",
  default: defaultValue,
});
export const choice = <C extends string>(
  defaultValue: C,
  choices: readonly C[],
): ChoiceOption<C> => ({ kind: "choice", default: defaultValue, choices });

/**
 * `options` checked against `spec`, defaults filled in, frozen. Throws on a non-object, on an
 * unknown key (listing the accepted ones) and on a value of the wrong type or below its minimum.
 * An option set to `undefined` takes its default.
 */
export function resolveOptions<S extends Record<string, OptionSpec>>(
  task: string,
  spec: S,
  options: unknown,
): Resolved<S> {
  if (options === undefined || options === null) options = {};
  if (typeof options !== "object" || Array.isArray(options)) {
    throw new TypeError(`${task}: options must be an object, got ${describe(options)}.`);
  }
  const given = options as Record<string, unknown>;
  const accepted = Object.keys(spec);
  for (const key of Object.keys(given)) {
    if (!Object.hasOwn(spec, key)) {
      throw new RangeError(
        `${task}: unknown option "${key}"; accepted options: ${accepted.join(", ")}.`,
      );
    }
  }
  const out: Record<string, number | string | boolean> = {};
  for (const key of accepted) {
    const rule = spec[key];
    const value = given[key];
    out[key] = value === undefined ? rule.default : checkValue(task, key, rule, value);
  }
  return Object.freeze(out) as Resolved<S>;
}

function checkValue(
  task: string,
  key: string,
  rule: OptionSpec,
  value: unknown,
): number | string | boolean {
  switch (rule.kind) {
    case "integer":
      if (typeof value !== "number" || !Number.isSafeInteger(value) || value < rule.min) {
        throw new RangeError(
          `${task}: ${key} must be an integer ≥ ${rule.min}, got ${describe(value)}.`,
        );
      }
      return value;
    case "number":
      if (typeof value !== "number" || !Number.isFinite(value)) {
        throw new RangeError(`${task}: ${key} must be a finite number, got ${describe(value)}.`);
      }
      return value;
    case "boolean":
      if (typeof value !== "boolean") {
        throw new TypeError(`${task}: ${key} must be true or false, got ${describe(value)}.`);
      }
      return value;
    case "choice":
      if (typeof value !== "string" || !rule.choices.includes(value)) {
        throw new RangeError(
          `${task}: ${key} must be one of ${rule.choices.map((c) => `"${c}"`).join(", ")}, got ${describe(value)}.`,
        );
      }
      return value;
  }
}

/** A short description of a value for error messages. */
export function describe(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "number" || typeof value === "boolean" || value === null) {
    return String(value);
  }
  if (value === undefined) return "undefined";
  if (Array.isArray(value)) return "an array";
  return typeof value === "object" ? "an object" : typeof value;
}

/** Throws `${task}: ${message}` unless `ok`. */
export function check(ok: boolean, task: string, message: string): void {
  if (!ok) throw new RangeError(`${task}: ${message}`);
}
