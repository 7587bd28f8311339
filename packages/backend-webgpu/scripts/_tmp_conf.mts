import { runConformance, summaryLine } from "@bmojo/tensor/testing";
import { WebGpuBackend } from "../src/index.ts";
import { attentionTuning } from "../src/kernels/attention.ts";
const backend = await WebGpuBackend.create();
const filter = process.argv[2] ?? "attention";
for (const [splits, sharedBytes] of [[0, 0], [2, 0], [3, 0], [7, 0], [0, 1024], [0, 600], [3, 400], [0, 200]]) {
  attentionTuning.splits = splits; attentionTuning.sharedBytes = sharedBytes;
  const report = await runConformance(backend, { filter, onResult: (r) => { if (r.status === "failed") console.log(`FAIL ${r.name}\n     ${r.message.slice(0, 300)}`); } });
  console.log(`splits=${splits} shared=${sharedBytes}:`, summaryLine(report));
}
backend.dispose();
