/**
 * @tensorflow/tfjs-backend-webgpu (pinned 4.22.0, like tfjs-core) running on our backend's
 * GPUDevice, for the bench: same adapter, same device, same queue. tfjs's own registration asks
 * `navigator.gpu` for a new adapter and device; instead its "webgpu" backend is re-registered with
 * a `WebGPUBackend` built on our device (its constructor takes one). Its constructor still checks
 * that `navigator.gpu` exists, so in Node the GPU object our device came from is exposed there.
 */
import { WebGPUBackend } from "@tensorflow/tfjs-backend-webgpu";
import * as tf from "@tensorflow/tfjs-core";
import type { WebGpuBackend } from "../src/index.js";

export interface TfjsWebGpu {
  tf: typeof tf;
  /** What runs, e.g. "@tensorflow/tfjs-backend-webgpu 4.22.0". */
  label: string;
  /** Submits the work tfjs has recorded and waits until the device's queue is idle. */
  sync(): Promise<void>;
}

function exposeNavigatorGpu(gpu: GPU): void {
  const g = globalThis as { navigator?: { gpu?: GPU } };
  if (g.navigator?.gpu !== undefined) return;
  // Node ≥ 21 has a getter-only globalThis.navigator without gpu; Node 20 has none.
  if (g.navigator !== undefined) Object.defineProperty(g.navigator, "gpu", { value: gpu });
  else Object.defineProperty(globalThis, "navigator", { value: { gpu }, configurable: true });
}

/** tfjs-core with its "webgpu" backend on `ours.device`, initialised and active. */
export async function tfjsOnDevice(ours: WebGpuBackend): Promise<TfjsWebGpu> {
  exposeNavigatorGpu(ours.gpu);
  const info = { vendor: ours.adapter.vendor, architecture: ours.adapter.architecture };
  if (tf.findBackendFactory("webgpu") !== null) tf.removeBackend("webgpu");
  tf.registerBackend("webgpu", () => new WebGPUBackend(ours.device, info as GPUAdapterInfo));
  if (!(await tf.setBackend("webgpu"))) throw new Error("tfjs: the webgpu backend failed to start");
  const backend = tf.backend() as WebGPUBackend;
  return {
    tf,
    label: `@tensorflow/tfjs-backend-webgpu ${tf.version_core}`,
    sync: async () => {
      backend.ensureCommandEncoderReady();
      backend.endComputePassEncoder();
      backend.submitQueue();
      await backend.queue.onSubmittedWorkDone();
    },
  };
}
