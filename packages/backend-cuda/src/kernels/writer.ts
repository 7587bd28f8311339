/**
 * Marshals one kernel call's arguments into a reused Float64Array, read back in the same order by
 * the addon's `bmojo::Args` (native/common.cuh). One N-API call per kernel, no objects crossing.
 */
import type { BufferId, DType } from "@bmojo/tensor";

const DTYPE_CODES: Partial<Record<DType, number>> = { float32: 0, int32: 1, bfloat16: 2 };

export class ArgWriter {
  private data = new Float64Array(128);
  private n = 0;

  /** Starts a new argument list. */
  reset(): this {
    this.n = 0;
    return this;
  }

  num(x: number): this {
    if (this.n === this.data.length) {
      const grown = new Float64Array(this.data.length * 2);
      grown.set(this.data);
      this.data = grown;
    }
    this.data[this.n++] = x;
    return this;
  }

  flag(b: boolean): this {
    return this.num(b ? 1 : 0);
  }

  buf(id: BufferId): this {
    return this.num(id);
  }

  /** A buffer that may be null; null is written as −1. */
  optBuf(id: BufferId | null): this {
    return this.num(id === null ? -1 : id);
  }

  dtype(d: DType): this {
    const code = DTYPE_CODES[d];
    if (code === undefined) {
      throw new TypeError(
        `the cuda backend stores float32, bfloat16 and int32, not ${d}; cast the tensor first`,
      );
    }
    return this.num(code);
  }

  /** A list of numbers preceded by nothing (callers write the rank themselves). */
  list(values: readonly number[]): this {
    for (const v of values) this.num(v);
    return this;
  }

  /** The arguments written since `reset`. */
  view(): Float64Array {
    return this.data.subarray(0, this.n);
  }
}

/** What each kernel group exports: a marshaller per kernel it implements. */
export type Marshaller<A> = (args: A, w: ArgWriter) => void;
