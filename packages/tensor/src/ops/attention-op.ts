/**
 * The one attention op: causal, full or sliding window, grouped-query heads, optional per-chunk
 * memory keys (B'MOJO), with output and log-sum-exp. See AttentionArgs in backend/kernels.ts.
 */
import type { Tensor } from "../tensor.js";
import {
  assertDTypeIs,
  assertFloat,
  assertRank,
  assertSameDType,
  assertShape,
  backendOf,
  emptyTensor,
  kernel,
  recordGrad,
} from "./internal.js";

export interface AttentionMemoryInput {
  /** [B, Hkv, chunks, slots, Dh]. */
  k: Tensor;
  /** [B, Hkv, chunks, slots, Dh]. */
  v: Tensor;
  /** int32 [B, chunks, slots]; nonzero marks a valid slot. */
  mask: Tensor;
  /** Queries at positions c·chunkSize … (c+1)·chunkSize−1 see chunk c's slots. */
  chunkSize: number;
}

export interface AttentionOptions {
  /** A query at position p sees keys p−window+1 … p. Default (or Infinity): all earlier keys. */
  window?: number;
  /** Score scale; default 1/sqrt(Dh). */
  scale?: number;
  /** Absolute position of the first query; default keyLength − queryLength. */
  queryOffset?: number;
  memory?: AttentionMemoryInput | null;
}

export interface AttentionResult {
  /** [B, H, Lq, Dh]. */
  out: Tensor;
  /** [B, H, Lq]: log-sum-exp of the scaled scores each query saw; carries no gradient. */
  lse: Tensor;
}

/** q [B, H, Lq, Dh]; k, v [B, Hkv, Lk, Dh]. Gradients flow to q, k, v and the memory k, v. */
export function attention(
  q: Tensor,
  k: Tensor,
  v: Tensor,
  options: AttentionOptions = {},
): AttentionResult {
  const op = "attention";
  const memory = options.memory ?? null;
  const backend = backendOf(op, q, k, v, memory?.k, memory?.v, memory?.mask);
  assertFloat(op, "q", q);
  const dtype = assertSameDType(op, { q, k, v, "memory.k": memory?.k, "memory.v": memory?.v });
  assertRank(op, "q", q, 4, "[batch, heads, queryLength, headDim]");
  const [batch, heads, queryLength, headDim] = q.shape;
  assertRank(op, "k", k, 4, "[batch, kvHeads, keyLength, headDim]");
  const [, kvHeads, keyLength] = k.shape;
  assertShape(
    op,
    "k",
    k,
    [batch, kvHeads, keyLength, headDim],
    "[batch, kvHeads, keyLength, headDim]",
  );
  assertShape(
    op,
    "v",
    v,
    [batch, kvHeads, keyLength, headDim],
    "[batch, kvHeads, keyLength, headDim]",
  );
  if (kvHeads < 1 || heads % kvHeads !== 0) {
    throw new RangeError(`${op}: heads (${heads}) must be a multiple of kvHeads (${kvHeads}).`);
  }
  const requested = options.window ?? keyLength;
  if (!(Number.isInteger(requested) || requested === Number.POSITIVE_INFINITY) || requested < 1) {
    throw new RangeError(
      `${op}: window must be an integer ≥ 1 (or Infinity for full causal attention), got ${requested}.`,
    );
  }
  // A window past the first key changes nothing; kernels get a finite integer.
  const window = Math.min(requested, Math.max(keyLength, 1));
  const queryOffset = options.queryOffset ?? keyLength - queryLength;
  if (!Number.isInteger(queryOffset) || queryOffset < 0 || queryOffset + queryLength > keyLength) {
    throw new RangeError(
      `${op}: queryOffset ${queryOffset} with ${queryLength} queries needs 0 ≤ queryOffset and ` +
        `queryOffset + queryLength ≤ keyLength (${keyLength}).`,
    );
  }
  const scale = options.scale ?? 1 / Math.sqrt(headDim);
  let memoryArgs = null;
  if (memory) {
    assertRank(op, "memory.k", memory.k, 5, "[batch, kvHeads, chunks, slots, headDim]");
    const [, , chunks, slots] = memory.k.shape;
    const layout = "[batch, kvHeads, chunks, slots, headDim]";
    assertShape(op, "memory.k", memory.k, [batch, kvHeads, chunks, slots, headDim], layout);
    assertShape(op, "memory.v", memory.v, [batch, kvHeads, chunks, slots, headDim], layout);
    assertDTypeIs(op, "memory.mask", memory.mask, "int32");
    assertShape(op, "memory.mask", memory.mask, [batch, chunks, slots], "[batch, chunks, slots]");
    const { chunkSize } = memory;
    if (!Number.isInteger(chunkSize) || chunkSize < 1) {
      throw new RangeError(`${op}: memory.chunkSize must be an integer ≥ 1, got ${chunkSize}.`);
    }
    const needed =
      queryLength === 0 ? 0 : Math.floor((queryOffset + queryLength - 1) / chunkSize) + 1;
    if (chunks < needed) {
      throw new RangeError(
        `${op}: memory has ${chunks} chunks but queries up to position ${queryOffset + queryLength - 1} ` +
          `with chunkSize ${chunkSize} need ${needed}.`,
      );
    }
    memoryArgs = {
      k: memory.k.storage.id,
      v: memory.v.storage.id,
      mask: memory.mask.storage.id,
      chunks,
      slots,
      chunkSize,
    };
  }
  const sizes = {
    batch,
    heads,
    kvHeads,
    queryLength,
    keyLength,
    headDim,
    window,
    queryOffset,
    scale,
  };
  const out = emptyTensor(q.shape, dtype, backend);
  const lse = emptyTensor([batch, heads, queryLength], dtype, backend);
  kernel(
    backend,
    "attention",
  )({
    dtype,
    q: q.storage.id,
    k: k.storage.id,
    v: v.storage.id,
    memory: memoryArgs,
    out: out.storage.id,
    lse: lse.storage.id,
    ...sizes,
  });
  const saved = memory ? [q, k, v, out, lse, memory.k, memory.v, memory.mask] : [q, k, v, out, lse];
  recordGrad(op, [q, k, v, memory?.k, memory?.v], [out], saved, ([dOut], s) => {
    const [qs, ks, vs, os, ls, mk, mv, mm] = s;
    const like = (t: Tensor | undefined) => (t ? emptyTensor(t.shape, dtype, dOut.backend) : null);
    const dq = like(qs) as Tensor;
    const dk = like(ks) as Tensor;
    const dv = like(vs) as Tensor;
    const dMemK = like(mk);
    const dMemV = like(mv);
    kernel(
      dOut.backend,
      "attentionBackward",
    )({
      dtype,
      q: qs.storage.id,
      k: ks.storage.id,
      v: vs.storage.id,
      memory: memoryArgs && {
        ...memoryArgs,
        k: mk.storage.id,
        v: mv.storage.id,
        mask: mm.storage.id,
      },
      out: os.storage.id,
      lse: ls.storage.id,
      dOut: dOut.storage.id,
      dq: dq.storage.id,
      dk: dk.storage.id,
      dv: dv.storage.id,
      dMemK: dMemK ? dMemK.storage.id : null,
      dMemV: dMemV ? dMemV.storage.id : null,
      ...sizes,
    });
    return [dq, dk, dv, dMemK, dMemV];
  });
  return { out, lse };
}
