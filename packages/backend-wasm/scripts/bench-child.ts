/**
 * One benchmarked system in a process of its own (see scripts/bench.ts). Answers, over IPC:
 * {type: "setup", system} → a description; {type: "run"} → the milliseconds of one timed run;
 * {type: "output"} → the last matmul output (for the correctness check).
 */
import { createRequire } from "node:module";
import { dirname, sep } from "node:path";
import { LanguageModel, type ModelConfig, preset } from "@bmojo/model";
import { AdamW } from "@bmojo/nn";
import {
  type Backend,
  Random,
  type Tensor,
  argmax,
  backendByName,
  dispose,
  tensor,
  valueAndGrad,
} from "@bmojo/tensor";
import { WasmBackend } from "../src/index.js";

export type SystemName =
  | "matmul:wasm"
  | "matmul:wasm-1t"
  | "matmul:tfjs-wasm"
  | "train:wasm"
  | "train:cpu"
  | "decode:wasm"
  | "decode:cpu";

export interface BenchSetup {
  type: "setup";
  system: SystemName;
  /** Matmul size N (N×N by N×N). */
  n: number;
  /** Training batch [B, L]. */
  batch: [number, number];
  /** Decode: prompt length and generated tokens per run. */
  prompt: number;
  tokens: number;
}

export type BenchRequest = BenchSetup | { type: "run" } | { type: "output" };

/** The benchmarked model: the small B'MOJO preset (d 128, 3 blocks, window 64). */
export function benchModel(): ModelConfig {
  return preset("bmojo", "small", { seed: 1 });
}

/** Inputs in [-1, 1), the same in every process. */
export function matmulInputs(n: number): [Float32Array, Float32Array] {
  const rng = new Random(0);
  return [
    rng.uniformArray(n * n, -1, 1) as Float32Array,
    rng.uniformArray(n * n, -1, 1) as Float32Array,
  ];
}

type Run = () => Promise<number> | number;

async function backendFor(kind: string): Promise<Backend> {
  if (kind === "cpu") return backendByName("cpu");
  return WasmBackend.create(kind === "wasm-1t" ? { threads: 1 } : {});
}

function describe(backend: Backend): string {
  return backend instanceof WasmBackend
    ? `@bmojo/backend-wasm, ${backend.threading}`
    : "reference cpu backend (@bmojo/tensor)";
}

async function setupMatmul(kind: string, n: number): Promise<[string, Run, () => Float32Array]> {
  const [a, b] = matmulInputs(n);
  if (kind === "tfjs-wasm") {
    const tf = await import("@tensorflow/tfjs-core");
    const wasm = await import("@tensorflow/tfjs-backend-wasm");
    wasm.setWasmPaths(
      dirname(createRequire(import.meta.url).resolve("@tensorflow/tfjs-backend-wasm")) + sep,
    );
    if (!(await tf.setBackend("wasm"))) throw new Error("tfjs: the wasm backend failed to start");
    const simd = Boolean(await tf.env().getAsync("WASM_HAS_SIMD_SUPPORT"));
    const ta = tf.tensor2d(a, [n, n]);
    const tb = tf.tensor2d(b, [n, n]);
    let last: Float32Array = new Float32Array(0);
    const run = async () => {
      const t0 = performance.now();
      const out = tf.matMul(ta, tb);
      last = (await out.data()) as Float32Array;
      const ms = performance.now() - t0;
      out.dispose();
      return ms;
    };
    const label = `@tensorflow/tfjs-backend-wasm ${tf.version_core} (${simd ? "SIMD" : "no SIMD"}, ${wasm.getThreadsCount()} thread)`;
    return [`tf.matMul + await data(), ${label}`, run, () => last];
  }
  const backend = await backendFor(kind);
  const ids = [a, b].map((data) => {
    const id = backend.alloc(data.byteLength);
    backend.write(id, data);
    return id;
  });
  const out = backend.alloc(n * n * 4);
  const args = {
    dtype: "float32" as const,
    a: ids[0],
    b: ids[1],
    out,
    batch: 1,
    m: n,
    n,
    k: n,
    transA: false,
    transB: false,
    aBatchStride: 0,
    bBatchStride: 0,
  };
  const run = () => {
    const t0 = performance.now();
    backend.kernels.matmul?.(args);
    return performance.now() - t0;
  };
  const output = () => backend.readSync?.(out, "float32", n * n) as Float32Array;
  return [`kernels.matmul on ${describe(backend)}`, run, output];
}

async function setupTrain(kind: string, [B, L]: [number, number]): Promise<[string, Run]> {
  const backend = await backendFor(kind);
  const config = benchModel();
  const model = new LanguageModel(config, { backend });
  const params = Object.fromEntries(model.namedParameters()) as Record<string, Tensor>;
  const optimizer = new AdamW(params, { lr: 1e-3 });
  const rng = new Random(2);
  const ids = tensor(rng.intArray(B * L, 0, config.vocabSize), [B, L], { dtype: "int32", backend });
  const targets = tensor(rng.intArray(B * L, 0, config.vocabSize), [B, L], {
    dtype: "int32",
    backend,
  });
  const run = async () => {
    const t0 = performance.now();
    const { value, grads } = valueAndGrad(() => model.loss(ids, targets))(params);
    optimizer.step(grads as Record<string, Tensor>);
    await value.data();
    dispose([value, grads]);
    return performance.now() - t0;
  };
  return [`B'MOJO small, ${B}×${L} tokens, forward + backward + AdamW, ${describe(backend)}`, run];
}

async function setupDecode(kind: string, prompt: number, tokens: number): Promise<[string, Run]> {
  const backend = await backendFor(kind);
  const config = benchModel();
  const model = new LanguageModel(config, { backend });
  const promptIds = Array.from(new Random(3).intArray(prompt, 0, config.vocabSize));
  const run = async () => {
    const cache = model.createCache(1);
    try {
      const ids = model.idsTensor(promptIds);
      (await model.prefill(ids, cache)).dispose();
      ids.dispose();
      let next = promptIds[prompt - 1];
      const t0 = performance.now();
      for (let i = 0; i < tokens; i++) {
        const input = tensor(Int32Array.of(next), [1], { backend });
        const logits = await model.step(input, cache);
        const best = argmax(logits);
        next = (await best.data())[0];
        dispose([input, logits, best]);
      }
      return performance.now() - t0;
    } finally {
      model.disposeCache(cache);
    }
  };
  return [
    `B'MOJO small, greedy decode of ${tokens} tokens after a ${prompt}-token prefill (decode timed), ${describe(backend)}`,
    run,
  ];
}

let run: Run = () => {
  throw new Error("run before setup");
};
let output: () => Float32Array = () => new Float32Array(0);

process.on("message", async (request: BenchRequest) => {
  try {
    let value: unknown = null;
    if (request.type === "setup") {
      const [group, kind] = request.system.split(":");
      let description: string;
      if (group === "matmul") [description, run, output] = await setupMatmul(kind, request.n);
      else if (group === "train") [description, run] = await setupTrain(kind, request.batch);
      else [description, run] = await setupDecode(kind, request.prompt, request.tokens);
      value = description;
    } else if (request.type === "run") {
      value = await run();
    } else {
      value = output();
    }
    process.send?.({ ok: true, value });
  } catch (err) {
    process.send?.({
      ok: false,
      error: err instanceof Error ? (err.stack ?? err.message) : String(err),
    });
  }
});
process.on("disconnect", () => process.exit(0));
