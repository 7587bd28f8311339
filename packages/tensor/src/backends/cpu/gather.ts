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

/** `out[o, j, i] = table[o, indices[j], i]`; any dtype. */
export function gather(s: CpuStore, args: GatherArgs): void {
  const { dtype, outer, rows, inner, count } = args;
  const indices = s.int32(args.indices);
  checkIndices("gather", indices, count, rows);
  const table = s.view(args.table, dtype);
  const out = s.view(args.out, dtype);
  let oi = 0; // out is walked in memory order
  for (let o = 0; o < outer; o++) {
    const tableSlice = o * rows * inner;
    for (let j = 0; j < count; j++) {
      let ti = tableSlice + indices[j] * inner;
      for (const end = oi + inner; oi < end; oi++, ti++) out[oi] = table[ti];
    }
  }
}

/**
 * `out[o, indices[j], i] += updates[o, j, i]` (repeated indices accumulate, in order of j); the
 * adjoint of gather. Any dtype; int32 sums wrap modulo 2^32.
 */
export function scatterAdd(s: CpuStore, args: ScatterAddArgs): void {
  const { dtype, outer, rows, inner, count } = args;
  const indices = s.int32(args.indices);
  checkIndices("scatterAdd", indices, count, rows);
  const updates = s.view(args.updates, dtype);
  const out = s.view(args.out, dtype);
  const wrap = dtype === "int32";
  let ui = 0; // updates is walked in memory order
  for (let o = 0; o < outer; o++) {
    const outSlice = o * rows * inner;
    for (let j = 0; j < count; j++) {
      let oi = outSlice + indices[j] * inner;
      const end = ui + inner;
      if (wrap) for (; ui < end; ui++, oi++) out[oi] = (out[oi] + updates[ui]) | 0;
      else for (; ui < end; ui++, oi++) out[oi] += updates[ui];
    }
  }
}

/** `out[o, indices[j], i] = updates[o, j, i]`; any dtype. A repeated index keeps its last update. */
export function scatter(s: CpuStore, args: ScatterArgs): void {
  const { dtype, outer, rows, inner, count } = args;
  const indices = s.int32(args.indices);
  checkIndices("scatter", indices, count, rows);
  const updates = s.view(args.updates, dtype);
  const out = s.view(args.out, dtype);
  let ui = 0; // updates is walked in memory order
  for (let o = 0; o < outer; o++) {
    const outSlice = o * rows * inner;
    for (let j = 0; j < count; j++) {
      out.set(updates.subarray(ui, ui + inner), outSlice + indices[j] * inner);
      ui += inner;
    }
  }
}
