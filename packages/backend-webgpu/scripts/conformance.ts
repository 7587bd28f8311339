/**
 * The conformance suite on the webgpu backend under plain node (no vitest), e.g. on the GPU machine:
 *   node --conditions=source --import tsx scripts/conformance.ts [--filter TEXT]
 * Prints each failure and "N passed, M failed, K skipped".
 */
import { printConformance } from "@bmojo/tensor/testing";
import { WebGpuBackend } from "../src/index.js";

const argv = process.argv.slice(2);
const i = argv.indexOf("--filter");
const filter = i >= 0 ? argv[i + 1] : undefined;
const backend = await WebGpuBackend.create();
await printConformance(
  backend,
  `conformance suite on webgpu (${backend.adapter.source}: ${backend.adapter.description})${filter ? `, filter ${filter}` : ""}`,
  { filter },
);
backend.dispose();
