// @ts-check
/**
 * The one vitest preset. Packages call `definePackageConfig()` from their vitest.config.ts.
 * Workspace packages resolve to their TypeScript sources through the "source" export condition,
 * so tests never need a build first. (Plain JS so Node 20 can load it without a TS loader.)
 */
import { defineConfig } from "vitest/config";

/** @param {import("vitest/config").ViteUserConfig} [overrides] */
export function definePackageConfig(overrides = {}) {
  return defineConfig({
    ...overrides,
    resolve: { conditions: ["source"], ...overrides.resolve },
    test: {
      include: ["test/**/*.test.ts"],
      environment: "node",
      testTimeout: 120_000,
      hookTimeout: 60_000,
      ...overrides.test,
    },
  });
}
