#!/usr/bin/env node
/**
 * Bundles the conformance runner and the benchmark for a machine with Node but no node_modules
 * (the GPU machine) into <repo>/.gpu-run/webgpu-{conformance,bench}.mjs. `webgpu` stays external:
 * there, `../shared/tools/gpu-bundle.sh --webgpu` unpacks it at $WEBGPU_PKG; link it as
 * .gpu-run/node_modules/webgpu.
 */
import { mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const pkg = join(dirname(fileURLToPath(import.meta.url)), "..");
const out = join(pkg, "..", "..", ".gpu-run");
mkdirSync(out, { recursive: true });
await build({
  entryPoints: {
    "webgpu-conformance": join(pkg, "scripts", "conformance.ts"),
    "webgpu-bench": join(pkg, "scripts", "bench.ts"),
  },
  outdir: out,
  outExtension: { ".js": ".mjs" },
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  conditions: ["source"],
  external: ["webgpu"],
  banner: {
    js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);",
  },
  logLevel: "warning",
});
console.log(`bundled webgpu-conformance, webgpu-bench into ${out}`);
