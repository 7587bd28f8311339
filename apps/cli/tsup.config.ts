import { definePackageBuild } from "@bmojo/tooling/tsup";

export default definePackageBuild(
  // worker.js is the entry of the job pool's worker threads: the CLI finds it next to its own modules.
  { cli: "src/cli.ts", worker: "src/worker.ts" },
  { dts: false },
);
