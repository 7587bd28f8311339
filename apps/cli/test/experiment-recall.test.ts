/** `bmojo experiment recall` and `tasks` at tiny sizes: table structure, accuracies in [0, 1]. */
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

const MODELS = ["transformer", "mamba", "hybrid", "bmojo-f", "bmojo"];
const TINY = ["--steps", "2", "--batch", "2", "--eval-examples", "4", "--workers", "1"];
/** A small MQAR and B'MOJO memory for it. */
const SMALL_MQAR = [
  ...["--vocab-size", "32", "--length", "16", "--pairs", "2"],
  ...["--window", "4", "--eidetic", "2"],
];

describe("bmojo experiment recall", () => {
  it("trains every model at one width, both placements and the ablation", async () => {
    const r = await bmojo([
      "experiment",
      "recall",
      "--widths",
      "8",
      "--eidetic-sweep",
      "0,2",
      ...SMALL_MQAR,
      ...TINY,
      "--out-dir",
      dir,
    ]);
    expect(r.code, r.stderr).toBe(0);
    const md = await readFile(join(dir, "recall-wasm.md"), "utf8");
    const rows = md
      .split("\n")
      .filter((l) => /^\| (transformer|mamba|hybrid|bmojo-f|bmojo) /.test(l));
    expect(rows.map((l) => l.split("|")[1].trim())).toEqual([...MODELS, ...MODELS]);
    expect(md).toContain("## Eidetic-token ablation");
    expect(md).toContain("do not test the paper's claim");
    expect(md).toContain("B'MOJO with no positions (NoPE, the paper's)");
    const json = JSON.parse(await readFile(join(dir, "recall-wasm.json"), "utf8"));
    expect(json.grid).toHaveLength(10);
    expect(json.ablation.map((a: { eidetic: number }) => a.eidetic)).toEqual([0, 2]);
    for (const c of [...json.grid, ...json.ablation]) {
      expect(c.accuracy).toBeGreaterThanOrEqual(0);
      expect(c.accuracy).toBeLessThanOrEqual(1);
    }
    expect(await readFile(join(dir, "recall-wasm.svg"), "utf8")).toMatch(/^<svg/);
  }, 30_000);

  it("sweeps learning rates and stops a run early at the target accuracy (Zoology's protocol)", async () => {
    const out = join(dir, "sweep");
    const r = await bmojo([
      "experiment",
      "recall",
      "--widths",
      "8",
      "--models",
      "mamba,bmojo",
      "--eidetic-sweep",
      "2",
      ...SMALL_MQAR,
      "--steps",
      "6",
      "--batch",
      "2",
      "--eval-examples",
      "4",
      "--workers",
      "1",
      "--lrs",
      "0.01,0.001",
      "--eval-every",
      "2",
      // Any accuracy stops at the first evaluation (step 2): early stopping is what is tested.
      "--target-accuracy",
      "1e-9",
      "--bmojo-positions",
      "rope",
      "--out-dir",
      out,
    ]);
    expect(r.code, r.stderr).toBe(0);
    const json = JSON.parse(await readFile(join(out, "recall-wasm.json"), "utf8"));
    expect(json.settings.training).toMatchObject({ evalEvery: 2, targetAccuracy: 1e-9 });
    for (const c of [...json.grid, ...json.ablation]) {
      expect(c.sweep.map((s: { lr: number }) => s.lr)).toEqual([0.01, 0.001]);
      const best = Math.max(...c.sweep.map((s: { accuracy: number }) => s.accuracy));
      expect(c.accuracy).toBe(best);
      expect(c.sweep.map((s: { lr: number }) => s.lr)).toContain(c.lr);
      for (const s of c.sweep) {
        // A run stops at an evaluation (every 2 steps) that scores above ≈ 0, or runs all 6 steps.
        if (s.stoppedEarly) expect([2, 4]).toContain(s.steps);
        else expect(s.steps).toBe(6);
      }
    }
    expect(
      json.grid.some((c: { sweep: { stoppedEarly: boolean }[] }) =>
        c.sweep.some((s) => s.stoppedEarly),
      ),
    ).toBe(true);
    const md = await readFile(join(out, "recall-wasm.md"), "utf8");
    expect(md).toContain("each at lr 0.01, 0.001, the best held-out accuracy reported");
    expect(md).toContain("B'MOJO with RoPE (memory keys at their tokens' positions)");
    expect(json.settings.bmojoPositions).toBe("rope");
    expect(md).toMatch(/ · lr 0\.0?0?1, \d+ steps \|/);
  }, 30_000);

  it("rejects a bad --lrs", async () => {
    const r = await bmojo(["experiment", "recall", "--lrs", "0.01,-1", "--out-dir", dir]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("--lrs: expected a comma-separated list of numbers > 0");
  });

  it("rejects a bad --widths", async () => {
    const r = await bmojo(["experiment", "recall", "--widths", "8,x", "--out-dir", dir]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("--widths");
  });
});

describe("bmojo experiment tasks", () => {
  it("trains every model on every task", async () => {
    const r = await bmojo([
      "experiment",
      "tasks",
      "--width",
      "8",
      "--length",
      "32",
      "--window",
      "4",
      "--eidetic",
      "2",
      ...TINY,
      "--out-dir",
      dir,
    ]);
    expect(r.code, r.stderr).toBe(0);
    const json = JSON.parse(await readFile(join(dir, "tasks-wasm.json"), "utf8"));
    expect(json.cells).toHaveLength(20);
    for (const c of json.cells) {
      expect(c.accuracy).toBeGreaterThanOrEqual(0);
      expect(c.accuracy).toBeLessThanOrEqual(1);
    }
    const md = await readFile(join(dir, "tasks-wasm.md"), "utf8");
    expect(md).toMatch(
      /^\| model +\| +noisy-mqar \| +fuzzy-mqar \| +selective-copy \| +induction-heads \|$/m,
    );
  }, 30_000);
});

describe("experiment help", () => {
  it("`bmojo experiment NAME --help` lists that experiment's own flags", async () => {
    const r = await bmojo(["experiment", "recall", "--help"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("Usage: bmojo experiment recall [flags]");
    expect(r.stdout).toContain("--widths");
    expect(r.stdout).not.toContain("--decode-steps");
  });
});
