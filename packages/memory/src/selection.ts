/**
 * The parallel (chunked) form of eidetic selection: for chunk c, which starts at s0 = c·w, the
 * eidetic tokens E_c are the top-m_e positions s < s0 by innovation score (DESIGN §4,
 * conventions.md). It is computed by streaming one `EideticStore` through the sequence and
 * reading it at every chunk boundary, so the parallel form and the recurrent form (a decoder
 * feeding the store token by token and copying it at chunk boundaries) share the rule by
 * construction.
 */
import { EideticStore } from "./store.js";

function assertCount(value: number, what: string, min: number): void {
  if (!Number.isInteger(value) || value < min) {
    const kind = min === 0 ? "a non-negative integer" : "a positive integer";
    throw new RangeError(`${what} must be ${kind}, got ${value}.`);
  }
}

/**
 * Writes the selection of one sequence (`length` scores at `scores[offset..]`) into
 * `out[outOffset .. outOffset + chunks·capacity)`.
 */
function selectInto(
  scores: ArrayLike<number>,
  offset: number,
  length: number,
  chunkSize: number,
  capacity: number,
  chunks: number,
  store: EideticStore,
  out: Int32Array,
  outOffset: number,
): void {
  store.clear();
  let next = 0; // the next position to offer
  for (let c = 0; c < chunks; c++) {
    const end = Math.min(c * chunkSize, length);
    for (; next < end; next++) store.offer(next, scores[offset + next]);
    store.writePositions(out, outOffset + c * capacity);
  }
}

/**
 * The eidetic positions of every chunk of one sequence: an Int32Array [chunks, capacity] whose row
 * c holds the positions an `EideticStore(capacity)` holds after being offered positions
 * 0 .. c·chunkSize − 1 (those that exist) in order, sorted ascending and padded with −1. Row 0 is
 * all −1 (nothing precedes the first chunk).
 *
 * @param scores innovation scores ε of one sequence, length L
 * @param chunkSize w, the chunk (= window) length
 * @param capacity m_e, the number of eidetic slots
 * @param chunks number of chunks, default ceil(L / w); chunks past the end see the whole sequence
 */
export function selectEidetic(
  scores: ArrayLike<number>,
  chunkSize: number,
  capacity: number,
  chunks?: number,
): Int32Array {
  assertCount(chunkSize, "selectEidetic: chunkSize", 1);
  assertCount(capacity, "selectEidetic: capacity", 0);
  const numChunks = chunks ?? Math.ceil(scores.length / chunkSize);
  assertCount(numChunks, "selectEidetic: chunks", 0);
  const out = new Int32Array(numChunks * capacity);
  selectInto(
    scores,
    0,
    scores.length,
    chunkSize,
    capacity,
    numChunks,
    new EideticStore(capacity),
    out,
    0,
  );
  return out;
}

/**
 * `selectEidetic` for `batch` sequences of `length` scores each, stored row-major [batch, length]
 * (e.g. the data of `innovationScores(y)`): returns an Int32Array [batch, chunks, capacity].
 */
export function selectEideticBatch(
  scores: Float32Array | Float64Array,
  batch: number,
  length: number,
  chunkSize: number,
  capacity: number,
  chunks?: number,
): Int32Array {
  assertCount(batch, "selectEideticBatch: batch", 0);
  assertCount(length, "selectEideticBatch: length", 0);
  assertCount(chunkSize, "selectEideticBatch: chunkSize", 1);
  assertCount(capacity, "selectEideticBatch: capacity", 0);
  if (scores.length !== batch * length) {
    throw new RangeError(
      `selectEideticBatch: scores must hold batch · length = ${batch} · ${length} = ${batch * length} values, got ${scores.length}.`,
    );
  }
  const numChunks = chunks ?? Math.ceil(length / chunkSize);
  assertCount(numChunks, "selectEideticBatch: chunks", 0);
  const out = new Int32Array(batch * numChunks * capacity);
  const store = new EideticStore(capacity);
  for (let b = 0; b < batch; b++) {
    selectInto(
      scores,
      b * length,
      length,
      chunkSize,
      capacity,
      numChunks,
      store,
      out,
      b * numChunks * capacity,
    );
  }
  return out;
}

/**
 * The selection rule stated directly (for tests and as documentation): the positions p < upTo
 * with a non-NaN score, ordered by (score descending, position ascending), the first k of them,
 * returned sorted ascending. O(n log n); `EideticStore` gives the same set incrementally.
 */
export function topKBruteForce(scores: ArrayLike<number>, upTo: number, k: number): number[] {
  assertCount(k, "topKBruteForce: k", 0);
  const n = Math.max(0, Math.min(upTo, scores.length));
  const candidates: number[] = [];
  for (let p = 0; p < n; p++) if (!Number.isNaN(scores[p])) candidates.push(p);
  candidates.sort((a, b) => {
    const sa = scores[a];
    const sb = scores[b];
    if (sa !== sb) return sa > sb ? -1 : 1; // no subtraction: Infinity − Infinity is NaN
    return a - b;
  });
  return candidates.slice(0, k).sort((a, b) => a - b);
}
