import type { ViteUserConfig } from "vitest/config";
export declare function definePackageConfig(overrides?: ViteUserConfig): ViteUserConfig;
