/**
 * Matmul, the row kernels (softmax, rmsNorm, addRmsNorm, crossEntropy and the gradients) and rope
 * (float32).
 * The WGSL lives in matmul.ts and rows-wgsl.ts; this file sizes the dispatches.
 */
import type {
  AddRmsNormArgs,
  CrossEntropyArgs,
  CrossEntropyBackwardArgs,
  DType,
  RmsNormArgs,
  RmsNormBackwardArgs,
  RopeArgs,
  SoftmaxArgs,
  SoftmaxBackwardArgs,
} from "@bmojo/tensor";
import { type Runtime, Uniforms, workgroups1d } from "../runtime.js";
import type { KernelGroup } from "./group.js";
import { matmul } from "./matmul.js";
import {
  crossEntropyBackwardWgsl,
  crossEntropyWgsl,
  rmsNormBackwardDxWgsl,
  rmsNormDweightFinalWgsl,
  rmsNormDweightPartialWgsl,
  rmsNormWgsl,
  ropeWgsl,
  rowWorkgroupSize,
  softmaxBackwardWgsl,
  softmaxWgsl,
} from "./rows-wgsl.js";

function requireFloat32(kernel: string, dtype: DType): void {
  if (dtype !== "float32") {
    throw new TypeError(`webgpu ${kernel}: dtype ${dtype} is not supported (float32 only)`);
  }
}

/** One workgroup per row, folded into 2-D past the per-dimension limit. */
function rowGrid(rt: Runtime, rows: number): [number, number] {
  return workgroups1d(rows, 1, rt.device.limits.maxComputeWorkgroupsPerDimension);
}

/**
 * Throws the reference's RangeError for the first target neither in [0, classes) nor ignoreIndex,
 * when the targets' host copy is known. When it is not (targets produced by a kernel), the check
 * is skipped: the shaders never index with an out-of-range target (see rows-wgsl.ts).
 */
function checkTargets(
  rt: Runtime,
  kernel: "crossEntropy" | "crossEntropyBackward",
  targetsId: number,
  rows: number,
  classes: number,
  ignoreIndex: number,
): void {
  const targets = rt.hostInt32(targetsId);
  if (targets === undefined) return;
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

function softmax(rt: Runtime, a: SoftmaxArgs): void {
  requireFloat32("softmax", a.dtype);
  rt.written(a.out);
  if (a.rows === 0 || a.cols === 0) return;
  const wg = rowWorkgroupSize(a.cols);
  rt.dispatch({
    key: `softmax:${wg}`,
    code: () => softmaxWgsl(wg),
    buffers: [rt.buffer(a.x), rt.buffer(a.out)],
    uniforms: new Uniforms(2).u32(a.rows).u32(a.cols).buffer(),
    workgroups: rowGrid(rt, a.rows),
  });
}

function softmaxBackward(rt: Runtime, a: SoftmaxBackwardArgs): void {
  requireFloat32("softmaxBackward", a.dtype);
  rt.written(a.dx);
  if (a.rows === 0 || a.cols === 0) return;
  const wg = rowWorkgroupSize(a.cols);
  rt.dispatch({
    key: `softmaxBackward:${wg}`,
    code: () => softmaxBackwardWgsl(wg),
    buffers: [rt.buffer(a.y), rt.buffer(a.dy), rt.buffer(a.dx)],
    uniforms: new Uniforms(2).u32(a.rows).u32(a.cols).buffer(),
    workgroups: rowGrid(rt, a.rows),
  });
}

/** rmsNorm, or addRmsNorm when `a` has a residual (the sum is stored too). */
function rmsNorm(rt: Runtime, a: RmsNormArgs | AddRmsNormArgs): void {
  const fused = "residual" in a;
  const kernel = fused ? "addRmsNorm" : "rmsNorm";
  requireFloat32(kernel, a.dtype);
  if (fused) rt.written(a.sum);
  rt.written(a.out, a.rstd);
  if (a.rows === 0) return;
  const wg = rowWorkgroupSize(a.cols);
  const inputs = fused ? [a.x, a.residual, a.weight, a.sum] : [a.x, a.weight];
  rt.dispatch({
    key: `${kernel}:${wg}`,
    code: () => rmsNormWgsl(wg, fused),
    buffers: [...inputs, a.out, a.rstd].map((id) => rt.buffer(id)),
    uniforms: new Uniforms(3).u32(a.rows).u32(a.cols).f32(a.eps).buffer(),
    workgroups: rowGrid(rt, a.rows),
  });
}

/** Columns × chunks of rows aimed at for the dweight partial sums (enough parallel work). */
const DWEIGHT_TARGET_THREADS = 65536;
/** Fewest rows a chunk sums (below that, a second pass costs more than it saves). */
const DWEIGHT_MIN_ROWS_PER_CHUNK = 32;

function rmsNormBackward(rt: Runtime, a: RmsNormBackwardArgs): void {
  requireFloat32("rmsNormBackward", a.dtype);
  const { rows, cols } = a;
  rt.written(a.dx, a.dweight);
  if (cols === 0) return;
  const max = rt.device.limits.maxComputeWorkgroupsPerDimension;

  if (rows > 0) {
    const wg = rowWorkgroupSize(cols);
    rt.dispatch({
      key: `rmsNormBackwardDx:${wg}`,
      code: () => rmsNormBackwardDxWgsl(wg),
      buffers: [
        rt.buffer(a.x),
        rt.buffer(a.weight),
        rt.buffer(a.rstd),
        rt.buffer(a.dy),
        rt.buffer(a.dx),
      ],
      uniforms: new Uniforms(2).u32(rows).u32(cols).buffer(),
      workgroups: rowGrid(rt, rows),
    });
  }

  // dweight = Σ_r dy[r]·x[r]·rstd[r], deterministic: partial sums over chunks of rows (one
  // invocation per column and chunk), then one invocation per column summing the chunks in order.
  // rows = 0 gives one empty chunk: dweight is written with zeros.
  const colGroups = Math.ceil(cols / 256);
  const wantedChunks = Math.max(1, Math.ceil(DWEIGHT_TARGET_THREADS / cols));
  const maxChunks = Math.max(1, Math.floor(rows / DWEIGHT_MIN_ROWS_PER_CHUNK));
  let chunks = Math.min(wantedChunks, maxChunks, max);
  const rowsPerChunk = Math.max(1, Math.ceil(rows / chunks));
  chunks = Math.max(1, Math.ceil(rows / rowsPerChunk));
  if (colGroups > max) {
    throw new RangeError(`webgpu rmsNormBackward: ${cols} columns exceed the dispatch limit`);
  }
  const partial = chunks === 1 ? rt.buffer(a.dweight) : rt.scratch(chunks * cols * 4);
  rt.dispatch({
    key: "rmsNormBackwardDweightPartial",
    code: rmsNormDweightPartialWgsl,
    buffers: [rt.buffer(a.x), rt.buffer(a.rstd), rt.buffer(a.dy), partial],
    uniforms: new Uniforms(4).u32(rows).u32(cols).u32(rowsPerChunk).u32(chunks).buffer(),
    workgroups: [colGroups, chunks],
  });
  if (chunks > 1) {
    rt.dispatch({
      key: "rmsNormBackwardDweightFinal",
      code: rmsNormDweightFinalWgsl,
      buffers: [partial, rt.buffer(a.dweight)],
      uniforms: new Uniforms(2).u32(cols).u32(chunks).buffer(),
      workgroups: workgroups1d(cols, 256, max),
    });
  }
}

function crossEntropy(rt: Runtime, a: CrossEntropyArgs): void {
  requireFloat32("crossEntropy", a.dtype);
  const { rows, classes, ignoreIndex } = a;
  checkTargets(rt, "crossEntropy", a.targets, rows, classes, ignoreIndex);
  rt.written(a.loss, a.lse);
  if (rows === 0) return;
  const wg = rowWorkgroupSize(classes);
  rt.dispatch({
    key: `crossEntropy:${wg}`,
    code: () => crossEntropyWgsl(wg),
    buffers: [rt.buffer(a.logits), rt.buffer(a.targets), rt.buffer(a.loss), rt.buffer(a.lse)],
    uniforms: new Uniforms(3).u32(rows).u32(classes).i32(ignoreIndex).buffer(),
    workgroups: rowGrid(rt, rows),
  });
}

function crossEntropyBackward(rt: Runtime, a: CrossEntropyBackwardArgs): void {
  requireFloat32("crossEntropyBackward", a.dtype);
  const { rows, classes, ignoreIndex } = a;
  checkTargets(rt, "crossEntropyBackward", a.targets, rows, classes, ignoreIndex);
  rt.written(a.dlogits);
  const total = rows * classes;
  if (total === 0) return;
  rt.dispatch({
    key: "crossEntropyBackward",
    code: crossEntropyBackwardWgsl,
    buffers: [
      rt.buffer(a.logits),
      rt.buffer(a.targets),
      rt.buffer(a.lse),
      rt.buffer(a.dloss),
      rt.buffer(a.dlogits),
    ],
    uniforms: new Uniforms(4).u32(rows).u32(classes).i32(ignoreIndex).u32(total).buffer(),
    workgroups: workgroups1d(total, 256, rt.device.limits.maxComputeWorkgroupsPerDimension),
  });
}

function rope(rt: Runtime, a: RopeArgs): void {
  requireFloat32("rope", a.dtype);
  rt.written(a.out);
  const half = a.headDim / 2;
  const pairs = a.rows * a.length * half;
  if (pairs === 0) return;
  rt.dispatch({
    key: "rope",
    code: ropeWgsl,
    buffers: [rt.buffer(a.x), rt.buffer(a.cos), rt.buffer(a.sin), rt.buffer(a.out)],
    uniforms: new Uniforms(5)
      .u32(pairs)
      .u32(a.length)
      .u32(half)
      .u32(a.positionOffset)
      .f32(a.inverse ? -1 : 1)
      .buffer(),
    workgroups: workgroups1d(pairs, 256, rt.device.limits.maxComputeWorkgroupsPerDimension),
  });
}

export const rowsKernels: KernelGroup = (rt) => ({
  matmul: (a) => matmul(rt, a),
  softmax: (a) => softmax(rt, a),
  softmaxBackward: (a) => softmaxBackward(rt, a),
  rmsNorm: (a) => rmsNorm(rt, a),
  rmsNormBackward: (a) => rmsNormBackward(rt, a),
  addRmsNorm: (a) => rmsNorm(rt, a),
  rope: (a) => rope(rt, a),
  crossEntropy: (a) => crossEntropy(rt, a),
  crossEntropyBackward: (a) => crossEntropyBackward(rt, a),
});
