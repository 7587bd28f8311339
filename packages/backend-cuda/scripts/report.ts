/**
 * Turns the raw JSON of the GPU runs (docs/results/cuda-h200/: our gpu-bench and speed
 * experiment, the PyTorch anchor's bench.py) into docs/results/bench-cuda.{md,json,svg}: every
 * comparison as ours / PyTorch at the same precision, next to the H200's measured roofline.
 *
 *   pnpm --filter @bmojo/backend-cuda report [--dir docs/results]
 */
import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const repo = fileURLToPath(new URL("../../..", import.meta.url));
const argv = process.argv.slice(2);
const dirIndex = argv.indexOf("--dir");
const outDir = join(repo, dirIndex >= 0 ? argv[dirIndex + 1] : "docs/results");
const rawDir = join(outDir, "cuda-h200");

interface OursRow {
  name: string;
  backend: string;
  ms: number;
  rate: number;
  peakBytes?: number;
}
interface TorchRow {
  name: string;
  dtype: string;
  mode?: string;
  median_ms: number;
  tflops?: number;
  gbps?: number;
  tokens_per_s?: number;
  peak_mem_bytes?: number;
}
interface SpeedRow {
  model: string;
  prefillMs: number;
  decodeTokensPerSecond: number;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
};

const read = <T>(file: string): T => JSON.parse(readFileSync(join(rawDir, file), "utf8")) as T;
const oursKernels = read<{ rows: OursRow[] }>("ours-kernels.json").rows;
/**
 * Training: the TF32 rows are the median of the two runs of the latest call that timed them
 * (call 22, this build); the bf16 rows come from the earlier call of ours-train.json.
 */
const trainCall = "train-2026-11-29/call22";
const trainRuns = ["train-1.json", "train-2.json"].map(
  (f) => read<{ rows: OursRow[] }>(join(trainCall, f)).rows,
);
const oursTrain = read<{ rows: OursRow[] }>("ours-train.json").rows.map((row) => {
  if (row.backend !== "cuda") return row;
  const rates = trainRuns.map((rows) => {
    const again = rows.find((r) => r.name === row.name && r.backend === row.backend);
    if (again === undefined) throw new Error(`no training row ${row.name} in ${trainCall}`);
    return again.rate;
  });
  return { ...row, rate: median(rates) };
});
const torchKernels = read<{ roofline: TorchRow[]; kernels: TorchRow[] }>("pytorch-kernels.json");
const torchModels = read<{ models: { plan: string; measurements: TorchRow[] }[] }>(
  "pytorch-models.json",
);
/**
 * Prefill and decode, per call on the GPU machine: one or two processes of `bmojo experiment
 * speed` (five interleaved runs each) and the PyTorch anchor's eager batch-1 prefill and decode.
 * The host's speed moves between calls, and decode at batch 1 is bound by the host on both sides,
 * so each call's ratio is its own row.
 */
const decodeCalls = [
  "decode-2026-11-29/call21",
  "decode-2026-11-29/call23",
  "decode-2026-11-29/call25",
].map((dir) => ({
  dir,
  label: dir.split("/")[1].replace("call", "call "),
  speedRuns: readdirSync(join(rawDir, dir))
    .filter((f) => f.startsWith("speed-") && f.endsWith(".json"))
    .map((f) => read<{ rows: SpeedRow[] }>(join(dir, f)).rows),
  torch: read<{ models: { plan: string; measurements: TorchRow[] }[] }>(
    join(dir, "pytorch-decode.json"),
  ),
}));
type DecodeCall = (typeof decodeCalls)[number];

/** Our row whose name starts with `prefix`, measured on `backend` (default: any). */
function ours(rows: OursRow[], prefix: string, backend?: string): OursRow {
  const row = rows.find(
    (r) => r.name.startsWith(prefix) && (backend === undefined || r.backend === backend),
  );
  if (row === undefined)
    throw new Error(`no row of ours starts with "${prefix}" on ${backend ?? "any"} in ${rawDir}`);
  return row;
}
function torchKernel(name: string, dtype: string, mode?: string): TorchRow {
  const row = [...torchKernels.roofline, ...torchKernels.kernels].find(
    (r) => r.name === name && r.dtype === dtype && (mode === undefined || r.mode === mode),
  );
  if (row === undefined) throw new Error(`no PyTorch kernel row "${name}" ${dtype} ${mode ?? ""}`);
  return row;
}
function torchModel(
  plan: string,
  prefix: string,
  dtype: string,
  mode: string,
  source = torchModels,
): TorchRow {
  const row = source.models
    .find((m) => m.plan === plan)
    ?.measurements.find((r) => r.name.startsWith(prefix) && r.dtype === dtype && r.mode === mode);
  if (row === undefined)
    throw new Error(`no PyTorch model row ${plan} "${prefix}" ${dtype} ${mode}`);
  return row;
}

/** The model's prefill ms and decode tokens/s: medians over the speed runs of one call. */
function speedOf(call: DecodeCall, model: string): SpeedRow {
  const rows = call.speedRuns.map((run) => {
    const row = run.find((r) => r.model === model);
    if (row === undefined) throw new Error(`no speed row for ${model} in ${call.dir}`);
    return row;
  });
  return {
    model,
    prefillMs: median(rows.map((r) => r.prefillMs)),
    decodeTokensPerSecond: median(rows.map((r) => r.decodeTokensPerSecond)),
  };
}

/** One comparison: times in ms (lower is better) or rates (higher is better); ratio > 1 = ours faster. */
interface Comparison {
  group: string;
  what: string;
  precision: string;
  ours: number;
  anchor: number;
  anchorName: string;
  unit: "ms" | "tokens/s";
  ratio: number;
  goal?: string;
}
const rows: Comparison[] = [];
function add(c: Omit<Comparison, "ratio">): void {
  const ratio = c.unit === "ms" ? c.anchor / c.ours : c.ours / c.anchor;
  rows.push({ ...c, ratio });
}

for (const n of [1024, 4096, 8192]) {
  for (const [prec, dtype] of [
    ["float32", "fp32"],
    ["tf32", "tf32"],
  ] as const) {
    add({
      group: "kernel",
      what: `matmul ${n}³`,
      precision: prec === "float32" ? "fp32 (strict)" : "TF32",
      ours: ours(oursKernels, `matmul ${n}³ (${prec})`).ms,
      anchor: torchKernel(`torch.matmul ${n}^3`, dtype).median_ms,
      anchorName: "torch.matmul",
      unit: "ms",
      goal: "≥ 0.9×",
    });
  }
}
add({
  group: "kernel",
  what: "matmul 8192³",
  precision: "bf16 inputs, fp32 accumulation",
  ours: ours(oursKernels, "matmul 8192³ (bf16)").ms,
  anchor: torchKernel("matmul 8192^3", "bf16").median_ms,
  anchorName: "torch.matmul",
  unit: "ms",
  goal: "≥ 0.9×",
});
const scanFwd = ours(oursKernels, "selectiveScan fwd").ms;
const scanBwd = ours(oursKernels, "selectiveScan bwd").ms;
for (const mode of ["eager", "compile"]) {
  add({
    group: "kernel",
    what: "selective scan fwd, 8×2048×1536×16",
    precision: "fp32",
    ours: scanFwd,
    anchor: torchKernel("selective scan fwd (chunked)", "fp32", mode).median_ms,
    anchorName: `chunked PyTorch scan, ${mode}`,
    unit: "ms",
    goal: "≥ 10×",
  });
  add({
    group: "kernel",
    what: "selective scan fwd+bwd, 8×2048×1536×16",
    precision: "fp32",
    ours: scanFwd + scanBwd,
    anchor: torchKernel("selective scan fwd+bwd (chunked)", "fp32", mode).median_ms,
    anchorName: `chunked PyTorch scan, ${mode}`,
    unit: "ms",
    goal: "≥ 10×",
  });
}
const attnFwd = ours(oursKernels, "attention fwd").ms;
const attnBwd = ours(oursKernels, "attention bwd").ms;
for (const layout of ["chunked [w, 2w + m]", "dense [L, L + C*m]"]) {
  for (const dtype of ["fp32", "bf16"]) {
    add({
      group: "kernel",
      what: "B'MOJO attention fwd, 8×12×2048×64, w 512, 8 slots",
      precision: dtype === "fp32" ? "fp32" : "ours fp32 vs bf16",
      ours: attnFwd,
      anchor: torchKernel(`sdpa B'MOJO mask, ${layout} fwd`, dtype).median_ms,
      anchorName: `SDPA, B'MOJO mask ${layout.split(" ")[0]}`,
      unit: "ms",
      goal: "> 1×",
    });
    add({
      group: "kernel",
      what: "B'MOJO attention fwd+bwd, same sizes",
      precision: dtype === "fp32" ? "fp32" : "ours fp32 vs bf16",
      ours: attnFwd + attnBwd,
      anchor: torchKernel(`sdpa B'MOJO mask, ${layout} fwd+bwd`, dtype).median_ms,
      anchorName: `SDPA, B'MOJO mask ${layout.split(" ")[0]}`,
      unit: "ms",
      goal: "> 1×",
    });
  }
}
for (const plan of ["bmojo", "transformer", "mamba"]) {
  for (const [backend, dtype, precision] of [
    ["cuda", "fp32", "fp32, TF32 matmuls"],
    ["cuda-bf16", "bf16", "bf16 matmuls (ours: fp32 storage; PyTorch: autocast)"],
  ] as const) {
    const mine = ours(oursTrain, `${plan} `, backend);
    for (const mode of ["eager", "compile"]) {
      add({
        group: "train",
        what: `${plan} 130m preset, 8×2048, fwd+bwd+AdamW`,
        precision,
        ours: mine.rate,
        anchor: torchModel(plan, "train step", dtype, mode).tokens_per_s as number,
        anchorName: `PyTorch ${mode}`,
        unit: "tokens/s",
        goal: plan === "bmojo" && mode === "compile" ? "≥ 1×" : undefined,
      });
    }
  }
}
add({
  group: "train",
  what: "bmojo vs the Transformer of the same width (moonshot)",
  precision: "fp32, TF32 matmuls",
  ours: ours(oursTrain, "bmojo ", "cuda").rate,
  anchor: torchModel("transformer", "train step", "fp32", "compile").tokens_per_s as number,
  anchorName: "PyTorch compiled Transformer",
  unit: "tokens/s",
  goal: "≥ 0.5×",
});
add({
  group: "train",
  what: "bmojo vs the Transformer of the same width, both with bf16 matmuls",
  precision: "bf16 matmuls (ours: fp32 storage; PyTorch: autocast)",
  ours: ours(oursTrain, "bmojo ", "cuda-bf16").rate,
  anchor: torchModel("transformer", "train step", "bf16", "compile").tokens_per_s as number,
  anchorName: "PyTorch compiled Transformer, bf16",
  unit: "tokens/s",
});
for (const call of decodeCalls) {
  for (const plan of ["bmojo", "transformer", "mamba"]) {
    add({
      group: "prefill",
      what: `${plan}: prefill 2048 tokens, batch 1 (${call.label})`,
      precision: "fp32, TF32 matmuls",
      ours: speedOf(call, plan).prefillMs,
      anchor: torchModel(plan, "prefill 2048 tokens, batch 1", "fp32", "eager", call.torch)
        .median_ms,
      anchorName: "PyTorch eager",
      unit: "ms",
    });
  }
}
for (const call of decodeCalls) {
  for (const plan of ["bmojo", "transformer", "mamba"]) {
    add({
      group: "decode",
      what: `${plan}: decode after 2048 tokens, batch 1 (${call.label})`,
      precision: "fp32, TF32 matmuls",
      ours: speedOf(call, plan).decodeTokensPerSecond,
      anchor: torchModel(plan, "decode", "fp32", "eager", call.torch).tokens_per_s as number,
      anchorName: "PyTorch eager",
      unit: "tokens/s",
      goal: "≥ 10×",
    });
  }
}

const roof = {
  fp32: torchKernel("matmul 8192^3", "fp32").tflops,
  tf32: torchKernel("matmul 8192^3", "tf32").tflops,
  bf16: torchKernel("matmul 8192^3", "bf16").tflops,
  copy: torchKernel("device copy 1024 MiB", "fp32").gbps,
};
const fmt = (x: number, unit: string) =>
  unit === "ms"
    ? `${x < 1 ? x.toFixed(3) : x.toFixed(1)} ms`
    : `${Math.round(x).toLocaleString("en-US")} tok/s`;
const table = [
  "| group | measurement | precision | ours | PyTorch | anchor | ours / PyTorch | goal |",
  "| --- | --- | --- | --: | --: | --- | --: | --- |",
  ...rows.map(
    (r) =>
      `| ${r.group} | ${r.what} | ${r.precision} | ${fmt(r.ours, r.unit)} | ${fmt(r.anchor, r.unit)} | ${r.anchorName} | ${r.ratio.toFixed(2)}× | ${r.goal ?? ""} |`,
  ),
].join("\n");

// A horizontal bar chart of the ratios on a log scale (1× marked).
const barH = 16;
const left = 420;
const width = 900;
const top = 40;
const maxLog = Math.log10(Math.max(...rows.map((r) => r.ratio)) * 1.5);
const minLog = Math.log10(Math.min(...rows.map((r) => r.ratio)) / 1.5);
const xOf = (ratio: number) =>
  left + ((Math.log10(ratio) - minLog) / (maxLog - minLog)) * (width - left - 60);
const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/'/g, "&#39;");
const bars = rows.map((r, i) => {
  const y = top + i * (barH + 6);
  const x0 = xOf(1);
  const x1 = xOf(r.ratio);
  const colour = r.ratio >= 1 ? "#2b8a3e" : "#c92a2a";
  return [
    `<text x="${left - 8}" y="${y + 12}" text-anchor="end" font-size="11">${esc(`${r.what} (${r.anchorName}${r.precision.includes("bf16") ? ", bf16" : ""})`)}</text>`,
    `<rect x="${Math.min(x0, x1)}" y="${y}" width="${Math.abs(x1 - x0)}" height="${barH}" fill="${colour}"/>`,
    `<text x="${Math.max(x0, x1) + 4}" y="${y + 12}" font-size="11">${r.ratio.toFixed(2)}×</text>`,
  ].join("");
});
const height = top + rows.length * (barH + 6) + 20;
const svg = [
  `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif">`,
  `<text x="${width / 2}" y="20" text-anchor="middle" font-size="14">cuda backend / PyTorch on one H200 (log scale; right of the line = ours faster)</text>`,
  `<line x1="${xOf(1)}" y1="${top - 6}" x2="${xOf(1)}" y2="${height - 14}" stroke="#333" stroke-dasharray="4 3"/>`,
  ...bars,
  "</svg>",
].join("\n");

const md = `# The cuda backend against PyTorch on one H200

Every row compares the same computation at the same precision unless the precision column says
otherwise: ours / PyTorch, so a ratio above 1 means ours is faster. Kernel timings are medians of
CUDA-event timings; model timings are wall clock over whole steps (our training steps include the
host's work, ending with a device sync). Raw results: [cuda-h200/](cuda-h200/) (our
\`gpu-bench.mjs\`, \`bmojo experiment speed --backend cuda\`, and the PyTorch anchor's
\`bench.py\`, packages/bench/anchors/pytorch).

The H200's roofline measured in the same session: matmul 8192³ ${roof.fp32?.toFixed(1)} TFLOP/s in
strict fp32, ${roof.tf32?.toFixed(0)} in TF32, ${roof.bf16?.toFixed(0)} in bf16; device copy
${roof.copy?.toFixed(0)} GB/s.

${table}

![ratios](bench-cuda.svg)

## Notes

- The anchor is the strongest pure-PyTorch form we could write (README of the anchor): a chunked
  log-space scan with a hand-written backward, SDPA with the B'MOJO mask in a chunked layout (2×
  less work than the dense mask), fused AdamW, torch.compile. Its logits and gradients on our
  checkpoint equal ours (check_logits.py: max |Δlogit| 1.7e-6, worst gradient 3.7e-6 relative).
- Our kernel rows come from one call on the GPU machine (\`gpu-bench.mjs\`); the PyTorch kernel
  and training rows from two earlier calls on the same kind of machine. Our TF32 training rows are
  the median of two runs in one later call, [train-2026-11-29/call22](cuda-h200/train-2026-11-29/call22/),
  of this build: B'MOJO 125.6k and 126.8k tokens/s, the Transformer 120.4k and 120.1k, Mamba
  121.1k and 120.7k (our bf16 rows are the earlier call's). The earlier table's 130k for B'MOJO
  was one call; its runs since (calls 7, 9 and 22) lie at 119–127k, so the suspected ~5%
  regression is within the spread between calls, not something this build lost.
- Prefill and decode: calls 21 and 23 ran two processes of \`bmojo experiment speed\` (five timed
  runs per model, the models interleaved) around the PyTorch anchor's eager batch-1 prefill and
  decode, call 25 one process before it; each call's ratio is its own row, because the host's
  speed moves between calls and both sides are bound by it at batch 1: PyTorch eager decoded
  B'MOJO at 88, 61 and 53 tokens/s in calls 21, 23 and 25, Mamba at 70, 92 and 56
  ([call21](cuda-h200/decode-2026-11-29/call21/), [call23](cuda-h200/decode-2026-11-29/call23/),
  [call25](cuda-h200/decode-2026-11-29/call25/)). Our decode runs: B'MOJO 542–791 tokens/s in
  call 21, 453–577 in call 23 and 417–482 in call 25; the Transformer 511–738, 414–555 and
  364–460; Mamba 606–822, 525–653 and 528–659. Calls 21 and 23 are of the build with the
  decode-attention kernels and the unfrozen tensor shapes (below); call 25 adds B'MOJO's decode
  step running its SSM's in_proj and its attention's q/k/v as one product (164 → 156 kernels per
  token; its decode peak 695 → 767 MiB, the stacked copy of in_proj). Call 13's build (the table
  before this one) decoded B'MOJO at 418, the Transformer at 315 and Mamba at 613 tokens/s in
  the median, against 50, 76 and 53 for PyTorch eager then.
- Long context (Figure 4's claim that B'MOJO prefills fastest): at 16,384 tokens B'MOJO
  prefilled in 65 ms (call 21; 79 ms in call 23), Mamba in 79 and 80 ms, the Transformer in 174
  and 175 ms, and decoded at 602 / 397, 756 / 505 and 461 / 329 tokens/s
  ([call21/long-16384](cuda-h200/decode-2026-11-29/call21/long-16384/speed-cuda.md), two runs
  each). At 2,048 tokens the Transformer is still the fastest to prefill (6.9 ms against 12–15 for
  B'MOJO and 11.8 for Mamba): B'MOJO's extra work over attention is linear, attention's
  quadratic, and the crossing lies between the two lengths. The Transformer's decode at 16k
  (46 tokens/s in call 13) had two causes: the tiled attention kernel ran one block per head for
  a single query (now split-key decode kernels), and the RoPE tables were regrown and re-uploaded
  in the middle of the timed steps (now reserved when the cache is made). Its 16k prefill took
  174–175 ms in both calls against 257 ms in call 13; nothing on that path changed that we can
  point to, so read the difference as the spread between calls.
- Peak memory at batch 1 (tensor buffers, weights and caches included;
  [call25/speed-A.md](cuda-h200/decode-2026-11-29/call25/speed-A.md)): while decoding after
  2,048 tokens, B'MOJO 767 MiB (695 in call 23, before its decode step kept a stacked copy of
  in_proj), Mamba 523 MiB, the Transformer 1,026 MiB (its KV cache is sized for 4,096
  positions); while prefilling, 1,029, 785 and 1,288 MiB. PyTorch eager's decode peaks in the
  same call (\`torch.cuda.max_memory_allocated\` after a reset before the decode steps) were
  1.89, 1.87 and 1.96 GiB: ours is 0.40×, 0.27× and 0.51× of those. Their figure also counts the
  prompt's logits [1, 2048, 32000] it still holds (250 MiB), and ours leaves out our backend's
  scratch blocks. (Call 21's peaks counted the other models alive in the same process; since
  then each model's peak counts its own buffers only.)
- PyTorch's compiled prefill was measured at batch 8 only; the batch-1 prefill rows use eager.
- Decode at batch 1 is bound by the host. \`bmojo experiment speed\` profiles one pass of decode
  steps (the kernel table of [call25/speed-A.md](cuda-h200/decode-2026-11-29/call25/speed-A.md)):
  B'MOJO 130m runs 156 kernels per token (19 per block), each costing about 5–7 µs of host time
  inside the kernel call with the profiler on (marshalling, the N-API call, the launch; the
  index-checking gather ~35 µs, as it waits for the device), about 1 ms per token in all, most
  of a 1.3–2.1 ms step; an ad hoc CPU profile on the GPU host (call 20) puts 58% of the step in
  kernel calls. What took B'MOJO from 418 tokens/s (call 13) to 697–745 in call 21's medians (the
  host also ran faster there: PyTorch eager rose from 50 to 88): tensor shapes no longer frozen
  (V8's slow paths on frozen arrays cost about a third of a step's JavaScript), the split-key
  decode attention, and for the Transformer RoPE tables no longer regrown mid-decode. The ≥ 10×
  goal is not met: B'MOJO 8.2×, 8.9× and 8.8× in the three calls, Mamba 11.5×, 6.9× and 10.1×,
  the Transformer 5.0×, 4.1× and 4.1×. An ad hoc A/B (call 24) of read events that block
  instead of spin while a read waits was not faster. What is left is launches (about 155–185
  per token at ~5 µs) and the JavaScript around them; making 10× certain needs fewer launches
  per token (fused block kernels) or the step captured once and replayed (CUDA graphs with
  device-side positions and a device-side eidetic store).
- bf16: our \`cuda-bf16\` backend rounds matmul inputs to bf16 and accumulates in fp32 (cuBLAS),
  storing every tensor in fp32; PyTorch's autocast also keeps activations in bf16, halving the
  memory traffic of everything around the matmuls. bf16 storage in our backend (a bf16 dtype in
  the core, kernels reading bf16) is not built, which is why our bf16 rows gain little over TF32.
  The attention rows marked bf16 compare our fp32 kernel with PyTorch's bf16 SDPA.
`;

writeFileSync(join(outDir, "bench-cuda.md"), md);
writeFileSync(
  join(outDir, "bench-cuda.json"),
  `${JSON.stringify({ roofline: roof, comparisons: rows }, null, 2)}\n`,
);
writeFileSync(join(outDir, "bench-cuda.svg"), `${svg}\n`);
console.log(table);
console.log(`wrote ${join(outDir, "bench-cuda")}.md, .json, .svg`);
