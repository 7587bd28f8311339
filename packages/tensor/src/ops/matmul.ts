/** Batched matrix multiplication with transposes and batch broadcasting. */
import { broadcastShapes, formatShape, sizeOf } from "../shape.js";
import type { Tensor } from "../tensor.js";
import {
  assertFloat,
  assertSameDType,
  backendOf,
  emptyTensor,
  kernel,
  recordGrad,
} from "./internal.js";
import { sumTo } from "./reduction.js";
import { broadcastTo, reshape } from "./shape-ops.js";

const NO_AXES: readonly number[] = Object.freeze([]);

export interface MatmulOptions {
  /** Use aᵀ: a is [..., k, m]. */
  transposeA?: boolean;
  /** Use bᵀ: b is [..., n, k] (a Linear weight [out, in] multiplies as matmul(x, w, { transposeB: true })). */
  transposeB?: boolean;
}

/**
 * op(a) · op(b) over the last two axes; leading (batch) axes broadcast.
 * a: [..., m, k] and b: [..., k, n] → [..., m, n].
 */
export function matmul(a: Tensor, b: Tensor, options: MatmulOptions = {}): Tensor {
  const transA = options.transposeA ?? false;
  const transB = options.transposeB ?? false;
  const backend = backendOf("matmul", a, b);
  assertFloat("matmul", "a", a);
  const dtype = assertSameDType("matmul", { a, b });
  if (a.rank < 2 || b.rank < 2) {
    throw new RangeError(
      `matmul: a ${formatShape(a.shape)} and b ${formatShape(b.shape)} must both have rank ≥ 2; reshape vectors to [1, n] or [n, 1].`,
    );
  }
  const m = a.shape[a.rank - (transA ? 1 : 2)];
  const k = a.shape[a.rank - (transA ? 2 : 1)];
  const kb = b.shape[b.rank - (transB ? 1 : 2)];
  const n = b.shape[b.rank - (transB ? 2 : 1)];
  if (k !== kb) {
    throw new RangeError(
      `matmul: inner dimensions differ: a ${formatShape(a.shape)}${transA ? "ᵀ" : ""} has k = ${k} but ` +
        `b ${formatShape(b.shape)}${transB ? "ᵀ" : ""} has k = ${kb}.`,
    );
  }
  const batchA = a.rank > 2 ? a.shape.slice(0, -2) : NO_AXES;
  const batchB = b.rank > 2 ? b.shape.slice(0, -2) : NO_AXES;
  const batch = broadcastShapes("matmul (batch axes)", batchA, batchB);

  // A shared right-hand matrix: fold a's batch into its rows and run one 2-D product.
  if (sizeOf(batchB) === 1 && batchA.length > 0 && !transA && sizeOf(batchA) > 1) {
    const a2 = reshape(a, [sizeOf(batchA) * m, k]);
    const b2 = b.rank === 2 ? b : reshape(b, b.shape.slice(-2));
    const c2 = matmul(a2, b2, options);
    const out = reshape(c2, [...batch, m, n]);
    a2.dispose();
    if (b2 !== b) b2.dispose();
    c2.dispose();
    return out;
  }

  const count = sizeOf(batch);
  const operand = (t: Tensor, own: readonly number[]): [Tensor, number] => {
    if (sizeOf(own) === 1) return [t, 0];
    const matrix = t.shape.slice(-2);
    const padded = [...new Array(batch.length - own.length).fill(1), ...own];
    if (padded.every((d, i) => d === batch[i])) return [t, sizeOf(matrix)];
    return [broadcastTo(t, [...batch, ...matrix]), sizeOf(matrix)];
  };
  const [aFull, aStride] = operand(a, batchA);
  const [bFull, bStride] = operand(b, batchB);
  const out = emptyTensor([...batch, m, n], dtype, backend);
  if (out.size > 0 && k === 0) {
    kernel(backend, "fill")({ dtype, out: out.storage.id, value: 0, size: out.size });
  } else if (out.size > 0) {
    kernel(
      backend,
      "matmul",
    )({
      dtype,
      a: aFull.storage.id,
      b: bFull.storage.id,
      out: out.storage.id,
      batch: count,
      m,
      n,
      k,
      transA,
      transB,
      aBatchStride: aStride,
      bBatchStride: bStride,
    });
  }
  if (aFull !== a) aFull.dispose();
  if (bFull !== b) bFull.dispose();

  recordGrad("matmul", [a, b], [out], [a, b], ([dy], [as, bs]) => {
    const da = transA
      ? matmul(bs, dy, { transposeA: transB, transposeB: true })
      : matmul(dy, bs, { transposeB: !transB });
    const db = transB
      ? matmul(dy, as, { transposeA: true, transposeB: transA })
      : matmul(as, dy, { transposeA: !transA });
    return [sumTo(da, a.shape), sumTo(db, b.shape)];
  });
  return out;
}
