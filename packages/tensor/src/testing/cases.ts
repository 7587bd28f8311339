/** The whole suite: kernel cases, gradient checks and fused-versus-composition checks. */
import { captureCases } from "./capture-cases.js";
import { fusedCases } from "./fused-cases.js";
import { gradientCases } from "./gradient-cases.js";
import { kernelCases } from "./kernel-cases.js";
import { storageCases } from "./storage-cases.js";
import type { ConformanceCase } from "./types.js";

export function conformanceCases(): ConformanceCase[] {
  return [
    ...kernelCases(),
    ...storageCases(),
    ...captureCases(),
    ...gradientCases(),
    ...fusedCases(),
  ];
}
