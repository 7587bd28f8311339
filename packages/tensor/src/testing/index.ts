/**
 * @bmojo/tensor/testing: the backend conformance suite. One suite for any backend: every kernel,
 * forward and backward, against the reference cpu backend; gradients against finite differences;
 * fused routines against compositions of primitives. Runs under vitest and under plain node
 * (`bmojo-conformance --backend NAME`).
 */
export { conformanceCases } from "./cases.js";
export { kernelCases } from "./kernel-cases.js";
export { gradientCases } from "./gradient-cases.js";
export { fusedCases } from "./fused-cases.js";
export {
  printConformance,
  runConformance,
  runCase,
  summaryLine,
  type CaseResult,
  type CaseStatus,
  type ConformanceReport,
  type PrintOptions,
  type RunOptions,
} from "./runner.js";
export { assertClose, ConformanceMismatch } from "./compare.js";
export {
  SkipCase,
  TOLERANCE,
  requireDType,
  type CaseGroup,
  type ConformanceCase,
  type ConformanceContext,
  type Tolerance,
} from "./types.js";
