/**
 * Attention and its gradients for the reference cpu backend: the specification of the one
 * attention kernel every model in the project uses (kernels.ts, AttentionArgs).
 *
 * Layouts (row-major):
 *   q, out, dOut, dq        [B, H, Lq, Dh]
 *   k, v, dk, dv            [B, Hkv, Lk, Dh]
 *   lse                     [B, H, Lq]
 *   memory k, v, dMemK/V    [B, Hkv, chunks, slots, Dh]
 *   memory mask (int32)     [B, chunks, slots]
 *
 * Visibility: query i of head h has absolute position p = queryOffset + i. It reads kv head
 * g = floor(h / (H / Hkv)) and sees
 *   - the in-context keys j with p − window < j ≤ p (p < Lk always holds, see validation), and
 *   - when memory is given, the slots of chunk c = floor(p / chunkSize) with mask[b, c, slot] ≠ 0.
 * One softmax runs over the union of those keys, with scores scale · q·k.
 *
 * The forward pass is an online softmax (running maximum and running sum per query row), so no
 * [Lq, Lk] matrix is ever materialised; the backward pass recomputes each probability from the
 * lse the forward pass wrote. All arithmetic is in JS doubles; results are rounded to `dtype`
 * only when written.
 */
import type { DType } from "../../dtype.js";
import type {
  AttentionArgs,
  AttentionBackwardArgs,
  AttentionMemory,
} from "../../backend/kernels.js";
import type { CpuStore, FloatArray } from "./store.js";

/** The arguments that fix the problem's shape and visibility (shared by both kernels). */
type AttentionShape = Omit<AttentionArgs, "out" | "lse">;

type AttentionKernel = "attention" | "attentionBackward";

/** Throws a RangeError naming the offending argument when the arguments are inconsistent. */
function validate(kernel: AttentionKernel, a: AttentionShape): void {
  const { heads, kvHeads, queryLength, keyLength, queryOffset, window, memory } = a;

  if (!Number.isInteger(kvHeads) || kvHeads < 1 || heads % kvHeads !== 0) {
    throw new RangeError(
      `${kernel}: heads (${heads}) must be a multiple of kvHeads (${kvHeads}), kvHeads ≥ 1; ` +
        `each kv head serves heads / kvHeads query heads`,
    );
  }
  if (!Number.isInteger(queryOffset) || queryOffset < 0) {
    throw new RangeError(`${kernel}: queryOffset must be an integer ≥ 0, got ${queryOffset}`);
  }
  if (queryOffset + queryLength > keyLength) {
    throw new RangeError(
      `${kernel}: queryOffset (${queryOffset}) + queryLength (${queryLength}) = ` +
        `${queryOffset + queryLength} exceeds keyLength (${keyLength}); every query position ` +
        `must have its own key`,
    );
  }
  if (!(Number.isInteger(window) || window === Number.POSITIVE_INFINITY) || window < 1) {
    throw new RangeError(
      `${kernel}: window must be an integer ≥ 1 (or Infinity for full causal attention), ` +
        `got ${window}`,
    );
  }
  if (memory !== null) {
    if (!Number.isInteger(memory.chunkSize) || memory.chunkSize < 1) {
      throw new RangeError(
        `${kernel}: memory.chunkSize must be an integer ≥ 1, got ${memory.chunkSize}`,
      );
    }
  }
  if (memory !== null && queryLength > 0) {
    const lastPosition = queryOffset + queryLength - 1;
    const lastChunk = Math.floor(lastPosition / memory.chunkSize);
    if (lastChunk >= memory.chunks) {
      throw new RangeError(
        `${kernel}: the query at position ${lastPosition} reads memory chunk ${lastChunk} ` +
          `(chunkSize ${memory.chunkSize}), but memory.chunks is ${memory.chunks}; memory must ` +
          `have a chunk for every query`,
      );
    }
  }
}

/** Σ_d a[aStart + d] · b[bStart + d] for d < length. */
function dot(a: FloatArray, aStart: number, b: FloatArray, bStart: number, length: number): number {
  let sum = 0;
  for (let d = 0; d < length; d++) sum += a[aStart + d] * b[bStart + d];
  return sum;
}

/** The first in-context key a query at absolute position p sees (the last one is p itself). */
function firstVisibleKey(position: number, window: number): number {
  // With window = Infinity this is max(0, −Infinity) = 0.
  return Math.max(0, position - window + 1);
}

/** Typed views of the memory buffers, with the memory's sizes. */
interface MemoryViews {
  k: FloatArray;
  v: FloatArray;
  mask: Int32Array;
  chunks: number;
  slots: number;
  chunkSize: number;
}

function memoryViews(
  s: CpuStore,
  memory: AttentionMemory | null,
  dtype: DType,
): MemoryViews | null {
  if (memory === null) return null;
  const { chunks, slots, chunkSize } = memory;
  return {
    k: s.float(memory.k, dtype),
    v: s.float(memory.v, dtype),
    mask: s.int32(memory.mask),
    chunks,
    slots,
    chunkSize,
  };
}

/** Element offset of the first slot of memory chunk `chunk` for batch b, kv head g. */
function memoryChunkStart(
  memory: MemoryViews,
  kvHeads: number,
  headDim: number,
  b: number,
  g: number,
  chunk: number,
): number {
  return ((b * kvHeads + g) * memory.chunks + chunk) * memory.slots * headDim;
}

/**
 * The running state of an online softmax over one query row: with m the largest score seen so
 * far, sum = Σ exp(score − m) and acc = Σ exp(score − m) · value. Adding a larger score rescales
 * both by exp(m_old − m_new). Allocated once per kernel call and reset per row.
 */
class OnlineSoftmaxRow {
  max = Number.NEGATIVE_INFINITY;
  sum = 0;
  readonly acc: Float64Array;

  constructor(headDim: number) {
    this.acc = new Float64Array(headDim);
  }

  reset(): void {
    this.max = Number.NEGATIVE_INFINITY;
    this.sum = 0;
    this.acc.fill(0);
  }

  /** Adds one visible key with the given scaled score and its value row values[start, +Dh). */
  add(score: number, values: FloatArray, start: number): void {
    const acc = this.acc;
    if (score > this.max) {
      // exp(−Infinity) = 0 for the first key, which discards the (zero) empty state.
      const rescale = Math.exp(this.max - score);
      this.sum = this.sum * rescale + 1;
      for (let d = 0; d < acc.length; d++) acc[d] = acc[d] * rescale + values[start + d];
      this.max = score;
    } else {
      const weight = Math.exp(score - this.max);
      this.sum += weight;
      for (let d = 0; d < acc.length; d++) acc[d] += weight * values[start + d];
    }
  }
}

/**
 * Forward attention: writes out [B, H, Lq, Dh] = softmax(scale · q·kᵀ over visible keys) · v and
 * lse [B, H, Lq] = log Σ_visible exp(scale · q·k). A query that sees no key gets lse = −Infinity
 * and a zero output (this cannot happen with window ≥ 1, since every query sees its own key).
 */
export function attention(s: CpuStore, a: AttentionArgs): void {
  validate("attention", a);
  const { dtype, batch, heads, kvHeads, queryLength, keyLength, headDim } = a;
  const { window, queryOffset, scale } = a;

  const q = s.float(a.q, dtype);
  const k = s.float(a.k, dtype);
  const v = s.float(a.v, dtype);
  const out = s.float(a.out, dtype);
  const lse = s.float(a.lse, dtype);
  const memory = memoryViews(s, a.memory, dtype);

  const headsPerKvHead = heads / kvHeads;
  const row = new OnlineSoftmaxRow(headDim);

  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < heads; h++) {
      const g = Math.floor(h / headsPerKvHead);
      const kvStart = (b * kvHeads + g) * keyLength * headDim;

      for (let i = 0; i < queryLength; i++) {
        const rowIndex = (b * heads + h) * queryLength + i;
        const qStart = rowIndex * headDim;
        const position = queryOffset + i;
        row.reset();

        // The valid memory slots of this query's chunk.
        if (memory !== null) {
          const chunk = Math.floor(position / memory.chunkSize);
          const maskStart = (b * memory.chunks + chunk) * memory.slots;
          const chunkStart = memoryChunkStart(memory, kvHeads, headDim, b, g, chunk);
          for (let slot = 0; slot < memory.slots; slot++) {
            if (memory.mask[maskStart + slot] === 0) continue;
            const slotStart = chunkStart + slot * headDim;
            const score = scale * dot(q, qStart, memory.k, slotStart, headDim);
            row.add(score, memory.v, slotStart);
          }
        }

        // The in-context keys position − window < j ≤ position.
        for (let j = firstVisibleKey(position, window); j <= position; j++) {
          const keyStart = kvStart + j * headDim;
          const score = scale * dot(q, qStart, k, keyStart, headDim);
          row.add(score, v, keyStart);
        }

        // row.sum ≥ 1 as soon as one key was added, so 0 means the query saw no key.
        if (row.sum === 0) {
          lse[rowIndex] = Number.NEGATIVE_INFINITY;
          for (let d = 0; d < headDim; d++) out[qStart + d] = 0;
        } else {
          lse[rowIndex] = row.max + Math.log(row.sum);
          for (let d = 0; d < headDim; d++) out[qStart + d] = row.acc[d] / row.sum;
        }
      }
    }
  }
}

/**
 * Per-query-row inputs of the backward pass plus the row's dq accumulator. One instance is
 * allocated per kernel call and refilled for every row.
 */
interface BackwardRow {
  q: FloatArray;
  dOut: FloatArray;
  /** Start of this row in q, dOut (and out, dq). */
  start: number;
  /** lse of this row, from the forward pass. */
  lse: number;
  /** D = Σ_d dOut · out for this row. */
  dOutDotOut: number;
  scale: number;
  headDim: number;
  /** dq of this row, accumulated over its visible keys. */
  dq: Float64Array;
}

/**
 * Backpropagates through one visible key (an in-context key or a memory slot) of one query row:
 *   p = exp(scale · q·k − lse);  dv += p · dOut;  ds = p · (dOut·v − D);
 *   dq += scale · ds · k;  dk += scale · ds · q.
 * keys/values are read and dKeys/dValues accumulated at element `start` (the same layout).
 */
function backpropKey(
  row: BackwardRow,
  keys: FloatArray,
  values: FloatArray,
  dKeys: Float64Array,
  dValues: Float64Array,
  start: number,
): void {
  const { q, dOut, headDim, scale } = row;
  const probability = Math.exp(scale * dot(q, row.start, keys, start, headDim) - row.lse);
  const dProbability = dot(dOut, row.start, values, start, headDim);
  const dScore = probability * (dProbability - row.dOutDotOut);
  const dScaled = scale * dScore;
  for (let d = 0; d < headDim; d++) {
    dValues[start + d] += probability * dOut[row.start + d];
    row.dq[d] += dScaled * keys[start + d];
    dKeys[start + d] += dScaled * q[row.start + d];
  }
}

/**
 * Gradients of attention given out, lse (from the forward pass) and dOut. Writes dq, dk, dv and,
 * when memory is given, dMemK and dMemV (which must then be buffers). kv gradients are summed
 * over the query heads that share a kv head. Every gradient element is written (zero where no
 * query reads it); nothing is accumulated into the callers' buffers.
 */
export function attentionBackward(s: CpuStore, a: AttentionBackwardArgs): void {
  validate("attentionBackward", a);
  const { dtype, batch, heads, kvHeads, queryLength, keyLength, headDim } = a;
  const { window, queryOffset, scale } = a;
  if (a.memory !== null && (a.dMemK === null || a.dMemV === null)) {
    throw new TypeError(
      "attentionBackward: memory is given, so dMemK and dMemV must be buffers, not null",
    );
  }

  const q = s.float(a.q, dtype);
  const k = s.float(a.k, dtype);
  const v = s.float(a.v, dtype);
  const out = s.float(a.out, dtype);
  const lse = s.float(a.lse, dtype);
  const dOut = s.float(a.dOut, dtype);
  const dq = s.float(a.dq, dtype);
  const dk = s.float(a.dk, dtype);
  const dv = s.float(a.dv, dtype);
  const memory = memoryViews(s, a.memory, dtype);

  // kv gradients receive contributions from many query rows and heads: accumulate them in
  // doubles (zero-initialised) and write them once at the end.
  const kvSize = batch * kvHeads * keyLength * headDim;
  const memorySize = memory === null ? 0 : batch * kvHeads * memory.chunks * memory.slots * headDim;
  const dkSum = new Float64Array(kvSize);
  const dvSum = new Float64Array(kvSize);
  const dMemKSum = new Float64Array(memorySize);
  const dMemVSum = new Float64Array(memorySize);

  const row: BackwardRow = {
    q,
    dOut,
    start: 0,
    lse: 0,
    dOutDotOut: 0,
    scale,
    headDim,
    dq: new Float64Array(headDim),
  };
  const headsPerKvHead = heads / kvHeads;

  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < heads; h++) {
      const g = Math.floor(h / headsPerKvHead);
      const kvStart = (b * kvHeads + g) * keyLength * headDim;

      for (let i = 0; i < queryLength; i++) {
        const rowIndex = (b * heads + h) * queryLength + i;
        const position = queryOffset + i;
        row.start = rowIndex * headDim;
        row.lse = lse[rowIndex];
        row.dOutDotOut = dot(dOut, row.start, out, row.start, headDim);
        row.dq.fill(0);

        // The valid memory slots of this query's chunk.
        if (memory !== null) {
          const chunk = Math.floor(position / memory.chunkSize);
          const maskStart = (b * memory.chunks + chunk) * memory.slots;
          const chunkStart = memoryChunkStart(memory, kvHeads, headDim, b, g, chunk);
          for (let slot = 0; slot < memory.slots; slot++) {
            if (memory.mask[maskStart + slot] === 0) continue;
            const slotStart = chunkStart + slot * headDim;
            backpropKey(row, memory.k, memory.v, dMemKSum, dMemVSum, slotStart);
          }
        }

        // The in-context keys position − window < j ≤ position.
        for (let j = firstVisibleKey(position, window); j <= position; j++) {
          backpropKey(row, k, v, dkSum, dvSum, kvStart + j * headDim);
        }

        for (let d = 0; d < headDim; d++) dq[row.start + d] = row.dq[d];
      }
    }
  }

  for (let i = 0; i < kvSize; i++) {
    dk[i] = dkSum[i];
    dv[i] = dvSum[i];
  }
  if (memory !== null && a.dMemK !== null && a.dMemV !== null) {
    const dMemK = s.float(a.dMemK, dtype);
    const dMemV = s.float(a.dMemV, dtype);
    for (let i = 0; i < memorySize; i++) {
      dMemK[i] = dMemKSum[i];
      dMemV[i] = dMemVSum[i];
    }
  }
}
