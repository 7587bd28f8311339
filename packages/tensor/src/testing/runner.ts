/** Runs conformance cases against a backend and tallies the results. */
import type { Backend } from "../backend/backend.js";
import { CpuBackend } from "../backends/cpu/index.js";
import { conformanceCases } from "./cases.js";
import { type CaseGroup, type ConformanceCase, SkipCase } from "./types.js";

export type CaseStatus = "passed" | "failed" | "skipped";

export interface CaseResult {
  readonly name: string;
  readonly group: CaseGroup;
  readonly status: CaseStatus;
  /** Failure message or skip reason. */
  readonly message?: string;
  readonly ms: number;
}

export interface ConformanceReport {
  readonly backend: string;
  readonly passed: number;
  readonly failed: number;
  readonly skipped: number;
  readonly results: readonly CaseResult[];
}

export interface RunOptions {
  /** Only cases whose name contains this string (or matches this RegExp). */
  filter?: string | RegExp;
  /** Called after each case (for progress output). */
  onResult?: (result: CaseResult) => void;
  /** The cases to run; defaults to the whole suite. */
  cases?: readonly ConformanceCase[];
}

/** Runs one case; never throws. */
export async function runCase(
  c: ConformanceCase,
  backend: Backend,
  reference: Backend,
): Promise<CaseResult> {
  const started = performance.now();
  const done = (status: CaseStatus, message?: string): CaseResult => ({
    name: c.name,
    group: c.group,
    status,
    message,
    ms: performance.now() - started,
  });
  try {
    await c.run({ backend, reference });
    return done("passed");
  } catch (err) {
    if (err instanceof SkipCase) return done("skipped", err.reason);
    return done("failed", err instanceof Error ? `${err.name}: ${err.message}` : String(err));
  }
}

/** Runs the suite (or a filtered part of it) against `backend`, with a fresh reference cpu backend. */
export async function runConformance(
  backend: Backend,
  options: RunOptions = {},
): Promise<ConformanceReport> {
  const reference = new CpuBackend("cpu-reference");
  const { filter } = options;
  const selected = (options.cases ?? conformanceCases()).filter((c) =>
    filter === undefined
      ? true
      : typeof filter === "string"
        ? c.name.includes(filter)
        : filter.test(c.name),
  );
  const results: CaseResult[] = [];
  try {
    for (const c of selected) {
      const result = await runCase(c, backend, reference);
      results.push(result);
      options.onResult?.(result);
    }
  } finally {
    reference.dispose();
  }
  const count = (s: CaseStatus) => results.filter((r) => r.status === s).length;
  return {
    backend: backend.name,
    passed: count("passed"),
    failed: count("failed"),
    skipped: count("skipped"),
    results,
  };
}

/** The closing line: "N passed, M failed, K skipped". */
export function summaryLine(report: ConformanceReport): string {
  return `${report.passed} passed, ${report.failed} failed, ${report.skipped} skipped`;
}
