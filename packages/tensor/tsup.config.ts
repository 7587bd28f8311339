import { definePackageBuild } from "@bmojo/tooling/tsup";

export default definePackageBuild({
  index: "src/index.ts",
  "testing/index": "src/testing/index.ts",
  "testing/cli": "src/testing/cli.ts",
});
