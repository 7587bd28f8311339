/**
 * Fuzzy MQAR, "fuzzy in-context recall" (MAD, `generate_fuzzy_in_context_recall_instance` with
 * multi_query=True), test-style instances and targets.
 *
 * With V = vocabSize, L = length, K = keyMotif, M = valueMotif:
 *   pad id V − 1; key ids [0, n), n = ⌊(V−1)/2⌋; value ids [n, V − 1);
 *   a key is K distinct key ids in random order (a uniform K-permutation); a value is m distinct
 *   value ids, m uniform in 1..M (drawn per pair), assigned when its key first appears;
 *   a probe pair (k*, v*) is drawn first and inserted when the sequence reaches a uniform index in
 *   [0, L − 2·|k* v*|) (or earlier, if the key k* comes up by chance);
 *   pairs are appended while the sequence is shorter than L − |k* v*| − (K + M); then k* v*
 *   is appended once more, and the sequence is left-padded with the pad id to L + 1 tokens;
 *   inputs = tokens 0..L−1; targets = next tokens at the value tokens of every repeated key (the
 *   model reads the key and then predicts its whole value motif), IGNORE_INDEX elsewhere.
 * Keys always have K tokens (MAD's test-time form; its training form mixes key sizes 1..K). We
 * train and evaluate on this one distribution, scoring only the recalls. MAD can end the loop
 * before inserting the probe pair, which leaves the final recall unanswerable; here the probe is
 * inserted at the latest iteration that still fits.
 */
import { TaskBase } from "./base.js";
import { type Resolved, check, integer, resolveOptions } from "./options.js";
import { type UniformStream, range, sampleDistinct } from "./sampling.js";
import { IGNORE_INDEX, type SyntheticTask, type TaskName } from "./types.js";

export interface FuzzyMqarOptions {
  /** Vocabulary size V, the pad id V − 1 included (16). */
  vocabSize?: number;
  /** Example length L (128); L > 2·(keyMotif + valueMotif). */
  length?: number;
  /** Tokens per key K (3); ≤ ⌊(V−1)/2⌋. */
  keyMotif?: number;
  /** Most tokens per value M (3); ≤ V − 1 − ⌊(V−1)/2⌋. */
  valueMotif?: number;
}

const SPEC = {
  vocabSize: integer(16, 3),
  length: integer(128, 1),
  keyMotif: integer(3, 1),
  valueMotif: integer(3, 1),
};

class FuzzyMqarTask extends TaskBase {
  readonly name: TaskName = "fuzzy-mqar";
  readonly vocabSize: number;
  readonly length: number;
  protected readonly uniformsPerExample: number;
  private readonly keyMotif: number;
  private readonly valueMotif: number;
  private readonly keyCount: number;
  private readonly keyPool: Int32Array;
  private readonly valuePool: Int32Array;
  /** The unpadded sequence and its aligned labels (label of token t = target at t − 1). */
  private readonly raw: Int32Array;
  private readonly labels: Int32Array;
  private readonly probeKey: Int32Array;
  private readonly probeValue: Int32Array;
  private readonly swaps: Int32Array;
  /** Key code → where its value sits in `raw`: start·(M + 1) + size. */
  private readonly valueAt = new Map<number, number>();

  constructor(readonly options: Resolved<typeof SPEC>) {
    super();
    const { vocabSize: V, length: L, keyMotif: K, valueMotif: M } = options;
    const task = "fuzzy-mqar";
    const keyCount = Math.floor((V - 1) / 2);
    const valueCount = V - 1 - keyCount;
    check(
      keyCount >= K,
      task,
      `keyMotif (${K}) must be ≤ the ${keyCount} key ids (⌊(vocabSize − 1)/2⌋) for distinct key tokens`,
    );
    check(
      valueCount >= M,
      task,
      `valueMotif (${M}) must be ≤ the ${valueCount} value ids (vocabSize − 1 − ⌊(vocabSize − 1)/2⌋)`,
    );
    check(
      L > 2 * (K + M),
      task,
      `length (${L}) must be > 2·(keyMotif + valueMotif) (${2 * (K + M)})`,
    );
    check(
      keyCount ** K <= Number.MAX_SAFE_INTEGER,
      task,
      `keyMotif (${K}) is too large for ${keyCount} key ids`,
    );
    this.vocabSize = V;
    this.length = L;
    this.keyMotif = K;
    this.valueMotif = M;
    this.keyCount = keyCount;
    this.keyPool = range(0, keyCount);
    this.valuePool = range(keyCount, valueCount);
    this.raw = new Int32Array(L + 1);
    this.labels = new Int32Array(L + 1);
    this.probeKey = new Int32Array(K);
    this.probeValue = new Int32Array(M);
    this.swaps = new Int32Array(Math.max(K, M));
    this.uniformsPerExample = 2 * L;
  }

  protected generate(
    u: UniformStream,
    inputs: Int32Array,
    targets: Int32Array,
    offset: number,
  ): void {
    const { length: L, keyMotif: K, valueMotif: M, raw, labels, probeKey, probeValue } = this;
    const valueAt = this.valueAt;
    valueAt.clear();
    labels.fill(IGNORE_INDEX);
    const probeSize = 1 + u.int(M);
    sampleDistinct(u, this.keyPool, K, probeKey, 0, this.swaps);
    sampleDistinct(u, this.valuePool, probeSize, probeValue, 0, this.swaps);
    const probeCode = this.code(probeKey, 0);
    const pairSize = K + probeSize;
    const probeIndex = u.int(L - 2 * pairSize);
    const bound = L - pairSize - (K + M);
    let len = 0;
    let probeAdded = false;
    // Every iteration adds at most K + M tokens, so an iteration that starts with
    // len + K + M < bound is never the last one: the probe always gets in.
    while (len < bound) {
      const size = 1 + u.int(M);
      if (!probeAdded && (len >= probeIndex || len + K + M >= bound)) {
        raw.set(probeKey, len);
        copy(probeValue, 0, raw, len + K, probeSize);
        valueAt.set(probeCode, (len + K) * (M + 1) + probeSize);
        len += pairSize;
        probeAdded = true;
        continue;
      }
      sampleDistinct(u, this.keyPool, K, raw, len, this.swaps);
      const code = this.code(raw, len);
      const start = len + K;
      const known = valueAt.get(code);
      if (known !== undefined) {
        // A repeated key: its value again, every token scored.
        const from = Math.floor(known / (M + 1));
        const n = known % (M + 1);
        copy(raw, from, raw, start, n);
        copy(raw, from, labels, start, n);
        len = start + n;
      } else if (code === probeCode) {
        copy(probeValue, 0, raw, start, probeSize);
        valueAt.set(code, start * (M + 1) + probeSize);
        probeAdded = true;
        len = start + probeSize;
      } else {
        sampleDistinct(u, this.valuePool, size, raw, start, this.swaps);
        valueAt.set(code, start * (M + 1) + size);
        len = start + size;
      }
    }
    // The final query: k* v*, with v* scored.
    raw.set(probeKey, len);
    copy(probeValue, 0, raw, len + K, probeSize);
    copy(probeValue, 0, labels, len + K, probeSize);
    len += pairSize;
    // Left-pad to L + 1 tokens, then inputs = tokens [0, L), targets = labels [1, L + 1).
    const pad = L + 1 - len;
    const padId = this.vocabSize - 1;
    for (let t = 0; t < L; t++) {
      inputs[offset + t] = t < pad ? padId : raw[t - pad];
      if (t + 1 >= pad) targets[offset + t] = labels[t + 1 - pad];
    }
  }

  /** The key of K tokens at `tokens[at..]` as one integer (base = number of key ids). */
  private code(tokens: Int32Array, at: number): number {
    let code = 0;
    for (let j = this.keyMotif - 1; j >= 0; j--) code = code * this.keyCount + tokens[at + j];
    return code;
  }
}

/** dst[to .. to + n) = src[from .. from + n) (no overlap). */
function copy(src: Int32Array, from: number, dst: Int32Array, to: number, n: number): void {
  for (let i = 0; i < n; i++) dst[to + i] = src[from + i];
}

/** Fuzzy MQAR (MAD) with the given options; see the module comment for the recipe. */
export function fuzzyMqar(options: FuzzyMqarOptions = {}): SyntheticTask {
  return new FuzzyMqarTask(resolveOptions("fuzzy-mqar", SPEC, options));
}
