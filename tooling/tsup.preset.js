// @ts-check
/** The one tsup preset: ESM + .d.ts, sources under src/. (Plain JS so Node 20 loads it.) */
import { defineConfig } from "tsup";

/**
 * @param {Record<string, string>} entry
 * @param {import("tsup").Options} [overrides]
 */
export function definePackageBuild(entry, overrides = {}) {
  return defineConfig({
    entry,
    format: ["esm"],
    dts: true,
    sourcemap: true,
    clean: true,
    target: "es2022",
    treeshake: true,
    ...overrides,
  });
}
