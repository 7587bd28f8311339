/**
 * The conformance suite on the wasm backend under plain node:
 *   pnpm --filter @bmojo/backend-wasm conformance [-- --filter TEXT] [-- --threads N]
 * Prints each failure and "N passed, M failed, K skipped".
 */
import { runConformance, summaryLine } from "@bmojo/tensor/testing";
import { WasmBackend } from "../src/index.js";

const argv = process.argv.slice(2);
const flag = (name: string) => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
};
const filter = flag("--filter");
const threads = flag("--threads");
const backend = await WasmBackend.create(threads === undefined ? {} : { threads: Number(threads) });
console.log(
  `conformance suite on wasm (${backend.threading})${filter ? `, filter ${filter}` : ""}`,
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
