// @ts-check
/**
 * The one vitest preset. Packages call `definePackageConfig()` from their vitest.config.ts.
 * Workspace packages resolve to their TypeScript sources through the "source" export condition
 * (for both the client and the server/SSR resolver vitest uses in Node), so tests never run
 * against a stale build. (Plain JS so Node 20 can load it without a TS loader.)
 */
import { defaultClientConditions, defaultServerConditions } from "vite";
import { defineConfig } from "vitest/config";

/** @param {import("vitest/config").ViteUserConfig} [overrides] */
export function definePackageConfig(overrides = {}) {
  return defineConfig({
    ...overrides,
    resolve: { conditions: ["source", ...defaultClientConditions], ...overrides.resolve },
    ssr: {
      resolve: {
        conditions: ["source", ...defaultServerConditions],
        externalConditions: ["source"],
      },
      ...overrides.ssr,
    },
    test: {
      include: ["test/**/*.test.ts"],
      environment: "node",
      testTimeout: 120_000,
      hookTimeout: 60_000,
      ...overrides.test,
    },
  });
}
