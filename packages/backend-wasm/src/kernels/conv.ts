/**
 * float32 depthwise causal conv1d on the wasm kernels (src/wat/conv.wat): a task per (batch
 * element, group of four channels). The backward pass writes per-element partials of dweight and
 * dbias (sums over the batch), added up here. The decode step is the forward pass with L = 1 and
 * the state as both the initial and the final state.
 */
import type {
  CausalConv1dArgs,
  CausalConv1dBackwardArgs,
  CausalConv1dStepArgs,
} from "@bmojo/tensor";
import type { Runtime } from "../runtime.js";

/** Below this many multiply-adds (B·L·C·K) a conv runs on the calling thread. */
const PARALLEL_WORK = 1 << 15;

type ConvShape = Pick<
  CausalConv1dArgs,
  "x" | "weight" | "bias" | "batch" | "channels" | "kernelSize" | "activation"
>;

/** Writes argument slots 0 … 12 and returns the scratch buffer (`bytes` per thread). */
function shapeArgs(
  rt: Runtime,
  a: ConvShape,
  init: number | null,
  out: number,
  fin: number | null,
  length: number,
  bytes: number,
): number {
  const scratch = rt.heap.alloc(bytes * rt.pool.threads);
  const p = (id: number | null) => (id === null ? 0 : rt.ptr(id));
  const args = rt.argv;
  args[0] = rt.ptr(a.x);
  args[1] = rt.ptr(a.weight);
  args[2] = p(a.bias);
  args[3] = p(init);
  args[4] = rt.ptr(out);
  args[5] = p(fin);
  args[6] = a.batch;
  args[7] = length;
  args[8] = a.channels;
  args[9] = a.kernelSize;
  args[10] = a.activation === "silu" ? 1 : 0;
  args[11] = rt.ptr(scratch);
  args[12] = bytes;
  return scratch;
}

function runForward(
  rt: Runtime,
  a: ConvShape,
  init: number | null,
  out: number,
  fin: number | null,
  length: number,
): void {
  const scratch = shapeArgs(rt, a, init, out, fin, length, 16 * a.kernelSize);
  try {
    const tasks = a.batch * Math.ceil(a.channels / 4);
    const parallel = a.batch * length * a.channels * a.kernelSize >= PARALLEL_WORK;
    rt.pool.run("conv_fwd", tasks, Math.max(1, Math.ceil(tasks / (8 * rt.pool.threads))), parallel);
  } finally {
    rt.heap.free(scratch);
  }
}

/** Whether the wasm kernel handles this shape (else the reference runs: empty or no taps). */
function handled(a: ConvShape): boolean {
  return a.batch > 0 && a.channels > 0 && Number.isInteger(a.kernelSize) && a.kernelSize >= 1;
}

export function causalConv1dF32(rt: Runtime, a: CausalConv1dArgs): void {
  if (!handled(a)) {
    rt.reference.causalConv1d(a);
    return;
  }
  runForward(rt, a, a.initialState, a.out, a.finalState, a.length);
}

export function causalConv1dStepF32(rt: Runtime, a: CausalConv1dStepArgs): void {
  if (!handled(a)) {
    rt.reference.causalConv1dStep(a);
    return;
  }
  runForward(rt, a, a.state, a.out, a.state, 1);
}

export function causalConv1dBackwardF32(rt: Runtime, a: CausalConv1dBackwardArgs): void {
  const { batch, length: L, channels: C, kernelSize: K } = a;
  if (!handled(a) || L === 0) {
    rt.reference.causalConv1dBackward(a);
    return;
  }
  const partials = rt.heap.alloc(4 * batch * C * (K + 1));
  const scratch = shapeArgs(rt, a, a.initialState, a.dx, null, L, 16 * (2 * K + L));
  try {
    const dwp = rt.ptr(partials);
    const dbp = dwp + 4 * batch * C * K;
    const args = rt.argv;
    args[13] = rt.ptr(a.dy);
    args[14] = rt.ptr(a.dx);
    args[15] = dwp;
    args[16] = a.dbias === null ? 0 : dbp;
    args[17] = a.dInitialState === null ? 0 : rt.ptr(a.dInitialState);
    const tasks = batch * Math.ceil(C / 4);
    const parallel = batch * L * C * K >= PARALLEL_WORK;
    rt.pool.run("conv_bwd", tasks, Math.max(1, Math.ceil(tasks / (8 * rt.pool.threads))), parallel);
    rt.sumRows(dwp, batch, C * K, rt.ptr(a.dweight));
    if (a.dbias !== null) rt.sumRows(dbp, batch, C, rt.ptr(a.dbias));
  } finally {
    rt.heap.free(scratch);
    rt.heap.free(partials);
  }
}
