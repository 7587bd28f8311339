import { describe, expect, it } from "vitest";
import { UsageError } from "../src/errors.js";
import {
  describeAccepted,
  flagName,
  formatFlagList,
  parseFlags,
  parseKeyValue,
  suggest,
} from "../src/flags.js";

const specs = {
  steps: { kind: "int", min: 1, default: 200, description: "steps" },
  lr: { kind: "number", min: 0, exclusiveMin: true, default: 0.003, description: "lr" },
  ratio: { kind: "number", min: 0, max: 1, description: "a ratio" },
  preset: { kind: "enum", values: ["mamba", "bmojo"], default: "bmojo", description: "plan" },
  presets: {
    kind: "enum",
    values: ["mamba", "swa", "bmojo"],
    list: true,
    default: "bmojo",
    description: "plans",
  },
  backend: {
    kind: "enum",
    values: ["cpu", "auto"],
    open: true,
    default: "auto",
    description: "backend",
  },
  out: { kind: "string", placeholder: "DIR", description: "where" },
  taskOption: { kind: "list", placeholder: "KEY=VALUE", description: "options" },
  json: { kind: "boolean", description: "json" },
} as const;

/** The UsageError message of parsing argv (fails the test if parsing succeeds). */
function errorOf(argv: string[]): string {
  try {
    parseFlags("train", specs, argv);
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    return (err as Error).message;
  }
  throw new Error(`expected ${argv.join(" ")} to fail`);
}

describe("parseFlags", () => {
  it("fills defaults and reports which flags were given", () => {
    const { values, given, help } = parseFlags("train", specs, ["--steps", "5", "--json"]);
    expect(values).toEqual({
      steps: 5,
      lr: 0.003,
      ratio: undefined,
      preset: "bmojo",
      presets: ["bmojo"],
      backend: "auto",
      out: undefined,
      taskOption: [],
      json: true,
    });
    expect([...given].sort()).toEqual(["json", "steps"]);
    expect(help).toBe(false);
  });

  it("accepts --flag=value, repeated list flags, comma lists, open enums, scientific numbers", () => {
    const { values } = parseFlags("train", specs, [
      "--lr=1e-3",
      "--task-option",
      "pairs=8",
      "--task-option=length=64",
      "--presets",
      "mamba,swa",
      "--backend",
      "webgpu",
      "--ratio",
      "1",
      "--steps",
      "1e3",
    ]);
    expect(values.lr).toBe(0.001);
    expect(values.taskOption).toEqual(["pairs=8", "length=64"]);
    expect(values.presets).toEqual(["mamba", "swa"]);
    expect(values.backend).toBe("webgpu");
    expect(values.ratio).toBe(1);
    expect(values.steps).toBe(1000);
  });

  it("keeps the last value of a flag given twice", () => {
    expect(parseFlags("train", specs, ["--steps", "1", "--steps=2"]).values.steps).toBe(2);
  });

  it("notices -h / --help anywhere and ignores a bare --", () => {
    expect(parseFlags("train", specs, ["--steps", "3", "-h"]).help).toBe(true);
    expect(parseFlags("train", specs, ["--", "--help"]).help).toBe(true);
  });

  it("converts camelCase keys to kebab-case flags", () => {
    expect(flagName("minLrRatio")).toBe("--min-lr-ratio");
    expect(flagName("dModel")).toBe("--d-model");
    expect(flagName("taskOption")).toBe("--task-option");
  });
});

describe("flag errors name the flag and what it accepts", () => {
  it("unknown flag: suggestion and the command's flags", () => {
    expect(errorOf(["--stpes", "3"])).toBe(
      "unknown flag --stpes for `bmojo train`. Did you mean --steps? Its flags: --steps, --lr, --ratio, --preset, --presets, --backend, --out, --task-option, --json, --help.",
    );
    expect(errorOf(["--zzzzzz"])).toMatch(
      /^unknown flag --zzzzzz for `bmojo train`\. Its flags: --steps/,
    );
  });

  it("bad enum value: the accepted values", () => {
    expect(errorOf(["--preset", "mambo"])).toBe(
      '--preset: unknown value "mambo"; accepted values: mamba, bmojo. Did you mean mamba?',
    );
    expect(errorOf(["--presets", "mamba,gru"])).toBe(
      '--presets: unknown value "gru"; accepted values: mamba, swa, bmojo.',
    );
    expect(errorOf(["--presets", "mamba,"])).toBe(
      '--presets: expected a comma-separated list of: mamba, swa, bmojo, got "mamba,".',
    );
  });

  it("bad numbers: what is expected", () => {
    expect(errorOf(["--steps", "abc"])).toBe('--steps: expected an integer ≥ 1, got "abc".');
    expect(errorOf(["--steps", "1.5"])).toBe('--steps: expected an integer ≥ 1, got "1.5".');
    expect(errorOf(["--steps", "0"])).toBe('--steps: expected an integer ≥ 1, got "0".');
    expect(errorOf(["--steps="])).toBe('--steps: expected an integer ≥ 1, got "".');
    expect(errorOf(["--lr", "0"])).toBe('--lr: expected a number > 0, got "0".');
    expect(errorOf(["--lr", "Infinity"])).toBe('--lr: expected a number > 0, got "Infinity".');
    expect(errorOf(["--ratio", "1.5"])).toBe('--ratio: expected a number in [0, 1], got "1.5".');
  });

  it("missing values, stray arguments, values on booleans", () => {
    expect(errorOf(["--steps"])).toBe("--steps needs a value: an integer ≥ 1.");
    expect(errorOf(["--out", "--json"])).toBe("--out needs a value: a non-empty dir.");
    expect(errorOf(["mqar"])).toBe(
      'unexpected argument "mqar" for `bmojo train`; values follow their flag (e.g. --steps 100) and flags start with --.',
    );
    expect(errorOf(["--json=yes"])).toBe('--json takes no value (got "yes").');
    expect(errorOf(["--out", ""])).toBe('--out: expected a non-empty dir, got "".');
  });

  it("negative numbers are values, not flags", () => {
    const negative = { shift: { kind: "number", description: "a shift" } } as const;
    expect(parseFlags("x", negative, ["--shift", "-2"]).values.shift).toBe(-2);
  });
});

describe("helpers", () => {
  it("describeAccepted", () => {
    expect(describeAccepted(specs.steps)).toBe("an integer ≥ 1");
    expect(describeAccepted(specs.lr)).toBe("a number > 0");
    expect(describeAccepted(specs.backend)).toBe("one of: cpu, auto, or another registered name");
  });

  it("suggest finds near misses and prefixes only", () => {
    expect(suggest("tran", ["train", "eval"])).toBe("train");
    expect(suggest("inspect", ["train", "inspect-memory"])).toBe("inspect-memory");
    expect(suggest("xyz", ["train", "eval"])).toBeUndefined();
  });

  it("parseKeyValue types values and rejects malformed entries", () => {
    expect(parseKeyValue("--task-option", "pairs=8")).toEqual(["pairs", 8]);
    expect(parseKeyValue("--task-option", "random=false")).toEqual(["random", false]);
    expect(parseKeyValue("--task-option", "queryPlacement=uniform")).toEqual([
      "queryPlacement",
      "uniform",
    ]);
    expect(() => parseKeyValue("--task-option", "pairs")).toThrow(
      '--task-option: expected key=value (e.g. --task-option pairs=8), got "pairs".',
    );
    expect(() => parseKeyValue("--task-option", "pairs=")).toThrow(UsageError);
  });

  it("the flag list shows placeholders, accepted values and defaults", () => {
    const text = formatFlagList(specs);
    expect(text).toContain("--steps N");
    expect(text).toMatch(/--steps N +steps \(default: 200\)/);
    expect(text).toMatch(/--preset NAME +plan; one of: mamba, bmojo \(default: bmojo\)/);
    expect(text).toMatch(/--out DIR +where\n/);
    expect(text).toMatch(/-h, --help +show this help/);
  });
});
