/**
 * Benchmarks of the cuda backend, timed with CUDA events (kernels) or wall clock with a final sync
 * (training steps, which include the host's work): matmul in strict float32, TF32 and bf16 products
 * and in bfloat16 storage, the selective scan and the attention with memory keys forward and
 * backward at the PyTorch anchor's sizes in float32 and in bfloat16 storage, and training tokens/s
 * of the 130m presets with TF32 and with bf16 matmuls and in bfloat16 compute (mixed precision).
 * Prints a table and writes JSON.
 *
 *   node gpu-bench.mjs [--quick] [--sections kernels,models] [--json FILE]
 *     [--batch B] [--length L] [--plans bmojo,transformer,mamba] [--precisions tf32,bf16,bf16-compute]
 */
import { writeFileSync } from "node:fs";
import { LanguageModel, type PlanName, parameterCount, preset } from "@bmojo/model";
import { AdamW } from "@bmojo/nn";
import {
  type Backend,
  Random,
  bytesPerElement,
  storageArray,
  type Tensor,
  backendByName,
  dispose,
  tensor,
  valueAndGrad,
} from "@bmojo/tensor";
import "../src/index.js";
import type { CudaBackend } from "../src/index.js";

const argv = process.argv.slice(2);
const flag = (name: string, fallback: string): string => {
  const i = argv.indexOf(name);
  return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1] : fallback;
};
const quick = argv.includes("--quick");
const sections = flag("--sections", "kernels,models").split(",");
const jsonPath = argv.includes("--json") ? flag("--json", "") : undefined;

interface Row {
  section: string;
  name: string;
  backend: string;
  ms: number;
  rate: number;
  unit: string;
  peakBytes?: number;
}
const rows: Row[] = [];

function report(row: Row): void {
  rows.push(row);
  const peak =
    row.peakBytes === undefined ? "" : `  peak ${(row.peakBytes / 2 ** 30).toFixed(2)} GiB`;
  console.log(
    `${row.section.padEnd(8)} ${row.name.padEnd(52)} ${row.backend.padEnd(9)} ${row.ms.toFixed(3).padStart(10)} ms  ${row.rate.toFixed(1).padStart(10)} ${row.unit}${peak}`,
  );
}

const rng = new Random(1);

/** Float storage a kernel bench runs in: float32, or bfloat16 (2-byte elements). */
type Storage = "float32" | "bfloat16";

/** A buffer of `size` uniform values in [low, high) stored as `dtype`. */
function buffer(
  backend: Backend,
  size: number,
  low = -1,
  high = 1,
  dtype: Storage = "float32",
): number {
  const id = backend.alloc(size * bytesPerElement(dtype));
  backend.write(id, storageArray(dtype, rng.uniformArray(size, low, high)));
  return id;
}

function intBuffer(backend: Backend, values: Int32Array): number {
  const id = backend.alloc(values.length * 4);
  backend.write(id, values);
  return id;
}

/** Median device milliseconds of one call of `fn` (after warm-up). */
async function timeKernel(
  backend: CudaBackend,
  fn: () => void,
  repeats = quick ? 3 : 10,
): Promise<number> {
  for (let i = 0; i < 2; i++) fn();
  const times: number[] = [];
  for (let r = 0; r < 3; r++)
    times.push(
      (await backend.time(() => {
        for (let i = 0; i < repeats; i++) fn();
      })) / repeats,
    );
  times.sort((a, b) => a - b);
  return times[1];
}

async function kernelBenches(
  strict: CudaBackend,
  tf32: CudaBackend,
  bf16: CudaBackend,
): Promise<void> {
  // float32 storage in strict float32, TF32 and bf16 products; then bfloat16 storage.
  const matmuls: [CudaBackend, Storage, string][] = [
    [strict, "float32", strict.matmulPrecision],
    [tf32, "float32", tf32.matmulPrecision],
    [bf16, "float32", bf16.matmulPrecision],
    [tf32, "bfloat16", "bf16 storage"],
  ];
  for (const n of quick ? [1024] : [1024, 4096, 8192]) {
    for (const [backend, dtype, label] of matmuls) {
      const a = buffer(backend, n * n, -1, 1, dtype);
      const b = buffer(backend, n * n, -1, 1, dtype);
      const out = backend.alloc(n * n * bytesPerElement(dtype));
      const ms = await timeKernel(backend, () =>
        backend.kernels.matmul({
          dtype,
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
        }),
      );
      report({
        section: "kernel",
        name: `matmul ${n}³ (${label})`,
        backend: backend.name,
        ms,
        rate: (2 * n ** 3) / ms / 1e9,
        unit: "TFLOP/s",
      });
      for (const id of [a, b, out]) backend.free(id);
    }
  }
  for (const dtype of ["float32", "bfloat16"] as const) {
    await scanBench(strict, dtype);
    await attentionBench(strict, dtype);
  }
}

/** The selective scan forward and backward at the PyTorch anchor's sizes, in `dtype` storage. */
async function scanBench(be: CudaBackend, dtype: Storage): Promise<void> {
  const [B, L, E, N] = quick ? [2, 256, 256, 16] : [8, 2048, 1536, 16];
  const bytes = bytesPerElement(dtype);
  const input = (size: number, low = -1, high = 1) => buffer(be, size, low, high, dtype);
  const u = input(B * L * E);
  const delta = input(B * L * E, -3, 0);
  const z = input(B * L * E);
  const A = input(E * N, -2, -0.1);
  const Bm = input(B * L * N);
  const Cm = input(B * L * N);
  const D = input(E);
  const deltaBias = input(E, -1, 0);
  const out = be.alloc(B * L * E * bytes);
  const lastState = be.alloc(B * E * N * bytes);
  const base = {
    dtype,
    u,
    delta,
    A,
    B: Bm,
    C: Cm,
    D,
    z,
    deltaBias,
    deltaSoftplus: true,
    initialState: null,
    batch: B,
    length: L,
    channels: E,
    stateSize: N,
  };
  const fwd = await timeKernel(be, () => be.kernels.selectiveScan({ ...base, out, lastState }));
  const bytesFwd = bytes * (4 * B * L * E + 2 * B * L * N);
  const shape = `B${B} L${L} E${E} N${N}${dtype === "bfloat16" ? " bf16" : ""}`;
  report({
    section: "kernel",
    name: `selectiveScan fwd ${shape}`,
    backend: be.name,
    ms: fwd,
    rate: bytesFwd / fwd / 1e6,
    unit: "GB/s",
  });
  const grads = [B * L * E, B * L * E, E * N, B * L * N, B * L * N, E, B * L * E, E].map((size) =>
    be.alloc(size * bytes),
  );
  const dOut = input(B * L * E);
  const bwd = await timeKernel(be, () =>
    be.kernels.selectiveScanBackward({
      ...base,
      dOut,
      dLastState: null,
      du: grads[0],
      ddelta: grads[1],
      dA: grads[2],
      dB: grads[3],
      dC: grads[4],
      dD: grads[5],
      dz: grads[6],
      dDeltaBias: grads[7],
      dInitialState: null,
    }),
  );
  report({
    section: "kernel",
    name: `selectiveScan bwd ${shape}`,
    backend: be.name,
    ms: bwd,
    rate: (2 * bytesFwd) / bwd / 1e6,
    unit: "GB/s",
  });
  for (const id of [u, delta, z, A, Bm, Cm, D, deltaBias, out, lastState, dOut, ...grads])
    be.free(id);
}

/** Attention with memory keys forward and backward at the anchor's sizes, in `dtype` storage. */
async function attentionBench(be: CudaBackend, dtype: Storage): Promise<void> {
  const [B, L] = quick ? [2, 256] : [8, 2048];
  const [H, Dh, window, slots] = quick ? [4, 64, 64, 8] : [12, 64, 512, 8];
  const bytes = bytesPerElement(dtype);
  const chunks = Math.ceil(L / window);
  const input = (size: number) => buffer(be, size, -1, 1, dtype);
  const q = input(B * H * L * Dh);
  const k = input(B * H * L * Dh);
  const v = input(B * H * L * Dh);
  const mk = input(B * H * chunks * slots * Dh);
  const mv = input(B * H * chunks * slots * Dh);
  const mask = intBuffer(be, new Int32Array(B * chunks * slots).fill(1));
  const out = be.alloc(B * H * L * Dh * bytes);
  const lse = be.alloc(B * H * L * bytes);
  const memory = { k: mk, v: mv, mask, chunks, slots, chunkSize: window };
  const base = {
    dtype,
    q,
    k,
    v,
    memory,
    batch: B,
    heads: H,
    kvHeads: H,
    queryLength: L,
    keyLength: L,
    headDim: Dh,
    window,
    queryOffset: 0,
    scale: 1 / Math.sqrt(Dh),
  };
  const fwd = await timeKernel(be, () => be.kernels.attention({ ...base, out, lse }));
  // FLOPs of the visible scores only: ≈ L·(window + slots) keys per query, QKᵀ and PV.
  const flops = 4 * B * H * L * (Math.min(window, L) + slots) * Dh;
  const shape = `B${B} H${H} L${L} Dh${Dh} w${window} +${slots} mem${dtype === "bfloat16" ? " bf16" : ""}`;
  report({
    section: "kernel",
    name: `attention fwd ${shape}`,
    backend: be.name,
    ms: fwd,
    rate: flops / fwd / 1e9,
    unit: "TFLOP/s",
  });
  const dOut = input(B * H * L * Dh);
  const [gq, gk, gv] = [0, 1, 2].map(() => be.alloc(B * H * L * Dh * bytes));
  const [gmk, gmv] = [0, 1].map(() => be.alloc(B * H * chunks * slots * Dh * bytes));
  const bwd = await timeKernel(be, () =>
    be.kernels.attentionBackward({
      ...base,
      out,
      lse,
      dOut,
      dq: gq,
      dk: gk,
      dv: gv,
      dMemK: gmk,
      dMemV: gmv,
    }),
  );
  report({
    section: "kernel",
    name: `attention bwd ${shape}`,
    backend: be.name,
    ms: bwd,
    rate: (2.5 * flops) / bwd / 1e9,
    unit: "TFLOP/s",
  });
  for (const id of [q, k, v, mk, mv, mask, out, lse, dOut, gq, gk, gv, gmk, gmv]) be.free(id);
}

async function trainBench(
  backend: CudaBackend,
  plan: PlanName,
  batch: number,
  length: number,
  computeDType: "float32" | "bfloat16",
): Promise<void> {
  const config = preset(plan, quick ? "small" : "130m", { seed: 1, computeDType });
  const model = new LanguageModel(config, { backend });
  const params = Object.fromEntries(model.namedParameters()) as Record<string, Tensor>;
  const optimizer = new AdamW(params, { lr: 1e-4 });
  const vocab = model.config.vocabSize;
  const ids = tensor(rng.intArray(batch * length, 0, vocab), [batch, length], {
    dtype: "int32",
    backend,
  });
  const targets = tensor(rng.intArray(batch * length, 0, vocab), [batch, length], {
    dtype: "int32",
    backend,
  });
  const lossAndGrads = valueAndGrad(() => model.loss(ids, targets));
  const step = async (): Promise<void> => {
    const { value, grads } = lossAndGrads(params);
    optimizer.step(grads as Record<string, Tensor>);
    dispose([value, grads]);
    await backend.sync();
  };
  try {
    for (let i = 0; i < 2; i++) await step();
    backend.resetPeakMemory();
    const times: number[] = [];
    for (let i = 0; i < (quick ? 3 : 5); i++) {
      const t0 = performance.now();
      await step();
      times.push(performance.now() - t0);
    }
    times.sort((a, b) => a - b);
    const ms = times[Math.floor(times.length / 2)];
    report({
      section: "train",
      name: `${plan} ${(parameterCount(config) / 1e6).toFixed(0)}M, ${model.config.layers.length} blocks, ${batch}×${length}${computeDType === "bfloat16" ? ", bf16 compute" : ""}`,
      backend: backend.name,
      ms,
      rate: (batch * length) / (ms / 1000),
      unit: "tokens/s",
      peakBytes: backend.memoryStats().peakBytes,
    });
  } finally {
    dispose([ids, targets]);
    model.dispose();
  }
}

async function main(): Promise<void> {
  const strict = (await backendByName("cuda-fp32")) as CudaBackend;
  const tf32 = (await backendByName("cuda")) as CudaBackend;
  const bf16 = (await backendByName("cuda-bf16")) as CudaBackend;
  console.log(`device: ${strict.device.name}; ${quick ? "quick sizes" : "full sizes"}`);
  if (sections.includes("kernels")) await kernelBenches(strict, tf32, bf16);
  if (sections.includes("models")) {
    const batch = Number(flag("--batch", quick ? "2" : "8"));
    const length = Number(flag("--length", quick ? "256" : "2048"));
    // float32 storage with TF32, bf16 or strict float32 products; bf16-compute: bfloat16 storage
    // of activations (float32 parameters; computeDType "bfloat16").
    const byPrecision: Record<string, [CudaBackend, "float32" | "bfloat16"]> = {
      tf32: [tf32, "float32"],
      bf16: [bf16, "float32"],
      float32: [strict, "float32"],
      "bf16-compute": [tf32, "bfloat16"],
    };
    const precisions = flag("--precisions", "tf32,bf16,bf16-compute").split(",");
    for (const p of precisions) {
      if (byPrecision[p] === undefined) {
        throw new Error(`--precisions: unknown "${p}"; use tf32, bf16, float32 or bf16-compute`);
      }
    }
    for (const plan of flag("--plans", "bmojo,transformer,mamba").split(",") as PlanName[]) {
      for (const [backend, computeDType] of precisions.map((p) => byPrecision[p])) {
        try {
          await trainBench(backend, plan, batch, length, computeDType);
        } catch (err) {
          console.log(
            `train    ${plan} (${backend.name}): failed: ${err instanceof Error ? err.message : String(err)}`,
          );
          rows.push({
            section: "train",
            name: `${plan} failed: ${String(err)}`,
            backend: backend.name,
            ms: Number.NaN,
            rate: Number.NaN,
            unit: "",
          });
        }
      }
    }
  }
  if (jsonPath)
    writeFileSync(jsonPath, `${JSON.stringify({ device: strict.device, quick, rows }, null, 2)}\n`);
}

main().catch((err) => {
  console.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
  process.exit(2);
});
