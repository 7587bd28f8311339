import { definePackageConfig } from "@bmojo/tooling/vitest";

export default definePackageConfig();
