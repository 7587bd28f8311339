/**
 * float32 attention on the wasm kernels (src/wat/attention.wat): the forward pass runs a task per
 * query row, the backward pass a task per (batch element, kv head), which owns that kv head's
 * gradient slices. Arguments the reference would reject go to the reference, which throws its
 * own error.
 */
import type { AttentionArgs, AttentionBackwardArgs } from "@bmojo/tensor";
import type { Runtime } from "../runtime.js";

/** Below this many query·key pairs (times headDim) an attention pass runs on the calling thread. */
const PARALLEL_WORK = 1 << 16;

/** Whether the reference would accept these arguments (its validate, as a predicate). */
function valid(a: AttentionArgs | AttentionBackwardArgs): boolean {
  const { heads, kvHeads, queryLength, keyLength, queryOffset, window, memory } = a;
  if (!Number.isInteger(kvHeads) || kvHeads < 1 || heads % kvHeads !== 0) return false;
  if (!Number.isInteger(queryOffset) || queryOffset < 0) return false;
  if (queryOffset + queryLength > keyLength) return false;
  if (!(Number.isInteger(window) || window === Number.POSITIVE_INFINITY) || window < 1) {
    return false;
  }
  if (memory === null) return true;
  if (!Number.isInteger(memory.chunkSize) || memory.chunkSize < 1) return false;
  return (
    queryLength === 0 ||
    Math.floor((queryOffset + queryLength - 1) / memory.chunkSize) < memory.chunks
  );
}

/** Writes argument slots 0 … 20 and allocates `parts` scratch rows per thread; returns the scratch. */
function shapeArgs(
  rt: Runtime,
  a: AttentionArgs | AttentionBackwardArgs,
  out: number,
  lse: number,
  parts: number,
): number {
  const m = a.memory;
  const window = Math.min(a.window, a.keyLength);
  const part = Math.ceil(((m === null ? 0 : m.slots) + window + 4) / 4) * 16;
  const scratch = rt.heap.alloc(part * parts * rt.pool.threads);
  const args = rt.argv;
  args[0] = rt.ptr(a.q);
  args[1] = rt.ptr(a.k);
  args[2] = rt.ptr(a.v);
  args[3] = out;
  args[4] = lse;
  args[5] = m === null ? 0 : rt.ptr(m.k);
  args[6] = m === null ? 0 : rt.ptr(m.v);
  args[7] = m === null ? 0 : rt.ptr(m.mask);
  args[8] = m === null ? 0 : m.chunks;
  args[9] = m === null ? 0 : m.slots;
  args[10] = m === null ? 1 : m.chunkSize;
  args[11] = a.heads;
  args[12] = a.kvHeads;
  args[13] = a.queryLength;
  args[14] = a.keyLength;
  args[15] = a.headDim;
  args[16] = window;
  args[17] = a.queryOffset;
  rt.argf[18] = a.scale;
  args[19] = rt.ptr(scratch);
  args[20] = part * parts;
  return scratch;
}

function work(a: AttentionArgs): number {
  const keys = Math.min(a.window, a.keyLength) + (a.memory === null ? 0 : a.memory.slots);
  return a.batch * a.heads * a.queryLength * keys * a.headDim;
}

export function attentionF32(rt: Runtime, a: AttentionArgs): void {
  const rows = a.batch * a.heads * a.queryLength;
  if (!valid(a) || rows === 0 || a.headDim === 0) {
    rt.reference.attention(a);
    return;
  }
  const scratch = shapeArgs(rt, a, rt.ptr(a.out), rt.ptr(a.lse), 1);
  try {
    const parallel = work(a) >= PARALLEL_WORK;
    rt.pool.run("attn_fwd", rows, Math.max(1, Math.ceil(rows / (8 * rt.pool.threads))), parallel);
  } finally {
    rt.heap.free(scratch);
  }
}

export function attentionBackwardF32(rt: Runtime, a: AttentionBackwardArgs): void {
  const rows = a.batch * a.heads * a.queryLength;
  const noMemoryGrads = a.memory !== null && (a.dMemK === null || a.dMemV === null);
  if (!valid(a) || noMemoryGrads || rows === 0 || a.headDim === 0) {
    rt.reference.attentionBackward(a);
    return;
  }
  const scratch = shapeArgs(rt, a, rt.ptr(a.out), rt.ptr(a.lse), 2);
  try {
    const args = rt.argv;
    args[21] = rt.ptr(a.dOut);
    args[22] = rt.ptr(a.dq);
    args[23] = rt.ptr(a.dk);
    args[24] = rt.ptr(a.dv);
    args[25] = a.dMemK === null ? 0 : rt.ptr(a.dMemK);
    args[26] = a.dMemV === null ? 0 : rt.ptr(a.dMemV);
    const tasks = a.batch * a.kvHeads;
    rt.pool.run("attn_bwd", tasks, 1, tasks > 1 && work(a) >= PARALLEL_WORK);
  } finally {
    rt.heap.free(scratch);
  }
}
