import { definePackageBuild } from "@bmojo/tooling/tsup";

export default definePackageBuild({ cli: "src/cli.ts" }, { dts: false });
