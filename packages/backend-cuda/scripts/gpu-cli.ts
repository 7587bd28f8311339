/** The `bmojo` CLI with the cuda backend linked in, for the GPU machine's bundle (gpu-cli.mjs). */
import "../src/index.js";
import "../../../apps/cli/src/cli.js";
