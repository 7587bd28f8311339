/**
 * `bmojo eval`: a checkpoint's loss, perplexity and accuracy on freshly sampled evaluation data
 * (task samples, or windows of the text's validation split) from a seed that training never uses.
 */
import { backendFlag, describeBackend, initBackend } from "../backend.js";
import {
  type DataRecord,
  type DataSource,
  TINY_SHAKESPEARE,
  readText,
  taskSource,
  textSource,
} from "../data-source.js";
import { UsageError } from "../errors.js";
import { evaluate } from "../evaluate.js";
import { parseFlags } from "../flags.js";
import { compact, percent } from "../format.js";
import { type CliIO, println } from "../io.js";
import { type EvalResult, type LoadedRun, loadRun } from "../run-dir.js";
import type { Command } from "./command.js";

export const evalFlags = {
  checkpoint: {
    kind: "string",
    placeholder: "DIR",
    description: "checkpoint directory (from bmojo train --out)",
  },
  batches: { kind: "int", min: 1, default: 8, description: "evaluation batches" },
  batch: {
    kind: "int",
    min: 1,
    defaultText: "the training batch size",
    description: "sequences per batch",
  },
  seed: {
    kind: "int",
    min: 0,
    defaultText: "the run's evaluation seed, recorded in train.json",
    description: "seed of the evaluation samples",
  },
  text: {
    kind: "string",
    placeholder: "FILE",
    defaultText: "the training text",
    description: `text models: evaluate on the validation split of another file (or "${TINY_SHAKESPEARE}")`,
  },
  backend: backendFlag,
  json: { kind: "boolean", description: "print the result as one JSON object" },
} as const;

/** The evaluation data of a checkpoint: its task, or its (or another) text's validation split. */
async function evalSource(run: LoadedRun, textFlag: string | undefined): Promise<DataSource> {
  const data = run.record.data;
  if (data.kind === "task") {
    if (textFlag !== undefined) {
      throw new UsageError(
        `--text applies to text models; ${run.dir} was trained on the task ${data.task}.`,
      );
    }
    return taskSource(data.task, data.options);
  }
  const source = textFlag ?? data.source;
  const { path, text } = await readText(
    source === TINY_SHAKESPEARE || textFlag !== undefined ? source : data.path,
  );
  if (run.tokenizer === undefined) throw new Error(`${run.dir}: the checkpoint has no tokenizer.`);
  return textSource({
    source,
    path,
    text,
    tokenizer: run.tokenizer,
    tokenizerKind: data.tokenizer,
    seqLen: data.seqLen,
  });
}

/** The `--json` result. */
interface EvalOutput extends EvalResult {
  command: "eval";
  checkpoint: string;
  backend: string;
  data: DataRecord;
  trainSeed: number;
}

async function runEval(argv: readonly string[], io: CliIO): Promise<number> {
  const { values: f } = parseFlags("eval", evalFlags, argv);
  if (f.checkpoint === undefined) throw new UsageError("--checkpoint DIR is required.");
  const report = await initBackend(f.backend);
  println(io.stderr, describeBackend(report));
  const run = await loadRun(f.checkpoint, "--checkpoint");
  try {
    const { record } = run;
    const source = await evalSource(run, f.text);
    const result = await evaluate(run.model, source, {
      step: record.step,
      seed: f.seed ?? record.seeds.eval,
      batches: f.batches,
      batch: f.batch ?? (record.args.batch as number),
    });
    const output: EvalOutput = {
      command: "eval",
      checkpoint: f.checkpoint,
      backend: report.backend,
      data: source.record,
      trainSeed: record.seeds.train,
      ...result,
    };
    if (f.json) {
      println(io.stdout, JSON.stringify(output));
      return 0;
    }
    const out = io.stdout;
    println(
      out,
      `checkpoint  ${f.checkpoint} (step ${record.step} of ${record.totalSteps}, ${record.modelLabel}, ${compact(record.parameters)} parameters)`,
    );
    println(out, `data        ${source.describe()}`);
    println(
      out,
      `sampled     ${result.batches} batches × ${result.batch} sequences, seed ${result.seed} (training batches: per-step streams of --seed ${record.seeds.train})`,
    );
    println(
      out,
      `loss        ${result.loss.toFixed(4)} (perplexity ${result.perplexity.toFixed(2)})`,
    );
    println(
      out,
      `accuracy    ${percent(result.accuracy)} (${result.correct}/${result.total}${record.data.kind === "task" ? "" : " next tokens"})`,
    );
    return 0;
  } finally {
    run.model.dispose();
  }
}

export const evalCommand: Command = {
  name: "eval",
  summary: "evaluate a checkpoint on freshly sampled data",
  usage: "bmojo eval --checkpoint DIR [flags]",
  description: [
    "Reports the mean next-token loss, the perplexity and the accuracy of the argmax predictions",
    "(the task's own scoring for synthetic tasks; next-token accuracy on text) on evaluation data",
    "sampled from a seed that training does not use (recorded in train.json; --seed overrides it).",
  ].join("\n"),
  flags: evalFlags,
  examples: [
    "bmojo eval --checkpoint runs/mqar",
    "bmojo eval --checkpoint runs/tiny --batches 32 --json",
  ],
  run: runEval,
};
