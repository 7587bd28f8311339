/**
 * Prints every model preset with its parameter count and the bytes of inference state one
 * sequence needs (computed from the config; nothing is allocated).
 *
 *   node apps/examples/dist/presets.js [--max-length 4096]
 */
import {
  PLAN_NAMES,
  PRESET_SIZES,
  inferenceStateBytes,
  parameterCount,
  preset,
  resolveConfig,
} from "@bmojo/model";

const i = process.argv.indexOf("--max-length");
const maxLength = i < 0 ? 4096 : Number(process.argv[i + 1]);
if (!Number.isInteger(maxLength) || maxLength < 1) {
  throw new Error(`--max-length must be a positive integer, got ${process.argv[i + 1]}`);
}

const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(bytes < 2 ** 20 ? 3 : 1);
console.log(
  `| preset | size | blocks | d_model | window | parameters | state per sequence (MiB, float32, maxLength ${maxLength}) |`,
);
console.log("| --- | --- | ---: | ---: | ---: | ---: | ---: |");
for (const size of PRESET_SIZES) {
  for (const plan of PLAN_NAMES) {
    const config = preset(plan, size, { maxLength });
    const r = resolveConfig(config);
    const params = parameterCount(config);
    const shown = params >= 1e6 ? `${(params / 1e6).toFixed(1)}M` : `${(params / 1e3).toFixed(1)}k`;
    console.log(
      `| ${plan} | ${size} | ${r.layers.length} | ${r.dModel} | ${r.window} | ${shown} | ${mib(inferenceStateBytes(config))} |`,
    );
  }
}
