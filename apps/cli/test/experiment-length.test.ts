/** `bmojo experiment length` at tiny sizes: the table, the JSON perplexities and the SVG chart. */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bmojo, tempDir } from "./helpers.js";

let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => {
  ({ dir, cleanup } = await tempDir());
});
afterAll(() => cleanup());

const MODELS = ["transformer", "mamba", "bmojo"];

describe("bmojo experiment length", () => {
  it("trains every model, scores it at each context and writes md, json and svg", async () => {
    const r = await bmojo([
      "experiment",
      "length",
      "--train-length",
      "8",
      "--multiples",
      "1,2",
      "--d-model",
      "16",
      "--heads",
      "1",
      "--mamba-blocks",
      "1",
      "--transformer-blocks",
      "1",
      "--bmojo-blocks",
      "1",
      "--window",
      "4",
      "--eidetic-tokens",
      "2",
      "--steps",
      "3",
      "--batch",
      "2",
      "--eval-tokens",
      "64",
      "--out-dir",
      dir,
    ]);
    expect(r.code, r.stderr).toBe(0);
    const header = r.stdout.split("\n").find((l) => l.startsWith("| model"));
    expect(header?.split("|").map((c) => c.trim())).toEqual([
      "",
      "model",
      "blocks",
      "parameters",
      "ppl @ 8",
      "ppl @ 16",
      "",
    ]);

    const md = await readFile(join(dir, "length-cpu.md"), "utf8");
    const rows = md.split("\n").filter((l) => /^\| (transformer|mamba|bmojo) /.test(l));
    expect(rows.map((l) => l.split("|")[1].trim())).toEqual(MODELS);
    for (const row of rows) {
      const cells = row.split("|").map((c) => c.trim());
      expect(cells).toHaveLength(7);
      for (const p of cells.slice(4, 6).map(Number)) {
        expect(Number.isFinite(p) && p > 0).toBe(true);
      }
    }
    expect(md).toContain("command: `bmojo experiment length --train-length 8");
    expect(md).toContain("all** positions");

    const json = JSON.parse(await readFile(join(dir, "length-cpu.json"), "utf8"));
    expect(json.contexts).toEqual([8, 16]);
    expect(json.rows.map((x: { model: string }) => x.model)).toEqual(MODELS);
    for (const row of json.rows) {
      expect(row.parameters).toBeGreaterThan(0);
      expect(row.windows).toEqual([8, 4]);
      for (const p of row.perplexity) expect(Number.isFinite(p) && p > 0, row.model).toBe(true);
    }

    const svg = await readFile(join(dir, "length-cpu.svg"), "utf8");
    expect(svg.startsWith("<svg ")).toBe(true);
    expect(svg.trimEnd().endsWith("</svg>")).toBe(true);
    expect(svg.match(/<polyline /g)).toHaveLength(3);
  }, 20_000);

  it("rejects bad --multiples", async () => {
    const r = await bmojo(["experiment", "length", "--multiples", "1,x"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("--multiples");
  });
});
