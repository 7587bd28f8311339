/**
 * The conformance suite on the tfjs adapter under plain node:
 *   pnpm --filter @bmojo/backend-tfjs conformance [-- --tf cpu|wasm] [-- --filter TEXT]
 * Prints each failure and "N passed, M failed, K skipped".
 */
import { printConformance } from "@bmojo/tensor/testing";
import { TfjsBackend } from "../src/index.js";

const argv = process.argv.slice(2);
const flag = (name: string) => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
};
const filter = flag("--filter");
const backend = await TfjsBackend.create({ tfBackend: flag("--tf") ?? "wasm" });
await printConformance(
  backend,
  `conformance suite on ${backend.name} (tfjs ${backend.tfBackend})${filter ? `, filter ${filter}` : ""}`,
  { filter },
);
backend.dispose();
