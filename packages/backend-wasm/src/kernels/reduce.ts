/**
 * float32 reductions on the wasm kernels (src/wat/reduce.wat) over ReduceArgs' [outer, size,
 * inner] layout: along contiguous rows when inner = 1 (a task per outer index), else across
 * blocks of columns (a task per outer index and block), walking the reduced axis in order.
 */
import type { ReduceArgs } from "@bmojo/tensor";
import type { Runtime } from "../runtime.js";

const REDUCE_CODES: Record<ReduceArgs["op"], number> = {
  sum: 0,
  mean: 1,
  max: 2,
  min: 3,
  argmax: 4,
  argmin: 5,
};

/**
 * Columns per reduce_cols task (a multiple of 4): 1 KiB of each row of x, so a task streams long
 * runs of x (narrower blocks re-read x once per block from beyond the caches), with its
 * accumulators (2 KiB of f64 sums, or best values and indices) in the thread's scratch.
 */
const BLOCK = 256;
/**
 * Below this much work (elements; twice that for max, min, argmax and argmin) a reduction runs
 * on the calling thread: a sum streams x faster than waking the workers pays back.
 */
const PARALLEL_WORK = 1 << 19;

export function reduceF32(rt: Runtime, a: ReduceArgs): void {
  const { outer, size, inner } = a;
  const code = REDUCE_CODES[a.op];
  if (
    code === undefined ||
    !(size >= 1) ||
    outer === 0 ||
    inner === 0 ||
    rt.scratchBytes < 8 * BLOCK
  ) {
    rt.reference.reduce(a);
    return;
  }
  const tasks = inner === 1 ? outer : outer * Math.ceil(inner / BLOCK);
  const args = rt.argv;
  args[0] = code;
  args[1] = rt.ptr(a.x);
  args[2] = rt.ptr(a.out);
  args[3] = size;
  args[4] = inner;
  args[5] = Math.ceil(inner / BLOCK);
  args[6] = BLOCK;
  args[7] = rt.scratch;
  args[8] = rt.scratchBytes;
  const parallel = tasks > 1 && outer * size * inner * (code < 2 ? 1 : 2) >= PARALLEL_WORK;
  rt.pool.run(
    inner === 1 ? "reduce_rows" : "reduce_cols",
    tasks,
    Math.max(1, Math.ceil(tasks / (4 * rt.pool.threads))),
    parallel,
  );
}
