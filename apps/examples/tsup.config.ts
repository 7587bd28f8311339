import { definePackageBuild } from "@bmojo/tooling/tsup";

export default definePackageBuild(
  {
    "fit-mlp": "src/fit-mlp.ts",
    presets: "src/presets.ts",
    "compiled-decode": "src/compiled-decode.ts",
    "mixed-precision": "src/mixed-precision.ts",
  },
  { dts: false },
);
