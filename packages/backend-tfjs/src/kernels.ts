/**
 * The primitive kernels of the tfjs adapter: each reads its inputs as tensors (strided views
 * where the kernel has strides), computes with @tensorflow/tfjs-core ops, and replaces its output
 * buffers' tensors. Every kernel body runs inside tf.tidy, so intermediates are freed on return.
 */
import type {
  AddRmsNormArgs,
  AdamwArgs,
  BinaryArgs,
  CastArgs,
  CopyArgs,
  CrossEntropyArgs,
  CrossEntropyBackwardArgs,
  FillArgs,
  GatherArgs,
  MatmulArgs,
  ReduceArgs,
  RmsNormArgs,
  RmsNormBackwardArgs,
  RopeArgs,
  ScatterAddArgs,
  ScatterArgs,
  SiluMulArgs,
  SoftmaxArgs,
  SoftmaxBackwardArgs,
  UnaryArgs,
  UnaryBackwardArgs,
  UnaryOp,
  WhereArgs,
} from "@bmojo/tensor";
import * as tf from "@tensorflow/tfjs-core";
import { type TensorStore, requireFloat, stridedView, stridedWrite, tfDType } from "./store.js";

const INT32_UNARY_OPS: readonly UnaryOp[] = ["neg", "abs", "sign", "square"];

/** softplus as the reference defines it: x for x > 20, else log1p(exp(x)). */
export function softplus(x: tf.Tensor): tf.Tensor {
  return tf.where(tf.greater(x, 20), x, tf.log1p(tf.exp(tf.minimum(x, 20))));
}

export function silu(x: tf.Tensor): tf.Tensor {
  return tf.mul(x, tf.sigmoid(x));
}

/** silu'(x) = σ(x)·(1 + x·(1 − σ(x))). */
export function siluDerivative(x: tf.Tensor): tf.Tensor {
  const s = tf.sigmoid(x);
  return tf.mul(s, tf.add(1, tf.mul(x, tf.sub(1, s))));
}

/** softplus'(x) as the reference defines it: 1 for x > 20, else σ(x). */
export function softplusDerivative(x: tf.Tensor): tf.Tensor {
  return tf.where(tf.greater(x, 20), tf.onesLike(x), tf.sigmoid(x));
}

function unaryMap(op: UnaryOp, x: tf.Tensor): tf.Tensor {
  switch (op) {
    case "neg":
      return tf.neg(x);
    case "abs":
      return tf.abs(x);
    case "sign":
      return tf.sign(x);
    case "exp":
      return tf.exp(x);
    case "log":
      return tf.log(x);
    case "sqrt":
      return tf.sqrt(x);
    case "rsqrt":
      return tf.rsqrt(x);
    case "square":
      return x.dtype === "int32" ? tf.mul(x, x) : tf.square(x);
    case "reciprocal":
      return tf.reciprocal(x);
    case "sin":
      return tf.sin(x);
    case "cos":
      return tf.cos(x);
    case "tanh":
      return tf.tanh(x);
    case "sigmoid":
      return tf.sigmoid(x);
    case "silu":
      return silu(x);
    case "softplus":
      return softplus(x);
    case "relu":
      return tf.relu(x);
    case "floor":
      return tf.floor(x);
  }
}

/** f'(x) (times nothing): the factor dy is multiplied by. */
function unaryDerivative(op: UnaryOp, x: tf.Tensor): tf.Tensor | null {
  switch (op) {
    case "neg":
      return tf.neg(tf.onesLike(x));
    case "abs":
      return tf.sign(x);
    case "sign":
    case "floor":
      return null;
    case "exp":
      return tf.exp(x);
    case "log":
      return tf.reciprocal(x);
    case "sqrt":
      return tf.div(0.5, tf.sqrt(x));
    case "rsqrt":
      return tf.div(-0.5, tf.mul(x, tf.sqrt(x)));
    case "square":
      return tf.mul(2, x);
    case "reciprocal":
      return tf.neg(tf.reciprocal(tf.square(x)));
    case "sin":
      return tf.cos(x);
    case "cos":
      return tf.neg(tf.sin(x));
    case "tanh": {
      const t = tf.tanh(x);
      return tf.sub(1, tf.square(t));
    }
    case "sigmoid": {
      const s = tf.sigmoid(x);
      return tf.mul(s, tf.sub(1, s));
    }
    case "silu":
      return siluDerivative(x);
    case "softplus":
      return softplusDerivative(x);
    case "relu":
      return tf.cast(tf.greater(x, 0), "float32");
  }
}

/** int32 division truncating toward zero, x / 0 = 0. */
function intDiv(a: tf.Tensor, b: tf.Tensor): tf.Tensor {
  const zero = tf.equal(b, 0);
  const safe = tf.where(zero, tf.onesLike(b), b);
  const q = tf.floorDiv(tf.abs(a), tf.abs(safe));
  const signed = tf.mul(q, tf.mul(tf.sign(a), tf.sign(safe)));
  return tf.where(zero, tf.zerosLike(signed), signed);
}

function binaryMap(op: BinaryArgs["op"], a: tf.Tensor, b: tf.Tensor): tf.Tensor {
  switch (op) {
    case "add":
      return tf.add(a, b);
    case "sub":
      return tf.sub(a, b);
    case "mul":
      return tf.mul(a, b);
    case "div":
      return a.dtype === "int32" ? intDiv(a, b) : tf.div(a, b);
    case "pow":
      return tf.pow(a, b);
    case "maximum":
      return tf.maximum(a, b);
    case "minimum":
      return tf.minimum(a, b);
    case "eq":
      return tf.cast(tf.equal(a, b), "int32");
    case "ne":
      return tf.cast(tf.notEqual(a, b), "int32");
    case "lt":
      return tf.cast(tf.less(a, b), "int32");
    case "le":
      return tf.cast(tf.lessEqual(a, b), "int32");
    case "gt":
      return tf.cast(tf.greater(a, b), "int32");
    case "ge":
      return tf.cast(tf.greaterEqual(a, b), "int32");
  }
}

function checkIndices(kernel: string, indices: Int32Array | Float32Array, rows: number): void {
  for (let j = 0; j < indices.length; j++) {
    const i = indices[j];
    if (!(i >= 0 && i < rows)) {
      throw new RangeError(
        `tfjs backend: ${kernel}: index ${i} at position ${j} is out of range [0, ${rows})`,
      );
    }
  }
}

export function primitiveKernels(s: TensorStore) {
  return {
    unary(a: UnaryArgs): void {
      if (a.dtype === "int32" && !INT32_UNARY_OPS.includes(a.op)) {
        throw new TypeError(
          `tfjs backend: unary: op "${a.op}" does not support dtype int32; int32 supports ${INT32_UNARY_OPS.join(", ")}`,
        );
      }
      tfDType(a.dtype, "unary");
      tf.tidy(() => s.set(a.out, unaryMap(a.op, s.prefix(a.x, a.dtype, [a.size]))));
    },

    unaryBackward(a: UnaryBackwardArgs): void {
      requireFloat(a.dtype, `unaryBackward: op "${a.op}"`);
      tf.tidy(() => {
        const x = s.prefix(a.x, a.dtype, [a.size]);
        const d = unaryDerivative(a.op, x);
        s.set(a.dx, d === null ? tf.zeros([a.size]) : tf.mul(s.prefix(a.dy, a.dtype, [a.size]), d));
      });
    },

    binary(a: BinaryArgs): void {
      tfDType(a.dtype, "binary");
      tf.tidy(() => {
        const x = stridedView(s.get(a.a, a.dtype), a.shape, a.aStrides, 0);
        const y = stridedView(s.get(a.b, a.dtype), a.shape, a.bStrides, 0);
        s.set(a.out, binaryMap(a.op, x, y));
      });
    },

    where(a: WhereArgs): void {
      tfDType(a.dtype, "where");
      tf.tidy(() => {
        const c = stridedView(s.get(a.cond, "int32"), a.shape, a.condStrides, 0);
        const x = stridedView(s.get(a.a, a.dtype), a.shape, a.aStrides, 0);
        const y = stridedView(s.get(a.b, a.dtype), a.shape, a.bStrides, 0);
        s.set(a.out, tf.where(tf.notEqual(c, 0), x, y));
      });
    },

    reduce(a: ReduceArgs): void {
      tfDType(a.dtype, "reduce");
      if (a.op === "mean") requireFloat(a.dtype, 'reduce: op "mean"');
      tf.tidy(() => {
        const x = s.prefix(a.x, a.dtype, [a.outer, a.size, a.inner]);
        switch (a.op) {
          case "sum":
            return s.set(a.out, tf.sum(x, 1));
          case "mean":
            return s.set(a.out, tf.mean(x, 1));
          case "max":
            return s.set(a.out, tf.max(x, 1));
          case "min":
            return s.set(a.out, tf.min(x, 1));
          case "argmax":
            return s.set(a.out, tf.argMax(x, 1));
          case "argmin":
            return s.set(a.out, tf.argMin(x, 1));
        }
      });
    },

    matmul(a: MatmulArgs): void {
      requireFloat(a.dtype, "matmul");
      tf.tidy(() => {
        const [ar, ac] = a.transA ? [a.k, a.m] : [a.m, a.k];
        const [br, bc] = a.transB ? [a.n, a.k] : [a.k, a.n];
        // A batch stride of 0 is one matrix that tf.matMul broadcasts over the batch.
        const x = stridedView(
          s.get(a.a, a.dtype),
          [a.aBatchStride === 0 ? 1 : a.batch, ar, ac],
          [a.aBatchStride, ac, 1],
          0,
        ) as tf.Tensor3D;
        const y = stridedView(
          s.get(a.b, a.dtype),
          [a.bBatchStride === 0 ? 1 : a.batch, br, bc],
          [a.bBatchStride, bc, 1],
          0,
        ) as tf.Tensor3D;
        let out = tf.matMul(x, y, a.transA, a.transB);
        if (out.shape[0] !== a.batch) out = tf.broadcastTo(out, [a.batch, a.m, a.n]);
        s.set(a.out, out);
      });
    },

    copy(a: CopyArgs): void {
      tfDType(a.dtype, "copy");
      tf.tidy(() => {
        const x = stridedView(s.get(a.x, a.dtype), a.shape, a.xStrides, a.xOffset);
        s.set(a.out, stridedWrite(s.get(a.out, a.dtype), x, a.shape, a.outStrides, a.outOffset));
      });
    },

    gather(a: GatherArgs): void {
      tfDType(a.dtype, "gather");
      tf.tidy(() => {
        const idx = s.prefix(a.indices, "int32", [a.count]);
        checkIndices("gather", idx.dataSync() as Int32Array, a.rows);
        const table = s.prefix(a.table, a.dtype, [a.outer, a.rows, a.inner]);
        s.set(a.out, tf.gather(table, idx, 1));
      });
    },

    scatterAdd(a: ScatterAddArgs): void {
      tfDType(a.dtype, "scatterAdd");
      if (a.count === 0) return; // nothing to add
      tf.tidy(() => {
        const idx = s.prefix(a.indices, "int32", [a.count]);
        checkIndices("scatterAdd", idx.dataSync() as Int32Array, a.rows);
        // [outer, count, inner] → [count, outer·inner] rows, summed per index (scatterND adds
        // duplicate indices) into [rows, outer·inner], then back to [outer, rows, inner].
        const updates = tf.reshape(
          tf.transpose(s.prefix(a.updates, a.dtype, [a.outer, a.count, a.inner]), [1, 0, 2]),
          [a.count, a.outer * a.inner],
        );
        const summed = tf.scatterND(tf.reshape(idx, [a.count, 1]), updates, [
          a.rows,
          a.outer * a.inner,
        ]);
        const sums = tf.transpose(tf.reshape(summed, [a.rows, a.outer, a.inner]), [1, 0, 2]);
        const size = a.outer * a.rows * a.inner;
        s.set(a.out, tf.add(s.prefix(a.out, a.dtype, [size]), tf.reshape(sums, [size])));
      });
    },

    scatter(a: ScatterArgs): void {
      tfDType(a.dtype, "scatter");
      if (a.count === 0) return; // nothing to write
      tf.tidy(() => {
        const idx = s.prefix(a.indices, "int32", [a.count]).dataSync() as Int32Array;
        checkIndices("scatter", idx, a.rows);
        // Row r of out comes from row rows + j of [out; updates] (concatenated on axis 1) when
        // indices[j] = r (the last such j), else from row r itself: one gather on axis 1.
        const source = new Int32Array(a.rows);
        for (let r = 0; r < a.rows; r++) source[r] = r;
        for (let j = 0; j < a.count; j++) source[idx[j]] = a.rows + j;
        const both = tf.concat(
          [
            s.prefix(a.out, a.dtype, [a.outer, a.rows, a.inner]),
            s.prefix(a.updates, a.dtype, [a.outer, a.count, a.inner]),
          ],
          1,
        );
        s.set(a.out, tf.gather(both, tf.tensor1d(source, "int32"), 1));
      });
    },

    cast(a: CastArgs): void {
      const to = tfDType(a.to, "cast");
      tfDType(a.from, "cast");
      tf.tidy(() => s.set(a.out, tf.cast(s.prefix(a.x, a.from, [a.size]), to)));
    },

    fill(a: FillArgs): void {
      const dtype = tfDType(a.dtype, "fill");
      tf.tidy(() =>
        s.set(a.out, tf.fill([a.size], dtype === "int32" ? a.value | 0 : a.value, dtype)),
      );
    },

    softmax(a: SoftmaxArgs): void {
      requireFloat(a.dtype, "softmax");
      tf.tidy(() => s.set(a.out, tf.softmax(s.prefix(a.x, a.dtype, [a.rows, a.cols]))));
    },

    softmaxBackward(a: SoftmaxBackwardArgs): void {
      requireFloat(a.dtype, "softmaxBackward");
      tf.tidy(() => {
        const y = s.prefix(a.y, a.dtype, [a.rows, a.cols]);
        const dy = s.prefix(a.dy, a.dtype, [a.rows, a.cols]);
        const dot = tf.sum(tf.mul(dy, y), 1, true);
        s.set(a.dx, tf.mul(y, tf.sub(dy, dot)));
      });
    },

    rmsNorm(a: RmsNormArgs): void {
      requireFloat(a.dtype, "rmsNorm");
      tf.tidy(() => normRows(s, s.prefix(a.x, a.dtype, [a.rows, a.cols]), a));
    },

    addRmsNorm(a: AddRmsNormArgs): void {
      requireFloat(a.dtype, "addRmsNorm");
      tf.tidy(() => {
        const shape = [a.rows, a.cols];
        const sum = tf.add(s.prefix(a.x, a.dtype, shape), s.prefix(a.residual, a.dtype, shape));
        s.set(a.sum, sum);
        normRows(s, sum, a);
      });
    },

    siluMul(a: SiluMulArgs): void {
      requireFloat(a.dtype, "siluMul");
      tf.tidy(() =>
        s.set(
          a.out,
          tf.mul(silu(s.prefix(a.gate, a.dtype, [a.size])), s.prefix(a.up, a.dtype, [a.size])),
        ),
      );
    },

    rope(a: RopeArgs): void {
      requireFloat(a.dtype, "rope");
      tf.tidy(() => {
        const half = a.headDim / 2;
        const table = (id: number) =>
          tf.slice(
            s.prefix(id, a.dtype, [a.positionOffset + a.length, half]),
            [a.positionOffset, 0],
            [a.length, half],
          );
        const c = table(a.cos);
        const sn = a.inverse ? tf.neg(table(a.sin)) : table(a.sin);
        const [x1, x2] = tf.split(s.prefix(a.x, a.dtype, [a.rows, a.length, a.headDim]), 2, 2);
        s.set(
          a.out,
          tf.concat(
            [tf.sub(tf.mul(x1, c), tf.mul(x2, sn)), tf.add(tf.mul(x2, c), tf.mul(x1, sn))],
            2,
          ),
        );
      });
    },

    rmsNormBackward(a: RmsNormBackwardArgs): void {
      requireFloat(a.dtype, "rmsNormBackward");
      tf.tidy(() => {
        const x = s.prefix(a.x, a.dtype, [a.rows, a.cols]);
        const w = s.prefix(a.weight, a.dtype, [a.cols]);
        const r = s.prefix(a.rstd, a.dtype, [a.rows, 1]);
        const dy = s.prefix(a.dy, a.dtype, [a.rows, a.cols]);
        const g = tf.mul(dy, w);
        // dx = r·g − x·r³·mean(g·x)
        const dot = tf.mean(tf.mul(g, x), 1, true);
        s.set(a.dx, tf.sub(tf.mul(r, g), tf.mul(x, tf.mul(tf.pow(r, 3), dot))));
        s.set(a.dweight, tf.sum(tf.mul(dy, tf.mul(x, r)), 0));
      });
    },

    crossEntropy(a: CrossEntropyArgs): void {
      requireFloat(a.dtype, "crossEntropy");
      tf.tidy(() => {
        const t = checkedTargets(s, a);
        const logits = s.prefix(a.logits, a.dtype, [a.rows, a.classes]);
        const lse = tf.logSumExp(logits, 1);
        const valid = tf.notEqual(t, a.ignoreIndex);
        const onehot = tf.cast(
          tf.oneHot(tf.where(valid, t, tf.zerosLike(t)), a.classes),
          "float32",
        );
        const picked = tf.sum(tf.mul(logits, onehot), 1);
        s.set(a.loss, tf.where(valid, tf.sub(lse, picked), tf.zerosLike(lse)));
        s.set(a.lse, lse);
      });
    },

    crossEntropyBackward(a: CrossEntropyBackwardArgs): void {
      requireFloat(a.dtype, "crossEntropyBackward");
      tf.tidy(() => {
        const t = checkedTargets(s, a);
        const logits = s.prefix(a.logits, a.dtype, [a.rows, a.classes]);
        const lse = s.prefix(a.lse, a.dtype, [a.rows, 1]);
        const valid = tf.notEqual(t, a.ignoreIndex);
        const onehot = tf.cast(
          tf.oneHot(tf.where(valid, t, tf.zerosLike(t)), a.classes),
          "float32",
        );
        const dloss = tf.reshape(
          tf.where(valid, s.prefix(a.dloss, a.dtype, [a.rows]), tf.zeros([a.rows])),
          [a.rows, 1],
        );
        s.set(a.dlogits, tf.mul(dloss, tf.sub(tf.exp(tf.sub(logits, lse)), onehot)));
      });
    },

    adamw(a: AdamwArgs): void {
      requireFloat(a.dtype, "adamw");
      tf.tidy(() => {
        const n = [a.size];
        const g = s.prefix(a.grad, a.dtype, n);
        const m = tf.add(tf.mul(s.prefix(a.m, a.dtype, n), a.beta1), tf.mul(g, 1 - a.beta1));
        const v = tf.add(
          tf.mul(s.prefix(a.v, a.dtype, n), a.beta2),
          tf.mul(tf.square(g), 1 - a.beta2),
        );
        let p = s.prefix(a.param, a.dtype, n);
        p = tf.sub(p, tf.mul(p, a.lr * a.weightDecay));
        const stepSize = a.lr / (1 - a.beta1 ** a.step);
        const denom = tf.add(tf.div(tf.sqrt(v), Math.sqrt(1 - a.beta2 ** a.step)), a.eps);
        p = tf.sub(p, tf.mul(tf.div(m, denom), stepSize));
        s.set(a.m, m);
        s.set(a.v, v);
        s.set(a.param, p);
      });
    },
  };
}

/** out = x · rstd · weight and rstd = 1/sqrt(mean(x²) + eps) per row of x [rows, cols]. */
function normRows(
  s: TensorStore,
  x: tf.Tensor,
  a: Pick<RmsNormArgs, "dtype" | "weight" | "out" | "rstd" | "cols" | "eps">,
): void {
  const w = s.prefix(a.weight, a.dtype, [a.cols]);
  const rstd = tf.rsqrt(tf.add(tf.mean(tf.square(x), 1, true), a.eps));
  s.set(a.out, tf.mul(tf.mul(x, rstd), w));
  s.set(a.rstd, rstd);
}

function checkedTargets(
  s: TensorStore,
  a: { targets: number; rows: number; classes: number; ignoreIndex: number },
): tf.Tensor {
  const t = s.prefix(a.targets, "int32", [a.rows]);
  const host = t.dataSync();
  for (let r = 0; r < host.length; r++) {
    const v = host[r];
    if (v !== a.ignoreIndex && !(v >= 0 && v < a.classes)) {
      throw new RangeError(
        `tfjs backend: crossEntropy: target ${v} at row ${r} is out of range [0, ${a.classes}) and is not ignoreIndex ${a.ignoreIndex}`,
      );
    }
  }
  return t;
}
