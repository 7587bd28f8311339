/**
 * MQAR, multi-query associative recall (Zoology, `zoology/data/multiquery_ar.py`).
 *
 * With V = vocabSize, L = length, N = pairs:
 *   keys   = N distinct ids from [1, ⌊V/2⌋), values = N distinct ids from [⌊V/2⌋, V), random order;
 *   inputs = k1 v1 k2 v2 … kN vN, then the query region of L − 2N slots, all 0;
 *   the region has (L − 2N)/2 even slots g = 0, 1, …; key k_i is re-asked at slot 2·g_i, where
 *   the g_i are N distinct slots drawn by `queryPlacement`:
 *     "power-law" (Zoology): successively without replacement with p(g) ∝ (g+1)^(a−1), a = powerA;
 *                 with a = 0.01 most queries land right after the key-value block;
 *     "uniform"   (our addition): uniformly (the power law with a = 1), so recall needs memory
 *                 over the whole region;
 *   targets = IGNORE_INDEX except at the position of each re-asked key, whose target is its value;
 *   randomNonQueries: every 0 left in the inputs becomes a uniform id in [0, V) (as in Zoology,
 *   it may coincide with a key or a value; such positions are never scored).
 */
import { TaskBase } from "./base.js";
import { type Resolved, check, choice, finite, flag, integer, resolveOptions } from "./options.js";
import { type UniformStream, range, sampleDistinct, sampleWeighted } from "./sampling.js";
import type { SyntheticTask, TaskName } from "./types.js";

/** Where the N queries go in the query region. */
export type QueryPlacement = "power-law" | "uniform";

export interface MqarOptions {
  /** Vocabulary size V (8192); must be > length. */
  vocabSize?: number;
  /** Example length L (256), even. */
  length?: number;
  /** Key-value pairs N (16); 4·N ≤ L and N ≤ ⌊V/2⌋ − 1. */
  pairs?: number;
  /** Power a of the query-gap law p(g) ∝ g^(a−1) (0.01); ignored for uniform placement. */
  powerA?: number;
  /** Replace the non-query zeros with random ids (true). */
  randomNonQueries?: boolean;
  /** "power-law" (Zoology, default) or "uniform". */
  queryPlacement?: QueryPlacement;
}

const SPEC = {
  vocabSize: integer(8192, 4),
  length: integer(256, 4),
  pairs: integer(16, 1),
  powerA: finite(0.01),
  randomNonQueries: flag(true),
  queryPlacement: choice<QueryPlacement>("power-law", ["power-law", "uniform"]),
};

class MqarTask extends TaskBase {
  readonly name: TaskName = "mqar";
  readonly vocabSize: number;
  readonly length: number;
  protected readonly uniformsPerExample: number;
  private readonly pairs: number;
  private readonly uniform: boolean;
  private readonly randomNonQueries: boolean;
  /** Power-law weights of the query slots (empty for uniform placement). */
  private readonly slotWeights: Float64Array;
  private readonly weightScratch: Float64Array;
  private readonly keyPool: Int32Array;
  private readonly valuePool: Int32Array;
  private readonly slotPool: Int32Array;
  private readonly keys: Int32Array;
  private readonly values: Int32Array;
  private readonly slots: Int32Array;
  private readonly swaps: Int32Array;

  constructor(readonly options: Resolved<typeof SPEC>) {
    super();
    const { vocabSize: V, length: L, pairs: N, powerA } = options;
    const task = "mqar";
    check(L % 2 === 0, task, `length (${L}) must be even`);
    check(4 * N <= L, task, `pairs (${N}) needs 4·pairs ≤ length (${L})`);
    const half = Math.floor(V / 2);
    check(
      half - 1 >= N,
      task,
      `vocabSize/2 - 1 (${half - 1}) must be ≥ pairs (${N}) for distinct keys`,
    );
    check(V > L, task, `vocabSize (${V}) must be > length (${L})`);
    check(powerA > 0, task, `powerA (${powerA}) must be > 0`);
    this.vocabSize = V;
    this.length = L;
    this.pairs = N;
    this.uniform = options.queryPlacement === "uniform";
    this.randomNonQueries = options.randomNonQueries;
    const space = (L - 2 * N) / 2;
    this.slotWeights = new Float64Array(this.uniform ? 0 : space);
    for (let g = 0; g < this.slotWeights.length; g++) this.slotWeights[g] = (g + 1) ** (powerA - 1);
    this.weightScratch = new Float64Array(this.slotWeights.length);
    this.keyPool = range(1, half - 1);
    this.valuePool = range(half, V - half);
    this.slotPool = range(0, space);
    this.keys = new Int32Array(N);
    this.values = new Int32Array(N);
    this.slots = new Int32Array(N);
    this.swaps = new Int32Array(N);
    this.uniformsPerExample = 3 * N + (this.randomNonQueries ? L - 3 * N : 0);
  }

  protected generate(
    u: UniformStream,
    inputs: Int32Array,
    targets: Int32Array,
    offset: number,
  ): void {
    const { pairs: N, keys, values, slots, length: L } = this;
    sampleDistinct(u, this.keyPool, N, keys, 0, this.swaps);
    sampleDistinct(u, this.valuePool, N, values, 0, this.swaps);
    if (this.uniform) sampleDistinct(u, this.slotPool, N, slots, 0, this.swaps);
    else sampleWeighted(u, this.slotWeights, N, slots, this.weightScratch);
    for (let i = 0; i < N; i++) {
      inputs[offset + 2 * i] = keys[i];
      inputs[offset + 2 * i + 1] = values[i];
    }
    // The query region is already 0 (fresh batch array); re-ask each key at its slot.
    for (let i = 0; i < N; i++) {
      const position = offset + 2 * N + 2 * slots[i];
      inputs[position] = keys[i];
      targets[position] = values[i];
    }
    if (this.randomNonQueries) {
      const V = this.vocabSize;
      for (let t = offset + 2 * N; t < offset + L; t++) {
        if (inputs[t] === 0) inputs[t] = u.int(V);
      }
    }
  }
}

/** MQAR (Zoology) with the given options; see the module comment for the recipe. */
export function mqar(options: MqarOptions = {}): SyntheticTask {
  return new MqarTask(resolveOptions("mqar", SPEC, options));
}
