import { definePackageBuild } from "@bmojo/tooling/tsup";

export default definePackageBuild({ index: "src/index.ts" });
