/**
 * Elementwise kernels: unary, unaryBackward, siluMul, binary, where, reduce, copy, gather,
 * scatterAdd, scatter, cast, fill, adamw (WGSL in elementwise-wgsl.ts).
 *
 * Every kernel is one or two dispatches of 256-thread workgroups; 1-D grids fold into 2-D past
 * 65535 workgroups. Strided kernels (binary, where, copy) merge axes on the host (strided.ts) and
 * compile one pipeline per merged rank. Data-movement kernels work on raw 32-bit words, so float32
 * and int32 share their pipelines.
 *
 * Index checks (gather, scatterAdd, scatter): when the indices were written from the host, the
 * host copy is checked before anything is dispatched (the reference's RangeError). Indices
 * produced on the GPU cannot be checked without a read back: the shaders then write 0 (gather) or
 * skip the update (scatterAdd, scatter) for an index outside [0, rows). Under program capture the
 * whole kernel call is recorded, so a replay checks the host copy current at that replay.
 */
import {
  ARITHMETIC_OPS,
  type AdamwArgs,
  type BinaryArgs,
  type BufferId,
  type CastArgs,
  type CopyArgs,
  type DType,
  type FillArgs,
  type GatherArgs,
  type ReduceArgs,
  type ScatterAddArgs,
  type ScatterArgs,
  type SiluMulArgs,
  type UnaryArgs,
  type UnaryBackwardArgs,
  type WhereArgs,
  stridesOf,
} from "@bmojo/tensor";
import { type Runtime, Uniforms, workgroups1d } from "../runtime.js";
import {
  type ReducePassOp,
  type ReduceVariant,
  WG,
  adamwWgsl,
  binaryWgsl,
  castWgsl,
  copyWgsl,
  fillWgsl,
  gatherWgsl,
  isComparison,
  reduceKey,
  reduceWgsl,
  scatterAddAtomicWgsl,
  scatterAddListWgsl,
  scatterWgsl,
  siluMulWgsl,
  unaryBackwardWgsl,
  unarySupported,
  unaryWgsl,
  whereWgsl,
} from "./elementwise-wgsl.js";
import type { KernelGroup } from "./group.js";
import { mergeAxes, stridedParts, stridedUniforms } from "./strided.js";

const INT32_UNARY = "neg, abs, sign, square";

/** The WGSL element type of a stored dtype. */
function scalarOf(dtype: DType, kernel: string): "f32" | "i32" {
  if (dtype === "float32") return "f32";
  if (dtype === "int32") return "i32";
  throw new TypeError(
    `webgpu backend: ${kernel}: dtype ${dtype} is not stored here (float32, int32)`,
  );
}

function requireFloat(dtype: DType, kernel: string, op?: string): void {
  if (dtype !== "float32") {
    const what = op === undefined ? kernel : `${kernel}: op "${op}"`;
    throw new TypeError(`webgpu backend: ${what} does not support dtype ${dtype}; use float32`);
  }
}

function checkRank(kernel: string, shape: readonly number[], strides: readonly number[]): void {
  if (strides.length !== shape.length) {
    throw new RangeError(
      `webgpu backend: ${kernel}: strides [${strides.join(", ")}] do not match shape [${shape.join(", ")}]`,
    );
  }
}

/** The reference's check: the first index outside [0, rows), its position and rows. */
function checkIndices(kernel: string, indices: Int32Array, count: number, rows: number): void {
  for (let j = 0; j < count; j++) {
    const index = indices[j];
    if (index < 0 || index >= rows) {
      throw new RangeError(
        `${kernel}: index ${index} at position ${j} is out of range for ${rows} rows; indices must be in [0, ${rows})`,
      );
    }
  }
}

/**
 * Positions j < count grouped by indices[j] (all in [0, rows)), for scatterAdd: packs
 * [the D distinct rows, ascending | D + 1 segment starts | positions j, by row, ascending in j].
 */
function groupByRow(
  indices: Int32Array,
  count: number,
  rows: number,
): { packed: Int32Array; distinct: number } {
  let order: Int32Array;
  let distinctRows: number[];
  let segmentStarts: number[];
  if (rows <= Math.max(1 << 20, 4 * count)) {
    // Counting sort over rows (stable in j).
    const cursor = new Int32Array(rows + 1);
    for (let j = 0; j < count; j++) cursor[indices[j] + 1]++;
    distinctRows = [];
    segmentStarts = [];
    for (let r = 0; r < rows; r++) {
      if (cursor[r + 1] > 0) {
        distinctRows.push(r);
        segmentStarts.push(cursor[r]);
      }
      cursor[r + 1] += cursor[r];
    }
    order = new Int32Array(count);
    for (let j = 0; j < count; j++) order[cursor[indices[j]]++] = j;
  } else {
    // Few indices into many rows: sort the positions by (row, j).
    order = Int32Array.from({ length: count }, (_, j) => j).sort(
      (x, y) => indices[x] - indices[y] || x - y,
    );
    distinctRows = [];
    segmentStarts = [];
    for (let p = 0; p < count; p++) {
      const row = indices[order[p]];
      if (p === 0 || row !== indices[order[p - 1]]) {
        distinctRows.push(row);
        segmentStarts.push(p);
      }
    }
  }
  const distinct = distinctRows.length;
  const packed = new Int32Array(2 * distinct + 1 + count);
  packed.set(distinctRows, 0);
  packed.set(segmentStarts, distinct);
  packed[2 * distinct] = count;
  packed.set(order, 2 * distinct + 1);
  return { packed, distinct };
}

function sizeUniform(n: number): ArrayBuffer {
  return new Uniforms(4).u32(n).buffer();
}

export const elementwiseKernels: KernelGroup = (rt: Runtime) => {
  /** A 1-D dispatch over n elements (nothing for n = 0). */
  function run1d(
    key: string,
    code: () => string,
    buffers: GPUBuffer[],
    uniforms: ArrayBuffer,
    n: number,
  ): void {
    if (n <= 0) return;
    rt.dispatch({ key, code, buffers, uniforms, workgroups: workgroups1d(n, WG) });
  }

  /** out[0 … n) = bits (a 32-bit word). */
  function fillWords(out: BufferId, bits: number, n: number): void {
    const u = new Uniforms(4).u32(n).u32(bits).buffer();
    run1d("ew.fill", fillWgsl, [rt.buffer(out)], u, n);
  }

  /**
   * gather and scatter: 32-bit words moved between out and `source` along the rows `a.indices`
   * names, one invocation per element of the [outer, count, inner] side, after the host check of
   * indices written from the host.
   */
  function moveRows(
    kernel: "gather" | "scatter",
    code: () => string,
    source: BufferId,
    a: GatherArgs | ScatterArgs,
  ): void {
    scalarOf(a.dtype, kernel);
    const { outer, rows, inner, count } = a;
    const host = rt.hostInt32(a.indices);
    if (host !== undefined) checkIndices(kernel, host, count, rows);
    const n = outer * count * inner;
    const u = new Uniforms(4).u32(n).u32(rows).u32(inner).u32(count).buffer();
    run1d(`ew.${kernel}`, code, [rt.buffer(source), rt.buffer(a.indices), rt.buffer(a.out)], u, n);
    rt.written(a.out);
  }

  /** Strided copy of 32-bit words between GPU buffers (xBuf may not be outBuf). */
  function copyWords(
    xBuf: GPUBuffer,
    outBuf: GPUBuffer,
    shape: readonly number[],
    xStrides: readonly number[],
    xOffset: number,
    outStrides: readonly number[],
    outOffset: number,
  ): void {
    const space = mergeAxes(shape, [xStrides, outStrides]);
    if (space === null) return;
    for (const part of stridedParts(space, [xOffset, outOffset])) {
      const rank = part.shape.length;
      run1d(
        `ew.copy.r${rank}`,
        () => copyWgsl(rank),
        [xBuf, outBuf],
        stridedUniforms(part),
        part.n,
      );
    }
  }

  // -------------------------------------------------------------------------------------------
  // reduce

  interface ReducePass {
    variant: ReduceVariant;
    x: GPUBuffer;
    /** Indices of a second arg pass. */
    pi: GPUBuffer | null;
    /** out (final) or [PV, PO?] (partials). */
    outputs: GPUBuffer[];
    outer: number;
    size: number;
    inner: number;
    chunks: number;
    chunkLen: number;
    divisor: number;
  }

  function reducePass(p: ReducePass): void {
    const { variant, outer, size, inner, chunks, chunkLen } = p;
    const n = variant.kind === "loop" ? outer * chunks * inner : outer * chunks;
    const rowsPerGroup = WG / (variant.tpr ?? WG);
    const u = new Uniforms(8)
      .u32(n)
      .u32(size)
      .u32(inner)
      .u32(chunks)
      .u32(chunkLen)
      .f32(p.divisor)
      .buffer();
    const buffers = [p.x, ...(p.pi === null ? [] : [p.pi]), ...p.outputs];
    rt.dispatch({
      key: reduceKey(variant),
      code: () => reduceWgsl(variant),
      buffers,
      uniforms: u,
      workgroups: variant.kind === "loop" ? workgroups1d(n, WG) : workgroups1d(n, rowsPerGroup),
    });
  }

  /** tree for long rows with inner = 1, else one invocation per output looping over size. */
  function reduceKind(size: number, inner: number): "loop" | "tree" {
    return inner === 1 && size > 64 ? "tree" : "loop";
  }

  /** Threads per row of a tree pass: a whole workgroup for long rows, 32 for short ones. */
  function treeWidth(rowLength: number): number {
    return rowLength > 1024 ? WG : 32;
  }

  /** How many chunks to split size into so that small outputs still fill the device. */
  function reduceChunks(kind: "loop" | "tree", outer: number, size: number, inner: number): number {
    if (kind === "tree") {
      // Workgroups of at least 4096 elements, up to ~512 workgroups in all.
      if (outer >= 256 || size < 8192) return 1;
      return Math.max(1, Math.min(Math.floor(size / 4096), Math.ceil(512 / outer)));
    }
    // Loops of at least 64 elements, up to ~64k invocations in all.
    const threads = outer * inner;
    if (threads >= 32768 || size < 256) return 1;
    return Math.max(1, Math.min(Math.floor(size / 64), Math.ceil(65536 / threads)));
  }

  // -------------------------------------------------------------------------------------------

  return {
    unary(a: UnaryArgs): void {
      const t = scalarOf(a.dtype, "unary");
      if (!unarySupported(a.op, t)) {
        throw new TypeError(
          `webgpu backend: unary: op "${a.op}" does not support dtype int32; int32 supports ${INT32_UNARY}`,
        );
      }
      run1d(
        `ew.unary.${a.op}.${t}`,
        () => unaryWgsl(a.op, t),
        [rt.buffer(a.x), rt.buffer(a.out)],
        sizeUniform(a.size),
        a.size,
      );
      rt.written(a.out);
    },

    siluMul(a: SiluMulArgs): void {
      requireFloat(a.dtype, "siluMul");
      run1d(
        "ew.siluMul",
        siluMulWgsl,
        [rt.buffer(a.gate), rt.buffer(a.up), rt.buffer(a.out)],
        sizeUniform(a.size),
        a.size,
      );
      rt.written(a.out);
    },

    unaryBackward(a: UnaryBackwardArgs): void {
      requireFloat(a.dtype, "unaryBackward", a.op);
      if (a.op === "sign" || a.op === "floor") {
        fillWords(a.dx, 0, a.size); // zero derivative everywhere
      } else {
        run1d(
          `ew.unaryBackward.${a.op}`,
          () => unaryBackwardWgsl(a.op),
          [rt.buffer(a.x), rt.buffer(a.dy), rt.buffer(a.dx)],
          sizeUniform(a.size),
          a.size,
        );
      }
      rt.written(a.dx);
    },

    binary(a: BinaryArgs): void {
      const t = scalarOf(a.dtype, "binary");
      checkRank("binary", a.shape, a.aStrides);
      checkRank("binary", a.shape, a.bStrides);
      if (!isComparison(a.op) && !(ARITHMETIC_OPS as readonly string[]).includes(a.op)) {
        throw new TypeError(`webgpu backend: binary: unknown op "${a.op}"`);
      }
      const space = mergeAxes(a.shape, [a.aStrides, a.bStrides, stridesOf(a.shape)]);
      if (space !== null) {
        for (const part of stridedParts(space, [0, 0, 0])) {
          const rank = part.shape.length;
          run1d(
            `ew.binary.${a.op}.${t}.r${rank}`,
            () => binaryWgsl(a.op, t, rank),
            [rt.buffer(a.a), rt.buffer(a.b), rt.buffer(a.out)],
            stridedUniforms(part, 2),
            part.n,
          );
        }
      }
      rt.written(a.out);
    },

    where(a: WhereArgs): void {
      scalarOf(a.dtype, "where");
      checkRank("where", a.shape, a.condStrides);
      checkRank("where", a.shape, a.aStrides);
      checkRank("where", a.shape, a.bStrides);
      const space = mergeAxes(a.shape, [a.condStrides, a.aStrides, a.bStrides, stridesOf(a.shape)]);
      if (space !== null) {
        for (const part of stridedParts(space, [0, 0, 0, 0])) {
          const rank = part.shape.length;
          run1d(
            `ew.where.r${rank}`,
            () => whereWgsl(rank),
            [rt.buffer(a.cond), rt.buffer(a.a), rt.buffer(a.b), rt.buffer(a.out)],
            stridedUniforms(part, 3),
            part.n,
          );
        }
      }
      rt.written(a.out);
    },

    reduce(a: ReduceArgs): void {
      const { op, outer, size, inner } = a;
      const t = scalarOf(a.dtype, "reduce");
      if (size < 1) throw new RangeError(`webgpu backend: reduce: size must be ≥ 1, got ${size}`);
      if (t === "i32" && op === "mean") {
        throw new TypeError(
          `webgpu backend: reduce: op "mean" does not support dtype int32; use float32`,
        );
      }
      if (outer * inner === 0) return;
      const passOp: ReducePassOp = op === "mean" ? "sum" : op;
      const arg = passOp === "argmax" || passOp === "argmin";
      const divisor = op === "mean" ? size : 1;
      const x = rt.buffer(a.x);
      const out = rt.buffer(a.out);
      const kind = reduceKind(size, inner);
      let chunks = reduceChunks(kind, outer, size, inner);
      const chunkLen = Math.ceil(size / chunks);
      chunks = Math.ceil(size / chunkLen);
      if (chunks === 1) {
        reducePass({
          variant: { op: passOp, t, kind, tpr: treeWidth(size), indexInput: false, final: true },
          x,
          pi: null,
          outputs: [out],
          outer,
          size,
          inner,
          chunks: 1,
          chunkLen: size,
          divisor,
        });
      } else {
        // Pass 1: partials [outer, chunks, inner] (with their indices for arg ops); pass 2
        // reduces them in chunk order, so first-index ties and NaN rules carry over.
        const partials = outer * chunks * inner;
        const pv = rt.scratch(partials * 4);
        const po = arg ? rt.scratch(partials * 4) : null;
        reducePass({
          variant: {
            op: passOp,
            t,
            kind,
            tpr: treeWidth(chunkLen),
            indexInput: false,
            final: false,
          },
          x,
          pi: null,
          outputs: po === null ? [pv] : [pv, po],
          outer,
          size,
          inner,
          chunks,
          chunkLen,
          divisor: 1,
        });
        reducePass({
          variant: {
            op: passOp,
            t,
            kind: reduceKind(chunks, inner),
            tpr: treeWidth(chunks),
            indexInput: arg,
            final: true,
          },
          x: pv,
          pi: po,
          outputs: [out],
          outer,
          size: chunks,
          inner,
          chunks: 1,
          chunkLen: chunks,
          divisor,
        });
      }
      rt.written(a.out);
    },

    copy(a: CopyArgs): void {
      scalarOf(a.dtype, "copy");
      if (a.xStrides.length !== a.shape.length || a.outStrides.length !== a.shape.length) {
        throw new RangeError(
          `webgpu backend: copy: xStrides [${a.xStrides.join(", ")}] and outStrides [${a.outStrides.join(", ")}] must both have the rank of shape [${a.shape.join(", ")}]`,
        );
      }
      let xBuf = rt.buffer(a.x);
      const outBuf = rt.buffer(a.out);
      if (xBuf === outBuf) {
        // Reading and writing one buffer in a dispatch is not allowed (and could overlap):
        // stage x through a scratch copy first.
        const words = Math.ceil(rt.bytes(a.x) / 4);
        const staged = rt.scratch(words * 4);
        copyWords(xBuf, staged, [words], [1], 0, [1], 0);
        xBuf = staged;
      }
      copyWords(xBuf, outBuf, a.shape, a.xStrides, a.xOffset, a.outStrides, a.outOffset);
      rt.written(a.out);
    },

    gather(a: GatherArgs): void {
      moveRows("gather", gatherWgsl, a.table, a);
    },

    scatterAdd(a: ScatterAddArgs): void {
      const t = scalarOf(a.dtype, "scatterAdd");
      const { outer, rows, inner, count } = a;
      const host = rt.hostInt32(a.indices);
      if (host !== undefined) checkIndices("scatterAdd", host, count, rows);
      if (outer * inner * count === 0) {
        rt.written(a.out);
        return;
      }
      if (host !== undefined) {
        // One invocation per (o, distinct row, i) adds that row's updates in ascending j: the
        // reference's order, so float sums match it bit for bit.
        const { packed, distinct } = groupByRow(host, count, rows);
        const list = rt.alloc(packed.byteLength);
        rt.write(list, packed);
        const n = outer * distinct * inner;
        const u = new Uniforms(8).u32(n).u32(rows).u32(inner).u32(count).u32(distinct).buffer();
        run1d(
          `ew.scatterAdd.list.${t}`,
          () => scatterAddListWgsl(t),
          [rt.buffer(a.updates), rt.buffer(list), rt.buffer(a.out)],
          u,
          n,
        );
        rt.free(list); // queue order keeps the dispatch's reads ahead of any later reuse
      } else {
        const n = outer * count * inner;
        const u = new Uniforms(4).u32(n).u32(rows).u32(inner).u32(count).buffer();
        run1d(
          `ew.scatterAdd.atomic.${t}`,
          () => scatterAddAtomicWgsl(t),
          [rt.buffer(a.updates), rt.buffer(a.indices), rt.buffer(a.out)],
          u,
          n,
        );
      }
      rt.written(a.out);
    },

    scatter(a: ScatterArgs): void {
      moveRows("scatter", scatterWgsl, a.updates, a);
    },

    cast(a: CastArgs): void {
      const from = scalarOf(a.from, "cast");
      const to = scalarOf(a.to, "cast");
      if (from === to) {
        copyWords(rt.buffer(a.x), rt.buffer(a.out), [a.size], [1], 0, [1], 0);
      } else {
        run1d(
          `ew.cast.${from}.${to}`,
          () => castWgsl(to),
          [rt.buffer(a.x), rt.buffer(a.out)],
          sizeUniform(a.size),
          a.size,
        );
      }
      rt.written(a.out);
    },

    fill(a: FillArgs): void {
      const t = scalarOf(a.dtype, "fill");
      const word = new DataView(new ArrayBuffer(4));
      if (t === "f32") word.setFloat32(0, a.value, true);
      else word.setInt32(0, a.value | 0, true);
      fillWords(a.out, word.getUint32(0, true), a.size);
      rt.written(a.out);
    },

    adamw(a: AdamwArgs): void {
      requireFloat(a.dtype, "adamw");
      const { size, lr, beta1, beta2, eps, weightDecay, step } = a;
      if (!Number.isInteger(step) || step < 1) {
        throw new RangeError(
          `adamw: step must be an integer ≥ 1 (the 1-based step count), got ${step}`,
        );
      }
      const biasCorrection1 = 1 - beta1 ** step;
      const u = new Uniforms(9)
        .u32(size)
        .f32(beta1)
        .f32(1 - beta1)
        .f32(beta2)
        .f32(1 - beta2)
        .f32(1 - lr * weightDecay)
        .f32(lr / biasCorrection1)
        .f32(Math.sqrt(1 - beta2 ** step))
        .f32(eps)
        .buffer();
      run1d(
        "ew.adamw",
        adamwWgsl,
        [rt.buffer(a.param), rt.buffer(a.grad), rt.buffer(a.m), rt.buffer(a.v)],
        u,
        size,
      );
      rt.written(a.param, a.m, a.v);
    },
  };
};
