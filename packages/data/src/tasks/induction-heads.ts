/**
 * Induction heads (H3/safari `generate_induction_head`, the Mamba paper's setting), one trigger.
 *
 * With V = vocabSize, L = length, m = inductionLength, P = L − m:
 *   data ids [0, V − 2), trigger id V − 2 (H3's "=>"), id V − 1 reserved (H3's unused noop ".");
 *   P uniform data tokens; one position p uniform in [0, P − 1 − m) becomes the trigger, so the m
 *   tokens after it (the "to copy" tokens) follow it; then the trigger again at P, then the
 *   first m − 1 copied tokens;
 *   targets = IGNORE_INDEX except the last m positions, whose targets are the m copied tokens
 *   (after the final trigger, the model must emit what followed the first one).
 * H3 trains on next-token targets everywhere and masks all but the last m at test time; we score
 * only the last m (its test-time targets) throughout. Its `num_triggers` defaults to 1, as here.
 */
import { TaskBase } from "./base.js";
import { type Resolved, check, integer, resolveOptions } from "./options.js";
import type { UniformStream } from "./sampling.js";
import type { SyntheticTask, TaskName } from "./types.js";

export interface InductionHeadsOptions {
  /** Vocabulary size V, the two special ids included (16). */
  vocabSize?: number;
  /** Example length L (256); L ≥ 2·inductionLength + 2. */
  length?: number;
  /** Tokens to copy after the trigger m (1). */
  inductionLength?: number;
}

const SPEC = {
  vocabSize: integer(16, 3),
  length: integer(256, 1),
  inductionLength: integer(1, 1),
};

class InductionHeadsTask extends TaskBase {
  readonly name: TaskName = "induction-heads";
  readonly vocabSize: number;
  readonly length: number;
  protected readonly uniformsPerExample: number;
  private readonly copyLength: number;

  constructor(readonly options: Resolved<typeof SPEC>) {
    super();
    const { vocabSize: V, length: L, inductionLength: m } = options;
    check(
      L >= 2 * m + 2,
      "induction-heads",
      `length (${L}) must be ≥ 2·inductionLength + 2 (${2 * m + 2})`,
    );
    this.vocabSize = V;
    this.length = L;
    this.copyLength = m;
    this.uniformsPerExample = L + 1;
  }

  protected generate(
    u: UniformStream,
    inputs: Int32Array,
    targets: Int32Array,
    offset: number,
  ): void {
    const { length: L, copyLength: m } = this;
    const trigger = this.vocabSize - 2;
    const prefix = L - m;
    for (let t = 0; t < prefix; t++) inputs[offset + t] = u.int(trigger);
    const p = u.int(prefix - 1 - m);
    inputs[offset + p] = trigger;
    inputs[offset + prefix] = trigger;
    for (let i = 0; i < m; i++) {
      const token = inputs[offset + p + 1 + i];
      if (prefix + 1 + i < L) inputs[offset + prefix + 1 + i] = token;
      targets[offset + prefix + i] = token;
    }
  }
}

/** Induction heads (H3) with the given options; see the module comment for the recipe. */
export function inductionHeads(options: InductionHeadsOptions = {}): SyntheticTask {
  return new InductionHeadsTask(resolveOptions("induction-heads", SPEC, options));
}
