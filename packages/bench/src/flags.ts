/**
 * A tiny command-line flag parser shared by the benchmarks.
 *
 * Flags are declared as a record of specs; the key `size` is the flag `--size`. Values are given
 * as `--size 512` or `--size=512`. A boolean flag `anchors` is set with `--anchors` and cleared
 * with `--no-anchors`. A bare `--` is ignored (package managers sometimes pass it through).
 * Every error is a `FlagError` whose message names the flag and what it accepts.
 */

export interface IntFlagSpec {
  kind: "int";
  default: number;
  /** Smallest accepted value (inclusive); default 0. */
  min?: number;
  /** Largest accepted value (inclusive); default Number.MAX_SAFE_INTEGER. */
  max?: number;
  /** Placeholder shown in the usage text, e.g. "N". */
  placeholder?: string;
  description: string;
}

export interface StringFlagSpec {
  kind: "string";
  default: string;
  placeholder?: string;
  description: string;
}

export interface BooleanFlagSpec {
  kind: "boolean";
  default: boolean;
  description: string;
}

export type FlagSpec = IntFlagSpec | StringFlagSpec | BooleanFlagSpec;

export type FlagSpecs = Readonly<Record<string, FlagSpec>>;

type FlagValue<S extends FlagSpec> = S extends IntFlagSpec
  ? number
  : S extends StringFlagSpec
    ? string
    : boolean;

export type ParsedFlags<T extends FlagSpecs> = { -readonly [K in keyof T]: FlagValue<T[K]> };

/** A bad command line; the message is meant for the user as is. */
export class FlagError extends Error {
  override readonly name = "FlagError";
}

/** `--flag-name` for the spec key `flagName` (camelCase keys become kebab-case). */
export function flagName(key: string): string {
  return "--" + key.replace(/[A-Z]/g, (c) => "-" + c.toLowerCase());
}

/** The accepted values of a flag, in words: "an integer in [1, 8192]", "a path", "on/off". */
export function describeAccepted(spec: FlagSpec): string {
  switch (spec.kind) {
    case "int": {
      const min = spec.min ?? 0;
      const max = spec.max ?? Number.MAX_SAFE_INTEGER;
      return max === Number.MAX_SAFE_INTEGER
        ? `an integer ≥ ${min}`
        : `an integer in [${min}, ${max}]`;
    }
    case "string":
      return `a non-empty ${spec.placeholder?.toLowerCase() ?? "string"}`;
    case "boolean":
      return "no value";
  }
}

/** One line per flag: `  --size N      matrix size (default 1024)`. */
export function formatUsage(specs: FlagSpecs): string {
  const entries = Object.entries(specs).map(([key, spec]) => {
    const name = flagName(key);
    const left =
      spec.kind === "boolean"
        ? spec.default
          ? `--no-${name.slice(2)}`
          : name
        : `${name} ${spec.placeholder ?? "VALUE"}`;
    const def =
      spec.kind === "boolean"
        ? ""
        : ` (default ${spec.kind === "string" ? JSON.stringify(spec.default) : spec.default})`;
    return [left, spec.description + def] as const;
  });
  const width = Math.max(...entries.map(([left]) => left.length));
  return entries.map(([left, text]) => `  ${left.padEnd(width)}  ${text}`).join("\n");
}

function parseIntValue(key: string, spec: IntFlagSpec, raw: string): number {
  const min = spec.min ?? 0;
  const max = spec.max ?? Number.MAX_SAFE_INTEGER;
  const value = /^[+-]?\d+$/.test(raw.trim()) ? Number(raw) : Number.NaN;
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new FlagError(
      `${flagName(key)} expects ${describeAccepted(spec)}, got ${JSON.stringify(raw)}.`,
    );
  }
  return value;
}

/**
 * Parses `argv` (without the node and script entries) against `specs`. Flags not given keep their
 * default. Throws `FlagError` on an unknown flag, a missing or malformed value, a value given to a
 * boolean flag, or a positional argument.
 */
export function parseFlags<T extends FlagSpecs>(argv: readonly string[], specs: T): ParsedFlags<T> {
  const values = new Map<string, number | string | boolean>();
  for (const [key, spec] of Object.entries(specs)) values.set(key, spec.default);

  const byName = new Map<string, [string, FlagSpec]>();
  for (const [key, spec] of Object.entries(specs)) byName.set(flagName(key), [key, spec]);
  const known = () =>
    Object.entries(specs)
      .map(([key, spec]) =>
        spec.kind === "boolean"
          ? `${flagName(key)}, --no-${flagName(key).slice(2)}`
          : `${flagName(key)} ${spec.placeholder ?? "VALUE"}`,
      )
      .join(", ");

  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--") continue;
    if (!arg.startsWith("--")) {
      throw new FlagError(
        `unexpected argument ${JSON.stringify(arg)}; accepted flags: ${known()}.`,
      );
    }
    const eq = arg.indexOf("=");
    const name = eq === -1 ? arg : arg.slice(0, eq);
    const inline = eq === -1 ? undefined : arg.slice(eq + 1);

    let entry = byName.get(name);
    let negated = false;
    if (entry === undefined && name.startsWith("--no-")) {
      const positive = byName.get("--" + name.slice(5));
      if (positive !== undefined && positive[1].kind === "boolean") {
        entry = positive;
        negated = true;
      }
    }
    if (entry === undefined) {
      throw new FlagError(`unknown flag ${name}; accepted flags: ${known()}.`);
    }
    const [key, spec] = entry;

    if (spec.kind === "boolean") {
      if (inline !== undefined) {
        throw new FlagError(`${name} takes no value, got ${JSON.stringify(inline)}.`);
      }
      values.set(key, !negated);
      continue;
    }

    let raw = inline;
    if (raw === undefined) {
      const next = argv[i + 1];
      if (next === undefined || next.startsWith("--")) {
        throw new FlagError(`${name} expects ${describeAccepted(spec)}, but no value was given.`);
      }
      raw = next;
      i++;
    }
    if (spec.kind === "int") {
      values.set(key, parseIntValue(key, spec, raw));
    } else {
      if (raw.length === 0) {
        throw new FlagError(`${name} expects ${describeAccepted(spec)}, got an empty value.`);
      }
      values.set(key, raw);
    }
  }
  return Object.fromEntries(values) as ParsedFlags<T>;
}
