/**
 * The wasm backend's benchmark, in one run, as ratios:
 *   - 1024³ float32 matmul: the wasm backend (all threads, and one thread) against
 *     @tensorflow/tfjs-backend-wasm (XNNPACK; SIMD, one thread under Node);
 *   - a B'MOJO training step (small preset, forward + backward + AdamW) and greedy decode
 *     tokens/s: the wasm backend against the reference cpu backend.
 * Each system runs in a child process of its own (so one system's JIT and heap state cannot slow
 * another), systems of a group are measured round-robin after a warmup, and the medians are
 * compared. Prints Markdown tables and writes JSON (default results/bench-cpu.json).
 *   pnpm --filter @bmojo/backend-wasm bench [-- --size 1024 --repeats 5 --train-repeats 3
 *     --decode-tokens 128 --warmup 1 --json PATH]
 */
import { type ChildProcess, fork } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { BenchRequest, BenchSetup, SystemName } from "./bench-child.js";

const argv = process.argv.slice(2);
const flag = (name: string, fallback: string) => {
  const i = argv.indexOf(name);
  return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1] : fallback;
};
const n = Number(flag("--size", "1024"));
const repeats = Number(flag("--repeats", "5"));
const trainRepeats = Number(flag("--train-repeats", "3"));
const warmup = Number(flag("--warmup", "1"));
const jsonPath = resolve(
  fileURLToPath(new URL("..", import.meta.url)),
  flag("--json", "results/bench-cpu.json"),
);
const setupBase: Omit<BenchSetup, "system"> = {
  type: "setup",
  n,
  batch: [8, 128],
  prompt: 32,
  // Long enough that the warmup round leaves the decode path's JavaScript optimised (32 tokens
  // did not: the first rounds then measured the JIT, not the kernels).
  tokens: Number(flag("--decode-tokens", "128")),
};

class Child {
  private readonly proc: ChildProcess;
  private waiting: ((reply: { ok: boolean; value?: unknown; error?: string }) => void) | null =
    null;

  constructor(readonly system: SystemName) {
    this.proc = fork(fileURLToPath(new URL("./bench-child.ts", import.meta.url)), [], {
      execArgv: process.execArgv,
      serialization: "advanced",
      stdio: ["ignore", 2, 2, "ipc"],
    });
    this.proc.on("message", (reply: { ok: boolean; value?: unknown; error?: string }) => {
      const w = this.waiting;
      this.waiting = null;
      w?.(reply);
    });
  }

  request<T>(message: BenchRequest): Promise<T> {
    return new Promise((resolvePromise, reject) => {
      this.waiting = (reply) =>
        reply.ok
          ? resolvePromise(reply.value as T)
          : reject(new Error(`${this.system}: ${reply.error}`));
      this.proc.send(message);
    });
  }

  close(): void {
    this.proc.disconnect();
  }
}

interface Result {
  system: SystemName;
  description: string;
  medianMs: number;
  bestMs: number;
  samplesMs: number[];
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/** Starts the group's children one at a time, then warmup + timed rounds, round-robin. */
async function measure(systems: SystemName[], rounds: number): Promise<[Result[], Child[]]> {
  const children: Child[] = [];
  const descriptions: string[] = [];
  for (const system of systems) {
    const child = new Child(system);
    children.push(child);
    descriptions.push(await child.request<string>({ ...setupBase, system }));
  }
  const samples = systems.map((): number[] => []);
  for (let round = 0; round < rounds + warmup; round++) {
    for (let j = 0; j < systems.length; j++) {
      const s = (round + j) % systems.length;
      const ms = await children[s].request<number>({ type: "run" });
      if (round >= warmup) {
        samples[s].push(ms);
        process.stderr.write(`  ${systems[s]}: ${ms.toFixed(1)} ms\n`);
      }
    }
  }
  const results = systems.map((system, s) => ({
    system,
    description: descriptions[s],
    medianMs: median(samples[s]),
    bestMs: Math.min(...samples[s]),
    samplesMs: samples[s],
  }));
  return [results, children];
}

function table(header: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.join(" | ")} |`;
  return [line(header), line(header.map(() => "---")), ...rows.map(line)].join("\n");
}

const started = new Date();
const load = loadavg().map((x) => x.toFixed(2));
console.log(
  `# @bmojo/backend-wasm benchmark\n\n${started.toISOString()} · Node ${process.version} · ` +
    `${cpus()[0]?.model ?? "cpu"} · ${cpus().length} cores · load ${load.join(" ")}\n`,
);

// Matmul.
const flops = 2 * n ** 3;
const [mm, mmChildren] = await measure(
  ["matmul:wasm", "matmul:wasm-1t", "matmul:tfjs-wasm"],
  repeats,
);
const outputs = await Promise.all(
  mmChildren.map((c) => c.request<Float32Array>({ type: "output" })),
);
for (const c of mmChildren) c.close();
let maxDiff = 0;
let maxRef = 0;
for (let i = 0; i < outputs[2].length; i++) {
  maxRef = Math.max(maxRef, Math.abs(outputs[2][i]));
  for (const o of outputs.slice(0, 2)) maxDiff = Math.max(maxDiff, Math.abs(o[i] - outputs[2][i]));
}
const gflops = (ms: number) => flops / ms / 1e6;
const tfjs = mm[2];
console.log(`## matmul ${n}×${n}×${n} float32\n`);
console.log(
  table(
    [
      "system",
      "median ms",
      "best ms",
      "GFLOP/s (median)",
      "vs tfjs-wasm (median)",
      "vs tfjs-wasm (best)",
    ],
    mm.map((r) => [
      r.system,
      r.medianMs.toFixed(1),
      r.bestMs.toFixed(1),
      gflops(r.medianMs).toFixed(1),
      `${(tfjs.medianMs / r.medianMs).toFixed(2)}×`,
      `${(tfjs.bestMs / r.bestMs).toFixed(2)}×`,
    ]),
  ),
);
console.log(
  `\nmax |ours − tfjs-wasm| = ${maxDiff.toExponential(2)} (max |tfjs| ${maxRef.toFixed(1)})\n`,
);
for (const r of mm) console.log(`- ${r.system}: ${r.description}`);

// Training step and decode.
const [train, trainChildren] = await measure(["train:wasm", "train:cpu"], trainRepeats);
for (const c of trainChildren) c.close();
const [decode, decodeChildren] = await measure(["decode:wasm", "decode:cpu"], trainRepeats);
for (const c of decodeChildren) c.close();
const tokens = setupBase.batch[0] * setupBase.batch[1];
console.log("\n## B'MOJO small (d 128, 3 blocks), wasm against the reference cpu backend\n");
const rate = (count: number, ms: number) => (count / (ms / 1000)).toFixed(0);
console.log(
  table(
    ["measurement", "wasm median ms", "cpu median ms", "wasm tokens/s", "cpu tokens/s", "speedup"],
    [
      [
        `training step, ${setupBase.batch.join("×")} tokens`,
        train[0].medianMs.toFixed(0),
        train[1].medianMs.toFixed(0),
        rate(tokens, train[0].medianMs),
        rate(tokens, train[1].medianMs),
        `${(train[1].medianMs / train[0].medianMs).toFixed(2)}×`,
      ],
      [
        `decode, ${setupBase.tokens} tokens`,
        decode[0].medianMs.toFixed(0),
        decode[1].medianMs.toFixed(0),
        rate(setupBase.tokens, decode[0].medianMs),
        rate(setupBase.tokens, decode[1].medianMs),
        `${(decode[1].medianMs / decode[0].medianMs).toFixed(2)}×`,
      ],
    ],
  ),
);
console.log("");
for (const r of [...train, ...decode]) console.log(`- ${r.system}: ${r.description}`);

mkdirSync(dirname(jsonPath), { recursive: true });
writeFileSync(
  jsonPath,
  `${JSON.stringify(
    {
      date: started.toISOString(),
      node: process.version,
      cpu: cpus()[0]?.model,
      cores: cpus().length,
      loadavgAtStart: load,
      schedule: `one child process per system; ${warmup} warmup + R timed rounds, round-robin; medians`,
      matmul: {
        size: n,
        results: mm.map((r) => ({ ...r, gflops: gflops(r.medianMs) })),
        ratios: {
          "wasm/tfjs-wasm": tfjs.medianMs / mm[0].medianMs,
          "wasm-1t/tfjs-wasm": tfjs.medianMs / mm[1].medianMs,
        },
        ratiosBest: {
          "wasm/tfjs-wasm": tfjs.bestMs / mm[0].bestMs,
          "wasm-1t/tfjs-wasm": tfjs.bestMs / mm[1].bestMs,
        },
        maxAbsDiffVsTfjs: maxDiff,
      },
      train: {
        batch: setupBase.batch,
        results: train,
        ratio: train[1].medianMs / train[0].medianMs,
      },
      decode: {
        prompt: setupBase.prompt,
        tokens: setupBase.tokens,
        results: decode,
        ratio: decode[1].medianMs / decode[0].medianMs,
      },
      ratioDefinition: "other system's median time ÷ wasm's median time (> 1: wasm is faster)",
    },
    null,
    2,
  )}\n`,
);
console.log(`\nwrote ${jsonPath}`);
if (maxDiff > 1e-3 * maxRef) {
  console.error(`FAIL: the matmul outputs differ from tfjs-wasm's by ${maxDiff}`);
  process.exitCode = 1;
}
