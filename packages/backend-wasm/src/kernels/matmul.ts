/**
 * float32 matmul on the wasm GEMM (src/wat/matmul.wat): for each block of KC inner indices, B is
 * packed into 8-column panels (in parallel over panels) and then the tiles of C are computed in
 * parallel, each packing its rows of A and running the 4×8 micro-kernel. A batch whose B is
 * shared (bBatchStride 0) and whose A matrices are contiguous is folded into one GEMM with
 * batch·m rows (a Linear layer over [B, L, d]).
 */
import type { MatmulArgs } from "@bmojo/tensor";
import type { Runtime } from "../runtime.js";

/** Inner-dimension block: a packed B panel (KC×8 floats, 8 KiB) stays in L1. */
export const KC = 256;
/** Rows of C per tile (at most; fewer when there would be too few tiles for the threads). */
export const MC = 64;
/** Columns of C per tile. */
const NC = 256;
/** Per-thread scratch bytes: a packed MC×KC block of A and a 4×8 edge tile. */
export const MATMUL_SCRATCH = MC * KC * 4 + 128;
/** Below this many flops a GEMM runs on the calling thread (waking workers costs more). */
export const PARALLEL_FLOPS = 1 << 20;

function gemm(
  rt: Runtime,
  a: number,
  b: number,
  c: number,
  m: number,
  n: number,
  k: number,
  transA: boolean,
  transB: boolean,
  packed: number,
): void {
  const ars = transA ? 4 : k * 4;
  const acs = transA ? m * 4 : 4;
  const brs = transB ? 4 : n * 4;
  const bcs = transB ? k * 4 : 4;
  const parallel = 2 * m * n * k >= PARALLEL_FLOPS;
  const panels = Math.ceil(n / 8);
  const tilesN = Math.ceil(n / NC);
  let mc = MC;
  while (mc > 8 && Math.ceil(m / mc) * tilesN < 4 * rt.pool.threads) mc /= 2;
  const tiles = Math.ceil(m / mc) * tilesN;
  for (let p0 = 0; p0 < k; p0 += KC) {
    const kc = Math.min(KC, k - p0);
    rt.args([b + p0 * brs, brs, bcs, kc, n, packed]);
    rt.pool.run("pack_b", panels, Math.max(1, Math.ceil(panels / (4 * rt.pool.threads))), parallel);
    rt.args([
      a + p0 * acs,
      ars,
      acs,
      packed,
      c,
      n * 4,
      m,
      n,
      kc,
      p0 > 0 ? 1 : 0,
      mc,
      NC,
      tilesN,
      rt.scratch,
      rt.scratchBytes,
    ]);
    rt.pool.run("gemm_tiles", tiles, 1, parallel);
  }
}

export function matmulF32(rt: Runtime, args: MatmulArgs): void {
  const { batch, m, n, k, transA, transB, aBatchStride, bBatchStride } = args;
  if (batch === 0 || m === 0 || n === 0) return;
  const out = rt.ptr(args.out);
  if (k === 0) {
    rt.heap.f32.fill(0, out / 4, out / 4 + batch * m * n);
    return;
  }
  if (m === 1) {
    // One row of A (contiguous, transposed or not) needs no packing: a GEMV per batch element.
    const a = rt.ptr(args.a);
    const b = rt.ptr(args.b);
    const units = Math.ceil(n / 16);
    const parallel = 2 * n * k >= PARALLEL_FLOPS;
    const argv = rt.argv;
    argv[3] = n;
    argv[4] = k;
    argv[5] = transB ? 1 : 0;
    for (let g = 0; g < batch; g++) {
      argv[0] = a + g * aBatchStride * 4;
      argv[1] = b + g * bBatchStride * 4;
      argv[2] = out + g * n * 4;
      rt.pool.run("gemv", units, Math.max(1, Math.ceil(units / (4 * rt.pool.threads))), parallel);
    }
    return;
  }
  const fold = batch > 1 && bBatchStride === 0 && !transA && aBatchStride === m * k;
  const rows = fold ? batch * m : m;
  const gemms = fold ? 1 : batch;
  const packedId = rt.heap.alloc(Math.ceil(n / 8) * 8 * Math.min(k, KC) * 4);
  try {
    const packed = rt.ptr(packedId);
    const a = rt.ptr(args.a);
    const b = rt.ptr(args.b);
    for (let g = 0; g < gemms; g++) {
      gemm(
        rt,
        a + g * aBatchStride * 4,
        b + g * bBatchStride * 4,
        out + g * m * n * 4,
        rows,
        n,
        k,
        transA,
        transB,
        packed,
      );
    }
  } finally {
    rt.heap.free(packedId);
  }
}
