/** Rotary position embedding (rotate-half), fused where the backend has the `rope` kernel. */
import { tidy } from "../engine.js";
import { formatShape } from "../shape.js";
import type { Tensor } from "../tensor.js";
import { add, mul, sub } from "./elementwise.js";
import {
  assertFloat,
  assertSameDType,
  backendOf,
  emptyTensor,
  kernel,
  recordGrad,
} from "./internal.js";
import { concat, slice } from "./shape-ops.js";

/**
 * Rotates x [B, H, L, Dh] (Dh even, half = Dh/2) for positions positionOffset … positionOffset +
 * L − 1, reading cos and sin from tables [positions, half] of x's dtype and backend (row p holds
 * the angles of position p): out[…, i] = x[…, i]·cos − x[…, i + half]·sin and out[…, i + half] =
 * x[…, i + half]·cos + x[…, i]·sin. One `rope` kernel where the backend has it, else slices and
 * arithmetic (the same values up to rounding). Differentiable in x; the tables get no gradient.
 */
export function rope(x: Tensor, cos: Tensor, sin: Tensor, positionOffset: number): Tensor {
  const op = "rope";
  const backend = backendOf(op, x, cos, sin);
  assertFloat(op, "x", x);
  const dtype = assertSameDType(op, { x, cos, sin });
  if (x.rank !== 4 || x.shape[3] % 2 !== 0) {
    throw new RangeError(
      `${op}: x must be [batch, heads, length, headDim] with an even headDim, got ${formatShape(x.shape)}.`,
    );
  }
  const [batch, heads, length, headDim] = x.shape;
  const half = headDim / 2;
  if (!Number.isInteger(positionOffset) || positionOffset < 0) {
    throw new RangeError(`${op}: positionOffset must be an integer ≥ 0, got ${positionOffset}.`);
  }
  for (const [name, t] of [
    ["cos", cos],
    ["sin", sin],
  ] as const) {
    if (t.rank !== 2 || t.shape[1] !== half || t.shape[0] < positionOffset + length) {
      throw new RangeError(
        `${op}: ${name} must be [positions ≥ ${positionOffset + length}, ${half}] (positionOffset + length, headDim/2), got ${formatShape(t.shape)}.`,
      );
    }
  }
  if (backend.kernels.rope === undefined) return composed(x, cos, sin, positionOffset);
  const out = emptyTensor(x.shape, dtype, backend);
  const rows = batch * heads;
  // One object literal per call: `{ ...args, more }` costs microseconds in V8 (Node 20), a decode
  // step's whole budget for a kernel.
  const call = (input: Tensor, c: Tensor, s: Tensor, output: Tensor, inverse: boolean) =>
    kernel(
      input.backend,
      "rope",
    )({
      dtype,
      x: input.storage.id,
      cos: c.storage.id,
      sin: s.storage.id,
      out: output.storage.id,
      rows,
      length,
      headDim,
      positionOffset,
      inverse,
    });
  if (x.size > 0) call(x, cos, sin, out, false);
  recordGrad(op, [x], [out], [cos, sin], ([dy], [c, s]) => {
    const dx = emptyTensor(dy.shape, dtype, dy.backend);
    if (dy.size > 0) call(dy, c, s, dx, true);
    return [dx];
  });
  return out;
}

/** The rotation from slices and elementwise ops (backends without the `rope` kernel). */
function composed(x: Tensor, cos: Tensor, sin: Tensor, positionOffset: number): Tensor {
  const [b, h, length, headDim] = x.shape;
  const half = headDim / 2;
  return tidy(() => {
    const c = slice(cos, [positionOffset, 0], [length, half]);
    const s = slice(sin, [positionOffset, 0], [length, half]);
    const x1 = slice(x, [0, 0, 0, 0], [b, h, length, half]);
    const x2 = slice(x, [0, 0, 0, half], [b, h, length, half]);
    const out1 = sub(mul(x1, c), mul(x2, s));
    const out2 = add(mul(x2, c), mul(x1, s));
    return concat([out1, out2], 3);
  });
}
