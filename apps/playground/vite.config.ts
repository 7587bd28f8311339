/**
 * The playground builds from the workspace packages' TypeScript sources (their "source" export
 * condition), so nothing needs building first. No Node-only module reaches the bundle: the
 * packages import node:fs lazily, only in file helpers the page never calls (tree-shaken), and
 * @bmojo/backend-webgpu's dynamic import of the optional `webgpu` package (Dawn) carries
 * `@vite-ignore`, so it stays an unresolved import that runs only where navigator.gpu is missing
 * (and then fails with a message the page shows). test/e2e.test.ts checks the built files.
 *
 * The dev and preview servers send the cross-origin isolation headers: with them the page gets
 * SharedArrayBuffer, so @bmojo/backend-wasm (the fallback without WebGPU) runs its kernels on
 * every core in nested Web Workers. Every asset the page loads is same-origin, so COEP's
 * require-corp blocks nothing. A host that serves dist/ must send the same two headers.
 */
import { type Plugin, defaultClientConditions, defineConfig } from "vite";

/**
 * Drops emitted assets that no chunk refers to. @bmojo/data's Node-only `tinyShakespearePath()`
 * locates its text with `new URL("../data/tinyshakespeare.txt", import.meta.url)`, which makes
 * Vite copy the 1.1 MB file into the build although the function itself is tree-shaken away.
 */
function dropUnreferencedAssets(): Plugin {
  return {
    name: "bmojo-drop-unreferenced-assets",
    apply: "build",
    generateBundle(_options, bundle) {
      const code = Object.values(bundle)
        .map((output) => (output.type === "chunk" ? output.code : ""))
        .join("\n");
      for (const [fileName, output] of Object.entries(bundle)) {
        const name = fileName.slice(fileName.lastIndexOf("/") + 1);
        if (output.type === "asset" && fileName.endsWith(".txt") && !code.includes(name)) {
          delete bundle[fileName];
        }
      }
    },
  };
}

/** The Node built-ins @bmojo/backend-wasm's thread pool imports (under Node only). */
const NODE_ONLY_IMPORTS = new Set(["node:os", "node:worker_threads"]);

/**
 * Keeps @bmojo/backend-wasm's Node-only imports unresolved. Its thread pool imports node:os
 * (the core count) and node:worker_threads dynamically, and only where `process.versions.node`
 * exists; in a browser it counts navigator.hardwareConcurrency and starts Web Workers. Left to
 * Vite, each would become an empty browser stub in a chunk of its own; like
 * @bmojo/backend-webgpu's `import("webgpu")`, they stay dynamic imports a browser never runs.
 */
function keepNodeOnlyImports(): Plugin {
  return {
    name: "bmojo-keep-node-only-imports",
    enforce: "pre",
    resolveId(source, importer) {
      if (
        NODE_ONLY_IMPORTS.has(source) &&
        importer !== undefined &&
        /[\\/]backend-wasm[\\/](?:src[\\/]pool\.ts|dist[\\/])/.test(importer)
      ) {
        return { id: source, external: true };
      }
      return null;
    },
  };
}

/** Cross-origin isolation (`crossOriginIsolated`, hence SharedArrayBuffer for wasm threads). */
export const CROSS_ORIGIN_ISOLATION = {
  "Cross-Origin-Opener-Policy": "same-origin",
  "Cross-Origin-Embedder-Policy": "require-corp",
} as const;

export default defineConfig({
  base: "./",
  resolve: { conditions: ["source", ...defaultClientConditions] },
  plugins: [dropUnreferencedAssets()],
  // Workers are bundled on their own, with their own plugins (the pool is in the workers).
  worker: { format: "es", plugins: () => [keepNodeOnlyImports()] },
  // Keeps the dev server's dependency scan from pre-bundling Dawn's Node package for the browser.
  optimizeDeps: { exclude: ["webgpu"] },
  build: { target: "es2022" },
  server: { headers: CROSS_ORIGIN_ISOLATION },
  preview: { headers: CROSS_ORIGIN_ISOLATION },
});
