/**
 * `bmojo compare`, in-process (`--workers 1`: vitest runs the TypeScript sources, which a worker
 * thread cannot load) with a few steps: the table's parameter counts and state bytes, the example's
 * marks against the selections, `--json`, flag errors; and the pieces: the example probe against
 * `model.lastSelections()`, the job pool, the verdict sentence.
 */
import { IGNORE_INDEX, createTask } from "@bmojo/data";
import { LanguageModel, type ModelConfig, inferenceStateBytes, parameterCount } from "@bmojo/model";
import { Random } from "@bmojo/tensor";
import { beforeAll, describe, expect, it } from "vitest";
import { mqarBaselines, verdict } from "../src/commands/compare.js";
import { type ExampleProbe, pickExample, probeExample } from "../src/compare-job.js";
import { runPool } from "../src/worker-pool.js";
import { type RunResult, bmojo } from "./helpers.js";

/** A short comparison: 3 steps of batch 4 per model, 16 held-out examples. */
const QUICK = [
  "compare",
  "--workers",
  "1",
  "--steps",
  "3",
  "--batch",
  "4",
  "--warmup",
  "1",
  "--eval-examples",
  "16",
  "--backend",
  "cpu",
];

/** The three models at the defaults, written out independently of the command's own planning. */
const BASE = { vocabSize: 64, dModel: 32, heads: 2, seed: 0 };
const CONFIGS: Record<string, ModelConfig> = {
  "B'MOJO": {
    ...BASE,
    layers: "bmojo,bmojo",
    window: 8,
    bmojo: { eideticTokens: 8, fadingTokens: 1 },
    ssm: { dState: 8 },
  },
  SWA: { ...BASE, layers: "swa,swa", window: 17 },
  Mamba: { ...BASE, layers: "mamba:mlp,mamba:mlp", ssm: { dState: 32 } },
};

interface CompareJson {
  command: string;
  workers: number;
  task: Record<string, unknown>;
  evaluation: { examples: number };
  models: {
    model: string;
    name: string;
    parameters: number;
    stateBytes: number;
    attendedTokens: number;
    accuracy: number;
    correct: number;
    total: number;
  }[];
  example: (ExampleProbe & { model: string }) | null;
  summary: string;
}

let text: RunResult;
let json: CompareJson;
beforeAll(async () => {
  text = await bmojo(QUICK);
  const r = await bmojo([...QUICK, "--json"]);
  expect(r.code, r.stderr).toBe(0);
  json = JSON.parse(r.stdout) as CompareJson;
});

/** The cells of the Markdown table row of `model`. */
function tableRow(stdout: string, model: string): string[] {
  const line = stdout.split("\n").find((l) => l.startsWith(`| ${model} `));
  expect(line, `row of ${model}`).toBeDefined();
  return (line as string)
    .split("|")
    .slice(1, -1)
    .map((c) => c.trim());
}

const integer = (cell: string) => Number(cell.replace(/,/g, ""));

describe("bmojo compare", () => {
  it("prints a table with the three models, their parameters and state bytes", () => {
    expect(text.code, text.stderr).toBe(0);
    expect(text.stderr).toContain("training bmojo, swa, mamba (3 steps each) on 1 worker");
    expect(text.stderr).toMatch(/^bmojo {2}step 3\/3 \(100%\) {2}loss \d\.\d{4} .* done$/m);
    expect(text.stdout).toContain(
      "| model  | layers                              | parameters | state bytes per sequence |",
    );
    const attended: Record<string, number> = { "B'MOJO": 17, SWA: 17, Mamba: 0 };
    for (const [name, config] of Object.entries(CONFIGS)) {
      const [model, , parameters, stateBytes, tokens, accuracy, time] = tableRow(text.stdout, name);
      expect(model).toBe(name);
      expect(integer(parameters)).toBe(parameterCount(config));
      expect(integer(stateBytes)).toBe(inferenceStateBytes(config));
      expect(Number.parseInt(tokens, 10)).toBe(attended[name]);
      expect(accuracy).toMatch(/^\d+\.\d% \(\d+\/64\)$/); // 16 examples × 4 queries
      expect(time).toMatch(/^\d+\.\d s$/);
    }
    expect(integer(tableRow(text.stdout, "Mamba")[3])).toBe(17_920);
    expect(integer(tableRow(text.stdout, "B'MOJO")[3])).toBe(18_760);
    expect(text.stdout).toContain(
      "Mamba's SSM state size N = 32 was chosen so its state (17,920 B) is close to B'MOJO's (18,760 B)",
    );
    expect(text.stdout.trimEnd().split("\n").at(-1)).toBe(json.summary);
  });

  it("--json prints one object with the same numbers", () => {
    expect(json.command).toBe("compare");
    expect(json.workers).toBe(1);
    expect(json.task).toMatchObject({
      vocabSize: 64,
      length: 32,
      pairs: 4,
      queryPlacement: "uniform",
    });
    expect(json.evaluation.examples).toBe(16);
    expect(json.models.map((m) => m.name)).toEqual(["B'MOJO", "SWA", "Mamba"]);
    for (const m of json.models) {
      expect(m.parameters).toBe(parameterCount(CONFIGS[m.name]));
      expect(m.stateBytes).toBe(inferenceStateBytes(CONFIGS[m.name]));
      expect(m.total).toBe(64);
      expect(m.accuracy).toBe(m.correct / m.total);
      const cell = tableRow(text.stdout, m.name)[5];
      expect(cell).toBe(`${(100 * m.accuracy).toFixed(1)}% (${m.correct}/64)`);
    }
  });

  it("the example marks exactly the positions held for the last chunk, and labels k, v, q", () => {
    const e = json.example as ExampleProbe & { model: string };
    expect(e.model).toBe("bmojo");
    expect(e.lastChunk).toEqual({ index: 3, start: 24, end: 31 });
    expect(e.layers.map((l) => l.layer)).toEqual([0, 1]);
    const lines = text.stdout.split("\n");
    const cells = (label: string) => {
      const line = lines.find((l) => l.startsWith(`  ${label} `));
      expect(line, label).toBeDefined();
      const rest = (line as string).slice(2 + label.length);
      return rest
        .trim()
        .split(/\s+/)
        .filter((c) => c !== "|");
    };
    expect(cells("position").map(Number)).toEqual(e.inputs.map((_, p) => p));
    for (const { layer, held, chunks } of e.layers) {
      expect(held).toEqual(chunks[3]);
      expect(held.length).toBeGreaterThan(0);
      expect(held.length).toBeLessThanOrEqual(8);
      for (const p of held) expect(p).toBeLessThan(24);
      const row = cells(`layer ${layer}`);
      expect(row.map((c) => Number(c.replace(/[[\]]/g, "")))).toEqual(e.inputs);
      const marked = row.flatMap((c, p) => (c.startsWith("[") ? [p] : []));
      expect(marked).toEqual(held);
    }
    // The roles: the pairs first, then q wherever a key is asked (a scored target).
    const queries = e.targets.flatMap((t, p) => (t === IGNORE_INDEX ? [] : [p]));
    expect(queries.some((q) => q >= 24)).toBe(true); // an example that asks in the last chunk
    const roleLine = lines.find((l) => l.startsWith("  role ")) as string;
    const positionLine = lines.find((l) => l.startsWith("  position ")) as string;
    const roleAt = (p: number) => {
      // A role sits under the last character of its position's column.
      const at = positionLine.search(new RegExp(`(?<=[ |])${p}(?= |$)`)) + String(p).length - 1;
      return roleLine[at] ?? " ";
    };
    for (let p = 0; p < 8; p++) expect(roleAt(p)).toBe(p % 2 === 0 ? "k" : "v");
    for (const q of queries) expect(roleAt(q)).toBe("q");
    // One line per query with B'MOJO's prediction and the target.
    for (const q of queries) {
      expect(text.stdout).toContain(
        `  q at ${q} (key ${e.inputs[q]}): predicted ${e.predictions[q]}, target ${e.targets[q]}, ${e.predictions[q] === e.targets[q] ? "correct" : "wrong"}; pair at `,
      );
    }
  });

  it("--models chooses and orders the rows; --placement switches to the power law", async () => {
    const r = await bmojo([
      ...QUICK,
      "--models",
      "swa,bmojo",
      "--placement",
      "power-law",
      "--steps",
      "1",
      "--json",
    ]);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as CompareJson;
    expect(out.models.map((m) => m.model)).toEqual(["swa", "bmojo"]);
    expect(out.task.queryPlacement).toBe("power-law");
    expect(out.example?.model).toBe("bmojo");
  });

  it("without B'MOJO there is no example; from the sources, --workers 2 runs in-process", async () => {
    const r = await bmojo([
      ...QUICK,
      "--workers", // the last value given wins
      "2",
      "--models",
      "swa,mamba",
      "--steps",
      "1",
      "--eval-examples",
      "4",
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain("training one model after another in this thread");
    expect(r.stdout).not.toContain("One example");
    expect(r.stdout).toContain("| SWA ");
  });
});

describe("bmojo compare flag errors name the flag", () => {
  const cases: [string[], string][] = [
    [
      ["--models", "bmojo,gru"],
      '--models: unknown value "gru"; accepted values: bmojo, swa, mamba.',
    ],
    [["--models", "bmojo,swa,bmojo"], "--models: bmojo is listed twice."],
    [["--workers", "0"], '--workers: expected an integer ≥ 1, got "0".'],
    [["--steps", "many"], '--steps: expected an integer ≥ 1, got "many".'],
    [["--lr", "0"], '--lr: expected a number > 0, got "0".'],
    [["--heads", "3"], "--heads: model config: heads: must divide dModel (32), got 3."],
    [
      ["--placement", "zipf"],
      '--placement: unknown value "zipf"; accepted values: uniform, power-law.',
    ],
    [["--task-option", "pairs"], "--task-option: expected key=value (e.g. --task-option pairs=8)"],
    [["--task-option", "pairs=20"], "--task-option: mqar: pairs (20) needs 4·pairs ≤ length (32)"],
    [
      ["--placement", "uniform", "--task-option", "queryPlacement=power-law"],
      "--task-option queryPlacement=power-law contradicts --placement uniform; give one of them.",
    ],
    [["--stpes", "3"], "unknown flag --stpes for `bmojo compare`. Did you mean --steps?"],
  ];
  for (const [args, message] of cases) {
    it(args.join(" "), async () => {
      const r = await bmojo(["compare", "--backend", "cpu", ...args]);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stdout).toBe("");
      expect(r.stderr).toContain(`bmojo compare: ${message}`);
      expect(r.stderr.trimEnd().split("\n").at(-1)).toBe(
        "Run `bmojo compare --help` for its flags.",
      );
    });
  }

  it("--help lists the defaults", async () => {
    const r = await bmojo(["compare", "--help"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(
      /--models NAME .*a comma-separated list of: bmojo, swa, mamba \(default: bmojo,swa,mamba\)/,
    );
    expect(r.stdout).toMatch(/--swa-window N .*\(default: --window \+ --fading \+ --eidetic\)/);
    expect(r.stdout).toMatch(/--workers N .*\(default: min\(available cores, models\)\)/);
    expect(r.stdout).toMatch(/--steps N .*\(default: 300\)/);
  });
});

describe("compare pieces", () => {
  it("probeExample reads the last chunk's positions from model.lastSelections()", async () => {
    const model = new LanguageModel({ ...CONFIGS["B'MOJO"], seed: 3 });
    try {
      const task = createTask("mqar", {
        vocabSize: 64,
        length: 32,
        pairs: 4,
        queryPlacement: "uniform",
      });
      const rng = new Random(5);
      const candidates = Array.from({ length: 8 }, () => task.sample(rng, 1));
      const example = pickExample(candidates, 8);
      const probe = await probeExample(model, example);
      expect(probe).toBeDefined();
      const selections = model.lastSelections();
      expect(probe?.layers.map((l) => l.layer)).toEqual(selections.map((s) => s.layer));
      for (const [i, { memory }] of selections.entries()) {
        const last = memory.positions[0][3].filter((p) => p >= 0).sort((a, b) => a - b);
        expect(probe?.layers[i].held).toEqual(last);
        expect(probe?.layers[i].chunks).toHaveLength(4);
      }
      expect(probe?.inputs).toEqual(Array.from(example.inputs));
      expect(probe?.predictions).toHaveLength(32);
      // pickExample prefers an example that asks a key in the last chunk.
      const asks = (b: (typeof candidates)[number]) =>
        b.targets.subarray(24).some((t) => t !== IGNORE_INDEX);
      expect(example).toBe(candidates.find(asks) ?? candidates[0]);
    } finally {
      model.dispose();
    }
    const mamba = new LanguageModel(CONFIGS.Mamba);
    try {
      const task = createTask("mqar", { vocabSize: 64, length: 32, pairs: 4 });
      expect(await probeExample(mamba, task.sample(new Random(0), 1))).toBeUndefined();
    } finally {
      mamba.dispose();
    }
  });

  it("runPool keeps at most N jobs going, in order, and stops after a failure", async () => {
    let running = 0;
    let peak = 0;
    const started: number[] = [];
    const results = await runPool([30, 10, 20, 5], 2, async (ms) => {
      started.push(ms);
      running++;
      peak = Math.max(peak, running);
      await new Promise((r) => setTimeout(r, ms));
      running--;
      return ms * 2;
    });
    expect(results).toEqual([60, 20, 40, 10]);
    expect(started).toEqual([30, 10, 20, 5]);
    expect(peak).toBe(2);

    const aborted: boolean[] = [];
    const failing = runPool([1, 2, 3], 2, async (n, signal) => {
      if (n === 1) throw new Error("job 1 failed");
      await new Promise((r) => setTimeout(r, 20));
      aborted.push(signal.aborted);
      return n;
    });
    await expect(failing).rejects.toThrow("job 1 failed");
    expect(aborted).toEqual([true]); // job 2 saw the abort; job 3 never started
  });

  it("the verdict reports the baselines and the gap against its standard error", () => {
    const row = (name: string, correct: number) => ({
      name,
      accuracy: correct / 2048,
      total: 2048,
    });
    const baselines = mqarBaselines(64, 4);
    expect(baselines).toEqual({ valueId: 1 / 32, shownValue: 0.25, pairs: 4 });
    const close = verdict([row("B'MOJO", 410), row("SWA", 400)], 512, baselines);
    expect(close).toBe(
      "On the same 512 held-out examples (one training run each), MQAR accuracy is B'MOJO 20.0% and SWA 19.5%, against 3.1% for guessing a value id and 25.0% for naming one of the 4 values in the sequence; B'MOJO and SWA differ by 0.5 points, less than two standard errors, so this run does not separate them.",
    );
    const far = verdict([row("SWA", 400), row("B'MOJO", 900), row("Mamba", 300)], 512, baselines);
    expect(far).toContain("accuracy is B'MOJO 43.9%, SWA 19.5% and Mamba 14.6%, against");
    expect(far).toContain(
      "; B'MOJO is ahead of SWA by 24.4 points (about 17 standard errors) in this setting,",
    );
  });
});
