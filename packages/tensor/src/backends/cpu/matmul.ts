/**
 * Batched matmul of the reference cpu backend, cache-blocked.
 *
 * For each batch entry, out (m×n) is computed in tiles of MC rows × NC columns. A tile is
 * accumulated in a float64 scratch over k in blocks of KC: the KC×NC block of op(B) is first
 * packed (transposing when transB) into a contiguous float64 panel, then every pair of rows i,
 * i+1 of the tile is updated by a 2×4 register micro-kernel
 *   acc[i, :]   += Σ_{p<4} A[i, p]   · panel[p, :]
 *   acc[i+1, :] += Σ_{p<4} A[i+1, p] · panel[p, :]
 * whose inner loop is a contiguous stride-1 axpy over the NC columns. Elements of A are read as
 * scalars outside that loop, through (row, column) strides, so transA needs no copy. The tile is
 * rounded to the output dtype once, when it is stored.
 *
 * Sizes: the packed panel (KC·NC·8 = 256 KiB) stays in L2 while the accumulator rows stream.
 */
import type { MatmulArgs } from "../../backend/kernels.js";
import type { CpuStore, FloatArray } from "./store.js";
import { requireFloat } from "./elementwise.js";

/** Block along k: rows of the packed B panel. */
const KC = 128;
/** Block along n: columns of the packed B panel and of the accumulator tile. */
const NC = 256;
/** Block along m: rows of the accumulator tile. */
const MC = 256;

/** Scratch reused by every call (kernels run one at a time), allocated on first use. */
let panelScratch: Float64Array | null = null;
let accScratch: Float64Array | null = null;

/**
 * out[b] = op(a[b]) · op(b[b]) for b < batch, with a[b] at b·aBatchStride ([m, k], or [k, m] when
 * transA) and b[b] at b·bBatchStride ([k, n], or [n, k] when transB). Float only. k = 0 writes
 * zeros.
 */
export function matmul(s: CpuStore, args: MatmulArgs): void {
  const { dtype, batch, m, n, k, transA, transB, aBatchStride, bBatchStride } = args;
  const a = requireFloat(s, args.a, dtype, "matmul");
  const b = requireFloat(s, args.b, dtype, "matmul");
  const out = requireFloat(s, args.out, dtype, "matmul");
  if (batch === 0 || m === 0 || n === 0) return;

  if (panelScratch === null || accScratch === null) {
    panelScratch = new Float64Array(KC * NC);
    accScratch = new Float64Array(MC * NC);
  }
  const panel = panelScratch;
  const acc = accScratch;

  // Strides of op(A)[i, p] in a: row i, column p.
  const aRowStride = transA ? 1 : k;
  const aColStride = transA ? m : 1;

  for (let bi = 0; bi < batch; bi++) {
    const aBase = bi * aBatchStride;
    const bBase = bi * bBatchStride;
    const outBase = bi * m * n;
    for (let j0 = 0; j0 < n; j0 += NC) {
      const nc = Math.min(NC, n - j0);
      for (let i0 = 0; i0 < m; i0 += MC) {
        const mc = Math.min(MC, m - i0);
        acc.fill(0, 0, mc * nc);
        for (let p0 = 0; p0 < k; p0 += KC) {
          const kc = Math.min(KC, k - p0);
          packB(b, bBase, transB, n, k, p0, kc, j0, nc, panel);
          // A[i, p0] for the first row of the tile.
          const aTile = aBase + i0 * aRowStride + p0 * aColStride;
          let i = 0;
          for (; i + 2 <= mc; i += 2) {
            const aRow = aTile + i * aRowStride;
            rowPair(a, aRow, aRow + aRowStride, aColStride, kc, panel, nc, acc, i * nc);
          }
          if (i < mc) singleRow(a, aTile + i * aRowStride, aColStride, kc, panel, nc, acc, i * nc);
        }
        // Store the tile, rounding once to the output dtype.
        for (let i = 0; i < mc; i++) {
          const outRow = outBase + (i0 + i) * n + j0;
          const accRow = i * nc;
          for (let j = 0; j < nc; j++) out[outRow + j] = acc[accRow + j];
        }
      }
    }
  }
}

/**
 * Packs op(B)[p0 : p0+kc, j0 : j0+nc] into panel as a contiguous kc×nc row-major float64 block.
 * op(B)[p, j] is b[base + p·n + j], or b[base + j·k + p] when transB.
 */
function packB(
  b: FloatArray,
  base: number,
  transB: boolean,
  n: number,
  k: number,
  p0: number,
  kc: number,
  j0: number,
  nc: number,
  panel: Float64Array,
): void {
  if (!transB) {
    for (let p = 0; p < kc; p++) {
      const src = base + (p0 + p) * n + j0;
      const dst = p * nc;
      for (let j = 0; j < nc; j++) panel[dst + j] = b[src + j];
    }
  } else {
    // Read b contiguously along k, write the panel with stride nc.
    for (let j = 0; j < nc; j++) {
      const src = base + (j0 + j) * k + p0;
      for (let p = 0; p < kc; p++) panel[p * nc + j] = b[src + p];
    }
  }
}

/**
 * acc rows r, r+1 (starting at accRow and accRow + nc) += A rows (starting at aRow0 / aRow1, with
 * column stride aCol) · panel (kc×nc). Four k steps per pass over the row: each loaded panel
 * element feeds eight multiply-adds.
 */
function rowPair(
  a: FloatArray,
  aRow0: number,
  aRow1: number,
  aCol: number,
  kc: number,
  panel: Float64Array,
  nc: number,
  acc: Float64Array,
  accRow: number,
): void {
  const c0 = accRow;
  const c1 = accRow + nc;
  let p = 0;
  for (; p + 4 <= kc; p += 4) {
    const ap = p * aCol;
    const x0 = a[aRow0 + ap];
    const x1 = a[aRow0 + ap + aCol];
    const x2 = a[aRow0 + ap + 2 * aCol];
    const x3 = a[aRow0 + ap + 3 * aCol];
    const y0 = a[aRow1 + ap];
    const y1 = a[aRow1 + ap + aCol];
    const y2 = a[aRow1 + ap + 2 * aCol];
    const y3 = a[aRow1 + ap + 3 * aCol];
    const q0 = p * nc;
    const q1 = q0 + nc;
    const q2 = q1 + nc;
    const q3 = q2 + nc;
    for (let j = 0; j < nc; j++) {
      const b0 = panel[q0 + j];
      const b1 = panel[q1 + j];
      const b2 = panel[q2 + j];
      const b3 = panel[q3 + j];
      acc[c0 + j] += x0 * b0 + x1 * b1 + x2 * b2 + x3 * b3;
      acc[c1 + j] += y0 * b0 + y1 * b1 + y2 * b2 + y3 * b3;
    }
  }
  for (; p < kc; p++) {
    const x0 = a[aRow0 + p * aCol];
    const y0 = a[aRow1 + p * aCol];
    const q0 = p * nc;
    for (let j = 0; j < nc; j++) {
      const b0 = panel[q0 + j];
      acc[c0 + j] += x0 * b0;
      acc[c1 + j] += y0 * b0;
    }
  }
}

/** The odd last row of a tile: acc row += A row · panel, four k steps per pass. */
function singleRow(
  a: FloatArray,
  aRow: number,
  aCol: number,
  kc: number,
  panel: Float64Array,
  nc: number,
  acc: Float64Array,
  accRow: number,
): void {
  let p = 0;
  for (; p + 4 <= kc; p += 4) {
    const ap = aRow + p * aCol;
    const x0 = a[ap];
    const x1 = a[ap + aCol];
    const x2 = a[ap + 2 * aCol];
    const x3 = a[ap + 3 * aCol];
    const q0 = p * nc;
    const q1 = q0 + nc;
    const q2 = q1 + nc;
    const q3 = q2 + nc;
    for (let j = 0; j < nc; j++) {
      acc[accRow + j] +=
        x0 * panel[q0 + j] + x1 * panel[q1 + j] + x2 * panel[q2 + j] + x3 * panel[q3 + j];
    }
  }
  for (; p < kc; p++) {
    const x0 = a[aRow + p * aCol];
    const q0 = p * nc;
    for (let j = 0; j < nc; j++) acc[accRow + j] += x0 * panel[q0 + j];
  }
}
