/**
 * Strided copy kernel of the reference cpu backend (transpose, slice, pad/concat into a region,
 * broadcast materialisation).
 */
import type { CopyArgs } from "../../backend/kernels.js";
import type { CpuStore } from "./store.js";
import { collapseAxes } from "../../backend/strided.js";
import { forEachRow } from "./elementwise.js";

/**
 * For every multi-index i of `shape`:
 * `out[outOffset + Σ i_d·outStrides[d]] = x[xOffset + Σ i_d·xStrides[d]]`; other elements of out
 * are left unchanged. Any dtype. Axes that are contiguous in both x and out are merged first, and
 * the last remaining axis is a tight loop. Rank 0 copies one element.
 */
export function copy(s: CpuStore, args: CopyArgs): void {
  const { dtype, shape, xStrides, outStrides, xOffset, outOffset } = args;
  if (xStrides.length !== shape.length || outStrides.length !== shape.length) {
    throw new RangeError(
      `cpu backend: copy: xStrides [${xStrides.join(", ")}] and outStrides [${outStrides.join(", ")}] must both have the rank of shape [${shape.join(", ")}]`,
    );
  }
  const x = s.view(args.x, dtype);
  const out = s.view(args.out, dtype);

  const space = collapseAxes(shape, [xStrides, outStrides]);
  if (space === null) return; // an extent is 0: nothing to copy
  const rank = space.shape.length;
  if (rank === 0) {
    out[outOffset] = x[xOffset];
    return;
  }
  const len = space.shape[rank - 1];
  const xStep = space.strides[0][rank - 1];
  const outStep = space.strides[1][rank - 1];
  forEachRow(space.shape, space.strides, [xOffset, outOffset], (offsets) => {
    let xi = offsets[0];
    let oi = offsets[1];
    if (xStep === 1 && outStep === 1) {
      for (const end = xi + len; xi < end; xi++, oi++) out[oi] = x[xi];
    } else {
      for (let t = 0; t < len; t++, xi += xStep, oi += outStep) out[oi] = x[xi];
    }
  });
}
