/**
 * float32 matmul benchmark: N×N by N×N on the reference cpu backend of @bmojo/tensor, against the
 * tfjs anchors (tfjs-backend-cpu and tfjs-backend-wasm), all in one run on the same inputs.
 *
 *   pnpm --filter @bmojo/bench bench -- --size 512 --repeats 3
 *
 * Each system lives in a child process of its own (see isolate.ts for why), gets the same input
 * arrays from this process, and is run round-robin, one run of each per round, after the warmup
 * rounds; each run is timed inside its child. Our output is checked against tfjs-cpu's (and,
 * always, against float64 dot products on sampled entries); the run fails with exit code 1 when
 * the max abs difference exceeds 1e-2 × max |reference|.
 */
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { randomBits } from "@bmojo/tensor";
import { type FlagSpecs, type ParsedFlags, FlagError, formatUsage, parseFlags } from "./flags.js";
import { type SelfTimedSystem, measureRoundRobin } from "./harness.js";
import { IsolatedProcess } from "./isolate.js";
import type { MatmulSystemName } from "./matmul-systems.js";
import type { MatmulReplies, MatmulRequest } from "./matmul-worker.js";
import {
  type MachineInfo,
  formatMs,
  formatNumber,
  formatRatio,
  machineInfo,
  markdownTable,
  writeJson,
} from "./report.js";
import { type ErrorSummary, compareArrays, gflops, matmulFlops } from "./stats.js";

const PACKAGE_DIR = fileURLToPath(new URL("..", import.meta.url));

/** Max abs difference allowed, relative to the largest |reference| value. */
const TOLERANCE = 1e-2;
/** Entries checked against a float64 dot product. */
const SAMPLED_ENTRIES = 256;

const FLAGS = {
  size: {
    kind: "int",
    default: 1024,
    min: 1,
    max: 8192,
    placeholder: "N",
    description: "multiply N×N by N×N (float32)",
  },
  repeats: {
    kind: "int",
    default: 5,
    min: 1,
    max: 1000,
    placeholder: "R",
    description: "timed runs of each system",
  },
  warmup: {
    kind: "int",
    default: 1,
    min: 0,
    max: 100,
    placeholder: "W",
    description: "untimed runs of each system first",
  },
  seed: {
    kind: "int",
    default: 0,
    placeholder: "S",
    description: "seed of the random inputs",
  },
  json: {
    kind: "string",
    default: "results/matmul-cpu.json",
    placeholder: "PATH",
    description: "JSON results file; a relative path is taken from packages/bench",
  },
  anchors: {
    kind: "boolean",
    default: true,
    description: "skip the tfjs anchors (tfjs-backend-cpu, tfjs-backend-wasm)",
  },
} as const satisfies FlagSpecs;

/** count floats uniform in [-1, 1), from word `start` of the philox stream `seed`. */
function uniformInputs(seed: number, start: number, count: number): Float32Array {
  const bits = randomBits(seed, start, count);
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) out[i] = ((bits[i] >>> 8) / 16777216) * 2 - 1;
  return out;
}

/** max |ours − float64 reference| over sampled entries (i, j), with the entries chosen by seed. */
function sampledCheck(
  n: number,
  a: Float32Array,
  b: Float32Array,
  out: Float32Array,
  seed: number,
): ErrorSummary {
  const count = Math.min(SAMPLED_ENTRIES, n * n);
  const picks = randomBits(seed + 1, 0, count);
  const actual = new Float64Array(count);
  const expected = new Float64Array(count);
  for (let s = 0; s < count; s++) {
    const idx = count === n * n ? s : picks[s] % (n * n);
    const i = Math.floor(idx / n);
    const j = idx % n;
    let dot = 0;
    for (let p = 0; p < n; p++) dot += a[i * n + p] * b[p * n + j];
    actual[s] = out[idx];
    expected[s] = dot;
  }
  return compareArrays(actual, expected);
}

interface CheckResult extends ErrorSummary {
  actual: string;
  reference: string;
  tolerance: number;
  pass: boolean;
  /** Whether a failure fails the run. */
  gating: boolean;
}

function check(
  actual: string,
  reference: string,
  summary: ErrorSummary,
  gating: boolean,
): CheckResult {
  return {
    actual,
    reference,
    ...summary,
    tolerance: TOLERANCE,
    pass: summary.relative <= TOLERANCE,
    gating,
  };
}

/** One system in its own child process, seen from here. */
interface Child {
  name: MatmulSystemName;
  process: IsolatedProcess<MatmulRequest, MatmulReplies>;
  system: SelfTimedSystem;
}

async function startChild(
  name: MatmulSystemName,
  n: number,
  a: Float32Array,
  b: Float32Array,
): Promise<Child> {
  const child = new IsolatedProcess<MatmulRequest, MatmulReplies>(
    new URL("./matmul-worker.ts", import.meta.url),
    name,
  );
  try {
    const description = await child.request({ type: "setup", system: name, n, a, b });
    return {
      name,
      process: child,
      system: {
        name,
        description,
        kind: "self-timed",
        run: () => child.request({ type: "run" }),
      },
    };
  } catch (error) {
    await child.close();
    throw error;
  }
}

async function main(argv: readonly string[]): Promise<number> {
  if (argv.includes("--help") || argv.includes("-h")) {
    console.log(`Usage: bench:matmul [flags]\n\n${formatUsage(FLAGS)}`);
    return 0;
  }
  const flags = parseFlags(argv, FLAGS);
  const n = flags.size;
  const jsonPath = resolve(PACKAGE_DIR, flags.json);
  const machine = machineInfo();
  const flops = matmulFlops(n, n, n);
  const names: MatmulSystemName[] = flags.anchors ? ["ours", "tfjs-cpu", "tfjs-wasm"] : ["ours"];

  const a = uniformInputs(flags.seed, 0, n * n);
  const b = uniformInputs(flags.seed, n * n, n * n);

  const children: Child[] = [];
  try {
    // One at a time, so no setup competes with another for the two cores.
    for (const name of names) children.push(await startChild(name, n, a, b));
    return await report(flags, n, flops, jsonPath, machine, a, b, children);
  } finally {
    await Promise.all(children.map((c) => c.process.close()));
  }
}

async function report(
  flags: ParsedFlags<typeof FLAGS>,
  n: number,
  flops: number,
  jsonPath: string,
  machine: MachineInfo,
  a: Float32Array,
  b: Float32Array,
  children: readonly Child[],
): Promise<number> {
  console.log(`# matmul float32 ${n}×${n}×${n}\n`);
  console.log(
    `${machine.date} · Node ${machine.node} · ${machine.cpu} · ${machine.cores} cores · ` +
      `load ${machine.loadavg.join(" ")} · ${flags.warmup} warmup + ${flags.repeats} timed ` +
      `round${flags.repeats === 1 ? "" : "s"}, round-robin, one process per system\n`,
  );
  for (const c of children) console.log(`- ${c.name}: ${c.system.description}`);
  console.log("");

  const measurements = await measureRoundRobin(
    children.map((c) => c.system),
    {
      warmup: flags.warmup,
      repeats: flags.repeats,
      onSample: (system, round, ms) =>
        process.stderr.write(
          `  round ${round + 1}/${flags.repeats} ${system}: ${formatMs(ms)} ms\n`,
        ),
    },
  );

  const results = measurements.map((m) => ({
    system: m.system,
    description: m.description,
    medianMs: m.medianMs,
    bestMs: m.bestMs,
    gflops: gflops(flops, m.medianMs),
    bestGflops: gflops(flops, m.bestMs),
    samplesMs: m.samplesMs,
  }));
  const oursResult = results[0];
  const ratios: Record<string, number> = {};
  const ratiosBest: Record<string, number> = {};
  for (const r of results.slice(1)) {
    ratios[`ours/${r.system}`] = oursResult.gflops / r.gflops;
    ratiosBest[`ours/${r.system}`] = oursResult.bestGflops / r.bestGflops;
  }

  console.log(
    markdownTable(
      [
        { header: "system" },
        { header: "median ms", align: "right" },
        { header: "best ms", align: "right" },
        { header: "GFLOP/s (median)", align: "right" },
        { header: "GFLOP/s (best)", align: "right" },
      ],
      results.map((r) => [
        r.system,
        formatMs(r.medianMs),
        formatMs(r.bestMs),
        formatNumber(r.gflops),
        formatNumber(r.bestGflops),
      ]),
    ),
  );
  if (results.length > 1) {
    console.log("");
    console.log(
      markdownTable(
        [
          { header: "ratio (GFLOP/s)" },
          { header: "median", align: "right" },
          { header: "best", align: "right" },
        ],
        Object.keys(ratios).map((key) => [
          key,
          formatRatio(ratios[key]),
          formatRatio(ratiosBest[key]),
        ]),
      ),
    );
    console.log("\n(> 1× means ours is faster.)");
  }

  // Correctness, on the outputs of the last timed runs.
  const outputs = new Map<MatmulSystemName, Float32Array>();
  for (const c of children) outputs.set(c.name, await c.process.request({ type: "output" }));
  const oursOut = outputs.get("ours")!;
  const checks: CheckResult[] = [
    check(
      "ours",
      `float64 dot products (${Math.min(SAMPLED_ENTRIES, n * n)} sampled entries)`,
      sampledCheck(n, a, b, oursOut, flags.seed),
      true,
    ),
  ];
  const cpuOut = outputs.get("tfjs-cpu");
  if (cpuOut !== undefined) {
    checks.push(check("ours", "tfjs-cpu", compareArrays(oursOut, cpuOut), true));
    const wasmOut = outputs.get("tfjs-wasm");
    if (wasmOut !== undefined) {
      checks.push(check("tfjs-wasm", "tfjs-cpu", compareArrays(wasmOut, cpuOut), false));
    }
  }
  console.log("\n## correctness\n");
  console.log(
    markdownTable(
      [
        { header: "output" },
        { header: "reference" },
        { header: "max abs diff", align: "right" },
        { header: "max |ref|", align: "right" },
        { header: "relative", align: "right" },
        { header: "ok (≤ 1e-2)" },
      ],
      checks.map((c) => [
        c.actual,
        c.reference,
        c.maxAbsDiff.toExponential(2),
        formatNumber(c.maxAbsExpected),
        c.relative.toExponential(2),
        c.pass ? "yes" : c.gating ? "NO" : "no (not gating)",
      ]),
    ),
  );

  const failed = checks.filter((c) => c.gating && !c.pass);
  if (failed.length > 0) {
    for (const c of failed) {
      console.error(
        `\nFAIL: ${c.actual} differs from ${c.reference} by ${c.maxAbsDiff} ` +
          `(${c.relative.toExponential(2)} of max |ref| ${c.maxAbsExpected}; tolerance ${TOLERANCE}).`,
      );
    }
    console.error(`Results not written to ${jsonPath}.`);
    return 1;
  }

  writeJson(jsonPath, {
    benchmark: "matmul",
    dtype: "float32",
    date: machine.date,
    node: machine.node,
    platform: machine.platform,
    arch: machine.arch,
    cpu: machine.cpu,
    cores: machine.cores,
    loadavgAtStart: machine.loadavg,
    size: n,
    flops,
    repeats: flags.repeats,
    warmup: flags.warmup,
    seed: flags.seed,
    schedule: "round-robin, one child process per system, each run timed in its process",
    results,
    ratioDefinition:
      "ours GFLOP/s ÷ anchor GFLOP/s; ratios from median times, ratiosBest from best times (> 1: ours is faster)",
    ratios,
    ratiosBest,
    correctness: checks,
  });
  console.log(`\nwrote ${jsonPath}`);
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    if (error instanceof FlagError) {
      console.error(
        `bench:matmul: ${error.message}\n\nUsage: bench:matmul [flags]\n\n${formatUsage(FLAGS)}`,
      );
      process.exitCode = 2;
    } else {
      console.error(error);
      process.exitCode = 1;
    }
  },
);
