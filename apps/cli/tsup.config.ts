import { definePackageBuild } from "@bmojo/tooling/tsup";

export default definePackageBuild(
  // compare-worker.js is a worker thread's entry: `bmojo compare` finds it next to its own modules.
  { cli: "src/cli.ts", "compare-worker": "src/compare-worker.ts" },
  { dts: false },
);
