/**
 * Selective copying (MAD, `generate_selective_copying_instance`).
 *
 * With V = vocabSize, L = length, n = tokensToCopy:
 *   data ids [0, V − 2), blank id V − 2, copy id V − 1;
 *   the first L − n − 1 positions hold n uniform data tokens at uniformly chosen positions (order
 *   kept) and blanks elsewhere (L − 2n − 1 ≥ 1 of them); then the copy token, then n blanks;
 *   targets = IGNORE_INDEX except at the n trailing blanks, where the j-th blank's target is the
 *   j-th data token (MAD's aligned targets: the model reads the copy token and a blank, then
 *   emits the data tokens in order).
 * MAD inserts the blanks with `np.insert` at indices drawn uniformly in [0, n), which never puts a
 * blank after the last data token and is not uniform over arrangements; here every arrangement
 * of the data tokens among the first L − n − 1 positions is equally likely.
 */
import { TaskBase } from "./base.js";
import { type Resolved, check, integer, resolveOptions } from "./options.js";
import type { UniformStream } from "./sampling.js";
import type { SyntheticTask, TaskName } from "./types.js";

export interface SelectiveCopyOptions {
  /** Vocabulary size V, blank and copy ids included (16). */
  vocabSize?: number;
  /** Example length L (256); L > 2·tokensToCopy + 1. */
  length?: number;
  /** Data tokens to copy n (16). */
  tokensToCopy?: number;
}

const SPEC = {
  vocabSize: integer(16, 3),
  length: integer(256, 1),
  tokensToCopy: integer(16, 1),
};

class SelectiveCopyTask extends TaskBase {
  readonly name: TaskName = "selective-copy";
  readonly vocabSize: number;
  readonly length: number;
  protected readonly uniformsPerExample: number;
  private readonly tokens: number;

  constructor(readonly options: Resolved<typeof SPEC>) {
    super();
    const { vocabSize: V, length: L, tokensToCopy: n } = options;
    check(
      L > 2 * n + 1,
      "selective-copy",
      `length (${L}) must be > 2·tokensToCopy + 1 (${2 * n + 1})`,
    );
    this.vocabSize = V;
    this.length = L;
    this.tokens = n;
    this.uniformsPerExample = L;
  }

  protected generate(
    u: UniformStream,
    inputs: Int32Array,
    targets: Int32Array,
    offset: number,
  ): void {
    const { length: L, tokens: n, vocabSize: V } = this;
    const dataIds = V - 2;
    const blank = V - 2;
    const region = L - n - 1;
    // Selection sampling: slot i takes a data token with probability (still needed)/(slots left),
    // which makes every set of n slots equally likely and keeps them in order.
    let copied = 0;
    for (let i = 0; i < region; i++) {
      if (u.next() * (region - i) < n - copied) {
        const token = u.int(dataIds);
        inputs[offset + i] = token;
        targets[offset + region + 1 + copied] = token;
        copied++;
      } else {
        inputs[offset + i] = blank;
      }
    }
    inputs[offset + region] = V - 1;
    for (let t = region + 1; t < L; t++) inputs[offset + t] = blank;
  }
}

/** Selective copying (MAD) with the given options; see the module comment for the recipe. */
export function selectiveCopy(options: SelectiveCopyOptions = {}): SyntheticTask {
  return new SelectiveCopyTask(resolveOptions("selective-copy", SPEC, options));
}
