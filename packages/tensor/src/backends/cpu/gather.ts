/**
 * Row gather, its adjoint scatter-add, and the row overwrite scatter, of the reference cpu backend.
 * The table (or out, for the scatters) is viewed [outer, rows, inner]; indices int32 [count] pick
 * rows of the middle axis.
 */
import type { GatherArgs, ScatterAddArgs, ScatterArgs } from "../../backend/kernels.js";
import type { CpuStore } from "./store.js";

/**
 * Throws a RangeError naming the first index outside [0, rows), its position and `rows`.
 * Called before anything is written, so a failing kernel leaves out untouched.
 */
function checkIndices(kernel: string, indices: Int32Array, count: number, rows: number): void {
  for (let j = 0; j < count; j++) {
    const index = indices[j];
    if (index < 0 || index >= rows) {
      throw new RangeError(
        `${kernel}: index ${index} at position ${j} is out of range for ${rows} rows; indices must be in [0, ${rows})`,
      );
    }
  }
}

/**
 * Calls row(packed, indexed) for every (o, j) in memory order of the packed [outer, count, inner]
 * side: the offsets of its row j of slice o and of row indices[j] of slice o of the
 * [outer, rows, inner] side.
 */
function eachRow(
  a: GatherArgs | ScatterAddArgs,
  indices: Int32Array,
  row: (packed: number, indexed: number) => void,
): void {
  const { outer, rows, inner, count } = a;
  let packed = 0;
  for (let o = 0; o < outer; o++) {
    const slice = o * rows * inner;
    for (let j = 0; j < count; j++, packed += inner) row(packed, slice + indices[j] * inner);
  }
}

/** `out[o, j, i] = table[o, indices[j], i]`; any dtype. */
export function gather(s: CpuStore, args: GatherArgs): void {
  const { dtype, rows, inner, count } = args;
  const indices = s.int32(args.indices);
  checkIndices("gather", indices, count, rows);
  const table = s.view(args.table, dtype);
  const out = s.view(args.out, dtype);
  eachRow(args, indices, (oi, ti) => out.set(table.subarray(ti, ti + inner), oi));
}

/**
 * `out[o, indices[j], i] += updates[o, j, i]` (repeated indices accumulate, in order of j); the
 * adjoint of gather. Any dtype; int32 sums wrap modulo 2^32.
 */
export function scatterAdd(s: CpuStore, args: ScatterAddArgs): void {
  const { dtype, rows, inner, count } = args;
  const indices = s.int32(args.indices);
  checkIndices("scatterAdd", indices, count, rows);
  const updates = s.view(args.updates, dtype);
  const out = s.view(args.out, dtype);
  const wrap = dtype === "int32";
  eachRow(args, indices, (ui, oi) => {
    if (wrap) for (let i = 0; i < inner; i++) out[oi + i] = (out[oi + i] + updates[ui + i]) | 0;
    else for (let i = 0; i < inner; i++) out[oi + i] += updates[ui + i];
  });
}

/** `out[o, indices[j], i] = updates[o, j, i]`; any dtype. A repeated index keeps its last update. */
export function scatter(s: CpuStore, args: ScatterArgs): void {
  const { dtype, rows, inner, count } = args;
  const indices = s.int32(args.indices);
  checkIndices("scatter", indices, count, rows);
  const updates = s.view(args.updates, dtype);
  const out = s.view(args.out, dtype);
  eachRow(args, indices, (ui, oi) => out.set(updates.subarray(ui, ui + inner), oi));
}
