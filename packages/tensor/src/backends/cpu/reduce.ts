/**
 * Reduction kernel of the reference cpu backend: x viewed as [outer, size, inner] is reduced over
 * the middle axis into out [outer, inner].
 *
 * Every op walks x in memory order: for each outer slice it seeds the inner row from x[o, 0, :]
 * and folds in x[o, r, :] for r = 1 … size−1, so the innermost loop is contiguous.
 */
import type { ReduceArgs } from "../../backend/kernels.js";
import type { TypedArray } from "../../dtype.js";
import type { CpuStore } from "./store.js";

/**
 * Reduce over the middle axis.
 * - sum, mean (float): accumulated in float64, rounded once on store; mean = sum / size.
 * - sum (int32): wraps modulo 2^32 like C int32.
 * - max, min: NaN propagates (Math.max / Math.min).
 * - argmax, argmin: int32 index of the first extreme value on ties; a NaN counts as more extreme
 *   than any number, so the first NaN wins (as in NumPy and PyTorch).
 * int32 supports sum, max, min, argmax, argmin.
 */
export function reduce(s: CpuStore, args: ReduceArgs): void {
  const { op, dtype, outer, size, inner } = args;
  if (size < 1) throw new RangeError(`cpu backend: reduce: size must be ≥ 1, got ${size}`);
  if (dtype === "int32" && op === "mean") {
    throw new TypeError(
      `cpu backend: reduce: op "mean" does not support dtype int32; use float32, float64 or bfloat16`,
    );
  }
  const x = s.view(args.x, dtype);
  switch (op) {
    case "sum":
    case "mean": {
      const out = s.view(args.out, dtype);
      if (dtype === "int32") sumInt32(x, out, outer, size, inner);
      else sumFloat(x, out, outer, size, inner, op === "mean" ? size : 1);
      return;
    }
    case "max":
    case "min":
      extreme(x, s.view(args.out, dtype), outer, size, inner, op === "max");
      return;
    case "argmax":
    case "argmin":
      argExtreme(x, s.int32(args.out), outer, size, inner, op === "argmax");
      return;
    default: {
      const unknown: string = op;
      throw new TypeError(`cpu backend: reduce: unknown op "${unknown}"`);
    }
  }
}

/** Float sum divided by `divisor` (1 for sum, size for mean), accumulated in float64. */
function sumFloat(
  x: TypedArray,
  out: TypedArray,
  outer: number,
  size: number,
  inner: number,
  divisor: number,
): void {
  if (inner === 1) {
    for (let o = 0; o < outer; o++) {
      let acc = 0;
      for (let r = 0, xi = o * size; r < size; r++, xi++) acc += x[xi];
      out[o] = acc / divisor;
    }
    return;
  }
  const acc = new Float64Array(inner);
  for (let o = 0; o < outer; o++) {
    let xi = o * size * inner;
    for (let i = 0; i < inner; i++, xi++) acc[i] = x[xi];
    for (let r = 1; r < size; r++) {
      for (let i = 0; i < inner; i++, xi++) acc[i] += x[xi];
    }
    const oi = o * inner;
    for (let i = 0; i < inner; i++) out[oi + i] = acc[i] / divisor;
  }
}

/** int32 sum, wrapping modulo 2^32 at every step. */
function sumInt32(x: TypedArray, out: TypedArray, outer: number, size: number, inner: number) {
  for (let o = 0; o < outer; o++) {
    let xi = o * size * inner;
    const oi = o * inner;
    for (let i = 0; i < inner; i++, xi++) out[oi + i] = x[xi];
    for (let r = 1; r < size; r++) {
      for (let i = 0; i < inner; i++, xi++) out[oi + i] = (out[oi + i] + x[xi]) | 0;
    }
  }
}

/** max (isMax) or min, written straight into out (exact for every dtype). */
function extreme(
  x: TypedArray,
  out: TypedArray,
  outer: number,
  size: number,
  inner: number,
  isMax: boolean,
): void {
  for (let o = 0; o < outer; o++) {
    let xi = o * size * inner;
    const oi = o * inner;
    for (let i = 0; i < inner; i++, xi++) out[oi + i] = x[xi];
    for (let r = 1; r < size; r++) {
      if (isMax) for (let i = 0; i < inner; i++, xi++) out[oi + i] = Math.max(out[oi + i], x[xi]);
      else for (let i = 0; i < inner; i++, xi++) out[oi + i] = Math.min(out[oi + i], x[xi]);
    }
  }
}

/**
 * argmax (isMax) or argmin. The running best value of each inner column is kept in a float64 row;
 * a later element replaces it only when strictly better (so the first index wins on ties), or when
 * it is NaN and the best is not.
 */
function argExtreme(
  x: TypedArray,
  out: Int32Array,
  outer: number,
  size: number,
  inner: number,
  isMax: boolean,
): void {
  const best = new Float64Array(inner);
  const sign = isMax ? 1 : -1; // compare sign·v so argmin reuses the "greater than" test
  for (let o = 0; o < outer; o++) {
    let xi = o * size * inner;
    const oi = o * inner;
    for (let i = 0; i < inner; i++, xi++) {
      best[i] = sign * x[xi];
      out[oi + i] = 0;
    }
    for (let r = 1; r < size; r++) {
      for (let i = 0; i < inner; i++, xi++) {
        const v = sign * x[xi];
        const b = best[i];
        if (v > b || (Number.isNaN(v) && !Number.isNaN(b))) {
          best[i] = v;
          out[oi + i] = r;
        }
      }
    }
  }
}
