/** `bmojo experiment speed` at tiny sizes: the table, the JSON numbers and the SVG chart. */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { barChart } from "../src/svg-chart.js";
import { bmojo, tempDir } from "./helpers.js";

let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => {
  ({ dir, cleanup } = await tempDir());
});
afterAll(() => cleanup());

const MODELS = ["transformer", "mamba", "swa", "bmojo-f", "bmojo"];

describe("bmojo experiment speed", () => {
  it("measures every model and writes md, json and svg", async () => {
    const r = await bmojo([
      "experiment",
      "speed",
      "--size",
      "tiny",
      "--length",
      "16",
      "--decode-steps",
      "2",
      "--repeats",
      "2",
      "--out-dir",
      dir,
    ]);
    expect(r.code, r.stderr).toBe(0);
    for (const m of MODELS) expect(r.stdout).toMatch(new RegExp(`^\\| ${m} +\\|`, "m"));

    const md = await readFile(join(dir, "speed-wasm.md"), "utf8");
    const rows = md.split("\n").filter((l) => /^\| (transformer|mamba|swa|bmojo-f|bmojo) /.test(l));
    expect(rows.map((l) => l.split("|")[1].trim())).toEqual(MODELS);
    expect(md).toContain("command: `bmojo experiment speed --size tiny");
    expect(md).toContain("## Kernels per decode step");
    expect(md).toMatch(
      /\| decode tokens\/s, runs \| replayed decode tokens\/s \| greedy replayed tokens\/s \|/,
    );
    expect(md).not.toMatch(/^\| bmojo .*—/m); // it replays: no "—" in its replay columns
    expect(md).toMatch(/^\| bmojo .*\| [\d.]+–[\d.]+ +\|/m);
    expect(md).toMatch(/^\| selectiveScanStep +\| +\| [\d.]+ × [\d.]+ µs/m); // not in the transformer
    expect(md).toContain("Node v");

    const json = JSON.parse(await readFile(join(dir, "speed-wasm.json"), "utf8"));
    expect(json.rows.map((x: { model: string }) => x.model)).toEqual(MODELS);
    for (const row of json.rows) {
      for (const key of [
        "parameters",
        "prefillMs",
        "prefillTokensPerSecond",
        "decodeTokensPerSecond",
        "stateBytes",
      ]) {
        expect(row[key], `${row.model}.${key}`).toBeGreaterThan(0);
      }
      // Two timed runs per model; the median lies between them.
      expect(row.decodeTokensPerSecondRuns).toHaveLength(2);
      expect(row.decodeTokensPerSecond).toBeGreaterThanOrEqual(
        Math.min(...row.decodeTokensPerSecondRuns),
      );
      expect(row.decodeTokensPerSecond).toBeLessThanOrEqual(
        Math.max(...row.decodeTokensPerSecondRuns),
      );
      expect(row.decodeProfile.kernelsPerStep).toBeGreaterThan(0);
      // Every plan compiles its step (attention and B'MOJO read the position on the device).
      expect(row.replay.decodeTokensPerSecondRuns).toHaveLength(2);
      expect(row.replay.decodeTokensPerSecond).toBeGreaterThan(0);
      expect(row.replay.greedyTokensPerSecondRuns).toHaveLength(2);
      expect(row.replay.greedyTokensPerSecond).toBeGreaterThan(0);
      // Mamba: the step's kernels, then argmax and the copy of its tokens into the input.
      // Attention derives its slot and mask on the device instead of taking host numbers.
      if (row.model === "mamba")
        expect(row.replay.programSize).toBe(row.decodeProfile.kernelsPerStep + 2);
      else expect(row.replay.programSize).toBeGreaterThan(0);
      expect(row.decodePeakBytes).toBeGreaterThanOrEqual(4 * row.parameters);
      expect(row.prefillPeakBytes).toBeGreaterThanOrEqual(4 * row.parameters);
    }
    const params: number[] = json.rows.map((x: { parameters: number }) => x.parameters);
    expect(Math.max(...params) / Math.min(...params)).toBeLessThan(1.15);

    const svg = await readFile(join(dir, "speed-wasm.svg"), "utf8");
    expect(svg.startsWith("<svg ")).toBe(true);
    expect(svg.trimEnd().endsWith("</svg>")).toBe(true);
    expect(svg.match(/<rect /g)?.length).toBe(2 * MODELS.length);
    // Balanced tags: every opened element is closed or self-closing.
    const opened = svg.match(/<[a-z]+[ >]/g)?.length ?? 0;
    const closed = (svg.match(/<\/[a-z]+>/g)?.length ?? 0) + (svg.match(/\/>/g)?.length ?? 0);
    expect(closed).toBe(opened);
  }, 15_000);

  it("bad flags and names are usage errors naming the flag and accepted values", async () => {
    const bad = await bmojo(["experiment", "speed", "--models", "mamba,lstm"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("--models");
    expect(bad.stderr).toContain("transformer");
    const size = await bmojo(["experiment", "speed", "--size", "huge"]);
    expect(size.code).toBe(2);
    expect(size.stderr).toContain("--size");
    expect(size.stderr).toContain("130m");
    const unknown = await bmojo(["experiment", "sped"]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("Did you mean speed?");
    const none = await bmojo(["experiment"]);
    expect(none.code).toBe(2);
  });
});

describe("barChart", () => {
  it("draws one rect per bar with escaped labels", () => {
    const svg = barChart({
      title: "a < b",
      unit: "ms",
      bars: [
        { label: "x&y", value: 3 },
        { label: "z", value: 0 },
        { label: "w", value: 10 },
      ],
    });
    expect(svg.match(/<rect /g)?.length).toBe(3);
    expect(svg).toContain("a &lt; b");
    expect(svg).toContain("x&amp;y");
    expect(svg).toContain(">ms</text>");
  });
});
