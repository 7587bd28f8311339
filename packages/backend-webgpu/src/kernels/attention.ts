/**
 * attention and attentionBackward (kernels.ts, AttentionArgs; the reference is
 * packages/tensor/src/backends/cpu/attention.ts): sliding-window causal attention with grouped-
 * query heads and per-chunk memory slots, one softmax over a query's visible keys and its
 * chunk's valid slots. The WGSL is in attention-wgsl.ts.
 *
 * forward   one dispatch of the row kernel (an invocation per query row, 64 consecutive rows of
 *           one (b, kv head) per workgroup, K/V tiles staged in workgroup memory, online softmax);
 *           when there are few workgroups (decoding), the key tiles of each workgroup are split
 *           over nsplit workgroups (flash-decoding) and a combine dispatch merges the partials.
 * backward  (1) prep: (lse2, D = rowsum(dOut ⊙ out)) per row and the mask as floats, in scratch;
 *           (2) dq: the row kernel again (p recomputed from lse2); (3) dk, dv: an invocation per
 *           key over the query rows (all heads of its group) that see it; (4) dMemK, dMemV: an
 *           invocation per memory slot over the queries of its chunk. No atomics, deterministic,
 *           every gradient element written (0 where nothing flows).
 *
 * Tile sizes follow the device's workgroup-memory limit (16 KB on lavapipe, more on GPUs).
 */
import type {
  AttentionArgs,
  AttentionBackwardArgs,
  AttentionMemory,
  BufferId,
} from "@bmojo/tensor";
import { type Runtime, Uniforms, workgroups1d } from "../runtime.js";
import {
  UNIFORM_FIELDS,
  combineKernel,
  dh4Of,
  keyKernel,
  keyKernelShared,
  prepKernel,
  rowKernel,
  rowKernelShared,
} from "./attention-wgsl.js";
import type { KernelGroup } from "./group.js";

/**
 * Knobs for tests and tuning: `splits` forces the forward's key-split count (0 = automatic);
 * `sharedBytes` caps the workgroup memory the tiles may use (0 = the device's limit).
 */
export const attentionTuning = { splits: 0, sharedBytes: 0 };

/** Query rows (invocations) per workgroup of the forward and dq kernels. */
const ROWS = 64;
/** Below this many forward workgroups the key tiles are split over more workgroups. */
const SPLIT_TARGET = 256;

type AttentionShape = Omit<AttentionArgs, "out" | "lse">;
type AttentionKernel = "attention" | "attentionBackward";

/** The cpu reference's argument checks, with its messages. */
function validate(kernel: AttentionKernel, a: AttentionShape): void {
  const { heads, kvHeads, queryLength, keyLength, queryOffset, window, memory } = a;
  if (!Number.isInteger(kvHeads) || kvHeads < 1 || heads % kvHeads !== 0) {
    throw new RangeError(
      `${kernel}: heads (${heads}) must be a multiple of kvHeads (${kvHeads}), kvHeads ≥ 1; ` +
        "each kv head serves heads / kvHeads query heads",
    );
  }
  if (!Number.isInteger(queryOffset) || queryOffset < 0) {
    throw new RangeError(`${kernel}: queryOffset must be an integer ≥ 0, got ${queryOffset}`);
  }
  if (queryOffset + queryLength > keyLength) {
    throw new RangeError(
      `${kernel}: queryOffset (${queryOffset}) + queryLength (${queryLength}) = ` +
        `${queryOffset + queryLength} exceeds keyLength (${keyLength}); every query position ` +
        "must have its own key",
    );
  }
  if (!(Number.isInteger(window) || window === Number.POSITIVE_INFINITY) || window < 1) {
    throw new RangeError(
      `${kernel}: window must be an integer ≥ 1 (or Infinity for full causal attention), ` +
        `got ${window}`,
    );
  }
  if (memory !== null && (!Number.isInteger(memory.chunkSize) || memory.chunkSize < 1)) {
    throw new RangeError(
      `${kernel}: memory.chunkSize must be an integer ≥ 1, got ${memory.chunkSize}`,
    );
  }
  if (memory !== null && queryLength > 0) {
    const lastPosition = queryOffset + queryLength - 1;
    const lastChunk = Math.floor(lastPosition / memory.chunkSize);
    if (lastChunk >= memory.chunks) {
      throw new RangeError(
        `${kernel}: the query at position ${lastPosition} reads memory chunk ${lastChunk} ` +
          `(chunkSize ${memory.chunkSize}), but memory.chunks is ${memory.chunks}; memory must ` +
          "have a chunk for every query",
      );
    }
  }
  if (a.dtype !== "float32") {
    throw new TypeError(`${kernel}: the webgpu backend computes float32, not ${a.dtype}`);
  }
}

function sharedLimit(rt: Runtime): number {
  const device = rt.device.limits.maxComputeWorkgroupStorageSize;
  return attentionTuning.sharedBytes > 0 ? Math.min(attentionTuning.sharedBytes, device) : device;
}

function tooLarge(kernel: AttentionKernel, dh: number, limit: number): Error {
  return new RangeError(
    `${kernel}: headDim ${dh} needs more workgroup memory than the device's ${limit} bytes`,
  );
}

/** The largest key tile of the row kernels that fits the workgroup memory. */
function rowTile(kernel: AttentionKernel, rt: Runtime, dh: number, memory: boolean): number {
  const limit = sharedLimit(rt);
  for (const bk of [32, 16, 8, 4, 2, 1]) {
    if (rowKernelShared(dh, bk, memory) <= limit) return bk;
  }
  throw tooLarge(kernel, dh, limit);
}

/** Keys per workgroup and query rows per tile of the key kernels. */
function keyTile(rt: Runtime, dh: number): [number, number] {
  const limit = sharedLimit(rt);
  // bq is a multiple of 4: the key kernel processes 4 staged query rows at a time.
  const candidates: [number, number][] = [
    [64, 32],
    [64, 16],
    [32, 16],
    [32, 8],
    [16, 8],
    [16, 4],
    [8, 4],
    [4, 4],
    [2, 4],
    [1, 4],
  ];
  for (const [kr, bq] of candidates) {
    if (keyKernelShared(dh, kr, bq) <= limit) return [kr, bq];
  }
  throw tooLarge("attentionBackward", dh, limit);
}

function nextPow2(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

/** The problem's sizes; window clamped to keyLength (a wider window changes nothing). */
interface Dims {
  batch: number;
  heads: number;
  kvHeads: number;
  group: number;
  lq: number;
  lk: number;
  dh: number;
  window: number;
  off: number;
  scale: number;
  memory: AttentionMemory | null;
  /** B·H·Lq */
  rows: number;
}

function dims(a: AttentionShape): Dims {
  const lk = a.keyLength;
  return {
    batch: a.batch,
    heads: a.heads,
    kvHeads: a.kvHeads,
    group: a.heads / a.kvHeads,
    lq: a.queryLength,
    lk,
    dh: a.headDim,
    window: a.window >= lk ? Math.max(lk, 1) : a.window,
    off: a.queryOffset,
    scale: a.scale,
    memory: a.memory,
    rows: a.batch * a.heads * a.queryLength,
  };
}

function uniforms(d: Dims, nsplit: number, maskCount: number): ArrayBuffer {
  const m = d.memory;
  return new Uniforms(UNIFORM_FIELDS)
    .u32(d.heads)
    .u32(d.kvHeads)
    .u32(d.group)
    .u32(d.lq)
    .u32(d.lk)
    .u32(d.window)
    .u32(d.off)
    .u32(m?.chunks ?? 0)
    .u32(m?.slots ?? 0)
    .u32(m?.chunkSize ?? 1)
    .u32(nsplit)
    .u32(d.rows)
    .f32(d.scale * Math.LOG2E)
    .f32(d.scale)
    .u32(2 * d.rows)
    .u32(maskCount)
    .buffer();
}

/** How many workgroups share the key tiles of one forward workgroup. */
function splitCount(d: Dims, bk: number, memory: boolean, workgroups: number): number {
  if (attentionTuning.splits > 0) return attentionTuning.splits;
  if (workgroups >= SPLIT_TARGET) return 1;
  const positions = Math.min(d.lq, Math.ceil(ROWS / d.group));
  const span = Math.min(d.lk, d.window + positions - 1);
  let tiles = Math.ceil(span / bk);
  if (memory && d.memory !== null) {
    const chunks = Math.floor((positions - 1) / d.memory.chunkSize) + 2;
    tiles += chunks * Math.ceil(d.memory.slots / bk);
  }
  return Math.max(1, Math.min(Math.ceil(SPLIT_TARGET / workgroups), Math.floor(tiles / 2)));
}

function forward(rt: Runtime, a: AttentionArgs): void {
  validate("attention", a);
  const d = dims(a);
  if (d.rows === 0) return;
  rt.written(a.out, a.lse);
  const mem = d.memory !== null && d.memory.slots > 0 ? d.memory : null;
  const bk = rowTile("attention", rt, d.dh, mem !== null);
  const rowTiles = Math.ceil((d.lq * d.group) / ROWS);
  const groups = d.batch * d.kvHeads;
  const nsplit = splitCount(d, bk, mem !== null, rowTiles * groups);
  const split = nsplit > 1;

  const buffers: GPUBuffer[] = [rt.buffer(a.q), rt.buffer(a.k), rt.buffer(a.v)];
  if (mem !== null) buffers.push(rt.buffer(mem.k), rt.buffer(mem.v), rt.buffer(mem.mask));
  let part: GPUBuffer | null = null;
  if (split) {
    part = rt.scratch(nsplit * d.rows * (dh4Of(d.dh) + 1) * 16);
    buffers.push(part);
  } else {
    buffers.push(rt.buffer(a.out), rt.buffer(a.lse));
  }
  const opts = { mode: "forward", dh: d.dh, bk, rows: ROWS, memory: mem !== null, split } as const;
  const u = uniforms(d, nsplit, 0);
  rt.dispatch({
    key: `attention/fwd/dh${d.dh}/bk${bk}/r${ROWS}${mem ? "/mem" : ""}${split ? "/split" : ""}`,
    code: () => rowKernel(opts),
    buffers,
    uniforms: u,
    workgroups: [rowTiles, groups, nsplit],
  });
  if (part !== null) {
    rt.dispatch({
      key: `attention/combine/dh${d.dh}`,
      code: () => combineKernel(d.dh),
      buffers: [part, rt.buffer(a.out), rt.buffer(a.lse)],
      uniforms: u,
      workgroups: workgroups1d(d.rows, 64),
    });
  }
}

function backward(rt: Runtime, a: AttentionBackwardArgs): void {
  validate("attentionBackward", a);
  if (a.memory !== null && (a.dMemK === null || a.dMemV === null)) {
    throw new TypeError(
      "attentionBackward: memory is given, so dMemK and dMemV must be buffers, not null",
    );
  }
  const d = dims(a);
  const memory = d.memory;
  rt.written(a.dq, a.dk, a.dv, a.dMemK, a.dMemV);
  // Every gradient has headDim as its last dim: with headDim 0 there is nothing to write.
  if (d.dh === 0) return;
  // Tile sizes first: a head dim too large for the device throws before anything is dispatched.
  const rowMemory = memory !== null && memory.slots > 0 ? memory : null;
  const bk = rowTile("attentionBackward", rt, d.dh, rowMemory !== null);
  const [kr, bq] = keyTile(rt, d.dh);
  const groups = d.batch * d.kvHeads;
  const maskCount = memory === null ? 0 : d.batch * memory.chunks * memory.slots;
  const u = uniforms(d, 1, maskCount);

  const stats = rt.scratch(Math.max(16, (2 * d.rows + maskCount) * 4));
  if (d.rows + maskCount > 0) {
    const withMask = maskCount > 0;
    const buffers = [rt.buffer(a.out), rt.buffer(a.dOut), rt.buffer(a.lse)];
    if (withMask && memory !== null) buffers.push(rt.buffer(memory.mask));
    buffers.push(stats);
    rt.dispatch({
      key: `attention/prep/dh${d.dh}${withMask ? "/mem" : ""}`,
      code: () => prepKernel(d.dh, withMask),
      buffers,
      uniforms: u,
      workgroups: workgroups1d(d.rows + maskCount, 64),
    });
  }

  if (d.rows > 0) {
    const mem = rowMemory;
    const buffers = [rt.buffer(a.q), rt.buffer(a.k), rt.buffer(a.v), rt.buffer(a.dOut), stats];
    if (mem !== null) buffers.push(rt.buffer(mem.k), rt.buffer(mem.v));
    buffers.push(rt.buffer(a.dq));
    const opts = {
      mode: "dq",
      dh: d.dh,
      bk,
      rows: ROWS,
      memory: mem !== null,
      split: false,
    } as const;
    rt.dispatch({
      key: `attention/dq/dh${d.dh}/bk${bk}/r${ROWS}${mem ? "/mem" : ""}`,
      code: () => rowKernel(opts),
      buffers,
      uniforms: u,
      workgroups: [Math.ceil((d.lq * d.group) / ROWS), groups, 1],
    });
  }

  const keyDispatch = (
    mode: "keys" | "memory",
    k: BufferId,
    v: BufferId,
    dk: BufferId,
    dv: BufferId,
    krUsed: number,
    tiles: number,
  ) => {
    const opts = { mode, dh: d.dh, kr: krUsed, bq } as const;
    rt.dispatch({
      key: `attention/dkv/${mode}/dh${d.dh}/kr${krUsed}/bq${bq}`,
      code: () => keyKernel(opts),
      buffers: [
        rt.buffer(a.q),
        rt.buffer(k),
        rt.buffer(v),
        rt.buffer(a.dOut),
        stats,
        rt.buffer(dk),
        rt.buffer(dv),
      ],
      uniforms: u,
      workgroups: [tiles, groups, 1],
    });
  };
  if (d.lk > 0) keyDispatch("keys", a.k, a.v, a.dk, a.dv, kr, Math.ceil(d.lk / kr));
  if (memory !== null && maskCount > 0 && a.dMemK !== null && a.dMemV !== null) {
    const krm = Math.min(kr, nextPow2(memory.slots));
    const tiles = memory.chunks * Math.ceil(memory.slots / krm);
    keyDispatch("memory", memory.k, memory.v, a.dMemK, a.dMemV, krm, tiles);
  }
}

export const attentionKernels: KernelGroup = (rt) => ({
  attention: (a) => forward(rt, a),
  attentionBackward: (a) => backward(rt, a),
});
