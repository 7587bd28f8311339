/**
 * The matmul kernel's variants against the cpu reference, beyond the conformance suite's small
 * shapes: every default tile of the GPU and software tiers (forced) with full tiles, edges, scalar reads, both transposes,
 * batch broadcast and an unaligned batch stride; odd tiles (no prefetch, partial staging
 * rounds); and the tile choice when a tile does not fit the device.
 */
import { Random, backendByName } from "@bmojo/tensor";
import { afterAll, describe, expect, it } from "vitest";
import { type WebGpuBackend, createWebGpuBackend } from "../src/index.js";
import {
  type MatmulTile,
  chooseMatmulTile,
  matmulTuning,
  parseTileName,
  tileName,
} from "../src/kernels/matmul.js";

let backend: WebGpuBackend | null = null;
try {
  backend = await createWebGpuBackend();
} catch {
  // No adapter: backend.test.ts reports why.
}
afterAll(() => backend?.dispose());

interface Case {
  batch: number;
  m: number;
  n: number;
  k: number;
  transA: boolean;
  transB: boolean;
  aBatchStride: number;
  bBatchStride: number;
}

const rng = new Random(5);
const cpu = await backendByName("cpu");

/** max |webgpu − cpu| / max |cpu| for one matmul. */
async function relError(gpu: WebGpuBackend, c: Case): Promise<number> {
  const aLen = c.aBatchStride * (c.batch - 1) + c.m * c.k;
  const bLen = c.bBatchStride * (c.batch - 1) + c.k * c.n;
  const a = rng.uniformArray(aLen, -1, 1) as Float32Array;
  const b = rng.uniformArray(bLen, -1, 1) as Float32Array;
  const outs: Float32Array[] = [];
  for (const be of [gpu, cpu]) {
    const ia = be.alloc(aLen * 4);
    const ib = be.alloc(bLen * 4);
    const io = be.alloc(c.batch * c.m * c.n * 4);
    be.write(ia, a);
    be.write(ib, b);
    be.kernels.matmul?.({ dtype: "float32", a: ia, b: ib, out: io, ...c });
    outs.push((await be.read(io, "float32", c.batch * c.m * c.n)) as Float32Array);
    for (const id of [ia, ib, io]) be.free(id);
  }
  let err = 0;
  let scale = 0;
  for (let i = 0; i < outs[1].length; i++) {
    err = Math.max(err, Math.abs(outs[0][i] - outs[1][i]));
    scale = Math.max(scale, Math.abs(outs[1][i]));
  }
  return err / scale;
}

const TRANS = [
  [false, false],
  [false, true],
  [true, false],
  [true, true],
] as const;

/** batch 2 with one operand broadcast; m, n, k multiples of 4 (vec4 reads) or not. */
function shapes(transA: boolean, transB: boolean): Case[] {
  const t = { transA, transB };
  return [
    { batch: 2, m: 132, n: 68, k: 36, ...t, aBatchStride: 132 * 36, bBatchStride: 0 },
    { batch: 2, m: 37, n: 29, k: 19, ...t, aBatchStride: 0, bBatchStride: 19 * 29 },
  ];
}

async function expectTile(gpu: WebGpuBackend, tile: MatmulTile, cases: Case[]): Promise<void> {
  matmulTuning.force = tile;
  try {
    for (const c of cases) {
      const label = `${tileName(tile)} ${JSON.stringify(c)}`;
      expect(await relError(gpu, c), label).toBeLessThan(1e-5);
    }
  } finally {
    matmulTuning.force = null;
  }
}

describe.skipIf(backend === null)("matmul tiles", () => {
  const gpu = backend as WebGpuBackend;

  const defaults = [...matmulTuning.tiers, ...matmulTuning.softwareTiers].map((t) => t.tile);
  const names = [...new Set(defaults.map(tileName))];
  // On a CPU adapter (CI's lavapipe) every shader variant costs seconds of LLVM compilation: the
  // tiles it does not run by default are checked with both operands plain or both transposed
  // (each flag both ways), the tiles it runs with all four combinations.
  const native = new Set(
    (gpu?.adapter.software ? matmulTuning.softwareTiers : matmulTuning.tiers).map((t) =>
      tileName(t.tile),
    ),
  );
  it.each(names.map((name) => [name, parseTileName(name)] as const))(
    "default tile %s: edges, scalar reads, transposes, broadcast, full tiles",
    async (name, tile) => {
      const trans = native.has(name) ? TRANS : TRANS.filter(([ta, tb]) => ta === tb);
      const full = (transA: boolean, transB: boolean): Case => ({
        batch: 1,
        m: 128,
        n: 128,
        k: 64,
        transA,
        transB,
        aBatchStride: 0,
        bBatchStride: 0,
      });
      await expectTile(gpu, tile, [
        ...trans.flatMap(([ta, tb]) => shapes(ta, tb)),
        full(false, false),
        full(true, true),
      ]);
    },
    600_000,
  );

  it("odd tiles: no prefetch, tm ≠ tn, partial staging rounds, unrolled", async () => {
    for (const name of ["64x32x8/8x4/noprefetch/kmajor/unroll", "64x64x8/4x4/unroll"]) {
      await expectTile(
        gpu,
        parseTileName(name),
        TRANS.flatMap(([ta, tb]) => shapes(ta, tb)),
      );
    }
  }, 600_000);

  it("reads scalars when a batch stride is not a multiple of 4", async () => {
    const c = { batch: 3, m: 20, n: 12, k: 8, aBatchStride: 20 * 8 + 1, bBatchStride: 8 * 12 + 3 };
    for (const [transA, transB] of TRANS) {
      expect(await relError(gpu, { ...c, transA, transB })).toBeLessThan(1e-5);
    }
  }, 600_000);

  it("picks tiers by tile count and fill, skips tiles that do not fit, rejects a forced one", () => {
    const limits = gpu.device.limits;
    const [huge, large, small] = ["256x256x64/4x4", "128x128x16/8x8", "32x32x16/4x4"].map(
      parseTileName,
    );
    const shape = (m: number, n: number) => ({ batch: 1, m, n, transA: false, transB: false });
    const saved = matmulTuning.tiers;
    matmulTuning.tiers = [
      { tile: huge, minTiles: 0 },
      { tile: large, minTiles: 16 },
      { tile: small, minTiles: 0 },
    ];
    try {
      expect(chooseMatmulTile(limits, false, shape(512, 512))).toBe(large);
      expect(chooseMatmulTile(limits, false, shape(512, 256))).toBe(small); // 8 tiles < 16
      expect(chooseMatmulTile(limits, false, shape(40, 8192))).toBe(small); // 40 rows < 128 / 2
      expect(chooseMatmulTile(limits, true, shape(512, 512))).toBe(
        matmulTuning.softwareTiers[0].tile,
      );
      matmulTuning.force = huge;
      expect(() => chooseMatmulTile(limits, false, shape(512, 512))).toThrow(
        /256x256x64\/4x4: 64×64 invocations exceed/,
      );
    } finally {
      matmulTuning.tiers = saved;
      matmulTuning.force = null;
    }
  });
});
