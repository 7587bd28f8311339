/**
 * The kernel table: the wasm kernels for float32, the reference kernels on views of the wasm
 * memory for everything else.
 */
import type { KernelTable } from "@bmojo/tensor";
import type { Runtime } from "../runtime.js";
import { attentionBackwardF32, attentionF32 } from "./attention.js";
import { causalConv1dBackwardF32, causalConv1dF32, causalConv1dStepF32 } from "./conv.js";
import {
  adamwF32,
  binaryF32,
  copy4,
  siluMulF32,
  unaryBackwardF32,
  unaryF32,
} from "./elementwise.js";
import { matmulF32 } from "./matmul.js";
import { addRmsNormF32, rmsNormBackwardF32, rmsNormF32 } from "./norm.js";
import { reduceF32 } from "./reduce.js";
import { selectiveScanBackwardF32, selectiveScanF32, selectiveScanStepF32 } from "./scan.js";
import {
  crossEntropyBackwardF32,
  crossEntropyF32,
  softmaxBackwardF32,
  softmaxF32,
} from "./softmax.js";

export function wasmKernels(rt: Runtime): KernelTable {
  const ref = rt.reference;
  return {
    ...ref,
    unary: (a) => (a.dtype === "float32" ? unaryF32(rt, a) : ref.unary(a)),
    unaryBackward: (a) => (a.dtype === "float32" ? unaryBackwardF32(rt, a) : ref.unaryBackward(a)),
    binary: (a) => (a.dtype === "float32" ? binaryF32(rt, a) : ref.binary(a)),
    copy: (a) => (a.dtype === "float64" ? ref.copy(a) : copy4(rt, a)),
    adamw: (a) => (a.dtype === "float32" ? adamwF32(rt, a) : ref.adamw(a)),
    rmsNorm: (a) => (a.dtype === "float32" ? rmsNormF32(rt, a) : ref.rmsNorm(a)),
    rmsNormBackward: (a) =>
      a.dtype === "float32" ? rmsNormBackwardF32(rt, a) : ref.rmsNormBackward(a),
    addRmsNorm: (a) => (a.dtype === "float32" ? addRmsNormF32(rt, a) : ref.addRmsNorm(a)),
    siluMul: (a) => (a.dtype === "float32" ? siluMulF32(rt, a) : ref.siluMul(a)),
    softmax: (a) => (a.dtype === "float32" ? softmaxF32(rt, a) : ref.softmax(a)),
    softmaxBackward: (a) =>
      a.dtype === "float32" ? softmaxBackwardF32(rt, a) : ref.softmaxBackward(a),
    crossEntropy: (a) => (a.dtype === "float32" ? crossEntropyF32(rt, a) : ref.crossEntropy(a)),
    crossEntropyBackward: (a) =>
      a.dtype === "float32" ? crossEntropyBackwardF32(rt, a) : ref.crossEntropyBackward(a),
    reduce: (a) => (a.dtype === "float32" ? reduceF32(rt, a) : ref.reduce(a)),
    matmul: (a) => (a.dtype === "float32" ? matmulF32(rt, a) : ref.matmul(a)),
    selectiveScan: (a) => (a.dtype === "float32" ? selectiveScanF32(rt, a) : ref.selectiveScan(a)),
    selectiveScanBackward: (a) =>
      a.dtype === "float32" ? selectiveScanBackwardF32(rt, a) : ref.selectiveScanBackward(a),
    selectiveScanStep: (a) =>
      a.dtype === "float32" ? selectiveScanStepF32(rt, a) : ref.selectiveScanStep(a),
    causalConv1d: (a) => (a.dtype === "float32" ? causalConv1dF32(rt, a) : ref.causalConv1d(a)),
    causalConv1dBackward: (a) =>
      a.dtype === "float32" ? causalConv1dBackwardF32(rt, a) : ref.causalConv1dBackward(a),
    causalConv1dStep: (a) =>
      a.dtype === "float32" ? causalConv1dStepF32(rt, a) : ref.causalConv1dStep(a),
    attention: (a) => (a.dtype === "float32" ? attentionF32(rt, a) : ref.attention(a)),
    attentionBackward: (a) =>
      a.dtype === "float32" ? attentionBackwardF32(rt, a) : ref.attentionBackward(a),
  };
}
