/**
 * WebGPU backend benchmark, all in one process on one adapter:
 *
 * - float32 matmul n×n·n×n at each of --sizes, for ours (webgpu), @tensorflow/tfjs-backend-webgpu
 *   4.22.0 on the *same GPUDevice* (see tfjs-webgpu.ts), and our cpu backend (n ≤ 1024), with
 *   the ours/tfjs speed ratio and the relative difference of the two outputs;
 * - with --sweep, each tile configuration of bench-matmul.ts's SWEEP_TILES (or of --tiles, names
 *   as printed, e.g. 128x128x16/8x8/kmajor/unroll) forced on our kernel at every size and layout
 *   (GFLOP/s, ratio to tfjs, output checked against tfjs's), and the best per size;
 * - a training step of a small B'MOJO, ours on webgpu against our cpu backend (tfjs cannot run it:
 *   that needs the tfjs adapter of a later issue).
 *
 * Timing, identical for ours and tfjs: inputs are uploaded once; an untimed warm-up (pipeline
 * compilation, uploads, buffer pools, and at least 200 ms of calls so an idle GPU is back at full
 * clocks) ends in a sync; one timed call sets the
 * repetition count so a trial lasts ~300 ms; each of 3 trials enqueues that many calls back to
 * back and ends with a sync (ours: `backend.sync()`; tfjs: end its compute pass, submit its
 * command encoder, both then await `device.queue.onSubmittedWorkDone()`), and the median trial's
 * wall time per call is reported. Ours calls the kernel on buffers allocated once; tfjs calls
 * `tf.matMul` (its engine allocates the output from its buffer pool and the previous output is
 * disposed), so tfjs pays a little more host overhead per call, negligible at n ≥ 1024.
 *
 *   node --conditions=source --import tsx scripts/bench.ts [--sizes 1024,2048,4096]
 *     [--layouts NN,NT,TN,TT] [--sweep] [--tiles T1,T2,…] [--no-train] [--json FILE]
 */
import { writeFileSync } from "node:fs";
import { Random, backendByName } from "@bmojo/tensor";
import { WebGpuBackend } from "../src/index.js";
import { chooseMatmulTile, matmulTuning, parseTileName, tileName } from "../src/kernels/matmul.js";
import {
  type Problem,
  SWEEP_TILES,
  type SweepResult,
  type Timing,
  measure,
  oursRunner,
  printSweep,
  relError,
  sweep,
  tfjsRunner,
} from "./bench-matmul.js";
import { trainStep } from "./bench-train.js";
import { type TfjsWebGpu, tfjsOnDevice } from "./tfjs-webgpu.js";

const argv = process.argv.slice(2);
const flag = (name: string, fallback: string) => {
  const i = argv.indexOf(name);
  return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1] : fallback;
};
const sizes = flag("--sizes", "1024,2048,4096").split(",").map(Number);
const layouts = flag("--layouts", "NN").split(",");
if (!sizes.every((n) => Number.isInteger(n) && n > 0) || !layouts.every((l) => /^[NT]{2}$/.test(l)))
  throw new Error("--sizes takes positive integers, --layouts NN, NT, TN or TT (comma-separated)");
const json = flag("--json", "");
const tiles = argv.includes("--tiles") ? flag("--tiles", "").split(",") : SWEEP_TILES;
const sweeping = argv.includes("--sweep") || argv.includes("--tiles");
for (const name of tiles) parseTileName(name); // fail early on a bad name

interface Row {
  name: string;
  system: string;
  ms: number;
  rate: string;
  /** Ours: the tile used; matmuls: max |out − tfjs out| / max |tfjs out|. */
  tile?: string;
  relErrorVsTfjs?: number;
}
interface Ratio {
  name: string;
  oursOverTfjs: number;
}
const rows: Row[] = [];
const ratios: Ratio[] = [];
const sweepResults: SweepResult[] = [];
const rng = new Random(1);

const webgpu = await WebGpuBackend.create();
const cpu = await backendByName("cpu");
let tfjs: TfjsWebGpu | null = null;
let tfjsProblem: string | null = null;
try {
  tfjs = await tfjsOnDevice(webgpu);
} catch (err) {
  tfjsProblem = err instanceof Error ? err.message : String(err);
}
console.log(`adapter: ${webgpu.adapter.description} (${webgpu.adapter.source})`);
console.log(`tfjs: ${tfjs?.label ?? `unavailable: ${tfjsProblem}`} on the same GPUDevice`);

const gflops = (t: Timing) => `${t.gflops.toFixed(1)} GFLOP/s`;
/** Records a row and prints it at once (a long GPU run shows its progress). */
function add(r: Row): void {
  rows.push(r);
  const extra = [
    r.tile === undefined ? "" : `tile ${r.tile}`,
    r.relErrorVsTfjs === undefined ? "" : `vs tfjs ${r.relErrorVsTfjs.toExponential(1)}`,
  ].join("  ");
  const ms = r.ms.toFixed(3).padStart(11);
  console.log(
    `${r.name.padEnd(42)} ${r.system.padEnd(14)} ${ms} ms  ${r.rate.padEnd(18)} ${extra}`,
  );
}

async function timeTfjs(t: TfjsWebGpu, p: Problem): Promise<{ t: Timing; out: Float32Array }> {
  const theirs = tfjsRunner(t, p);
  const timing = await measure(theirs, p.n);
  const out = await theirs.read();
  theirs.dispose();
  return { t: timing, out };
}

function sweepLine(r: SweepResult): string {
  if (r.gflops === undefined) return `skipped (${r.skipped})`;
  return `${r.gflops.toFixed(1)} GFLOP/s, rel. error vs reference ${r.relError?.toExponential(1)}`;
}

/** Writes everything measured so far to --json FILE (after each problem, so a cut-off run keeps its results). */
function save(): void {
  if (json === "") return;
  const limits = webgpu.device.limits;
  const report = {
    adapter: webgpu.adapter,
    limits: {
      maxComputeWorkgroupStorageSize: limits.maxComputeWorkgroupStorageSize,
      maxComputeInvocationsPerWorkgroup: limits.maxComputeInvocationsPerWorkgroup,
    },
    tfjs: tfjs?.label ?? `unavailable: ${tfjsProblem}`,
    matmulTiers: (webgpu.adapter.software ? matmulTuning.softwareTiers : matmulTuning.tiers).map(
      (t) => ({ tile: tileName(t.tile), minTiles: t.minTiles }),
    ),
    node: process.version,
    date: new Date().toISOString(),
    rows,
    ratios,
    sweep: sweepResults,
  };
  writeFileSync(json, `${JSON.stringify(report, null, 2)}\n`);
}

for (const n of sizes) {
  for (const layout of layouts) {
    const p: Problem = {
      n,
      transA: layout[0] === "T",
      transB: layout[1] === "T",
      a: rng.uniformArray(n * n, -1, 1) as Float32Array,
      b: rng.uniformArray(n * n, -1, 1) as Float32Array,
    };
    const name = `matmul ${n}³ ${layout} float32`;
    const ours = oursRunner(webgpu, p);
    const t = await measure(ours, n);
    const oursOut = await ours.read();
    const theirs = tfjs === null ? null : await timeTfjs(tfjs, p);
    const tile = chooseMatmulTile(webgpu.device.limits, webgpu.adapter.software, {
      batch: 1,
      m: n,
      ...p,
    });
    add({
      name,
      system: "ours (webgpu)",
      ms: t.ms,
      rate: gflops(t),
      tile: tileName(tile),
      relErrorVsTfjs: theirs === null ? undefined : relError(oursOut, theirs.out),
    });
    if (theirs !== null) {
      add({ name, system: "tfjs-webgpu", ms: theirs.t.ms, rate: gflops(theirs.t) });
      ratios.push({ name, oursOverTfjs: theirs.t.ms / t.ms });
    }
    if (n <= 1024) {
      const onCpu = oursRunner(cpu, p);
      const tc = await measure(onCpu, n);
      onCpu.dispose();
      add({ name, system: "ours (cpu)", ms: tc.ms, rate: gflops(tc) });
    }
    if (sweeping) {
      const ref = theirs?.out ?? oursOut;
      const results = await sweep(webgpu, tiles, ours, p, layout, ref, (r) =>
        console.log(`  sweep ${name} ${r.tile}: ${sweepLine(r)}`),
      );
      sweepResults.push(...results);
    }
    ours.dispose();
    save();
  }
}
if (!argv.includes("--no-train")) {
  for (const backend of [webgpu, cpu]) {
    const ms = await trainStep(backend, rng);
    add({
      name: "B'MOJO small, 8×128 tokens, fwd+bwd+AdamW",
      system: `ours (${backend.name})`,
      ms,
      rate: `${Math.round((8 * 128) / (ms / 1000))} tokens/s`,
    });
  }
}

console.log("");
for (const r of ratios) console.log(`${r.name.padEnd(42)} ours/tfjs ${r.oursOverTfjs.toFixed(2)}×`);
if (sweepResults.length > 0) {
  const tfjsMs = rows.filter((r) => r.system === "tfjs-webgpu").map((r) => [r.name, r.ms] as const);
  printSweep(sweepResults, new Map(tfjsMs));
}

save();
webgpu.dispose();
