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

/** What `printConformance` prints besides failures, the time and the summary line. */
export interface PrintOptions {
  filter?: string | RegExp;
  /** Also print each skipped case with its reason. */
  skips?: boolean;
  /** Also print each passing case with its time. */
  verbose?: boolean;
}

/**
 * The suite under plain node, printed: `header`, each failure as it happens (and skips, passes when
 * asked), the time and "N passed, M failed, K skipped". Sets exit code 1 when a case failed.
 * Shared by `bmojo-conformance`, the backend packages' conformance scripts and the GPU check.
 */
export async function printConformance(
  backend: Backend,
  header: string,
  options: PrintOptions = {},
): Promise<ConformanceReport> {
  console.log(header);
  const started = performance.now();
  const report = await runConformance(backend, {
    filter: options.filter,
    onResult: (r) => {
      if (r.status === "failed") console.log(`FAIL ${r.name}\n     ${r.message}`);
      else if (r.status === "skipped" && options.skips) console.log(`skip ${r.name}: ${r.message}`);
      else if (r.status === "passed" && options.verbose)
        console.log(`ok   ${r.name} (${r.ms.toFixed(1)} ms)`);
    },
  });
  console.log(`time: ${((performance.now() - started) / 1000).toFixed(1)} s`);
  console.log(summaryLine(report));
  if (report.failed > 0) process.exitCode = 1;
  return report;
}
