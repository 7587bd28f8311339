/**
 * @bmojo/backend-tfjs: the kernel table on @tensorflow/tfjs-core ops, for any registered tfjs
 * backend. Importing this module registers, at priority -1 (below the reference cpu backend's 0,
 * so init({ backend: "auto" }) never picks them):
 *   - "tfjs": whatever tfjs backend is active when it is brought up;
 *   - "tfjs-cpu", "tfjs-wasm", "tfjs-webgl", "tfjs-webgpu": that tfjs backend (its package is
 *     imported on demand);
 *   - "tfjs-tensorflow": libtensorflow through @tensorflow/tfjs-node-gpu, else @tensorflow/tfjs-node.
 */
import { BackendUnavailableError, registerBackend } from "@bmojo/tensor";
import { TfjsBackend, type TfjsBackendOptions } from "./backend.js";
import { TF_BACKEND_PACKAGES } from "./load.js";

export { TfjsBackend, type TfjsBackendOptions } from "./backend.js";
export {
  TF_BACKEND_PACKAGES,
  TFJS_NODE_GPU_REQUIREMENTS,
  type ModuleImporter,
  loadTfBackend,
} from "./load.js";
export { SCAN_CHUNK } from "./fused.js";

/** The registry priority of every tfjs registration: below cpu (0). */
export const TFJS_PRIORITY = -1;

/** Creates the backend, or throws BackendUnavailableError saying why it cannot run here. */
export async function createTfjsBackend(options: TfjsBackendOptions = {}): Promise<TfjsBackend> {
  try {
    return await TfjsBackend.create(options);
  } catch (err) {
    if (err instanceof BackendUnavailableError) throw err;
    const name =
      options.name ?? (options.tfBackend === undefined ? "tfjs" : `tfjs-${options.tfBackend}`);
    throw new BackendUnavailableError(name, err instanceof Error ? err.message : String(err));
  }
}

registerBackend("tfjs", () => createTfjsBackend(), TFJS_PRIORITY);
for (const tfBackend of Object.keys(TF_BACKEND_PACKAGES)) {
  registerBackend(`tfjs-${tfBackend}`, () => createTfjsBackend({ tfBackend }), TFJS_PRIORITY);
}
