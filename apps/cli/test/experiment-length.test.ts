/**
 * `bmojo experiment length` at tiny sizes, in-process (vitest runs the TypeScript sources, which a
 * worker thread cannot load): the table, the JSON perplexities and the SVG chart, the progress
 * lines, Ctrl-C; and the length job itself, run directly and through the job pool's runner.
 */
import { readFile, readdir } from "node:fs/promises";
import { join } from "node:path";
import { parameterCount } from "@bmojo/model";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ContextScore, type LengthJob, runLengthJob } from "../src/length-job.js";
import { jobRunner } from "../src/worker-pool.js";
import { Collector, bmojo, tempDir } from "./helpers.js";

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
    // --workers 2 (the default) from the sources: the models run one after another in-process.
    expect(r.stderr).toContain("training one model after another in this thread");
    expect(r.stderr).toContain("mamba: step 3/3, loss EMA ");
    expect(r.stderr).toMatch(/^transformer: context 8, 8 windows, perplexity \d+\.\d{3}$/m);
    expect(r.stderr).toMatch(/^bmojo: context 16, 4 windows, perplexity \d+\.\d{3}$/m);
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

    const md = await readFile(join(dir, "length-wasm.md"), "utf8");
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
    expect(md).toContain("Training: sequential.");

    const json = JSON.parse(await readFile(join(dir, "length-wasm.json"), "utf8"));
    expect(json.contexts).toEqual([8, 16]);
    expect(json.settings.parallel).toBe("sequential");
    expect(json.rows.map((x: { model: string }) => x.model)).toEqual(MODELS);
    for (const row of json.rows) {
      expect(row.parameters).toBeGreaterThan(0);
      expect(row.windows).toEqual([8, 4]);
      for (const p of row.perplexity) expect(Number.isFinite(p) && p > 0, row.model).toBe(true);
    }

    const svg = await readFile(join(dir, "length-wasm.svg"), "utf8");
    expect(svg.startsWith("<svg ")).toBe(true);
    expect(svg.trimEnd().endsWith("</svg>")).toBe(true);
    expect(svg.match(/<polyline /g)).toHaveLength(3);
  }, 20_000);

  it("stops at Ctrl-C and writes nothing", async () => {
    const { dir: out, cleanup: remove } = await tempDir();
    try {
      const controller = new AbortController();
      const r = await bmojo(
        [
          "experiment",
          "length",
          "--models",
          "mamba",
          "--workers",
          "1",
          "--train-length",
          "8",
          "--multiples",
          "1",
          "--d-model",
          "16",
          "--mamba-blocks",
          "1",
          "--steps",
          "5",
          "--batch",
          "2",
          "--eval-tokens",
          "64",
          "--out-dir",
          out,
        ],
        {
          signal: controller.signal,
          onStderr: (chunk) => {
            if (chunk.startsWith("mamba: step 1/5")) controller.abort();
          },
        },
      );
      expect(r.code, r.stderr).toBe(130);
      expect(r.stderr).toContain("mamba: interrupted at step 1\n");
      expect(r.stderr).toContain("interrupted: nothing written.");
      expect(r.stderr).not.toContain("training one model after another");
      expect(r.stdout).toBe("");
      expect(await readdir(out)).toEqual([]);
    } finally {
      await remove();
    }
  });

  it("rejects bad --multiples", async () => {
    const r = await bmojo(["experiment", "length", "--multiples", "1,x"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("--multiples");
  });
});

describe("the length job", () => {
  const job: LengthJob = {
    model: "bmojo",
    config: {
      vocabSize: 65, // tinyshakespeare's characters
      dModel: 16,
      heads: 1,
      window: 4,
      layers: "bmojo",
      numLayers: 1,
      seed: 0,
      maxLength: 4096,
      bmojo: { eideticTokens: 2 },
    },
    text: "tinyshakespeare",
    trainLength: 8,
    training: {
      steps: 2,
      batch: 2,
      lr: 3e-3,
      ssmLr: 3e-3,
      weightDecay: 0.1,
      warmup: 10,
      minLrRatio: 0.1,
      clip: 1,
      seed: 0,
    },
    contexts: [8, 24],
    evalTokens: 48,
    evalBatchTokens: 16,
  };

  it("trains, reports every step and context, and runs the same through the job runner", async () => {
    const steps: number[] = [];
    const scores: ContextScore[] = [];
    const r = await runLengthJob(job, {
      onStep: (step) => steps.push(step),
      onContext: (score) => scores.push(score),
    });
    expect(r.interrupted).toBe(false);
    expect(r.steps).toBe(2);
    expect(steps).toEqual([1, 2]);
    // ⌊48 / L⌋ windows of L, in forwards of ⌊16 / L⌋ windows (at least one).
    expect(scores.map(({ context, windows }) => [context, windows])).toEqual([
      [8, 6],
      [24, 2],
    ]);
    expect(r.row).toMatchObject({
      model: "bmojo",
      blocks: 1,
      parameters: parameterCount(job.config),
      perplexity: scores.map((s) => s.perplexity),
      windows: [6, 2],
    });
    expect(r.row?.finalTrainLoss).toBeGreaterThan(0);

    // --workers 1: the runner runs the job in this thread, with the same result.
    const stderr = new Collector();
    const runner = jobRunner(1, 1, "cpu", stderr);
    expect(runner.workers).toBe(1);
    const again = await runner.run({ kind: "length", job }, {});
    expect(again.row?.perplexity).toEqual(r.row?.perplexity);
    expect(stderr.text).toBe("");
  }, 20_000);

  it("stops before training when its signal is aborted", async () => {
    const r = await runLengthJob(job, { signal: AbortSignal.abort() });
    expect(r).toEqual({ model: "bmojo", steps: 0, interrupted: true, row: null });
  });
});
