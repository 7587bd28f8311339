/**
 * Strided iteration spaces for the elementwise kernels (binary, where, copy): axes are merged on
 * the host, the merged shape and per-operand strides travel in the uniform block, and the shader
 * turns a linear element index into one offset per operand (WGSL from `offsetsWgsl`).
 *
 * Uniform block of a strided kernel with K strided operands (`stridedUniforms`):
 *   n: u32, 3 × pad            — elements in this dispatch
 *   base: vec4<i32>            — element offset of each operand (x, out for copy; cond, a, b, out)
 *   shape: array<vec4<u32>, 2> — merged extents, up to MAX_RANK
 *   st: array<vec4<i32>, 2K>   — operand k's strides at st[2k], st[2k + 1]
 */
import { collapseAxes } from "@bmojo/tensor";
import { Uniforms } from "../runtime.js";

/** The largest rank after merging that one dispatch handles; leading axes beyond it loop on the host. */
export const MAX_RANK = 8;

/** A merged iteration space: extents and, per operand, strides (all the same rank ≥ 1). */
export interface Space {
  shape: number[];
  strides: number[][];
}

/**
 * Drops axes of extent 1 and merges adjacent axes d, d+1 when every operand has
 * `strides[d] == strides[d+1] · shape[d+1]`, keeping the visiting order (row-major over `shape`).
 * Returns null for an empty space (some extent 0); a single element comes back as rank 1, shape [1].
 */
export function mergeAxes(
  shape: readonly number[],
  strides: readonly (readonly number[])[],
): Space | null {
  const space = collapseAxes(shape, strides);
  if (space === null) return null;
  if (space.shape.length === 0) return { shape: [1], strides: strides.map(() => [0]) };
  return space;
}

/** One dispatch of a strided kernel: a space of rank ≤ MAX_RANK and each operand's base offset. */
export interface StridedPart {
  shape: number[];
  strides: number[][];
  bases: number[];
  /** Elements in this part. */
  n: number;
}

/**
 * Splits a merged space into dispatches of rank ≤ MAX_RANK: axes beyond the last MAX_RANK are
 * walked on the host (one dispatch per leading multi-index; never happens below rank 9).
 * `bases` are the operands' starting offsets.
 */
export function stridedParts(space: Space, bases: readonly number[]): StridedPart[] {
  const rank = space.shape.length;
  const lead = Math.max(0, rank - MAX_RANK);
  const shape = space.shape.slice(lead);
  const strides = space.strides.map((s) => s.slice(lead));
  const n = shape.reduce((a, b) => a * b, 1);
  if (lead === 0) return [{ shape, strides, bases: bases.slice(), n }];
  const parts: StridedPart[] = [];
  const index = new Array<number>(lead).fill(0);
  let count = 1;
  for (let d = 0; d < lead; d++) count *= space.shape[d];
  for (let p = 0; p < count; p++) {
    const partBases = bases.map((b, o) => {
      let off = b;
      for (let d = 0; d < lead; d++) off += index[d] * space.strides[o][d];
      return off;
    });
    parts.push({ shape, strides, bases: partBases, n });
    for (let d = lead - 1; d >= 0; d--) {
      if (++index[d] < space.shape[d]) break;
      index[d] = 0;
    }
  }
  return parts;
}

/**
 * The uniform block of one strided part (layout in the file comment): the bases of every operand
 * (at most 4) and the strides of the first `operands` (the rest, e.g. a contiguous output, are
 * addressed by the linear index).
 */
export function stridedUniforms(part: StridedPart, operands = part.strides.length): ArrayBuffer {
  const u = new Uniforms(16 + 8 * operands);
  u.u32(part.n).u32(0).u32(0).u32(0);
  for (let o = 0; o < 4; o++) u.i32(part.bases[o] ?? 0);
  for (let d = 0; d < MAX_RANK; d++) u.u32(part.shape[d] ?? 1);
  for (let o = 0; o < operands; o++) {
    for (let d = 0; d < MAX_RANK; d++) u.i32(part.strides[o][d] ?? 0);
  }
  return u.buffer();
}

/** The WGSL struct of a strided kernel's uniform block, named `U`. */
export function stridedUniformStruct(operands: number): string {
  return `struct U {
  n: u32,
  _p0: u32,
  _p1: u32,
  _p2: u32,
  base: vec4<i32>,
  shape: array<vec4<u32>, 2>,
  st: array<vec4<i32>, ${2 * operands}>,
}`;
}

const LANES = ["x", "y", "z", "w"];

/**
 * WGSL statements that turn the linear index `e` (u32) into `off0 … off{K−1}` (i32), the element
 * offsets of the K strided operands (base included), for a space of `rank` axes.
 */
export function offsetsWgsl(rank: number, operands: number): string {
  const lines: string[] = ["var rem = e;"];
  for (let o = 0; o < operands; o++) lines.push(`var off${o} = u.base.${LANES[o]};`);
  for (let d = rank - 1; d >= 0; d--) {
    const ext = `u.shape[${d >> 2}].${LANES[d & 3]}`;
    if (d > 0) {
      lines.push(`let c${d} = i32(rem % ${ext});`);
      lines.push(`rem = rem / ${ext};`);
    } else {
      lines.push("let c0 = i32(rem);");
    }
    for (let o = 0; o < operands; o++) {
      lines.push(`off${o} += c${d} * u.st[${2 * o + (d >> 2)}].${LANES[d & 3]};`);
    }
  }
  return lines.map((l) => `  ${l}`).join("\n");
}
