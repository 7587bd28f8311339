/**
 * Per-row softmax cross-entropy and its gradient for the reference cpu backend.
 *
 * logits and dlogits are [rows, classes] row-major; targets (int32), loss, lse and dloss are
 * [rows]. Sums are accumulated in JS doubles; results are rounded to `dtype` only when written.
 */
import type { CrossEntropyArgs, CrossEntropyBackwardArgs } from "../../backend/kernels.js";
import type { CpuStore } from "./store.js";

/**
 * Throws a RangeError for the first target that is neither in [0, classes) nor ignoreIndex.
 * Called before a kernel writes anything.
 */
function checkTargets(
  kernel: "crossEntropy" | "crossEntropyBackward",
  targets: Int32Array,
  rows: number,
  classes: number,
  ignoreIndex: number,
): void {
  for (let r = 0; r < rows; r++) {
    const target = targets[r];
    if (target === ignoreIndex) continue;
    if (target < 0 || target >= classes) {
      throw new RangeError(
        `${kernel}: target ${target} at row ${r} is out of range for ${classes} classes; ` +
          `targets must be in [0, ${classes}) or equal ignoreIndex (${ignoreIndex})`,
      );
    }
  }
}

/**
 * `lse[r] = log Σ_c exp(logits[r, c])` (max-subtracted) and `loss[r] = lse[r] − logits[r, t_r]`,
 * with `loss[r] = 0` where `t_r == ignoreIndex`. lse is written for every row, ignored ones too.
 * A target outside [0, classes) that is not ignoreIndex is a RangeError, raised before anything
 * is written.
 */
export function crossEntropy(s: CpuStore, a: CrossEntropyArgs): void {
  const { dtype, rows, classes, ignoreIndex } = a;
  const logits = s.float(a.logits, dtype);
  const targets = s.int32(a.targets);
  const loss = s.float(a.loss, dtype);
  const lseOut = s.float(a.lse, dtype);

  checkTargets("crossEntropy", targets, rows, classes, ignoreIndex);

  for (let r = 0; r < rows; r++) {
    const rowStart = r * classes;

    let rowMax = Number.NEGATIVE_INFINITY;
    for (let c = 0; c < classes; c++) {
      const value = logits[rowStart + c];
      if (value > rowMax) rowMax = value;
    }
    let sumExp = 0;
    for (let c = 0; c < classes; c++) sumExp += Math.exp(logits[rowStart + c] - rowMax);
    const lse = rowMax + Math.log(sumExp);

    lseOut[r] = lse;
    const target = targets[r];
    loss[r] = target === ignoreIndex ? 0 : lse - logits[rowStart + target];
  }
}

/**
 * `dlogits[r, c] = dloss[r] · (exp(logits[r, c] − lse[r]) − [c == t_r])`, using the lse the
 * forward pass wrote; rows with `t_r == ignoreIndex` get zeros. Targets are checked as in
 * crossEntropy.
 */
export function crossEntropyBackward(s: CpuStore, a: CrossEntropyBackwardArgs): void {
  const { dtype, rows, classes, ignoreIndex } = a;
  const logits = s.float(a.logits, dtype);
  const targets = s.int32(a.targets);
  const lse = s.float(a.lse, dtype);
  const dloss = s.float(a.dloss, dtype);
  const dlogits = s.float(a.dlogits, dtype);

  checkTargets("crossEntropyBackward", targets, rows, classes, ignoreIndex);

  for (let r = 0; r < rows; r++) {
    const rowStart = r * classes;
    const target = targets[r];

    if (target === ignoreIndex) {
      for (let c = 0; c < classes; c++) dlogits[rowStart + c] = 0;
      continue;
    }

    const rowLse = lse[r];
    const rowDloss = dloss[r];
    for (let c = 0; c < classes; c++) {
      const probability = Math.exp(logits[rowStart + c] - rowLse);
      const oneHot = c === target ? 1 : 0;
      dlogits[rowStart + c] = rowDloss * (probability - oneHot);
    }
  }
}
