/**
 * End to end, in-process, on the cpu backend: train on MQAR into a checkpoint, interrupt and
 * resume (bit-identical to an uninterrupted run), extend, eval, inspect-memory, a text run with
 * streaming generate, and bench. Tests in this file run in order and share the checkpoints.
 */
import { existsSync, readFileSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bmojo, tempDir } from "./helpers.js";

let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => {
  ({ dir, cleanup } = await tempDir());
});
afterAll(() => cleanup());

/** A tiny MQAR setup: 32 tokens, vocabulary 64, 4 pairs; batch 4; warmup 2 of 6 steps. */
const MQAR = [
  "--task",
  "mqar",
  "--task-option",
  "vocabSize=64",
  "--task-option",
  "length=32",
  "--task-option",
  "pairs=4",
  "--batch",
  "4",
  "--warmup",
  "2",
  "--eval-batches",
  "2",
  "--backend",
  "cpu",
];

interface TrainJson {
  step: number;
  totalSteps: number;
  seeds: { train: number; eval: number };
  args: Record<string, unknown>;
  data: { kind: string; options?: Record<string, unknown> };
  optimizer: { groups: Record<string, number> };
  metrics: { losses: number[]; lossEma: number; evals: { step: number; loss: number }[] };
}

async function record(run: string): Promise<TrainJson> {
  return JSON.parse(await readFile(join(run, "train.json"), "utf8")) as TrainJson;
}

/** stdout as one JSON object (the whole of it must parse). */
function json<T = Record<string, unknown>>(stdout: string): T {
  return JSON.parse(stdout) as T;
}

describe("train on mqar, interrupt, resume", () => {
  it("an uninterrupted run writes model, optimizer and train.json and prints JSON", async () => {
    const a = join(dir, "a");
    const r = await bmojo(["train", ...MQAR, "--steps", "6", "--out", a, "--json"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain("backend: cpu (requested explicitly)");
    expect(r.stderr).toMatch(/step 6\/6 \(100%\) {2}loss \d\.\d{4} {2}.* done/);
    const out = json<{
      step: number;
      startStep: number;
      interrupted: boolean;
      eval: { accuracy: number };
      checkpoint: string;
    }>(r.stdout);
    expect(out).toMatchObject({ step: 6, startStep: 0, interrupted: false, checkpoint: a });
    expect(out.eval.accuracy).toBeGreaterThanOrEqual(0);
    for (const file of ["model.safetensors", "optimizer.safetensors", "train.json"]) {
      expect(existsSync(join(a, file))).toBe(true);
    }
    expect(existsSync(join(a, "tokenizer.json"))).toBe(false);
    const rec = await record(a);
    expect(rec.step).toBe(6);
    expect(rec.metrics.losses).toHaveLength(6);
    expect(rec.data).toMatchObject({
      kind: "task",
      options: { vocabSize: 64, length: 32, pairs: 4 },
    });
    expect(rec.optimizer.groups).toEqual({
      "ssm-no-decay": 8,
      ssm: 10,
      "no-decay": 5,
      default: 16,
    });
    expect(rec.seeds.eval).not.toBe(rec.seeds.train);
  });

  it("Ctrl-C saves at the current step; --resume continues bit-identically", async () => {
    const b = join(dir, "b");
    const controller = new AbortController();
    const first = await bmojo(["train", ...MQAR, "--steps", "6", "--out", b], {
      signal: controller.signal,
      onStderr: (chunk) => {
        if (chunk.startsWith("step 3/6")) controller.abort();
      },
    });
    expect(first.code, first.stderr).toBe(130);
    expect(first.stderr).toContain(
      `interrupted at step 3 of 6; saved to ${b}; continue with: bmojo train --resume ${b}`,
    );
    expect((await record(b)).step).toBe(3);

    const resumed = await bmojo(["train", "--resume", b, "--backend", "cpu", "--json"]);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stderr).toContain("resuming bmojo tiny at step 3 of 6");
    expect(json(resumed.stdout)).toMatchObject({ startStep: 3, step: 6, totalSteps: 6 });

    const a = join(dir, "a");
    for (const file of ["model.safetensors", "optimizer.safetensors"]) {
      const [x, y] = await Promise.all([readFile(join(a, file)), readFile(join(b, file))]);
      expect(Buffer.compare(x, y), file).toBe(0);
    }
    const [ra, rb] = [await record(a), await record(b)];
    expect(rb.metrics.losses).toEqual(ra.metrics.losses); // bitwise: JSON keeps every double
    expect(rb.metrics.lossEma).toBe(ra.metrics.lossEma);
    expect(rb.metrics.evals.at(-1)).toEqual(ra.metrics.evals.at(-1));
  });

  it("--resume with more --steps continues the step count", async () => {
    const a = join(dir, "a");
    const before = (await record(a)).metrics.losses;
    const r = await bmojo(["train", "--resume", a, "--steps", "8", "--backend", "cpu"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("trained   steps 7–8 of 8");
    const after = await record(a);
    expect(after.step).toBe(8);
    expect(after.totalSteps).toBe(8);
    expect(after.metrics.losses.slice(0, 6)).toEqual(before);
    expect(after.metrics.losses).toHaveLength(8);
  });

  it("--resume refuses flags that contradict the checkpoint", async () => {
    const a = join(dir, "a");
    const r = await bmojo([
      "train",
      "--resume",
      a,
      "--lr",
      "0.01",
      "--preset",
      "mamba",
      "--batch",
      "4",
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr.split("\n")[1]).toBe(
      `bmojo train: --resume ${a}: these flags contradict the checkpoint: --preset mamba (checkpoint: bmojo); --lr 0.01 (checkpoint: 0.003). A resumed run keeps its model, data, optimiser settings and seed: drop those flags (only --steps, --eval-every, --eval-batches, --save-every, --out, --resume, --backend, --json may be given), or start a new run with --out.`,
    );
    const options = await bmojo([
      "train",
      "--resume",
      a,
      "--task-option",
      "pairs=2",
      "--layers",
      "mamba",
    ]);
    expect(options.stderr).toContain(
      "these flags contradict the checkpoint: --layers mamba (checkpoint: no --layers); --task-option pairs=2 (checkpoint: pairs=4).",
    );
    const text = await bmojo(["train", "--resume", a, "--text", "x.txt"]);
    expect(text.stderr).toContain("--text (checkpoint: --task mqar)");
    const fewer = await bmojo(["train", "--resume", a, "--steps", "5"]);
    expect(fewer.code).toBe(2);
    expect(fewer.stderr).toContain(
      "--steps 5 is below the checkpoint's step 8; give --steps > 8 to train further.",
    );
  });

  it("--resume of a finished run trains nothing", async () => {
    const r = await bmojo([
      "train",
      "--resume",
      join(dir, "a"),
      "--backend",
      "cpu",
      "--eval-batches",
      "0",
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(
      "trained   nothing: the checkpoint is at step 8 of 8 (pass --steps N to train further)",
    );
  });

  it("--save-every writes checkpoints during the run", async () => {
    const s = join(dir, "s");
    let seenAtStep3: number | undefined;
    const r = await bmojo(
      ["train", ...MQAR, "--steps", "4", "--save-every", "2", "--eval-batches", "0", "--out", s],
      {
        onStderr: (chunk) => {
          if (chunk.startsWith("step 3/4")) {
            seenAtStep3 = (JSON.parse(readFileSync(join(s, "train.json"), "utf8")) as TrainJson)
              .step;
          }
        },
      },
    );
    expect(r.code, r.stderr).toBe(0);
    expect(seenAtStep3).toBe(2);
    expect((await record(s)).step).toBe(4);
  });
});

describe("eval, inspect-memory and generate on the mqar checkpoint", () => {
  it("eval samples fresh data from the recorded evaluation seed", async () => {
    const a = join(dir, "a");
    const rec = await record(a);
    const r = await bmojo([
      "eval",
      "--checkpoint",
      a,
      "--batches",
      "2",
      "--backend",
      "cpu",
      "--json",
    ]);
    expect(r.code, r.stderr).toBe(0);
    const out = json<{
      step: number;
      seed: number;
      trainSeed: number;
      loss: number;
      accuracy: number;
      total: number;
      batch: number;
    }>(r.stdout);
    expect(out).toMatchObject({
      step: 8,
      seed: rec.seeds.eval,
      trainSeed: rec.seeds.train,
      batch: 4,
    });
    expect(out.total).toBeGreaterThan(0);
    expect(out.accuracy).toBeGreaterThanOrEqual(0);
    expect(out.accuracy).toBeLessThanOrEqual(1);
    expect(Number.isFinite(out.loss)).toBe(true);

    const other = await bmojo([
      "eval",
      "--checkpoint",
      a,
      "--batches",
      "2",
      "--seed",
      "5",
      "--backend",
      "cpu",
    ]);
    expect(other.code).toBe(0);
    expect(other.stdout).toMatch(/sampled {5}2 batches × 4 sequences, seed 5 /);
    expect(other.stdout).toMatch(/accuracy {4}\d+\.\d% \(\d+\/\d+\)/);
  });

  it("inspect-memory marks the held tokens of each B'MOJO layer", async () => {
    const a = join(dir, "a");
    const args = ["inspect-memory", "--checkpoint", a, "--task-example", "--backend", "cpu"];
    const r = await bmojo([...args, "--json"]);
    expect(r.code, r.stderr).toBe(0);
    const out = json<{
      tokens: number[];
      window: number;
      lastChunk: { start: number };
      eideticTokens: number;
      layers: { layer: number; held: { position: number; id: number; score: number }[] }[];
    }>(r.stdout);
    expect(out.tokens).toHaveLength(32);
    expect(out.lastChunk.start).toBe(24);
    expect(out.layers.map((l) => l.layer)).toEqual([0, 1]);

    const text = await bmojo(args);
    expect(text.code).toBe(0);
    const lines = text.stdout.split("\n");
    for (const { layer, held } of out.layers) {
      expect(held.length).toBeGreaterThan(0);
      expect(held.length).toBeLessThanOrEqual(out.eideticTokens);
      for (const h of held) {
        expect(h.position).toBeLessThan(out.lastChunk.start);
        expect(h.id).toBe(out.tokens[h.position]);
      }
      const at = lines.indexOf(`layer ${layer}: ${held.length} eidetic token(s)`);
      expect(at).toBeGreaterThan(0);
      const marked = lines[at + 1]
        .trim()
        .split(" ")
        .flatMap((cell, position) =>
          cell.startsWith("[") ? [{ position, id: Number(cell.slice(1, -1)) }] : [],
        );
      expect(marked).toEqual(held.map(({ position, id }) => ({ position, id })));
    }

    const tty = await bmojo(args, { stdoutTTY: true });
    expect(tty.stdout).toContain("\x1b[4m");
    expect(tty.stdout).toContain("underlined below");
  });

  it("generate and inspect-memory --text refuse a task model, naming why", async () => {
    const a = join(dir, "a");
    const g = await bmojo(["generate", "--checkpoint", a, "--prompt", "hi", "--backend", "cpu"]);
    expect(g.code).toBe(2);
    expect(g.stderr).toContain(
      `bmojo generate: --checkpoint ${a}: generate needs a model trained on text (bmojo train --text), but this one was trained on the task mqar, whose tokens are ids without a text encoding.`,
    );
    const i = await bmojo([
      "inspect-memory",
      "--checkpoint",
      a,
      "--text",
      "hi",
      "--backend",
      "cpu",
    ]);
    expect(i.code).toBe(2);
    expect(i.stderr).toContain("--text needs a model trained on text");
  });

  it("inspect-memory refuses a model without a B'MOJO layer", async () => {
    const m = join(dir, "mamba");
    const t = await bmojo([
      "train",
      ...MQAR,
      "--preset",
      "mamba",
      "--steps",
      "1",
      "--eval-batches",
      "0",
      "--out",
      m,
    ]);
    expect(t.code, t.stderr).toBe(0);
    const r = await bmojo([
      "inspect-memory",
      "--checkpoint",
      m,
      "--task-example",
      "--backend",
      "cpu",
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(
      `--checkpoint ${m}: the model has no B'MOJO layer with eidetic memory (layers: mamba, mamba), so there is no memory to inspect.`,
    );
  });
});

describe("text", () => {
  const TEXT = `${"the quick brown fox jumps over the lazy dog. ".repeat(12)}${"to be or not to be, that is the question.\n".repeat(6)}`;
  let t: string;

  it("trains on a text file and saves the tokenizer", async () => {
    const file = join(dir, "tiny.txt");
    await writeFile(file, TEXT);
    t = join(dir, "text");
    const r = await bmojo([
      "train",
      "--text",
      file,
      "--seq-len",
      "16",
      "--steps",
      "4",
      "--batch",
      "4",
      "--lr",
      "0.01",
      "--eval-batches",
      "1",
      "--backend",
      "cpu",
      "--out",
      t,
      "--json",
    ]);
    expect(r.code, r.stderr).toBe(0);
    const out = json<{
      data: { kind: string; tokenizer: string; vocabSize: number };
      eval: { perplexity: number };
    }>(r.stdout);
    expect(out.data).toMatchObject({ kind: "text", tokenizer: "char", vocabSize: 30 });
    expect(Number.isFinite(out.eval.perplexity)).toBe(true);
    expect(existsSync(join(t, "tokenizer.json"))).toBe(true);
  });

  it("generate streams decoded tokens as they come, stops at --stop", async () => {
    const args = [
      "generate",
      "--checkpoint",
      t,
      "--prompt",
      "the ",
      "--max-tokens",
      "24",
      "--seed",
      "1",
      "--backend",
      "cpu",
    ];
    const whole = await bmojo([...args, "--json"]);
    expect(whole.code, whole.stderr).toBe(0);
    const result = json<{ text: string; tokens: number[]; stopReason: string }>(whole.stdout);
    expect(result.tokens).toHaveLength(24);
    expect(result.stopReason).toBe("maxTokens");

    const writes: string[] = [];
    const streamed = await bmojo(args, { onStdout: (chunk) => writes.push(chunk) });
    expect(streamed.code).toBe(0);
    expect(writes.length).toBeGreaterThan(10);
    expect(streamed.stdout).toBe(result.text.endsWith("\n") ? result.text : `${result.text}\n`);
    expect(streamed.stderr).toMatch(/\[24 tokens in .* tokens\/s; stopped: maxTokens\]/);

    const stop = result.text.slice(6, 8);
    const prefix = result.text.slice(0, result.text.indexOf(stop));
    const stopped = await bmojo([...args, "--stop", stop, "--json"]);
    expect(json<{ text: string; stopReason: string }>(stopped.stdout)).toMatchObject({
      text: prefix,
      stopReason: "stopText",
    });

    const unknown = await bmojo([
      "generate",
      "--checkpoint",
      t,
      "--prompt",
      "Ω",
      "--backend",
      "cpu",
    ]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/bmojo generate: --prompt: .*Ω/);
  });

  it("inspect-memory decodes and marks text tokens; eval reports perplexity", async () => {
    const input = "the quick brown fox jumps over";
    const r = await bmojo([
      "inspect-memory",
      "--checkpoint",
      t,
      "--text",
      input,
      "--backend",
      "cpu",
      "--json",
    ]);
    expect(r.code, r.stderr).toBe(0);
    const out = json<{
      layers: { held: { position: number; text: string }[] }[];
      lastChunk: { start: number };
    }>(r.stdout);
    expect(out.lastChunk.start).toBe(24);
    for (const { held } of out.layers) {
      for (const h of held) expect(h.text).toBe(input[h.position]);
    }
    const human = await bmojo([
      "inspect-memory",
      "--checkpoint",
      t,
      "--text",
      input,
      "--backend",
      "cpu",
    ]);
    const [h0] = out.layers[0].held;
    expect(human.stdout).toContain(`[${h0.text}]`);
    expect(human.stdout).toMatch(new RegExp(`\\n +${h0.position}  "${h0.text}" +\\d+\\.\\d{4}\\n`));

    const e = await bmojo(["eval", "--checkpoint", t, "--batches", "1", "--backend", "cpu"]);
    expect(e.code, e.stderr).toBe(0);
    expect(e.stdout).toMatch(/loss {8}\d+\.\d{4} \(perplexity \d+\.\d{2}\)/);
    expect(e.stdout).toMatch(/next tokens\)/);
  });
});

describe("bench", () => {
  it("measures prefill and decode per preset; --json parses", async () => {
    const args = [
      "bench",
      "--preset",
      "mamba,bmojo",
      "--length",
      "16",
      "--decode-steps",
      "2",
      "--repeats",
      "1",
      "--backend",
      "cpu",
    ];
    const r = await bmojo([...args, "--json"]);
    expect(r.code, r.stderr).toBe(0);
    const out = json<{
      backend: string;
      rows: {
        model: string;
        parameters: number;
        prefillMs: number;
        decodeTokensPerSecond: number;
        decodeKernelsPerStep: number;
        replayedDecodeTokensPerSecond: number | null;
        stateBytes: number;
        prefillPeakBytes: number;
        decodePeakBytes: number;
      }[];
    }>(r.stdout);
    expect(out.backend).toBe("cpu");
    expect(out.rows.map((row) => row.model)).toEqual(["mamba tiny", "bmojo tiny"]);
    for (const row of out.rows) {
      expect(row.prefillMs).toBeGreaterThan(0);
      expect(row.decodeTokensPerSecond).toBeGreaterThan(0);
      expect(row.decodeKernelsPerStep).toBeGreaterThan(row.model.startsWith("mamba") ? 4 : 8);
      // Both replay their compiled steps too.
      expect(row.replayedDecodeTokensPerSecond).toBeGreaterThan(0);
      expect(row.stateBytes).toBeGreaterThan(0);
      // Weights (float32) and the cache stay live through both phases.
      for (const peak of [row.prefillPeakBytes, row.decodePeakBytes])
        expect(peak).toBeGreaterThanOrEqual(4 * row.parameters + row.stateBytes);
    }
    expect(out.rows[1].parameters).toBe(44576);
    // The presets' runs are interleaved, yet each peak counts only its own model's buffers:
    // B'MOJO measured alone holds exactly the bytes it held next to Mamba.
    const alone = await bmojo([...args.map((a) => (a === "mamba,bmojo" ? "bmojo" : a)), "--json"]);
    expect(alone.code, alone.stderr).toBe(0);
    const [own] = json<{ rows: { prefillPeakBytes: number; decodePeakBytes: number }[] }>(
      alone.stdout,
    ).rows;
    expect(own.prefillPeakBytes).toBe(out.rows[1].prefillPeakBytes);
    expect(own.decodePeakBytes).toBe(out.rows[1].decodePeakBytes);
    const table = await bmojo(args);
    expect(table.stdout).toMatch(
      /model +blocks +params +length +batch +prefill ms +prefill tok\/s +decode ms\/step +decode tok\/s +replayed tok\/s +kernels\/step +state KiB +peak MiB/,
    );
    expect(table.stdout).toMatch(/bmojo tiny +2 +44\.6k +16 +1 /);
  });
});
