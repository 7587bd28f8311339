/**
 * Marshallers of the row kernels (native/rows.cu: softmax, rmsNorm, addRmsNorm, crossEntropy
 * and the gradients), of rope (native/rope.cu) and of the causal conv kernels (native/conv.cu).
 * Each writes its arguments in the order the matching `kernel_<name>` reads them; optional
 * buffers are written as −1 when null.
 */
import type {
  AddRmsNormArgs,
  CausalConv1dArgs,
  CausalConv1dBackwardArgs,
  CausalConv1dStepArgs,
  ConvActivation,
  CrossEntropyArgs,
  CrossEntropyBackwardArgs,
  RmsNormArgs,
  RmsNormBackwardArgs,
  RopeArgs,
  SoftmaxArgs,
  SoftmaxBackwardArgs,
} from "@bmojo/tensor";
import type { Marshaller } from "./writer.js";

/** Activation codes read by conv.cu. */
const ACTIVATION_CODES: Record<ConvActivation, number> = { none: 0, silu: 1 };

function activationCode(activation: ConvActivation): number {
  const code = ACTIVATION_CODES[activation];
  if (code === undefined) throw new TypeError(`unknown conv activation ${String(activation)}`);
  return code;
}

/** dtype, x, out, rows, cols */
const softmax: Marshaller<SoftmaxArgs> = (a, w) => {
  w.dtype(a.dtype).buf(a.x).buf(a.out).num(a.rows).num(a.cols);
};

/** dtype, y, dy, dx, rows, cols */
const softmaxBackward: Marshaller<SoftmaxBackwardArgs> = (a, w) => {
  w.dtype(a.dtype).buf(a.y).buf(a.dy).buf(a.dx).num(a.rows).num(a.cols);
};

/** dtype, x, weight, out, rstd, rows, cols, eps */
const rmsNorm: Marshaller<RmsNormArgs> = (a, w) => {
  w.dtype(a.dtype).buf(a.x).buf(a.weight).buf(a.out).buf(a.rstd);
  w.num(a.rows).num(a.cols).num(a.eps);
};

/** dtype, x, residual, weight, sum, out, rstd, rows, cols, eps */
const addRmsNorm: Marshaller<AddRmsNormArgs> = (a, w) => {
  w.dtype(a.dtype).buf(a.x).buf(a.residual).buf(a.weight).buf(a.sum).buf(a.out).buf(a.rstd);
  w.num(a.rows).num(a.cols).num(a.eps);
};

/** dtype, x, cos, sin, out, rows, length, headDim, positionOffset, inverse (native/rope.cu) */
const rope: Marshaller<RopeArgs> = (a, w) => {
  w.dtype(a.dtype).buf(a.x).buf(a.cos).buf(a.sin).buf(a.out);
  w.num(a.rows)
    .num(a.length)
    .num(a.headDim)
    .num(a.positionOffset)
    .num(a.inverse ? 1 : 0);
};

/** dtype, x, weight, rstd, dy, dx, dweight, rows, cols */
const rmsNormBackward: Marshaller<RmsNormBackwardArgs> = (a, w) => {
  w.dtype(a.dtype).buf(a.x).buf(a.weight).buf(a.rstd).buf(a.dy).buf(a.dx).buf(a.dweight);
  w.num(a.rows).num(a.cols);
};

/** dtype, logits, targets, loss, lse, rows, classes, ignoreIndex */
const crossEntropy: Marshaller<CrossEntropyArgs> = (a, w) => {
  w.dtype(a.dtype).buf(a.logits).buf(a.targets).buf(a.loss).buf(a.lse);
  w.num(a.rows).num(a.classes).num(a.ignoreIndex);
};

/** dtype, logits, targets, lse, dloss, dlogits, rows, classes, ignoreIndex */
const crossEntropyBackward: Marshaller<CrossEntropyBackwardArgs> = (a, w) => {
  w.dtype(a.dtype).buf(a.logits).buf(a.targets).buf(a.lse).buf(a.dloss).buf(a.dlogits);
  w.num(a.rows).num(a.classes).num(a.ignoreIndex);
};

/**
 * dtype, x, weight, bias?, initialState?, out, finalState?, batch, length, channels, kernelSize,
 * activation
 */
const causalConv1d: Marshaller<CausalConv1dArgs> = (a, w) => {
  w.dtype(a.dtype).buf(a.x).buf(a.weight).optBuf(a.bias).optBuf(a.initialState);
  w.buf(a.out).optBuf(a.finalState);
  w.num(a.batch).num(a.length).num(a.channels).num(a.kernelSize);
  w.num(activationCode(a.activation));
};

/**
 * dtype, x, weight, bias?, initialState?, dy, dx, dweight, dbias?, dInitialState?, batch, length,
 * channels, kernelSize, activation
 */
const causalConv1dBackward: Marshaller<CausalConv1dBackwardArgs> = (a, w) => {
  w.dtype(a.dtype).buf(a.x).buf(a.weight).optBuf(a.bias).optBuf(a.initialState);
  w.buf(a.dy).buf(a.dx).buf(a.dweight).optBuf(a.dbias).optBuf(a.dInitialState);
  w.num(a.batch).num(a.length).num(a.channels).num(a.kernelSize);
  w.num(activationCode(a.activation));
};

/** dtype, x, state, weight, bias?, out, batch, channels, kernelSize, activation */
const causalConv1dStep: Marshaller<CausalConv1dStepArgs> = (a, w) => {
  w.dtype(a.dtype).buf(a.x).buf(a.state).buf(a.weight).optBuf(a.bias).buf(a.out);
  w.num(a.batch).num(a.channels).num(a.kernelSize);
  w.num(activationCode(a.activation));
};

export const rowMarshallers = {
  softmax,
  softmaxBackward,
  rmsNorm,
  rmsNormBackward,
  addRmsNorm,
  rope,
  crossEntropy,
  crossEntropyBackward,
  causalConv1d,
  causalConv1dBackward,
  causalConv1dStep,
};
