/**
 * Bringing up a tfjs backend by name: importing the package that registers it (when tfjs does not
 * know the name yet) and, for the native "tensorflow" backend, picking @tensorflow/tfjs-node-gpu
 * over @tensorflow/tfjs-node when the user has it installed.
 */
import { BackendUnavailableError } from "@bmojo/tensor";
import * as tf from "@tensorflow/tfjs-core";

/** Loads a module by specifier; the default is a dynamic import. */
export type ModuleImporter = (specifier: string) => Promise<unknown>;

export const defaultImporter: ModuleImporter = (specifier) => import(/* @vite-ignore */ specifier);

/** The packages that register each tfjs backend, in order of preference. */
export const TF_BACKEND_PACKAGES: Readonly<Record<string, readonly string[]>> = {
  cpu: ["@tensorflow/tfjs-backend-cpu"],
  wasm: ["@tensorflow/tfjs-backend-wasm"],
  webgl: ["@tensorflow/tfjs-backend-webgl"],
  webgpu: ["@tensorflow/tfjs-backend-webgpu"],
  tensorflow: ["@tensorflow/tfjs-node-gpu", "@tensorflow/tfjs-node"],
};

/** What @tensorflow/tfjs-node-gpu needs, quoted in errors and the README. */
export const TFJS_NODE_GPU_REQUIREMENTS =
  "@tensorflow/tfjs-node-gpu 4.22.0 loads libtensorflow 2.9.1 built for CUDA 11.2 and cuDNN 8.1 " +
  "(its install script downloads it from storage.googleapis.com, outside the npm registry); " +
  "@tensorflow/tfjs-node is the CPU-only build. For NVIDIA GPUs, @bmojo/backend-cuda is the " +
  "recommended path.";

const isNode = typeof process !== "undefined" && typeof process.versions?.node === "string";

/** The folder holding tfjs-backend-wasm's .wasm files, resolved from the package (Node only). */
async function wasmDistFolder(): Promise<string | undefined> {
  if (!isNode) return undefined;
  const { createRequire } = await import("node:module");
  const { dirname, sep } = await import("node:path");
  const main = createRequire(import.meta.url).resolve("@tensorflow/tfjs-backend-wasm");
  return dirname(main) + sep;
}

/**
 * Makes tfjs know the backend `name`, importing its package if needed. Returns the package that
 * was loaded (null when tfjs already had the backend registered).
 */
export async function loadTfBackend(
  name: string,
  importModule: ModuleImporter,
  wasmPaths?: string,
): Promise<string | null> {
  const ourName = `tfjs-${name}`;
  if (tf.findBackendFactory(name) !== null && name !== "wasm") return null;
  const candidates = TF_BACKEND_PACKAGES[name];
  if (candidates === undefined) {
    throw new BackendUnavailableError(
      ourName,
      `tfjs has no backend named '${name}' registered; import the package that registers it ` +
        `first (known: ${Object.keys(TF_BACKEND_PACKAGES).join(", ")})`,
    );
  }
  const failures: string[] = [];
  for (const specifier of candidates) {
    let mod: unknown;
    try {
      mod = await importModule(specifier);
    } catch (err) {
      failures.push(`${specifier}: ${err instanceof Error ? err.message.split("\n")[0] : err}`);
      continue;
    }
    if (name === "wasm") {
      const paths = wasmPaths ?? (await wasmDistFolder());
      const setWasmPaths = (mod as { setWasmPaths?: (p: string) => void }).setWasmPaths;
      if (
        paths !== undefined &&
        setWasmPaths !== undefined &&
        tf.engine().registry.wasm === undefined
      ) {
        setWasmPaths(paths);
      }
    }
    if (tf.findBackendFactory(name) === null) {
      throw new BackendUnavailableError(
        ourName,
        `${specifier} loaded but did not register the '${name}' backend with this ` +
          `@tensorflow/tfjs-core ${tf.version_core}; it must resolve to the same tfjs-core copy ` +
          `(install matching versions so the package manager dedupes it)`,
      );
    }
    return specifier;
  }
  const hint = name === "tensorflow" ? ` ${TFJS_NODE_GPU_REQUIREMENTS}` : "";
  throw new BackendUnavailableError(
    ourName,
    `none of ${candidates.join(", ")} could be loaded (${failures.join("; ")}).${hint}`,
  );
}
