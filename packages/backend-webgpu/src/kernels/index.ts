/** Every kernel group of the backend. */
import { attentionKernels } from "./attention.js";
import { elementwiseKernels } from "./elementwise.js";
import type { KernelGroup } from "./group.js";
import { rowsKernels } from "./rows.js";
import { scanKernels } from "./scan.js";

export const KERNEL_GROUPS: readonly KernelGroup[] = [
  elementwiseKernels,
  rowsKernels,
  scanKernels,
  attentionKernels,
];
