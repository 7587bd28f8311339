/** The dispatcher, help texts, and every usage error of the commands (exit code 2), in-process. */
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { COMMANDS } from "../src/main.js";
import { bmojo, tempDir } from "./helpers.js";

let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => {
  ({ dir, cleanup } = await tempDir());
});
afterAll(() => cleanup());

/** Runs argv, expects exit code 2 and returns the first line of stderr that is not the backend. */
async function usageError(argv: string[]): Promise<string> {
  const r = await bmojo(argv);
  expect(r.code, r.stderr).toBe(2);
  expect(r.stdout).toBe("");
  const lines = r.stderr.split("\n").filter((l) => l !== "" && !l.startsWith("backend: "));
  return lines[0];
}

describe("dispatcher and help", () => {
  it("no command: help on stderr, exit 2", async () => {
    const r = await bmojo([]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("Usage: bmojo <command> [flags]");
  });

  it("--help lists every command", async () => {
    const r = await bmojo(["--help"]);
    expect(r.code).toBe(0);
    for (const c of COMMANDS) expect(r.stdout).toMatch(new RegExp(`\\n  ${c.name} +${c.summary}`));
  });

  it("<command> --help lists its flags with defaults, and help <command> does the same", async () => {
    const train = await bmojo(["train", "--help"]);
    expect(train.code).toBe(0);
    expect(train.stdout).toMatch(/--steps N +step to train to \(default: 200\)/);
    expect(train.stdout).toMatch(/--ssm-lr X .*\(default: the value of --lr\)/);
    expect(train.stdout).toMatch(
      /--preset NAME .*one of: transformer, swa, mamba, hybrid, bmojo-f, bmojo \(default: bmojo\)/,
    );
    expect(train.stdout).toMatch(
      /--task NAME .*one of: mqar, noisy-mqar, fuzzy-mqar, selective-copy, induction-heads/,
    );
    expect((await bmojo(["help", "train"])).stdout).toBe(train.stdout);
    for (const c of COMMANDS) {
      const r = await bmojo([c.name, "-h"]);
      expect(r.stdout).toContain(`Usage: ${c.usage}`);
      expect(r.stdout).toContain("--backend NAME");
    }
  });

  it("unknown command: suggestion and the list, exit 2", async () => {
    expect(await usageError(["trian"])).toBe(
      'bmojo: unknown command "trian". Did you mean train? Commands: train, eval, generate, inspect-memory, bench, compare, experiment. Run `bmojo --help` for more.',
    );
  });

  it("a usage error ends with a pointer to the command's help", async () => {
    const r = await bmojo(["eval", "--bogus"]);
    expect(r.stderr.trim().split("\n").at(-1)).toBe("Run `bmojo eval --help` for its flags.");
  });
});

describe("train usage errors", () => {
  const task = ["train", "--task", "mqar", "--backend", "cpu"];

  it("unknown flag lists the command's flags", async () => {
    const line = await usageError([...task, "--stesp", "5"]);
    expect(line).toMatch(
      /^bmojo train: unknown flag --stesp for `bmojo train`\. Did you mean --steps\? Its flags: --task, --task-option, --text, /,
    );
    expect(line).toContain("--resume, --save-every, --backend, --json, --help.");
  });

  it("bad enums list the accepted values", async () => {
    expect(await usageError([...task, "--preset", "transformers"])).toBe(
      'bmojo train: --preset: unknown value "transformers"; accepted values: transformer, swa, mamba, hybrid, bmojo-f, bmojo. Did you mean transformer?',
    );
    expect(await usageError(["train", "--task", "mqr"])).toBe(
      'bmojo train: --task: unknown value "mqr"; accepted values: mqar, noisy-mqar, fuzzy-mqar, selective-copy, induction-heads. Did you mean mqar?',
    );
    expect(await usageError([...task, "--size", "huge"])).toBe(
      'bmojo train: --size: unknown value "huge"; accepted values: tiny, small, 130m.',
    );
    expect(await usageError(["train", "--text", "x.txt", "--tokenizer", "bpe"])).toBe(
      'bmojo train: --tokenizer: unknown value "bpe"; accepted values: char, byte.',
    );
  });

  it("bad numbers say what is expected", async () => {
    expect(await usageError([...task, "--steps", "ten"])).toBe(
      'bmojo train: --steps: expected an integer ≥ 1, got "ten".',
    );
    expect(await usageError([...task, "--lr", "-1"])).toBe(
      'bmojo train: --lr: expected a number > 0, got "-1".',
    );
    expect(await usageError([...task, "--min-lr-ratio", "2"])).toBe(
      'bmojo train: --min-lr-ratio: expected a number in [0, 1], got "2".',
    );
    expect(await usageError([...task, "--batch", "0"])).toBe(
      'bmojo train: --batch: expected an integer ≥ 1, got "0".',
    );
  });

  it("data flags: one source, options only where they apply", async () => {
    expect(await usageError(["train", "--backend", "cpu"])).toBe(
      "bmojo train: give the data to train on: --task NAME (one of: mqar, noisy-mqar, fuzzy-mqar, selective-copy, induction-heads) or --text FILE|tinyshakespeare; or --resume DIR.",
    );
    expect(await usageError([...task, "--text", "a.txt"])).toBe(
      "bmojo train: --task and --text are exclusive: train on a task or on a text.",
    );
    expect(await usageError([...task, "--seq-len", "32"])).toBe(
      "bmojo train: --seq-len applies to --text only (a task fixes its own length: --task-option length=N).",
    );
    expect(await usageError(["train", "--text", "a.txt", "--task-option", "pairs=2"])).toBe(
      "bmojo train: --task-option applies to --task only.",
    );
    expect(await usageError([...task, "--task-option", "pairs"])).toBe(
      'bmojo train: --task-option: expected key=value (e.g. --task-option pairs=8), got "pairs".',
    );
    expect(await usageError([...task, "--task-option", "colour=red"])).toMatch(
      /^bmojo train: --task-option: mqar: unknown option "colour"; accepted options: vocabSize, length, pairs/,
    );
    const missing = join(dir, "missing.txt");
    expect(await usageError(["train", "--text", missing, "--backend", "cpu"])).toMatch(
      new RegExp(`^bmojo train: --text ${missing}: cannot read ${missing} \\(ENOENT`),
    );
  });

  it("model flags: exclusive preset/plan, config errors name the flag", async () => {
    expect(await usageError([...task, "--preset", "mamba", "--layers", "mamba,bmojo"])).toBe(
      "bmojo train: --preset and --layers are exclusive: give a preset or a layer plan.",
    );
    expect(await usageError([...task, "--heads", "3"])).toBe(
      "bmojo train: --heads: model config: heads: must divide dModel (32), got 3.",
    );
    expect(await usageError([...task, "--layers", "mamba,lstm"])).toMatch(
      /^bmojo train: --layers: model config: layers\[1\]: unknown layer kind "lstm"; use one of mamba, attention, swa, bmojo, bmojo-f/,
    );
    expect(await usageError([...task, "--layers", "mamba,swa", "--layers-count", "3"])).toBe(
      "bmojo train: --layers-count: model config: numLayers: is 3 but the layer list has 2 entries; drop numLayers or make them agree.",
    );
  });

  it("run flags: backend, checkpoints", async () => {
    expect(await usageError(["train", "--task", "mqar", "--backend", "quantum"])).toMatch(
      /^bmojo train: --backend quantum: no backend of that name is registered \(registered: [\w, -]*\bcpu\b[\w, -]*\)\..* Available: [\w, -]*\bcpu\b[\w, -]*, auto\.$/,
    );
    expect(await usageError([...task, "--save-every", "10"])).toBe(
      "bmojo train: --save-every needs a checkpoint directory: add --out DIR.",
    );
    const taken = join(dir, "taken");
    await mkdir(taken, { recursive: true });
    await writeFile(join(taken, "train.json"), "{}");
    expect(await usageError([...task, "--out", taken])).toBe(
      `bmojo train: --out ${taken} already holds a checkpoint; continue it with --resume ${taken}, or choose another directory.`,
    );
    expect(await usageError(["train", "--resume", join(dir, "nothing-here")])).toBe(
      `bmojo train: --resume ${join(dir, "nothing-here")}: no checkpoint there (no train.json); point it at a directory written by \`bmojo train --out DIR\`.`,
    );
  });
});

describe("other commands' usage errors", () => {
  it("required flags", async () => {
    expect(await usageError(["eval"])).toBe("bmojo eval: --checkpoint DIR is required.");
    expect(await usageError(["generate", "--checkpoint", dir])).toBe(
      "bmojo generate: --prompt TEXT is required.",
    );
    expect(await usageError(["inspect-memory", "--text", "hi"])).toBe(
      "bmojo inspect-memory: --checkpoint DIR is required.",
    );
  });

  it("bad values", async () => {
    expect(
      await usageError(["generate", "--checkpoint", dir, "--prompt", "a", "--top-p", "0"]),
    ).toBe('bmojo generate: --top-p: expected a number in (0, 1], got "0".');
    expect(
      await usageError(["generate", "--checkpoint", dir, "--prompt", "a", "--temperature", "hot"]),
    ).toBe('bmojo generate: --temperature: expected a number ≥ 0, got "hot".');
    expect(await usageError(["bench", "--preset", "bmojo,rnn"])).toBe(
      'bmojo bench: --preset: unknown value "rnn"; accepted values: transformer, swa, mamba, hybrid, bmojo-f, bmojo.',
    );
    expect(await usageError(["eval", "--checkpoint", join(dir, "none"), "--backend", "cpu"])).toBe(
      `bmojo eval: --checkpoint ${join(dir, "none")}: no checkpoint there (no train.json); point it at a directory written by \`bmojo train --out DIR\`.`,
    );
  });

  it("a damaged checkpoint is a runtime failure (exit 1)", async () => {
    const broken = join(dir, "broken");
    await mkdir(broken, { recursive: true });
    await writeFile(join(broken, "train.json"), "{ not json");
    const r = await bmojo(["eval", "--checkpoint", broken, "--backend", "cpu"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/bmojo eval: error: .*train\.json is not valid JSON/);
  });
});
