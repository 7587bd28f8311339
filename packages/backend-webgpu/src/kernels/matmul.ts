/**
 * Batched float32 matmul: picks a tile by shape, the shape class (vec4 reads, bounds checks) by
 * alignment, and dispatches the kernel of matmul-wgsl.ts, splitting grids past the per-dimension
 * workgroup limit.
 */
import type { MatmulArgs } from "@bmojo/tensor";
import { type Runtime, Uniforms } from "../runtime.js";
import { type MatmulClass, type MatmulTile, matmulSharedBytes, matmulWgsl } from "./matmul-wgsl.js";

export type { MatmulTile } from "./matmul-wgsl.js";

/** "BMxBNxBK/TMxTN" plus "/noprefetch", "/kmajor", "/unroll" when those options are off, on, on. */
export function tileName(t: MatmulTile): string {
  const flags = [!t.prefetch && "noprefetch", t.stageKMajor && "kmajor", t.unroll && "unroll"];
  return [`${t.bm}x${t.bn}x${t.bk}/${t.tm}x${t.tn}`, ...flags.filter(Boolean)].join("/");
}

/** The tile a tileName names. */
export function parseTileName(name: string): MatmulTile {
  const match = /^(\d+)x(\d+)x(\d+)\/(\d+)x(\d+)((?:\/(?:noprefetch|kmajor|unroll))*)$/.exec(name);
  if (match === null) {
    throw new RangeError(
      `matmul tile '${name}': expected BMxBNxBK/TMxTN[/noprefetch][/kmajor][/unroll]`,
    );
  }
  const [bm, bn, bk, tm, tn] = match.slice(1, 6).map(Number);
  const flags = match[6].split("/");
  return {
    bm,
    bn,
    bk,
    tm,
    tn,
    prefetch: !flags.includes("noprefetch"),
    stageKMajor: flags.includes("kmajor"),
    unroll: flags.includes("unroll"),
  };
}

/** A tile and the fewest workgroups (batch × row tiles × column tiles) for which it is chosen. */
export interface MatmulTier {
  tile: MatmulTile;
  minTiles: number;
}

/**
 * Knobs for tests and tuning. `tiers` (GPUs) or `softwareTiers` (CPU adapters such as lavapipe,
 * which run a workgroup per thread and prefer few large ones) are tried in order: the first whose
 * tile count reaches `minTiles`, that m and n fill at least half of, and that fits the device is
 * used (the last one that fits whatever the shape). `force`, when set, is used for every matmul
 * (an error if it does not fit the device).
 */
export const matmulTuning: {
  tiers: MatmulTier[];
  softwareTiers: MatmulTier[];
  force: MatmulTile | null;
} = {
  // From the H200 sweep (docs/results/webgpu/sweep-h200.txt): best or within 3% of best at
  // 4096³ (NN and NT) and 1024³.
  tiers: [
    { tile: parseTileName("128x128x16/8x8/unroll"), minTiles: 264 },
    { tile: parseTileName("64x64x16/4x4/unroll"), minTiles: 96 },
    { tile: parseTileName("32x32x32/4x4"), minTiles: 0 },
  ],
  // One tile on CPU adapters: the fastest there at every size measured, and each further tile
  // is more shader variants for LLVM to compile (5–35 s each on lavapipe).
  softwareTiers: [{ tile: parseTileName("128x128x16/8x8/kmajor"), minTiles: 0 }],
  force: null,
};

/** Why a tile cannot run on a device with these transpose flags, or null when it can. */
export function matmulTileProblem(
  limits: GPUSupportedLimits,
  t: MatmulTile,
  transA = false,
  transB = false,
): string | null {
  const { bm, bn, bk, tm, tn } = t;
  const sizes = [bm, bn, bk, tm, tn];
  if (!sizes.every((s) => Number.isInteger(s) && s >= 4 && s % 4 === 0)) {
    return "bm, bn, bk, tm and tn must be positive multiples of 4";
  }
  if (bm % tm !== 0 || bn % tn !== 0) return "bm must be a multiple of tm and bn of tn";
  const wx = bn / tn;
  const wy = bm / tm;
  if (wx * wy > limits.maxComputeInvocationsPerWorkgroup) {
    return `${wx}×${wy} invocations exceed the device's ${limits.maxComputeInvocationsPerWorkgroup}`;
  }
  if (wx > limits.maxComputeWorkgroupSizeX || wy > limits.maxComputeWorkgroupSizeY) {
    return `a ${wx}×${wy} workgroup exceeds the device's per-dimension size limits`;
  }
  const bytes = matmulSharedBytes(t, transA, transB);
  if (bytes > limits.maxComputeWorkgroupStorageSize) {
    return `${bytes} bytes of workgroup memory exceed the device's ${limits.maxComputeWorkgroupStorageSize}`;
  }
  return null;
}

/** The tile a matmul of this shape uses on a device with these limits (see matmulTuning). */
export function chooseMatmulTile(
  limits: GPUSupportedLimits,
  software: boolean,
  args: Pick<MatmulArgs, "batch" | "m" | "n" | "transA" | "transB">,
): MatmulTile {
  const { batch, m, n, transA, transB } = args;
  const { force } = matmulTuning;
  const tiers = software ? matmulTuning.softwareTiers : matmulTuning.tiers;
  if (force !== null) {
    const problem = matmulTileProblem(limits, force, transA, transB);
    if (problem !== null)
      throw new RangeError(`webgpu matmul: tile ${tileName(force)}: ${problem}`);
    return force;
  }
  const fitting = tiers.filter((t) => matmulTileProblem(limits, t.tile, transA, transB) === null);
  if (fitting.length === 0) {
    const problems = tiers.map(
      (t) => `${tileName(t.tile)}: ${matmulTileProblem(limits, t.tile, transA, transB)}`,
    );
    throw new RangeError(`webgpu matmul: no tile fits this device (${problems.join("; ")})`);
  }
  const wanted = fitting.find(({ tile, minTiles }) => {
    const tiles = batch * Math.ceil(m / tile.bm) * Math.ceil(n / tile.bn);
    return tiles >= minTiles && 2 * m >= tile.bm && 2 * n >= tile.bn;
  });
  return (wanted ?? fitting[fitting.length - 1]).tile;
}

function shapeClass(t: MatmulTile, args: MatmulArgs): MatmulClass {
  const { m, n, k, transA, transB, aBatchStride, bBatchStride } = args;
  return {
    transA,
    transB,
    vecA: aBatchStride % 4 === 0 && (transA ? m : k) % 4 === 0,
    vecB: bBatchStride % 4 === 0 && (transB ? k : n) % 4 === 0,
    vecC: n % 4 === 0,
    edgeM: m % t.bm !== 0,
    edgeN: n % t.bn !== 0,
    edgeK: k % t.bk !== 0,
  };
}

export function matmul(rt: Runtime, args: MatmulArgs): void {
  const { dtype, batch, m, n, k, aBatchStride, bBatchStride } = args;
  if (dtype !== "float32") throw new TypeError(`webgpu matmul: dtype ${dtype} is not supported`);
  rt.written(args.out);
  if (batch === 0 || m === 0 || n === 0) return;

  const tile = chooseMatmulTile(rt.device.limits, rt.software, args);
  const cls = shapeClass(tile, args);
  const flags = Object.entries(cls)
    .filter(([, on]) => on)
    .map(([name]) => name)
    .join(",");
  const key = `matmul:${tileName(tile)}:${flags}`;
  const code = () => matmulWgsl(tile, cls);
  const buffers = [rt.buffer(args.a), rt.buffer(args.b), rt.buffer(args.out)];

  const max = rt.device.limits.maxComputeWorkgroupsPerDimension;
  const colTiles = Math.ceil(n / tile.bn);
  const rowTiles = Math.ceil(m / tile.bm);
  for (let b0 = 0; b0 < batch; b0 += max) {
    const bz = Math.min(max, batch - b0);
    for (let r0 = 0; r0 < rowTiles; r0 += max) {
      const ry = Math.min(max, rowTiles - r0);
      for (let c0 = 0; c0 < colTiles; c0 += max) {
        const cx = Math.min(max, colTiles - c0);
        const uniforms = new Uniforms(8)
          .u32(m)
          .u32(n)
          .u32(k)
          .u32(aBatchStride)
          .u32(bBatchStride)
          .u32(b0)
          .u32(r0)
          .u32(c0)
          .buffer();
        rt.dispatch({ key, code, buffers, uniforms, workgroups: [cx, ry, bz] });
      }
    }
  }
}
