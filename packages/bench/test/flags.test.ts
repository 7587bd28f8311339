import { describe, expect, it } from "vitest";
import { type FlagSpecs, FlagError, flagName, formatUsage, parseFlags } from "../src/flags.js";

const SPECS = {
  size: { kind: "int", default: 1024, min: 1, max: 8192, placeholder: "N", description: "size" },
  json: { kind: "string", default: "out.json", placeholder: "PATH", description: "path" },
  anchors: { kind: "boolean", default: true, description: "skip anchors" },
  warmUp: { kind: "int", default: 1, description: "warmup" },
} as const satisfies FlagSpecs;

function errorOf(argv: string[]): string {
  try {
    parseFlags(argv, SPECS);
  } catch (e) {
    expect(e).toBeInstanceOf(FlagError);
    return (e as Error).message;
  }
  throw new Error("expected a FlagError");
}

describe("parseFlags", () => {
  it("returns the defaults when no flag is given", () => {
    expect(parseFlags([], SPECS)).toEqual({
      size: 1024,
      json: "out.json",
      anchors: true,
      warmUp: 1,
    });
  });

  it("reads separate and inline values, --no-x, kebab-case names, and skips a bare --", () => {
    const flags = parseFlags(
      ["--", "--size", "256", "--json=r/x.json", "--no-anchors", "--warm-up", "0"],
      SPECS,
    );
    expect(flags).toEqual({ size: 256, json: "r/x.json", anchors: false, warmUp: 0 });
    expect(parseFlags(["--no-anchors", "--anchors"], SPECS).anchors).toBe(true);
  });

  it("names the flag and the accepted values in every error", () => {
    expect(errorOf(["--size", "abc"])).toBe('--size expects an integer in [1, 8192], got "abc".');
    expect(errorOf(["--size", "0"])).toContain("--size expects an integer in [1, 8192]");
    expect(errorOf(["--size", "1.5"])).toContain('got "1.5"');
    expect(errorOf(["--size"])).toBe(
      "--size expects an integer in [1, 8192], but no value was given.",
    );
    expect(errorOf(["--size", "--json", "x"])).toContain("no value was given");
    expect(errorOf(["--warm-up", "-1"])).toContain("--warm-up expects an integer ≥ 0");
    expect(errorOf(["--json="])).toContain("--json expects a non-empty path");
    expect(errorOf(["--no-anchors=1"])).toContain("--no-anchors takes no value");
    expect(errorOf(["--repeat", "3"])).toMatch(
      /^unknown flag --repeat; accepted flags: --size N, --json PATH, --anchors, --no-anchors/,
    );
    expect(errorOf(["--no-size"])).toContain("unknown flag --no-size");
    expect(errorOf(["512"])).toContain('unexpected argument "512"');
  });
});

describe("flag helpers", () => {
  it("turns camelCase keys into kebab-case flags", () => {
    expect(flagName("warmUp")).toBe("--warm-up");
    expect(flagName("size")).toBe("--size");
  });

  it("lists every flag with its default", () => {
    const usage = formatUsage(SPECS);
    expect(usage).toContain("--size N");
    expect(usage).toContain("(default 1024)");
    expect(usage).toContain('(default "out.json")');
    expect(usage).toContain("--no-anchors");
  });
});
