#!/usr/bin/env node
/**
 * Bundles the GPU machine's scripts (which has Node but no pnpm, npm or node_modules) into single
 * files under <repo>/.gpu-run/ (git-ignored; carry it with the device tool):
 *   gpu-check.mjs  conformance + whole-model check; gpu-bench.mjs  benchmarks;
 *   gpu-cli.mjs  the bmojo CLI with the cuda backend registered.
 * On that machine (the working tree travels with it): node packages/backend-cuda/scripts/build-native.mjs,
 * then BMOJO_CUDA_ADDON=$PWD/packages/backend-cuda/build/bmojo_cuda.node node .gpu-run/gpu-check.mjs
 */
import { existsSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const pkg = join(dirname(fileURLToPath(import.meta.url)), "..");
const out = join(pkg, "..", "..", ".gpu-run");
mkdirSync(out, { recursive: true });
const entries = ["gpu-check", "gpu-bench", "gpu-cli"].filter((e) =>
  existsSync(join(pkg, "scripts", `${e}.ts`)),
);
await build({
  entryPoints: Object.fromEntries(entries.map((e) => [e, join(pkg, "scripts", `${e}.ts`)])),
  outdir: out,
  outExtension: { ".js": ".mjs" },
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  conditions: ["source"],
  sourcemap: "inline",
  banner: {
    js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);",
  },
  logLevel: "warning",
});
console.log(`bundled ${entries.join(", ")} into ${out}`);
