/**
 * The systems of the matmul benchmark, each set up on given inputs (n×n float32 a and b):
 * - ours:      `CpuBackend.kernels.matmul` called directly on backend buffers (synchronous).
 * - tfjs-cpu:  `tf.matMul(a, b)` then `await out.data()`, on tfjs's "cpu" backend.
 * - tfjs-wasm: the same on tfjs's "wasm" backend.
 */
import { CpuBackend, type MatmulArgs } from "@bmojo/tensor";
import type { LocalSystem } from "./harness.js";
import { loadTfjs, type TfjsBackendName } from "./tfjs.js";

export const MATMUL_SYSTEMS = ["ours", "tfjs-cpu", "tfjs-wasm"] as const;
export type MatmulSystemName = (typeof MATMUL_SYSTEMS)[number];

/** A measured system, with access to its last output. */
export interface MatmulContender {
  system: LocalSystem;
  /** The output of the last run, n×n row-major. */
  output(): Float32Array;
  dispose(): void;
}

/** Our reference cpu backend, its matmul kernel called directly on backend buffers. */
export function oursMatmul(n: number, a: Float32Array, b: Float32Array): MatmulContender {
  const backend = new CpuBackend();
  const bytes = n * n * Float32Array.BYTES_PER_ELEMENT;
  const ids = { a: backend.alloc(bytes), b: backend.alloc(bytes), out: backend.alloc(bytes) };
  backend.write(ids.a, a);
  backend.write(ids.b, b);
  const args: MatmulArgs = {
    dtype: "float32",
    a: ids.a,
    b: ids.b,
    out: ids.out,
    batch: 1,
    m: n,
    n,
    k: n,
    transA: false,
    transB: false,
    aBatchStride: n * n,
    bBatchStride: n * n,
  };
  return {
    system: {
      name: "ours",
      description: "@bmojo/tensor CpuBackend: kernels.matmul on backend buffers (reference cpu)",
      kind: "sync",
      run: () => backend.kernels.matmul(args),
    },
    output: () => backend.readSync(ids.out, "float32", n * n) as Float32Array,
    dispose: () => backend.dispose(),
  };
}

/** tf.matMul + download of the result on one tfjs backend; the inputs live on that backend. */
export async function tfjsMatmul(
  backend: TfjsBackendName,
  n: number,
  a: Float32Array,
  b: Float32Array,
): Promise<MatmulContender> {
  const { tf, label } = await loadTfjs(backend);
  const name = `tfjs-${backend}`;
  const ta = tf.tensor2d(a, [n, n], "float32");
  const tb = tf.tensor2d(b, [n, n], "float32");
  let last: ReturnType<typeof tf.matMul> | null = null;
  let lastData: Float32Array | null = null;
  return {
    system: {
      name,
      description: `${label}: tf.matMul + await out.data()`,
      kind: "async",
      prepare: () => {
        last?.dispose();
        last = null;
      },
      run: async () => {
        const out = tf.matMul(ta, tb);
        lastData = (await out.data()) as Float32Array;
        last = out;
      },
    },
    output: () => {
      if (lastData === null) throw new Error(`${name}: no output yet`);
      return lastData;
    },
    dispose: () => {
      last?.dispose();
      ta.dispose();
      tb.dispose();
    },
  };
}

export function createMatmulContender(
  system: MatmulSystemName,
  n: number,
  a: Float32Array,
  b: Float32Array,
): Promise<MatmulContender> {
  switch (system) {
    case "ours":
      return Promise.resolve(oursMatmul(n, a, b));
    case "tfjs-cpu":
      return tfjsMatmul("cpu", n, a, b);
    case "tfjs-wasm":
      return tfjsMatmul("wasm", n, a, b);
  }
}
