/**
 * The conformance suite on the wasm backend under plain node:
 *   pnpm --filter @bmojo/backend-wasm conformance [-- --filter TEXT] [-- --threads N]
 * Prints each failure and "N passed, M failed, K skipped".
 */
import { printConformance } from "@bmojo/tensor/testing";
import { WasmBackend } from "../src/index.js";

const argv = process.argv.slice(2);
const flag = (name: string) => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
};
const filter = flag("--filter");
const threads = flag("--threads");
const backend = await WasmBackend.create(threads === undefined ? {} : { threads: Number(threads) });
await printConformance(
  backend,
  `conformance suite on wasm (${backend.threading})${filter ? `, filter ${filter}` : ""}`,
  { filter },
);
backend.dispose();
