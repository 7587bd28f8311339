/**
 * Square float32 matmul runners and timing for the bench (see bench.ts for the protocol): ours
 * (the kernel on buffers allocated once), tfjs-webgpu (`tf.matMul` on tensors uploaded once), and
 * the sweep over tile configurations of our kernel.
 */
import type { Backend } from "@bmojo/tensor";
import { matmulTileProblem, matmulTuning, parseTileName, tileName } from "../src/kernels/matmul.js";
import type { TfjsWebGpu } from "./tfjs-webgpu.js";

/** Enqueues one matmul per `run`; `sync` waits for everything enqueued; `read` the last output. */
export interface Runner {
  run(): void;
  sync(): Promise<void>;
  read(): Promise<Float32Array>;
  dispose(): void;
}

export interface Problem {
  n: number;
  transA: boolean;
  transB: boolean;
  a: Float32Array;
  b: Float32Array;
}

export function oursRunner(backend: Backend, p: Problem): Runner {
  const { n, transA, transB } = p;
  const a = backend.alloc(n * n * 4);
  const b = backend.alloc(n * n * 4);
  const out = backend.alloc(n * n * 4);
  backend.write(a, p.a);
  backend.write(b, p.b);
  const args = { dtype: "float32" as const, a, b, out, batch: 1, m: n, n, k: n };
  return {
    run: () =>
      backend.kernels.matmul?.({ ...args, transA, transB, aBatchStride: 0, bBatchStride: 0 }),
    sync: () => backend.sync(),
    read: async () => (await backend.read(out, "float32", n * n)) as Float32Array,
    dispose: () => {
      for (const id of [a, b, out]) backend.free(id);
    },
  };
}

export function tfjsRunner(t: TfjsWebGpu, p: Problem): Runner {
  const { tf } = t;
  const a = tf.tensor2d(p.a, [p.n, p.n]);
  const b = tf.tensor2d(p.b, [p.n, p.n]);
  let last: ReturnType<typeof tf.matMul> | null = null;
  return {
    run: () => {
      last?.dispose();
      last = tf.matMul(a, b, p.transA, p.transB);
    },
    sync: t.sync,
    read: async () => (await (last as NonNullable<typeof last>).data()) as Float32Array,
    dispose: () => tf.dispose([a, b, ...(last === null ? [] : [last])]),
  };
}

/** Wall time of `reps` back-to-back runs ending in a sync, per run; the median of TRIALS. */
export interface Timing {
  ms: number;
  gflops: number;
  reps: number;
}

const TARGET_MS = 300;
const TRIALS = 3;

export async function measure(r: Runner, n: number): Promise<Timing> {
  // Warm-up, untimed: pipeline compilation, uploads, buffer pools, and ~200 ms of work so a GPU
  // that idled (e.g. while the cpu rows ran) is back at full clocks.
  const warm = performance.now();
  do {
    r.run();
    await r.sync();
  } while (performance.now() - warm < 200);
  const t0 = performance.now();
  r.run();
  await r.sync();
  const once = performance.now() - t0;
  const reps = Math.max(1, Math.min(200, Math.round(TARGET_MS / Math.max(once, 0.01))));
  const per: number[] = [];
  for (let trial = 0; trial < TRIALS; trial++) {
    const t = performance.now();
    for (let i = 0; i < reps; i++) r.run();
    await r.sync();
    per.push((performance.now() - t) / reps);
  }
  const ms = per.sort((x, y) => x - y)[TRIALS >> 1];
  return { ms, gflops: (2 * n ** 3) / ms / 1e6, reps };
}

/** max |x − ref| / max |ref|. */
export function relError(x: Float32Array, ref: Float32Array): number {
  let err = 0;
  let scale = 0;
  for (let i = 0; i < ref.length; i++) {
    err = Math.max(err, Math.abs(x[i] - ref[i]));
    scale = Math.max(scale, Math.abs(ref[i]));
  }
  return err / (scale || 1);
}

/** Tile configurations the sweep tries by default (the defaults of matmulTuning.tiers are among them). */
export const SWEEP_TILES: readonly string[] = [
  "128x128x16/8x8/kmajor",
  "128x128x16/8x8/kmajor/unroll",
  "128x128x16/8x8",
  "128x128x16/8x8/unroll",
  "128x128x8/8x8/kmajor",
  "128x128x8/8x8/kmajor/unroll",
  "128x128x16/8x8/noprefetch/kmajor",
  "128x128x8/8x4/kmajor",
  "128x64x16/8x4/kmajor",
  "64x128x16/4x8/kmajor",
  "64x64x16/4x4",
  "64x64x16/4x4/unroll",
  "64x64x16/4x4/kmajor",
  "64x64x32/4x4",
  "64x64x16/4x4/noprefetch",
  "64x64x16/8x8/kmajor",
  "32x32x32/4x4",
  "32x32x16/4x4/kmajor",
];

export interface SweepResult {
  tile: string;
  n: number;
  layout: string;
  ms?: number;
  gflops?: number;
  /** Against the reference output (tfjs-webgpu's, else our default tile's). */
  relError?: number;
  skipped?: string;
}

/** Each tile (a tileName) forced on `ours` for problem `p`, checked against `ref`. */
export async function sweep(
  backend: Backend & { device: GPUDevice },
  tiles: readonly string[],
  ours: Runner,
  p: Problem,
  layout: string,
  ref: Float32Array,
  onResult: (r: SweepResult) => void,
): Promise<SweepResult[]> {
  const results: SweepResult[] = [];
  try {
    for (const name of tiles) {
      const tile = parseTileName(name);
      const base = { tile: tileName(tile), n: p.n, layout };
      const problem = matmulTileProblem(backend.device.limits, tile, p.transA, p.transB);
      if (problem !== null) {
        results.push({ ...base, skipped: problem });
      } else {
        matmulTuning.force = tile;
        try {
          const { ms, gflops } = await measure(ours, p.n);
          results.push({ ...base, ms, gflops, relError: relError(await ours.read(), ref) });
        } catch (err) {
          // A tile the driver rejects is reported, and the sweep goes on.
          results.push({ ...base, skipped: `failed: ${err instanceof Error ? err.message : err}` });
        }
      }
      onResult(results[results.length - 1]);
    }
  } finally {
    matmulTuning.force = null;
  }
  return results;
}

/**
 * GFLOP/s per tile (rows) and problem (columns) with the ratio to tfjs-webgpu (`tfjsMs` by
 * "matmul N³ LAYOUT float32"), then the best correct tile per problem and why tiles were skipped.
 */
export function printSweep(results: SweepResult[], tfjsMs: Map<string, number>): void {
  const key = (r: SweepResult) => `${r.n}³ ${r.layout}`;
  const problems = [...new Set(results.map(key))];
  const ok = (r: SweepResult) => r.gflops !== undefined && (r.relError ?? 0) <= 1e-3;
  const head = "sweep: GFLOP/s (× tfjs-webgpu)".padEnd(36);
  console.log(`\n${head}${problems.map((p) => p.padStart(24)).join("")}`);
  for (const tile of new Set(results.map((r) => r.tile))) {
    const cells = problems.map((problem) => {
      const r = results.find((x) => x.tile === tile && key(x) === problem);
      if (r?.gflops === undefined || r.ms === undefined) return "skipped".padStart(24);
      const theirs = tfjsMs.get(`matmul ${problem} float32`);
      const vs = theirs === undefined ? "" : ` (${(theirs / r.ms).toFixed(2)}×)`;
      return `${r.gflops.toFixed(1)}${vs}${ok(r) ? "" : " WRONG"}`.padStart(24);
    });
    console.log(`${tile.padEnd(36)}${cells.join("")}`);
  }
  for (const problem of problems) {
    const best = results
      .filter((r) => key(r) === problem && ok(r))
      .sort((x, y) => (y.gflops ?? 0) - (x.gflops ?? 0))[0];
    if (best !== undefined)
      console.log(`best at ${problem}: ${best.tile} (${best.gflops?.toFixed(1)} GFLOP/s)`);
  }
  const skipped = results.filter((r) => r.skipped !== undefined);
  for (const r of skipped.filter((r, i) => skipped.findIndex((x) => x.tile === r.tile) === i))
    console.log(`skipped ${r.tile}: ${r.skipped}`);
}
