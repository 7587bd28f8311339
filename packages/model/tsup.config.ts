import { definePackageBuild } from "@bmojo/tooling/tsup";

export default definePackageBuild({
  index: "src/index.ts",
  "testing/backend-check": "src/testing/backend-check.ts",
});
