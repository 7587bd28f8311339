/**
 * float32 row softmax and softmax cross-entropy on the wasm kernels (src/wat/softmax.wat): a task
 * per row. Cross-entropy's targets are checked here before anything runs; a bad one goes to the
 * reference kernel, which raises its own RangeError (and writes nothing).
 */
import type {
  CrossEntropyArgs,
  CrossEntropyBackwardArgs,
  SoftmaxArgs,
  SoftmaxBackwardArgs,
} from "@bmojo/tensor";
import type { Runtime } from "../runtime.js";

/**
 * Below this many elements a row kernel runs on the calling thread: fewer for the kernels with an
 * exp per element than for softmax's backward, which only streams its rows.
 */
const PARALLEL_EXP = 1 << 15;
const PARALLEL_STREAM = 1 << 18;

function runRows(
  rt: Runtime,
  task: "softmax" | "softmax_bwd" | "ce_fwd" | "ce_bwd",
  rows: number,
  cols: number,
): void {
  const threshold = task === "softmax_bwd" ? PARALLEL_STREAM : PARALLEL_EXP;
  const parallel = rows > 1 && rows * cols >= threshold;
  rt.pool.run(task, rows, Math.max(1, Math.ceil(rows / (4 * rt.pool.threads))), parallel);
}

export function softmaxF32(rt: Runtime, a: SoftmaxArgs): void {
  const { rows, cols } = a;
  if (rows === 0 || cols === 0) {
    rt.reference.softmax(a);
    return;
  }
  const args = rt.argv;
  args[0] = rt.ptr(a.x);
  args[1] = rt.ptr(a.out);
  args[2] = cols;
  runRows(rt, "softmax", rows, cols);
}

export function softmaxBackwardF32(rt: Runtime, a: SoftmaxBackwardArgs): void {
  const { rows, cols } = a;
  if (rows === 0 || cols === 0) {
    rt.reference.softmaxBackward(a);
    return;
  }
  const args = rt.argv;
  args[0] = rt.ptr(a.y);
  args[1] = rt.ptr(a.dy);
  args[2] = rt.ptr(a.dx);
  args[3] = cols;
  runRows(rt, "softmax_bwd", rows, cols);
}

/**
 * Whether every target is in [0, classes) or ignoreIndex (as the reference checks them), with an
 * int32 ignoreIndex (the one the wasm kernels compare targets with).
 */
function targetsValid(
  rt: Runtime,
  targets: number,
  rows: number,
  classes: number,
  ignore: number,
): boolean {
  if ((ignore | 0) !== ignore) return false;
  const t = rt.heap.i32;
  const at = rt.ptr(targets) / 4;
  for (let r = 0; r < rows; r++) {
    const target = t[at + r];
    if (target !== ignore && (target < 0 || target >= classes)) return false;
  }
  return true;
}

export function crossEntropyF32(rt: Runtime, a: CrossEntropyArgs): void {
  const { rows, classes, ignoreIndex } = a;
  if (rows === 0 || classes === 0 || !targetsValid(rt, a.targets, rows, classes, ignoreIndex)) {
    rt.reference.crossEntropy(a);
    return;
  }
  const args = rt.argv;
  args[0] = rt.ptr(a.logits);
  args[1] = rt.ptr(a.targets);
  args[2] = rt.ptr(a.loss);
  args[3] = rt.ptr(a.lse);
  args[4] = classes;
  args[5] = ignoreIndex;
  runRows(rt, "ce_fwd", rows, classes);
}

export function crossEntropyBackwardF32(rt: Runtime, a: CrossEntropyBackwardArgs): void {
  const { rows, classes, ignoreIndex } = a;
  if (rows === 0 || classes === 0 || !targetsValid(rt, a.targets, rows, classes, ignoreIndex)) {
    rt.reference.crossEntropyBackward(a);
    return;
  }
  const args = rt.argv;
  args[0] = rt.ptr(a.logits);
  args[1] = rt.ptr(a.targets);
  args[2] = rt.ptr(a.lse);
  args[3] = rt.ptr(a.dloss);
  args[4] = rt.ptr(a.dlogits);
  args[5] = classes;
  args[6] = ignoreIndex;
  runRows(rt, "ce_bwd", rows, classes);
}
