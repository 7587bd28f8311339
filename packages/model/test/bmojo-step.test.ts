/** B'MOJO's decode step: one product for the SSM's and the attention's input projections. */
import {
  type BufferRead,
  CpuBackend,
  getBackend,
  memory,
  profileKernels,
  tensor,
} from "@bmojo/tensor";
import { describe, expect, it } from "vitest";
import { type BMojoLayer, LanguageModel } from "../src/index.js";
import { SMALL } from "./helpers.js";

const config = { ...SMALL, layers: "bmojo:nomlp", seed: 3 };

describe("BMojoLayer.step", () => {
  it("runs in_proj, q, k and v as one product: 5 matmuls per layer (and the logits' one)", async () => {
    const model = new LanguageModel(config);
    const cache = model.createCache(1);
    const ids = (t: number) => tensor([t], [1], { dtype: "int32" });
    (await model.step(ids(1), cache)).dispose(); // builds the stacked weight
    const profiler = profileKernels(getBackend());
    try {
      (await model.step(ids(2), cache)).dispose();
    } finally {
      profiler.stop();
    }
    // Stacked in_proj/q/k/v, x_proj, dt_proj, out_proj, o_proj; then the logits.
    expect(profiler.stats().find((s) => s.kernel === "matmul")?.calls).toBe(6);
    model.disposeCache(cache);
  });

  it("leaves no tensors behind across chunk boundaries; its stacked weight goes with the model", async () => {
    const before = memory().numTensors;
    const model = new LanguageModel(config);
    const cache = model.createCache(1);
    const ids = tensor([1], [1], { dtype: "int32" });
    (await model.step(ids, cache)).dispose();
    const afterOne = memory().numTensors;
    // Window 4: the memory is refreshed at positions 4 and 8 (a refresh once leaked its mask).
    for (let t = 1; t < 9; t++) (await model.step(ids, cache)).dispose();
    expect(memory().numTensors).toBe(afterOne);
    ids.dispose();
    model.disposeCache(cache);
    model.dispose();
    expect(memory().numTensors).toBe(before);
  });

  it("reads every layer's SSM output in one batch where the backend has readMany, same logits", async () => {
    class BatchingCpu extends CpuBackend {
      batches = 0;
      async readMany(reads: readonly BufferRead[]) {
        this.batches++;
        return reads.map((r) => this.readSync(r.id, r.dtype, r.size));
      }
    }
    const twoLayers = { ...config, layers: "bmojo:nomlp,bmojo:nomlp" };
    const run = async (backend?: CpuBackend) => {
      const model = new LanguageModel(twoLayers, { backend });
      const cache = model.createCache(1);
      const out: number[] = [];
      for (let t = 0; t < 9; t++) {
        const logits = await model.step(tensor([t % 5], [1], { dtype: "int32", backend }), cache);
        out.push(...logits.dataSync());
      }
      return { out, memory: model.eideticMemory(cache) };
    };
    const batching = new BatchingCpu("batching-cpu");
    const batched = await run(batching);
    const plain = await run();
    // Each step ends by settling its two layers, with one read.
    expect(batching.batches).toBe(9);
    expect(batched.out).toEqual(plain.out);
    expect(batched.memory).toEqual(plain.memory);
  });

  it("names a u of the wrong shape", async () => {
    const model = new LanguageModel(config);
    const layer = model.blocks[0].mixer as BMojoLayer;
    const cache = layer.createCache(2);
    await expect(layer.step(tensor(new Float32Array(16), [1, 16]), cache)).rejects.toThrow(
      "BMojoLayer.step: u must be [batch, dModel] = [2, 16] (the cache's batch), got [1, 16].",
    );
  });
});
