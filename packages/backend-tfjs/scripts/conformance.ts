/**
 * The conformance suite on the tfjs adapter under plain node:
 *   pnpm --filter @bmojo/backend-tfjs conformance [-- --tf cpu|wasm] [-- --filter TEXT]
 * Prints each failure and "N passed, M failed, K skipped".
 */
import { runConformance, summaryLine } from "@bmojo/tensor/testing";
import { TfjsBackend } from "../src/index.js";

const argv = process.argv.slice(2);
const flag = (name: string) => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
};
const filter = flag("--filter");
const backend = await TfjsBackend.create({ tfBackend: flag("--tf") ?? "wasm" });
console.log(
  `conformance suite on ${backend.name} (tfjs ${backend.tfBackend})${filter ? `, filter ${filter}` : ""}`,
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
