/**
 * Command-line flags: declaration, parsing, validation and help text.
 *
 * A command declares its flags as a record of specs; the key `minLrRatio` is the flag
 * `--min-lr-ratio`. Values are given as `--steps 100` or `--steps=100`; boolean flags take no
 * value (`--json`); `list` flags collect every value given (`--task-option a=1 --task-option b=2`),
 * other flags given twice keep the last value (so a script's defaults can be overridden); `-h`
 * and `--help` ask for the command's help. Every problem is a `UsageError` whose message names the flag
 * and what it accepts.
 */
import { UsageError } from "./errors.js";

interface BaseSpec {
  /** One line for the help text. */
  description: string;
  /** Heading the flag is listed under in the help text. */
  group?: string;
  /** Placeholder of the value in the help text, e.g. "N" or "DIR". */
  placeholder?: string;
  /** The default as shown in the help text when it is not a constant, e.g. "the value of --lr". */
  defaultText?: string;
}

/** An integer in [min, max]. */
export interface IntSpec extends BaseSpec {
  kind: "int";
  default?: number;
  min?: number;
  max?: number;
}

/** A finite number in [min, max] (or (min, max] with `exclusiveMin`). */
export interface NumberSpec extends BaseSpec {
  kind: "number";
  default?: number;
  min?: number;
  max?: number;
  exclusiveMin?: boolean;
}

/** A non-empty string. */
export interface StringSpec extends BaseSpec {
  kind: "string";
  default?: string;
}

/**
 * One of `values`. With `open`, other non-empty names are accepted too (checked later, e.g. a
 * backend name); with `list`, a comma-separated list of values.
 */
export interface EnumSpec extends BaseSpec {
  kind: "enum";
  values: readonly string[];
  default?: string;
  open?: boolean;
  list?: boolean;
}

/** Present or absent; takes no value. */
export interface BooleanSpec extends BaseSpec {
  kind: "boolean";
}

/** A string flag that may be repeated; its value is the list of everything given. */
export interface ListSpec extends BaseSpec {
  kind: "list";
}

export type FlagSpec = IntSpec | NumberSpec | StringSpec | EnumSpec | BooleanSpec | ListSpec;
export type FlagSpecs = Readonly<Record<string, FlagSpec>>;

/** The parsed type of one flag. */
export type FlagValue<S extends FlagSpec> = S extends IntSpec | NumberSpec
  ? number
  : S extends BooleanSpec
    ? boolean
    : S extends ListSpec
      ? string[]
      : S extends { kind: "enum"; open: true }
        ? string
        : S extends { kind: "enum"; list: true; values: readonly (infer V)[] }
          ? V[]
          : S extends { kind: "enum"; values: readonly (infer V)[] }
            ? V
            : string;

type HasValue<S extends FlagSpec> = S extends BooleanSpec | ListSpec
  ? true
  : S extends { default: string | number }
    ? true
    : false;

/** Parsed flags: flags with a default (and booleans, lists) always have a value. */
export type Flags<T extends FlagSpecs> = {
  -readonly [K in keyof T]: HasValue<T[K]> extends true
    ? FlagValue<T[K]>
    : FlagValue<T[K]> | undefined;
};

/** What `parseFlags` returns. */
export interface ParseResult<T extends FlagSpecs> {
  values: Flags<T>;
  /** Keys of the flags given on the command line (not filled in from defaults). */
  given: ReadonlySet<keyof T & string>;
  /** Whether -h / --help was given. */
  help: boolean;
}

/** `--flag-name` for the spec key `flagName` (camelCase keys become kebab-case). */
export function flagName(key: string): string {
  return `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
}

/** What a flag accepts, in words: "an integer ≥ 1", "one of: a, b", "a number in (0, 1]". */
export function describeAccepted(spec: FlagSpec): string {
  switch (spec.kind) {
    case "int":
      return `an integer${rangeText(spec.min, spec.max, false)}`;
    case "number":
      return `a number${rangeText(spec.min, spec.max, spec.exclusiveMin === true)}`;
    case "string":
      return `a non-empty ${spec.placeholder?.toLowerCase() ?? "string"}`;
    case "list":
      return `a ${spec.placeholder ?? "value"} (repeatable)`;
    case "boolean":
      return "no value";
    case "enum": {
      const values = spec.values.join(", ");
      if (spec.open === true) return `one of: ${values}, or another registered name`;
      return spec.list === true ? `a comma-separated list of: ${values}` : `one of: ${values}`;
    }
  }
}

function rangeText(
  min: number | undefined,
  max: number | undefined,
  exclusiveMin: boolean,
): string {
  if (min !== undefined && max !== undefined) {
    return ` in ${exclusiveMin ? "(" : "["}${min}, ${max}]`;
  }
  if (min !== undefined) return ` ${exclusiveMin ? ">" : "≥"} ${min}`;
  if (max !== undefined) return ` ≤ ${max}`;
  return "";
}

/** Edit distance with adjacent transpositions (optimal string alignment), for "did you mean". */
function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.length][b.length];
}

/**
 * The closest candidate to `word`: one it starts (3+ characters typed), or one within an edit
 * distance of a third of its length (at least 1); undefined when nothing is that close.
 */
export function suggest(word: string, candidates: readonly string[]): string | undefined {
  const bare = word.replace(/^--/, "");
  const limit = Math.max(1, Math.floor(bare.length / 3));
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const c of candidates) {
    const d = c.startsWith(word) && bare.length >= 3 ? 0.5 : editDistance(word, c);
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  return bestDistance <= limit ? best : undefined;
}

/** Converts and validates one value; throws a UsageError naming the flag. */
function convert(flag: string, spec: FlagSpec, raw: string): number | string | string[] {
  const expected = () => `${flag}: expected ${describeAccepted(spec)}, got ${JSON.stringify(raw)}.`;
  switch (spec.kind) {
    case "int":
    case "number": {
      const value = raw.trim() === "" ? Number.NaN : Number(raw);
      if (!Number.isFinite(value)) throw new UsageError(expected());
      if (spec.kind === "int" && !Number.isSafeInteger(value)) throw new UsageError(expected());
      const exclusive = spec.kind === "number" && spec.exclusiveMin === true;
      const belowMin = spec.min !== undefined && (exclusive ? value <= spec.min : value < spec.min);
      if (belowMin || (spec.max !== undefined && value > spec.max)) {
        throw new UsageError(expected());
      }
      return value;
    }
    case "string":
    case "list":
      if (raw === "") throw new UsageError(`${flag}: expected ${describeAccepted(spec)}, got "".`);
      return raw;
    case "enum": {
      const items = spec.list === true ? raw.split(",").map((s) => s.trim()) : [raw];
      for (const item of items) {
        if (item === "") throw new UsageError(expected());
        if (spec.open !== true && !spec.values.includes(item)) {
          const hint = suggest(item, spec.values);
          throw new UsageError(
            `${flag}: unknown value ${JSON.stringify(item)}; accepted values: ${spec.values.join(", ")}.${hint === undefined ? "" : ` Did you mean ${hint}?`}`,
          );
        }
      }
      return spec.list === true ? items : raw;
    }
    case "boolean":
      throw new UsageError(`${flag} takes no value.`);
  }
}

/**
 * Parses `argv` (the arguments after the command name) against `specs`. Unknown flags, missing or
 * malformed values and stray arguments are UsageErrors naming the flag and what
 * it accepts (for an unknown flag: the command's flags).
 */
export function parseFlags<T extends FlagSpecs>(
  command: string,
  specs: T,
  argv: readonly string[],
): ParseResult<T> {
  const byFlag = new Map(Object.keys(specs).map((key) => [flagName(key), key]));
  const raw: Record<string, unknown> = {};
  const given = new Set<keyof T & string>();
  let help = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--") continue; // package managers sometimes pass one through
    if (arg === "--help" || arg === "-h") {
      help = true;
      continue;
    }
    if (!arg.startsWith("--")) {
      throw new UsageError(
        `unexpected argument ${JSON.stringify(arg)} for \`bmojo ${command}\`; values follow their flag (e.g. --steps 100) and flags start with --.`,
      );
    }
    const eq = arg.indexOf("=");
    const flag = eq < 0 ? arg : arg.slice(0, eq);
    const inline = eq < 0 ? undefined : arg.slice(eq + 1);
    const key = byFlag.get(flag);
    if (key === undefined) throw unknownFlag(command, flag, [...byFlag.keys()]);
    const spec = specs[key];
    given.add(key);
    if (spec.kind === "boolean") {
      if (inline !== undefined) throw new UsageError(`${flag} takes no value (got "${inline}").`);
      raw[key] = true;
      continue;
    }
    let value = inline;
    if (value === undefined) {
      const next = argv[i + 1];
      if (next === undefined || (next.startsWith("--") && next.length > 2)) {
        throw new UsageError(`${flag} needs a value: ${describeAccepted(spec)}.`);
      }
      value = next;
      i++;
    }
    const converted = convert(flag, spec, value);
    if (spec.kind === "list") {
      const list = (raw[key] as string[] | undefined) ?? [];
      list.push(converted as string);
      raw[key] = list;
    } else {
      raw[key] = converted;
    }
  }
  for (const [key, spec] of Object.entries(specs)) {
    if (key in raw) continue;
    if (spec.kind === "boolean") raw[key] = false;
    else if (spec.kind === "list") raw[key] = [];
    else if (spec.default !== undefined) {
      raw[key] =
        spec.kind === "enum" && spec.list === true ? String(spec.default).split(",") : spec.default;
    } else raw[key] = undefined;
  }
  return { values: raw as Flags<T>, given, help };
}

function unknownFlag(command: string, flag: string, flags: readonly string[]): UsageError {
  const hint = suggest(flag, flags);
  return new UsageError(
    `unknown flag ${flag} for \`bmojo ${command}\`.${hint === undefined ? "" : ` Did you mean ${hint}?`} Its flags: ${[...flags, "--help"].join(", ")}.`,
  );
}

/** The default of a flag as shown in the help text, or undefined when it has none. */
function defaultShown(spec: FlagSpec): string | undefined {
  if (spec.defaultText !== undefined) return spec.defaultText;
  if (spec.kind === "boolean" || spec.kind === "list") return undefined;
  return spec.default === undefined ? undefined : String(spec.default);
}

/** The flag list of a help text: one line per flag, grouped under headings. */
export function formatFlagList(specs: FlagSpecs): string {
  const rows = Object.entries(specs).map(([key, spec]) => {
    const placeholder =
      spec.kind === "boolean"
        ? ""
        : ` ${spec.placeholder ?? (spec.kind === "enum" ? "NAME" : spec.kind === "string" ? "TEXT" : spec.kind === "list" ? "VALUE" : "N")}`;
    const left = `${flagName(key)}${placeholder}`;
    const accepted = spec.kind === "enum" ? `; ${describeAccepted(spec)}` : "";
    const shown = defaultShown(spec);
    const right = `${spec.description}${accepted}${shown === undefined ? "" : ` (default: ${shown})`}`;
    return { group: spec.group ?? "Flags", left, right };
  });
  rows.push({ group: rows.at(-1)?.group ?? "Flags", left: "-h, --help", right: "show this help" });
  const width = Math.max(...rows.map((r) => r.left.length)) + 2;
  const groups = [...new Set(rows.map((r) => r.group))];
  return groups
    .map((group) => {
      const lines = rows
        .filter((r) => r.group === group)
        .map((r) => `  ${r.left.padEnd(width)}${r.right}`);
      return `${group}:\n${lines.join("\n")}`;
    })
    .join("\n\n");
}

/** Parses "key=value" into a typed value: numbers and true/false are converted, the rest kept. */
export function parseKeyValue(flag: string, entry: string): [string, number | string | boolean] {
  const eq = entry.indexOf("=");
  if (eq <= 0 || eq === entry.length - 1) {
    throw new UsageError(
      `${flag}: expected key=value (e.g. ${flag} pairs=8), got ${JSON.stringify(entry)}.`,
    );
  }
  const key = entry.slice(0, eq).trim();
  const text = entry.slice(eq + 1).trim();
  if (text === "true" || text === "false") return [key, text === "true"];
  const number = Number(text);
  return [key, text !== "" && Number.isFinite(number) ? number : text];
}
