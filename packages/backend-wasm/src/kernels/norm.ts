/** float32 rmsNorm on the wasm kernels (src/wat/norm.wat): a task per row. */
import type { RmsNormArgs } from "@bmojo/tensor";
import type { Runtime } from "../runtime.js";

/** Below this many elements rmsNorm runs on the calling thread. */
const PARALLEL_ELEMENTS = 1 << 16;

export function rmsNormF32(rt: Runtime, a: RmsNormArgs): void {
  const { rows, cols } = a;
  if (rows === 0 || cols === 0) {
    rt.reference.rmsNorm(a);
    return;
  }
  const args = rt.argv;
  args[0] = rt.ptr(a.x);
  args[1] = rt.ptr(a.weight);
  args[2] = rt.ptr(a.out);
  args[3] = rt.ptr(a.rstd);
  args[4] = cols;
  rt.argf[5] = a.eps;
  const parallel = rows > 1 && rows * cols >= PARALLEL_ELEMENTS;
  rt.pool.run("rms_fwd", rows, Math.max(1, Math.ceil(rows / (4 * rt.pool.threads))), parallel);
}
