/**
 * The tfjs adapter's benchmark: one B'MOJO training step (small preset, forward + backward +
 * AdamW) on @tensorflow/tfjs-backend-wasm through the adapter against the reference cpu backend,
 * as a ratio of medians. Both systems run in this process, round-robin after a warmup. Prints a
 * Markdown table and writes JSON (default results/bench.json).
 *   pnpm --filter @bmojo/backend-tfjs bench [-- --batch 8 --length 128 --repeats 3 --warmup 1
 *     --scan-chunk 1 --json PATH]
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { LanguageModel, preset } from "@bmojo/model";
import { AdamW } from "@bmojo/nn";
import {
  type Backend,
  Random,
  type Tensor,
  backendByName,
  dispose,
  tensor,
  valueAndGrad,
} from "@bmojo/tensor";
import * as tf from "@tensorflow/tfjs-core";
import { SCAN_CHUNK, TfjsBackend } from "../src/index.js";

const argv = process.argv.slice(2);
const flag = (name: string, fallback: string) => {
  const i = argv.indexOf(name);
  return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1] : fallback;
};
const B = Number(flag("--batch", "8"));
const L = Number(flag("--length", "128"));
const repeats = Number(flag("--repeats", "3"));
const warmup = Number(flag("--warmup", "1"));
const jsonPath = resolve(
  fileURLToPath(new URL("..", import.meta.url)),
  flag("--json", "results/bench.json"),
);

type Step = () => Promise<number>;

function trainStep(backend: Backend): Step {
  const config = preset("bmojo", "small", { seed: 1 });
  const model = new LanguageModel(config, { backend });
  const params = Object.fromEntries(model.namedParameters()) as Record<string, Tensor>;
  const optimizer = new AdamW(params, { lr: 1e-3 });
  const rng = new Random(2);
  const ids = tensor(rng.intArray(B * L, 0, config.vocabSize), [B, L], { dtype: "int32", backend });
  const targets = tensor(rng.intArray(B * L, 0, config.vocabSize), [B, L], {
    dtype: "int32",
    backend,
  });
  return async () => {
    const t0 = performance.now();
    const { value, grads } = valueAndGrad(() => model.loss(ids, targets))(params);
    optimizer.step(grads as Record<string, Tensor>);
    await value.data();
    await backend.sync();
    dispose([value, grads]);
    return performance.now() - t0;
  };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
};

const tfjsWasm = await TfjsBackend.create({
  tfBackend: "wasm",
  scanChunk: Number(flag("--scan-chunk", String(SCAN_CHUNK))),
});
const simd = Boolean(await tf.env().getAsync("WASM_HAS_SIMD_SUPPORT"));
const systems: { system: string; description: string; run: Step }[] = [
  {
    system: "tfjs-wasm",
    description: `@bmojo/backend-tfjs on @tensorflow/tfjs-backend-wasm ${tf.version_core} (${simd ? "SIMD" : "no SIMD"}, scan chunk ${tfjsWasm.scanChunk})`,
    run: trainStep(tfjsWasm),
  },
  {
    system: "cpu",
    description: "reference cpu backend (@bmojo/tensor)",
    run: trainStep(await backendByName("cpu")),
  },
];

const started = new Date();
const load = loadavg().map((x) => x.toFixed(2));
console.log(
  `# @bmojo/backend-tfjs benchmark\n\n${started.toISOString()} · Node ${process.version} · ` +
    `${cpus()[0]?.model ?? "cpu"} · ${cpus().length} cores · load ${load.join(" ")}\n`,
);
const samples = systems.map((): number[] => []);
for (let round = 0; round < warmup + repeats; round++) {
  for (let j = 0; j < systems.length; j++) {
    const s = (round + j) % systems.length;
    const ms = await systems[s].run();
    if (round >= warmup) samples[s].push(ms);
    process.stderr.write(
      `  ${systems[s].system}: ${ms.toFixed(0)} ms${round < warmup ? " (warmup)" : ""}\n`,
    );
  }
}
const results = systems.map((s, i) => ({
  system: s.system,
  description: s.description,
  medianMs: median(samples[i]),
  bestMs: Math.min(...samples[i]),
  samplesMs: samples[i],
}));
const ratio = results[0].medianMs / results[1].medianMs;

console.log(`## B'MOJO small training step, ${B}×${L} tokens (forward + backward + AdamW)\n`);
console.log("| system | median ms | best ms |\n| --- | --- | --- |");
for (const r of results) {
  console.log(`| ${r.description} | ${r.medianMs.toFixed(0)} | ${r.bestMs.toFixed(0)} |`);
}
console.log(
  `\ntfjs-wasm / cpu time ratio: **${ratio.toFixed(2)}** (${ratio > 1 ? `${ratio.toFixed(2)}× slower` : `${(1 / ratio).toFixed(2)}× faster`} than the reference cpu backend)`,
);

mkdirSync(dirname(jsonPath), { recursive: true });
writeFileSync(
  jsonPath,
  `${JSON.stringify(
    {
      date: started.toISOString(),
      node: process.version,
      cpu: cpus()[0]?.model ?? "cpu",
      cores: cpus().length,
      loadavgAtStart: load,
      schedule: `one process; ${warmup} warmup + ${repeats} timed rounds, round-robin; medians`,
      train: { batch: [B, L], results, ratioTfjsWasmOverCpu: ratio },
    },
    null,
    1,
  )}\n`,
);
console.log(`\nwrote ${jsonPath}`);
tfjsWasm.dispose();
