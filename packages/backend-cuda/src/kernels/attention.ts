/**
 * Marshallers of attention and attentionBackward (native/attention.cu reads them in this order).
 *
 *   attention:          dtype, q, k, v, out, lse, SHAPE, MEMORY
 *   attentionBackward:  dtype, q, k, v, out, lse, dOut, dq, dk, dv, SHAPE, MEMORY, [dMemK, dMemV]
 *
 *   SHAPE  = batch, heads, kvHeads, queryLength, keyLength, headDim, window, queryOffset, scale
 *   MEMORY = a flag (1 when memory is given, else 0); only when 1 it is followed by
 *            memory.k, memory.v, memory.mask, chunks, slots, chunkSize, and for the backward then
 *            by dMemK, dMemV.
 *
 * `window` is written as given (Infinity included; a Float64Array holds it): the native side
 * clamps it to keyLength. The native side validates every size and throws RangeError-mapped
 * errors like the cpu reference.
 */
import type { AttentionArgs, AttentionBackwardArgs, AttentionMemory } from "@bmojo/tensor";
import type { ArgWriter, Marshaller } from "./writer.js";

type Shape = Omit<AttentionArgs, "dtype" | "q" | "k" | "v" | "memory" | "out" | "lse">;

function writeShape(a: Shape, w: ArgWriter): void {
  w.num(a.batch)
    .num(a.heads)
    .num(a.kvHeads)
    .num(a.queryLength)
    .num(a.keyLength)
    .num(a.headDim)
    .num(a.window)
    .num(a.queryOffset)
    .num(a.scale);
}

function writeMemory(memory: AttentionMemory | null, w: ArgWriter): void {
  w.flag(memory !== null);
  if (memory === null) return;
  w.buf(memory.k)
    .buf(memory.v)
    .buf(memory.mask)
    .num(memory.chunks)
    .num(memory.slots)
    .num(memory.chunkSize);
}

const attention: Marshaller<AttentionArgs> = (a, w) => {
  w.dtype(a.dtype).buf(a.q).buf(a.k).buf(a.v).buf(a.out).buf(a.lse);
  writeShape(a, w);
  writeMemory(a.memory, w);
};

const attentionBackward: Marshaller<AttentionBackwardArgs> = (a, w) => {
  if (a.memory !== null && (a.dMemK === null || a.dMemV === null)) {
    throw new TypeError(
      "attentionBackward: memory is given, so dMemK and dMemV must be buffers, not null",
    );
  }
  w.dtype(a.dtype).buf(a.q).buf(a.k).buf(a.v).buf(a.out).buf(a.lse);
  w.buf(a.dOut).buf(a.dq).buf(a.dk).buf(a.dv);
  writeShape(a, w);
  writeMemory(a.memory, w);
  if (a.memory !== null) w.optBuf(a.dMemK).optBuf(a.dMemV);
};

export const attentionMarshallers = { attention, attentionBackward };
