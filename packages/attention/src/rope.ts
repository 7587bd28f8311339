/**
 * Rotary position embeddings (RoPE) in the "rotate-half" layout of the conventions: for a head
 * vector x of size Dh the pairs are (x[i], x[i + Dh/2]), i < Dh/2, rotated by the angle
 * pos · theta^(−2i/Dh):
 *
 *   out[i]        = x[i] cos − x[i + Dh/2] sin
 *   out[i + Dh/2] = x[i + Dh/2] cos + x[i] sin
 *
 * The cos/sin tables are computed on the host in float64 (cached per (Dh, theta), grown as
 * needed) and kept on each backend in each dtype (grown with them); the rotation is @bmojo/tensor's
 * `rope` op (one kernel where the backend has it), so gradients flow through it.
 */
import {
  type FloatDType,
  type Backend,
  type Tensor,
  broadcastTo,
  gather,
  keep,
  reshape,
  rope,
  tensor,
  tidy,
} from "@bmojo/tensor";

/** The default RoPE base. */
export const DEFAULT_ROPE_THETA = 10000;

interface RopeTable {
  /** Positions covered: 0 … length−1. */
  length: number;
  /** cos(pos · theta^(−2i/Dh)) at [pos · half + i]. */
  cos: Float64Array;
  /** sin(pos · theta^(−2i/Dh)) at [pos · half + i]. */
  sin: Float64Array;
}

const tables = new Map<string, RopeTable>();

/** The rotation angle of pair i at position pos: pos · theta^(−2i/Dh). */
export function ropeAngle(pos: number, i: number, headDim: number, theta: number): number {
  return pos * theta ** ((-2 * i) / headDim);
}

/**
 * The table for (headDim, theta) covering at least positions 0 … length−1 (doubling growth; a
 * grown table keeps the rows it had and computes only the new ones).
 */
function ropeTable(headDim: number, theta: number, length: number): RopeTable {
  const key = `${headDim}:${theta}`;
  const cached = tables.get(key);
  if (cached !== undefined && cached.length >= length) return cached;
  const size = Math.max(length, 2 * (cached?.length ?? 0), 64);
  const half = headDim / 2;
  const cos = new Float64Array(size * half);
  const sin = new Float64Array(size * half);
  if (cached !== undefined) {
    cos.set(cached.cos);
    sin.set(cached.sin);
  }
  // theta^(−2i/Dh) once per pair: pos · frequency[i] is ropeAngle(pos, i, …) exactly.
  const frequency = Float64Array.from({ length: half }, (_, i) => ropeAngle(1, i, headDim, theta));
  for (let pos = cached?.length ?? 0; pos < size; pos++) {
    for (let i = 0; i < half; i++) {
      const angle = pos * frequency[i];
      cos[pos * half + i] = Math.cos(angle);
      sin[pos * half + i] = Math.sin(angle);
    }
  }
  const table = { length: size, cos, sin };
  tables.set(key, table);
  return table;
}

/**
 * Rotates x [B, H, L, Dh] (Dh even) for the positions positionOffset … positionOffset + L − 1.
 * Returns a new tensor of x's shape and dtype; differentiable with respect to x.
 */
export function applyRope(x: Tensor, positionOffset: number, theta = DEFAULT_ROPE_THETA): Tensor {
  if (x.rank !== 4) {
    throw new RangeError(
      `applyRope: x must be [batch, heads, length, headDim], got shape [${x.shape.join(", ")}].`,
    );
  }
  if (!Number.isInteger(positionOffset) || positionOffset < 0) {
    throw new RangeError(
      `applyRope: positionOffset must be an integer ≥ 0, got ${positionOffset}.`,
    );
  }
  const { cos, sin } = tablesFor("applyRope", x, theta, positionOffset + x.shape[2]);
  return rope(x, cos, sin, positionOffset);
}

/**
 * Rotates tokens that each carry their own position: x [N, H, Dh] (N tokens, H heads, Dh even)
 * with positions int32 [N] (each < `bound`, which sizes the tables; the positions may live on the
 * device) → [N, H, Dh], every head of token n rotated to positions[n]. B'MOJO's memory keys use
 * it: a memory token keeps the position it was read at, so a query sees it at its true distance.
 * Differentiable with respect to x.
 */
export function applyRopeAt(
  x: Tensor,
  positions: Tensor,
  bound: number,
  theta = DEFAULT_ROPE_THETA,
): Tensor {
  if (x.rank !== 3) {
    throw new RangeError(
      `applyRopeAt: x must be [tokens, heads, headDim], got shape [${x.shape.join(", ")}].`,
    );
  }
  const [count, heads, headDim] = x.shape;
  if (positions.dtype !== "int32" || positions.rank !== 1 || positions.shape[0] !== count) {
    throw new RangeError(
      `applyRopeAt: positions must be int32 [${count}] (one per token of x), got ${positions.dtype} [${positions.shape.join(", ")}].`,
    );
  }
  if (!Number.isInteger(bound) || bound < 1) {
    throw new RangeError(`applyRopeAt: bound must be an integer ≥ 1, got ${bound}.`);
  }
  const { cos, sin } = tablesFor("applyRopeAt", x, theta, bound);
  return tidy(() => {
    // Row (n, h) of the flattened x takes the table row of positions[n].
    const rows = reshape(broadcastTo(reshape(positions, [count, 1]), [count, heads]), [
      count * heads,
    ]);
    const flat = reshape(x, [1, 1, count * heads, headDim]);
    const rotated = rope(flat, gather(cos, rows), gather(sin, rows), 0);
    return reshape(rotated, [count, heads, headDim]);
  });
}

/**
 * The tables covering positions 0 … length−1 for x's head dimension (its last axis), after the
 * checks both rotations share: an even head dimension, a finite theta > 0, a float x.
 */
function tablesFor(op: string, x: Tensor, theta: number, length: number): DeviceTables {
  const headDim = x.shape[x.rank - 1];
  if (headDim % 2 !== 0) {
    throw new RangeError(
      `${op}: the head dimension must be even for rotate-half RoPE, got ${headDim}.`,
    );
  }
  if (!(theta > 0) || !Number.isFinite(theta)) {
    throw new RangeError(`${op}: theta must be a finite number > 0, got ${theta}.`);
  }
  if (x.dtype === "int32") {
    throw new TypeError(`${op}: x must be a float (float32, float64 or bfloat16), got int32.`);
  }
  return deviceTables(x.backend, x.dtype, headDim, theta, length);
}

/**
 * Uploads the tables for positions 0 … positions−1 now (a decoding cache of that many slots calls
 * it when it is made), so that decoding never stops to grow and re-upload them.
 */
export function reserveRope(
  backend: Backend,
  dtype: FloatDType,
  headDim: number,
  theta: number,
  positions: number,
): void {
  deviceTables(backend, dtype, headDim, theta, positions);
}

interface DeviceTables {
  length: number;
  cos: Tensor;
  sin: Tensor;
}

/** Per backend: the tables uploaded in each (dtype, headDim, theta), replaced when they grow. */
const uploaded = new WeakMap<Backend, Map<string, DeviceTables>>();

/**
 * The tables [positions ≥ length, Dh/2] on `backend` in `dtype` (kept: they outlive tidy);
 * bfloat16 tables hold the float64 values rounded once.
 */
function deviceTables(
  backend: Backend,
  dtype: FloatDType,
  headDim: number,
  theta: number,
  length: number,
): DeviceTables {
  let byKey = uploaded.get(backend);
  if (byKey === undefined) {
    byKey = new Map();
    uploaded.set(backend, byKey);
  }
  const key = `${dtype}:${headDim}:${theta}`;
  const current = byKey.get(key);
  if (current !== undefined && current.length >= length && !current.cos.isDisposed) return current;
  const table = ropeTable(headDim, theta, length);
  const shape = [table.length, headDim / 2];
  const options = { dtype, backend };
  const next = {
    length: table.length,
    cos: keep(tensor(table.cos, shape, options)),
    sin: keep(tensor(table.sin, shape, options)),
  };
  current?.cos.dispose();
  current?.sin.dispose();
  byKey.set(key, next);
  return next;
}
