/**
 * The playground builds from the workspace packages' TypeScript sources (their "source" export
 * condition), so nothing needs building first. No Node-only module reaches the bundle: the
 * packages import node:fs lazily, only in file helpers the page never calls (tree-shaken), and
 * @bmojo/backend-webgpu's dynamic import of the optional `webgpu` package (Dawn) carries
 * `@vite-ignore`, so it stays an unresolved import that runs only where navigator.gpu is missing
 * (and then fails with a message the page shows). test/e2e.test.ts checks the built files.
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

export default defineConfig({
  base: "./",
  resolve: { conditions: ["source", ...defaultClientConditions] },
  plugins: [dropUnreferencedAssets()],
  worker: { format: "es" },
  // Keeps the dev server's dependency scan from pre-bundling Dawn's Node package for the browser.
  optimizeDeps: { exclude: ["webgpu"] },
  build: { target: "es2022" },
});
