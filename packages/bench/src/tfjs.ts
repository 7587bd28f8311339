/**
 * The TensorFlow.js anchors (pinned 4.22.0): tfjs-backend-cpu (plain JS kernels) and
 * tfjs-backend-wasm (XNNPACK). In Node the wasm backend runs its SIMD single-thread binary (tfjs
 * reports no multithread support under Node).
 *
 * Imported lazily, so a process that does not use an anchor never loads tfjs.
 */
import { createRequire } from "node:module";
import { dirname, sep } from "node:path";

export type Tfjs = typeof import("@tensorflow/tfjs-core");

export type TfjsBackendName = "cpu" | "wasm";

export interface TfjsAnchor {
  tf: Tfjs;
  backend: TfjsBackendName;
  /** tfjs-core version. */
  version: string;
  /** What runs, e.g. "@tensorflow/tfjs-backend-wasm 4.22.0 (SIMD, 1 thread)". */
  label: string;
}

/** The folder holding the .wasm binaries, with a trailing separator (what setWasmPaths wants). */
export function wasmBinaryDir(): string {
  const require = createRequire(import.meta.url);
  return dirname(require.resolve("@tensorflow/tfjs-backend-wasm")) + sep;
}

/** Loads tfjs-core with `backend` registered, initialised and active. */
export async function loadTfjs(backend: TfjsBackendName): Promise<TfjsAnchor> {
  const tf = await import("@tensorflow/tfjs-core");
  let label: string;
  if (backend === "cpu") {
    await import("@tensorflow/tfjs-backend-cpu");
    label = `@tensorflow/tfjs-backend-cpu ${tf.version_core}`;
  } else {
    const wasm = await import("@tensorflow/tfjs-backend-wasm");
    wasm.setWasmPaths(wasmBinaryDir());
    if (!(await tf.setBackend("wasm"))) throw new Error("tfjs: the wasm backend failed to start");
    const simd = Boolean(await tf.env().getAsync("WASM_HAS_SIMD_SUPPORT"));
    const threads = wasm.getThreadsCount();
    label =
      `@tensorflow/tfjs-backend-wasm ${tf.version_core} ` +
      `(${simd ? "SIMD" : "no SIMD"}, ${threads} thread${threads === 1 ? "" : "s"})`;
  }
  if (!(await tf.setBackend(backend)))
    throw new Error(`tfjs: the ${backend} backend failed to start`);
  return { tf, backend, version: tf.version_core, label };
}
