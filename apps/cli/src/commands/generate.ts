/**
 * `bmojo generate`: samples a continuation of a prompt from a text model and streams the decoded
 * tokens to stdout as they are produced.
 */
import { type StopReason, generateTokens } from "@bmojo/model";
import { backendFlag, describeBackend, initBackend } from "../backend.js";
import { DecodedStream } from "../decoded-stream.js";
import { UsageError, messageOf } from "../errors.js";
import { parseFlags } from "../flags.js";
import { type CliIO, println } from "../io.js";
import { loadRun } from "../run-dir.js";
import { yieldToEventLoop } from "../train-loop.js";
import type { Command } from "./command.js";

export const generateFlags = {
  checkpoint: { kind: "string", placeholder: "DIR", description: "checkpoint of a text model" },
  prompt: { kind: "string", placeholder: "TEXT", description: "the text to continue" },
  maxTokens: { kind: "int", min: 0, default: 200, description: "tokens to generate at most" },
  temperature: {
    kind: "number",
    min: 0,
    default: 0.8,
    placeholder: "X",
    description: "softmax temperature; 0 is greedy",
  },
  topK: {
    kind: "int",
    min: 0,
    default: 0,
    description: "sample from the K most likely tokens (0: all)",
  },
  topP: {
    kind: "number",
    min: 0,
    max: 1,
    exclusiveMin: true,
    default: 1,
    placeholder: "X",
    description: "nucleus sampling: the smallest set with probability ≥ X",
  },
  seed: { kind: "int", min: 0, default: 0, description: "sampler seed" },
  stop: {
    kind: "string",
    placeholder: "TEXT",
    description: "stop when this text appears (not printed; \\n and \\t are understood)",
  },
  backend: backendFlag,
  json: { kind: "boolean", description: "print one JSON object at the end instead of streaming" },
} as const;

/** `\n`, `\t` and `\\` in a flag value, as typed in a shell, become the characters. */
export function unescapeFlag(text: string): string {
  return text.replace(/\\([nt\\])/g, (_, c: string) =>
    c === "n" ? "\n" : c === "t" ? "\t" : "\\",
  );
}

/** The `--json` result. */
interface GenerateOutput {
  command: "generate";
  prompt: string;
  text: string;
  tokens: number[];
  stopReason: StopReason | "stopText";
  seconds: number;
  tokensPerSecond: number;
}

async function runGenerate(argv: readonly string[], io: CliIO): Promise<number> {
  const { values: f } = parseFlags("generate", generateFlags, argv);
  if (f.checkpoint === undefined) throw new UsageError("--checkpoint DIR is required.");
  if (f.prompt === undefined) throw new UsageError("--prompt TEXT is required.");
  const report = await initBackend(f.backend);
  println(io.stderr, describeBackend(report));
  const run = await loadRun(f.checkpoint, "--checkpoint");
  const { model, record, tokenizer } = run;
  try {
    if (record.data.kind !== "text" || tokenizer === undefined) {
      throw new UsageError(
        `--checkpoint ${f.checkpoint}: generate needs a model trained on text (bmojo train --text), but this one was trained on the task ${record.data.kind === "task" ? record.data.task : "?"}, whose tokens are ids without a text encoding. Use \`bmojo eval\` or \`bmojo inspect-memory --task-example\` on it instead.`,
      );
    }
    let prompt: number[];
    try {
      prompt = Array.from(tokenizer.encode(f.prompt));
    } catch (err) {
      throw new UsageError(`--prompt: ${messageOf(err)}`);
    }
    if (prompt.length === 0) throw new UsageError("--prompt: the prompt encodes to no tokens.");
    const attention = model.config.layers.some((l) => l.kind === "attention");
    if (attention && prompt.length + f.maxTokens > model.config.maxLength) {
      throw new UsageError(
        `--max-tokens ${f.maxTokens}: the prompt (${prompt.length} tokens) plus the new tokens exceed the full-attention cache of ${model.config.maxLength} tokens.`,
      );
    }
    const stream = new DecodedStream(
      tokenizer,
      f.stop === undefined ? undefined : unescapeFlag(f.stop),
    );
    const write = (piece: string) => {
      if (!f.json && piece !== "") io.stdout.write(piece);
    };
    const started = performance.now();
    const tokens = generateTokens(model, prompt, {
      maxTokens: f.maxTokens,
      temperature: f.temperature,
      topK: f.topK,
      topP: f.topP,
      seed: f.seed,
      signal: io.signal,
    });
    let stopReason: StopReason | "stopText";
    for (;;) {
      await yieldToEventLoop(); // lets Ctrl-C abort the signal between tokens
      const next = await tokens.next();
      if (next.done) {
        stopReason = next.value;
        break;
      }
      write(stream.push(next.value));
      if (stream.stopped) {
        await tokens.return("stopToken");
        stopReason = "stopText";
        break;
      }
    }
    write(stream.flush());
    const seconds = (performance.now() - started) / 1000;
    const text = stream.text();
    const count = stream.tokens().length;
    const output: GenerateOutput = {
      command: "generate",
      prompt: f.prompt,
      text,
      tokens: [...stream.tokens()],
      stopReason,
      seconds,
      tokensPerSecond: seconds > 0 ? count / seconds : 0,
    };
    if (f.json) println(io.stdout, JSON.stringify(output));
    else if (!text.endsWith("\n")) io.stdout.write("\n");
    println(
      io.stderr,
      `[${count} tokens in ${seconds.toFixed(2)} s, ${output.tokensPerSecond.toFixed(1)} tokens/s; stopped: ${stopReason}]`,
    );
    return 0;
  } finally {
    model.dispose();
  }
}

export const generateCommand: Command = {
  name: "generate",
  summary: "stream a continuation of a prompt from a text model",
  usage: "bmojo generate --checkpoint DIR --prompt TEXT [flags]",
  description: [
    "Prefills the prompt, then samples one token at a time through the model's recurrent cache",
    "(temperature, top-k, top-p, seed) and prints each decoded token as it comes. Text models only.",
  ].join("\n"),
  flags: generateFlags,
  examples: [
    'bmojo generate --checkpoint runs/tiny --prompt "ROMEO:" --max-tokens 300',
    'bmojo generate --checkpoint runs/tiny --prompt "To be" --temperature 0 --stop "\\n\\n"',
  ],
  run: runGenerate,
};
