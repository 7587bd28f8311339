/** A group of kernels bound to one runtime. */
import type { KernelTable } from "@bmojo/tensor";
import type { Runtime } from "../runtime.js";

export type KernelGroup = (rt: Runtime) => Partial<KernelTable>;
