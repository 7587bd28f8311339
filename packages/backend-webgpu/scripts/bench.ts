/**
 * WebGPU backend benchmark: float32 matmul TFLOP/s at 1024³ and 4096³ (wall clock around a batch
 * of dispatches ending in a sync), and a training step of a small B'MOJO, against the reference
 * cpu backend in the same process. Prints a table; --json FILE writes the rows.
 *   node --conditions=source --import tsx scripts/bench.ts [--sizes 1024,4096] [--json FILE]
 */
import { writeFileSync } from "node:fs";
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
import { WebGpuBackend } from "../src/index.js";

const argv = process.argv.slice(2);
const flag = (name: string, fallback: string) => {
  const i = argv.indexOf(name);
  return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1] : fallback;
};
const sizes = flag("--sizes", "1024,4096").split(",").map(Number);
const rows: { name: string; backend: string; ms: number; rate: string }[] = [];
const rng = new Random(1);

async function matmul(backend: Backend, n: number): Promise<number> {
  const a = backend.alloc(n * n * 4);
  const b = backend.alloc(n * n * 4);
  const out = backend.alloc(n * n * 4);
  backend.write(a, rng.uniformArray(n * n, -1, 1) as Float32Array);
  backend.write(b, rng.uniformArray(n * n, -1, 1) as Float32Array);
  const run = () =>
    backend.kernels.matmul?.({
      dtype: "float32",
      a,
      b,
      out,
      batch: 1,
      m: n,
      n,
      k: n,
      transA: false,
      transB: false,
      aBatchStride: 0,
      bBatchStride: 0,
    });
  run();
  await backend.sync();
  const reps = n >= 4096 ? 5 : 20;
  const t0 = performance.now();
  for (let i = 0; i < reps; i++) run();
  await backend.sync();
  const ms = (performance.now() - t0) / reps;
  for (const id of [a, b, out]) backend.free(id);
  return ms;
}

async function trainStep(backend: Backend): Promise<number> {
  const model = new LanguageModel(preset("bmojo", "small", { seed: 1 }), { backend });
  const params = Object.fromEntries(model.namedParameters()) as Record<string, Tensor>;
  const optimizer = new AdamW(params, { lr: 1e-3 });
  const ids = tensor(rng.intArray(8 * 128, 0, 256), [8, 128], { dtype: "int32", backend });
  const targets = tensor(rng.intArray(8 * 128, 0, 256), [8, 128], { dtype: "int32", backend });
  const step = async () => {
    const { value, grads } = valueAndGrad(() => model.loss(ids, targets))(params);
    optimizer.step(grads as Record<string, Tensor>);
    await value.data();
    dispose([value, grads]);
  };
  await step();
  const t0 = performance.now();
  for (let i = 0; i < 3; i++) await step();
  const ms = (performance.now() - t0) / 3;
  dispose([ids, targets]);
  model.dispose();
  return ms;
}

const webgpu = await WebGpuBackend.create();
const cpu = await backendByName("cpu");
console.log(`webgpu adapter: ${webgpu.adapter.description} (${webgpu.adapter.source})`);
for (const n of sizes) {
  for (const backend of n <= 1024 ? [webgpu, cpu] : [webgpu]) {
    const ms = await matmul(backend, n);
    rows.push({
      name: `matmul ${n}³ float32`,
      backend: backend.name,
      ms,
      rate: `${((2 * n ** 3) / ms / 1e6).toFixed(1)} GFLOP/s`,
    });
  }
}
for (const backend of [webgpu, cpu]) {
  const ms = await trainStep(backend);
  rows.push({
    name: "B'MOJO small, 8×128 tokens, fwd+bwd+AdamW",
    backend: backend.name,
    ms,
    rate: `${Math.round((8 * 128) / (ms / 1000))} tokens/s`,
  });
}
for (const r of rows)
  console.log(
    `${r.name.padEnd(44)} ${r.backend.padEnd(7)} ${r.ms.toFixed(2).padStart(10)} ms  ${r.rate}`,
  );
const json = argv.includes("--json") ? flag("--json", "") : "";
if (json !== "")
  writeFileSync(json, `${JSON.stringify({ adapter: webgpu.adapter, rows }, null, 2)}\n`);
webgpu.dispose();
