/**
 * The conformance suite on the webgpu backend under plain node (no vitest), e.g. on the GPU machine:
 *   node --conditions=source --import tsx scripts/conformance.ts [--filter TEXT]
 * Prints each failure and "N passed, M failed, K skipped".
 */
import { runConformance, summaryLine } from "@bmojo/tensor/testing";
import { WebGpuBackend } from "../src/index.js";

const argv = process.argv.slice(2);
const i = argv.indexOf("--filter");
const filter = i >= 0 ? argv[i + 1] : undefined;
const backend = await WebGpuBackend.create();
console.log(
  `conformance suite on webgpu (${backend.adapter.source}: ${backend.adapter.description})${filter ? `, filter ${filter}` : ""}`,
);
const started = performance.now();
const report = await runConformance(backend, {
  filter,
  onResult: (r) => {
    if (r.status === "failed") console.log(`FAIL ${r.name}\n     ${r.message}`);
  },
});
console.log(`time: ${((performance.now() - started) / 1000).toFixed(1)} s`);
console.log(summaryLine(report));
backend.dispose();
process.exitCode = report.failed > 0 ? 1 : 0;
