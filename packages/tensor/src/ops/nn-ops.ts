/** Fused nn routines: softmax, logSoftmax, rmsNorm, addRmsNorm, crossEntropy. */
import { tidy } from "../engine.js";
import { formatShape, normalizeAxis, shapesEqual } from "../shape.js";
import type { Tensor } from "../tensor.js";
import { full } from "./creation.js";
import { add, cast, div, maximum, notEqual, sub } from "./elementwise.js";
import {
  assertDTypeIs,
  assertFloat,
  assertSameDType,
  backendOf,
  emptyTensor,
  kernel,
  recordGrad,
} from "./internal.js";
import { logSumExp, sum } from "./reduction.js";
import { reshape, transpose } from "./shape-ops.js";

/** Runs `fn` on x with `axis` moved last, then moves it back. */
function alongLastAxis(x: Tensor, axis: number, op: string, fn: (t: Tensor) => Tensor): Tensor {
  const ax = normalizeAxis(op, axis, x.rank);
  if (ax === x.rank - 1) return fn(x);
  const perm = x.shape.map((_, i) => i);
  perm[ax] = x.rank - 1;
  perm[x.rank - 1] = ax;
  const moved = transpose(x, perm);
  const y = fn(moved);
  const out = transpose(y, perm);
  moved.dispose();
  y.dispose();
  return out;
}

/** exp(x) / Σ exp(x) along `axis` (default the last). */
export function softmax(x: Tensor, axis = -1): Tensor {
  assertFloat("softmax", "x", x);
  return alongLastAxis(x, axis, "softmax", (t) => {
    const backend = backendOf("softmax", t);
    const cols = t.shape[t.rank - 1] ?? 1;
    const rows = cols === 0 ? 0 : t.size / cols;
    const out = emptyTensor(t.shape, t.dtype, backend);
    if (t.size > 0)
      kernel(
        backend,
        "softmax",
      )({ dtype: t.dtype, x: t.storage.id, out: out.storage.id, rows, cols });
    recordGrad("softmax", [t], [out], [out], ([dy], [y]) => {
      const dx = emptyTensor(y.shape, y.dtype, y.backend);
      if (y.size > 0) {
        kernel(
          y.backend,
          "softmaxBackward",
        )({
          dtype: y.dtype,
          y: y.storage.id,
          dy: dy.storage.id,
          dx: dx.storage.id,
          rows,
          cols,
        });
      }
      return [dx];
    });
    return out;
  });
}

/** x − logsumexp(x) along `axis`. */
export function logSoftmax(x: Tensor, axis = -1): Tensor {
  return tidy(() => sub(x, logSumExp(x, axis, true)));
}

/** x / sqrt(mean(x², last axis) + eps) · weight, with weight [d] for x [..., d]. */
export function rmsNorm(x: Tensor, weight: Tensor, eps = 1e-5): Tensor {
  const backend = backendOf("rmsNorm", x, weight);
  assertFloat("rmsNorm", "x", x);
  const dtype = assertSameDType("rmsNorm", { x, weight });
  const cols = x.shape[x.rank - 1];
  if (x.rank === 0 || weight.rank !== 1 || weight.shape[0] !== cols) {
    throw new RangeError(
      `rmsNorm: weight must have shape [${x.rank === 0 ? "d" : cols}] for x ${formatShape(x.shape)}, got ${formatShape(weight.shape)}.`,
    );
  }
  if (!(eps > 0)) throw new RangeError(`rmsNorm: eps must be > 0, got ${eps}.`);
  const rows = cols === 0 ? 0 : x.size / cols;
  const out = emptyTensor(x.shape, dtype, backend);
  const rstd = emptyTensor([rows], dtype, backend);
  if (x.size > 0) {
    kernel(
      backend,
      "rmsNorm",
    )({
      dtype,
      x: x.storage.id,
      weight: weight.storage.id,
      out: out.storage.id,
      rstd: rstd.storage.id,
      rows,
      cols,
      eps,
    });
  }
  recordGrad("rmsNorm", [x, weight], [out], [x, weight, rstd], ([dy], [xs, ws, rs]) =>
    rmsNormBackward(xs, ws, rs, dy),
  );
  rstd.dispose();
  return out;
}

/** [dx, dweight] of rmsNorm through the rmsNormBackward kernel (x [..., d], rstd [rows]). */
function rmsNormBackward(x: Tensor, weight: Tensor, rstd: Tensor, dy: Tensor): [Tensor, Tensor] {
  const cols = weight.shape[0];
  const dx = emptyTensor(x.shape, x.dtype, x.backend);
  const dw = emptyTensor(weight.shape, x.dtype, x.backend);
  kernel(
    x.backend,
    "rmsNormBackward",
  )({
    dtype: x.dtype,
    x: x.storage.id,
    weight: weight.storage.id,
    rstd: rstd.storage.id,
    dy: dy.storage.id,
    dx: dx.storage.id,
    dweight: dw.storage.id,
    rows: cols === 0 ? 0 : x.size / cols,
    cols,
  });
  return [dx, dw];
}

/**
 * A pre-norm block's residual add and the RMSNorm after it: sum = x + residual and out =
 * rmsNorm(sum, weight, eps), for x and residual of one shape [..., d]. One `addRmsNorm` kernel
 * (one pass over each row) where the backend has it, else `add` then `rmsNorm`; the values are the
 * same either way. Both results are new tensors; gradients flow into x, residual and weight.
 */
export function addRmsNorm(
  x: Tensor,
  residual: Tensor,
  weight: Tensor,
  eps = 1e-5,
): { sum: Tensor; out: Tensor } {
  const op = "addRmsNorm";
  const backend = backendOf(op, x, residual, weight);
  assertFloat(op, "x", x);
  const dtype = assertSameDType(op, { x, residual, weight });
  if (!shapesEqual(x.shape, residual.shape)) {
    throw new RangeError(
      `${op}: x ${formatShape(x.shape)} and residual ${formatShape(residual.shape)} must have one shape (no broadcasting).`,
    );
  }
  const cols = x.shape[x.rank - 1];
  if (x.rank === 0 || weight.rank !== 1 || weight.shape[0] !== cols) {
    throw new RangeError(
      `${op}: weight must have shape [${x.rank === 0 ? "d" : cols}] for x ${formatShape(x.shape)}, got ${formatShape(weight.shape)}.`,
    );
  }
  if (!(eps > 0)) throw new RangeError(`${op}: eps must be > 0, got ${eps}.`);
  if (backend.kernels.addRmsNorm === undefined) {
    const sum = add(x, residual);
    return { sum, out: rmsNorm(sum, weight, eps) };
  }
  const rows = cols === 0 ? 0 : x.size / cols;
  const sum = emptyTensor(x.shape, dtype, backend);
  const out = emptyTensor(x.shape, dtype, backend);
  const rstd = emptyTensor([rows], dtype, backend);
  if (x.size > 0) {
    kernel(
      backend,
      op,
    )({
      dtype,
      x: x.storage.id,
      residual: residual.storage.id,
      weight: weight.storage.id,
      sum: sum.storage.id,
      out: out.storage.id,
      rstd: rstd.storage.id,
      rows,
      cols,
      eps,
    });
  }
  recordGrad(
    op,
    [x, residual, weight],
    [sum, out],
    [sum, weight, rstd],
    ([dSum, dOut], [s, w, r]) => {
      const [dNormed, dw] = rmsNormBackward(s, w, r, dOut);
      const dx = add(dSum, dNormed);
      dNormed.dispose();
      return [dx, dx, dw];
    },
  );
  rstd.dispose();
  return { sum, out };
}

export interface CrossEntropyOptions {
  /** Targets equal to this are ignored (no loss, no gradient, not counted in the mean). */
  ignoreIndex?: number;
  /** "mean" over non-ignored targets (default), "sum", or "none" (per-target losses). */
  reduction?: "mean" | "sum" | "none";
}

/**
 * Cross-entropy of logits [..., V] against int32 class targets [...].
 * With reduction "mean", a batch whose targets are all ignored gives 0.
 */
export function crossEntropy(
  logits: Tensor,
  targets: Tensor,
  options: CrossEntropyOptions = {},
): Tensor {
  const ignoreIndex = options.ignoreIndex ?? -100;
  const reduction = options.reduction ?? "mean";
  backendOf("crossEntropy", logits, targets);
  assertFloat("crossEntropy", "logits", logits);
  assertDTypeIs("crossEntropy", "targets", targets, "int32");
  const lead = logits.shape.slice(0, -1);
  if (
    logits.rank < 1 ||
    targets.rank !== lead.length ||
    targets.shape.some((d, i) => d !== lead[i])
  ) {
    throw new RangeError(
      `crossEntropy: targets must have shape ${formatShape(lead)} for logits ${formatShape(logits.shape)} ` +
        `(one class index per row), got ${formatShape(targets.shape)}.`,
    );
  }
  if (!["mean", "sum", "none"].includes(reduction)) {
    throw new RangeError(
      `crossEntropy: reduction must be "mean", "sum" or "none", got ${JSON.stringify(reduction)}.`,
    );
  }
  return tidy(() => crossEntropyRows(logits, targets, ignoreIndex, reduction));
}

function crossEntropyRows(
  logits: Tensor,
  targets: Tensor,
  ignoreIndex: number,
  reduction: "mean" | "sum" | "none",
): Tensor {
  const backend = logits.backend;
  const classes = logits.shape[logits.rank - 1];
  const rows = targets.size;
  const dtype = logits.dtype;
  const loss = emptyTensor([rows], dtype, backend);
  const lse = emptyTensor([rows], dtype, backend);
  if (rows > 0) {
    kernel(
      backend,
      "crossEntropy",
    )({
      dtype,
      logits: logits.storage.id,
      targets: targets.storage.id,
      loss: loss.storage.id,
      lse: lse.storage.id,
      rows,
      classes,
      ignoreIndex,
    });
  }
  recordGrad(
    "crossEntropy",
    [logits, targets],
    [loss],
    [logits, targets, lse],
    ([dloss], [lg, tg, ls]) => {
      const dlogits = emptyTensor(lg.shape, dtype, lg.backend);
      kernel(
        lg.backend,
        "crossEntropyBackward",
      )({
        dtype,
        logits: lg.storage.id,
        targets: tg.storage.id,
        lse: ls.storage.id,
        dloss: dloss.storage.id,
        dlogits: dlogits.storage.id,
        rows,
        classes,
        ignoreIndex,
      });
      return [dlogits, null];
    },
  );
  if (reduction === "none") return reshape(loss, targets.shape);
  const total = sum(loss);
  if (reduction === "sum") return total;
  const count = maximum(
    sum(cast(notEqual(targets, ignoreIndex), dtype)),
    full([], 1, { dtype, backend }),
  );
  return div(total, count);
}
