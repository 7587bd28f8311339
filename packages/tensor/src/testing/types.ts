/** The conformance suite's contract: cases, the context they run in, and skips. */
import type { Backend } from "../backend/backend.js";
import type { DType } from "../dtype.js";

export interface ConformanceContext {
  /** The backend under test. */
  readonly backend: Backend;
  /** A fresh reference `cpu` backend instance (the specification). */
  readonly reference: Backend;
  /**
   * Set by a case whose float buffers are bfloat16: its kernel calls store every Float32Array
   * input and every float32 output as bfloat16 (host values stay Float32Arrays).
   */
  readonly floatDType?: DType;
}

export type CaseGroup = "kernel" | "gradient" | "fused";

export interface ConformanceCase {
  /** Unique, descriptive: e.g. "kernel/matmul float32 b=3 m=17 n=13 k=33 transA". */
  readonly name: string;
  readonly group: CaseGroup;
  /** Resolves when the case passes; throws ConformanceMismatch / any error when it fails, SkipCase to skip. */
  run(ctx: ConformanceContext): Promise<void>;
}

/** Thrown by a case that does not apply to this backend; the reason is printed. */
export class SkipCase extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = "SkipCase";
  }
}

/** Absolute + relative tolerance: |a − b| ≤ atol + rtol·|b|. */
export interface Tolerance {
  atol: number;
  rtol: number;
}

/** Default tolerances per dtype for kernel outputs against the reference. */
export const TOLERANCE: Record<DType, Tolerance> = {
  float32: { atol: 1e-5, rtol: 1e-4 },
  float64: { atol: 1e-10, rtol: 1e-9 },
  int32: { atol: 0, rtol: 0 },
  // One bfloat16 step (2^-7 relative at most): float32 results that differ only in summation
  // order may round to neighbouring bfloat16 values.
  bfloat16: { atol: 1e-3, rtol: 1e-2 },
};

/** Skips a case when the backend does not store `dtype`. */
export function requireDType(ctx: ConformanceContext, dtype: DType): void {
  if (!ctx.backend.dtypes.includes(dtype)) {
    throw new SkipCase(`backend '${ctx.backend.name}' does not support ${dtype}`);
  }
}
