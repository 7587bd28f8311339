/**
 * `bmojo inspect-memory`: one forward pass over an input, then, for each B'MOJO layer, the input
 * positions its eidetic memory held for the last chunk, marked in the printed input, with their
 * innovation scores.
 */
import { tensor } from "@bmojo/tensor";
import { backendFlag, describeBackend, initBackend } from "../backend.js";
import { taskSource } from "../data-source.js";
import { UsageError, messageOf } from "../errors.js";
import { parseFlags } from "../flags.js";
import { table } from "../format.js";
import { type CliIO, println } from "../io.js";
import { layerKinds } from "../model-flags.js";
import { heldPositions, markHeld } from "../memory-view.js";
import { type LoadedRun, loadRun } from "../run-dir.js";
import type { Command } from "./command.js";

export const inspectMemoryFlags = {
  checkpoint: { kind: "string", placeholder: "DIR", description: "checkpoint with a B'MOJO layer" },
  text: { kind: "string", placeholder: "TEXT", description: "text models: the input text" },
  taskExample: {
    kind: "boolean",
    description: "task models: use one freshly sampled example of the task as the input",
  },
  seed: {
    kind: "int",
    min: 0,
    defaultText: "the run's evaluation seed",
    description: "seed of the --task-example sample",
  },
  backend: backendFlag,
  json: { kind: "boolean", description: "print the result as one JSON object" },
} as const;

/** One held token of one layer. */
interface HeldToken {
  position: number;
  id: number;
  /** Decoded text of the token (text models). */
  text?: string;
  score: number;
}

/** The `--json` result. */
interface InspectOutput {
  command: "inspect-memory";
  checkpoint: string;
  tokens: number[];
  text?: string;
  window: number;
  chunks: number;
  lastChunk: { index: number; start: number; end: number };
  fadingTokens: number;
  eideticTokens: number;
  layers: { layer: number; held: HeldToken[] }[];
}

/** The input ids and how to show each token. */
function inputOf(run: LoadedRun, f: { text?: string; taskExample: boolean; seed?: number }) {
  const { record, tokenizer } = run;
  if (f.text !== undefined && f.taskExample) {
    throw new UsageError("--text and --task-example are exclusive: give one input.");
  }
  if (record.data.kind === "text") {
    if (f.taskExample || tokenizer === undefined) {
      throw new UsageError(
        `--task-example needs a model trained on a task; ${run.dir} was trained on text: give --text "...".`,
      );
    }
    if (f.text === undefined) throw new UsageError('give the input: --text "..."');
    let ids: number[];
    try {
      ids = Array.from(tokenizer.encode(f.text));
    } catch (err) {
      throw new UsageError(`--text: ${messageOf(err)}`);
    }
    if (ids.length === 0) throw new UsageError("--text: the text encodes to no tokens.");
    const show = (id: number) => escapeControl(tokenizer.decode([id]));
    return { ids, show, decode: (id: number) => tokenizer.decode([id]) };
  }
  if (f.text !== undefined) {
    throw new UsageError(
      `--text needs a model trained on text; ${run.dir} was trained on the task ${record.data.task}: use --task-example.`,
    );
  }
  if (!f.taskExample) throw new UsageError("give the input: --task-example");
  const source = taskSource(record.data.task, record.data.options);
  const example = source.evalBatches(f.seed ?? record.seeds.eval, 1, 1)[0];
  return { ids: Array.from(example.inputs), show: (id: number) => String(id), decode: undefined };
}

/** Newlines and tabs as visible escapes, so the input prints on one line. */
function escapeControl(text: string): string {
  return text.replace(/\n/g, "\\n").replace(/\t/g, "\\t").replace(/\r/g, "\\r");
}

async function runInspect(argv: readonly string[], io: CliIO): Promise<number> {
  const { values: f } = parseFlags("inspect-memory", inspectMemoryFlags, argv);
  if (f.checkpoint === undefined) throw new UsageError("--checkpoint DIR is required.");
  const report = await initBackend(f.backend);
  println(io.stderr, describeBackend(report));
  const run = await loadRun(f.checkpoint, "--checkpoint");
  const { model } = run;
  try {
    const config = model.config;
    const hasBMojo = config.layers.some((l) => l.kind === "bmojo");
    if (!hasBMojo || config.bmojo.eideticTokens === 0) {
      throw new UsageError(
        `--checkpoint ${f.checkpoint}: the model has no B'MOJO layer with eidetic memory (layers: ${layerKinds(config)}${hasBMojo ? "; eidetic tokens: 0" : ""}), so there is no memory to inspect.`,
      );
    }
    const input = inputOf(run, f);
    const ids = tensor(Int32Array.from(input.ids), [1, input.ids.length], {
      dtype: "int32",
      backend: model.embedding.weight.backend,
    });
    model.forward(ids).dispose();
    ids.dispose();
    const length = input.ids.length;
    const window = config.window;
    const chunks = Math.ceil(length / window);
    const last = chunks - 1;
    const layers = model.lastSelections().map(({ layer, memory }) => {
      const held = heldPositions(memory, last).map((position): HeldToken => {
        const token: HeldToken = {
          position,
          id: input.ids[position],
          score: memory.scores[0][position],
        };
        if (input.decode !== undefined) token.text = input.decode(token.id);
        return token;
      });
      return { layer, held };
    });
    const output: InspectOutput = {
      command: "inspect-memory",
      checkpoint: f.checkpoint,
      tokens: input.ids,
      ...(f.text !== undefined ? { text: f.text } : {}),
      window,
      chunks,
      lastChunk: { index: last, start: last * window, end: length - 1 },
      fadingTokens: config.bmojo.fadingTokens,
      eideticTokens: config.bmojo.eideticTokens,
      layers,
    };
    if (f.json) println(io.stdout, JSON.stringify(output));
    else printInspection(io, output, input.show);
    return 0;
  } finally {
    model.dispose();
  }
}

function printInspection(io: CliIO, o: InspectOutput, show: (id: number) => string): void {
  const out = io.stdout;
  const underline = io.stdout.isTTY === true;
  const separator = o.text !== undefined ? "" : " ";
  const { index, start, end } = o.lastChunk;
  println(
    out,
    `input: ${o.tokens.length} tokens; window = chunk length ${o.window}; last chunk: ${start === end ? `position ${start}` : `positions ${start}–${end}`} (chunk ${index + 1} of ${o.chunks})`,
  );
  println(
    out,
    `each B'MOJO layer gives that chunk ${o.fadingTokens} fading token(s) (SSM outputs before position ${start}) and up to ${o.eideticTokens} eidetic tokens: the inputs before position ${start} with the highest innovation; ${underline ? "underlined" : "[bracketed]"} below.`,
  );
  if (o.chunks === 1) {
    println(
      out,
      `note: the input fits in one chunk, so nothing precedes it to hold; give more than ${o.window} tokens.`,
    );
  }
  for (const { layer, held } of o.layers) {
    const marked = new Set(held.map((h) => h.position));
    const rendered = o.tokens
      .map((id, p) => (marked.has(p) ? markHeld(show(id), underline) : show(id)))
      .join(separator);
    println(out);
    println(out, `layer ${layer}: ${held.length} eidetic token(s)`);
    println(out, `  ${rendered}`);
    if (held.length > 0) {
      const rows = held.map((h) => [
        String(h.position),
        o.text !== undefined ? JSON.stringify(h.text) : String(h.id),
        h.score.toFixed(4),
      ]);
      const lines = table(["position", "token", "innovation"], rows).split("\n");
      for (const line of lines) println(out, `  ${line}`);
    }
  }
}

export const inspectMemoryCommand: Command = {
  name: "inspect-memory",
  summary: "show which tokens each B'MOJO layer holds in eidetic memory",
  usage: 'bmojo inspect-memory --checkpoint DIR (--text "..." | --task-example) [flags]',
  description: [
    "Runs one forward pass and prints the input with the tokens each B'MOJO layer held in",
    "eidetic memory for the last chunk marked ([brackets], or underlined on a terminal), then each",
    "layer's held positions with their innovation scores. Text models decode tokens; task models",
    "print ids.",
  ].join("\n"),
  flags: inspectMemoryFlags,
  examples: [
    'bmojo inspect-memory --checkpoint runs/tiny --text "To be, or not to be, that is the question"',
    "bmojo inspect-memory --checkpoint runs/mqar --task-example --seed 3",
  ],
  run: runInspect,
};
