import { describe, expect, it } from "vitest";
import { type BufferRead, CpuBackend, readTensors, tensor } from "../src/index.js";

/** A cpu backend that also reads in batches, counting its reads. */
class BatchingCpu extends CpuBackend {
  reads = 0;
  batches = 0;

  override async read(...args: Parameters<CpuBackend["read"]>) {
    this.reads++;
    return super.read(...args);
  }

  async readMany(reads: readonly BufferRead[]) {
    this.batches++;
    return reads.map((r) => super.readSync(r.id, r.dtype, r.size));
  }
}

describe("readTensors", () => {
  it("reads the tensors of a backend with readMany in one batch, in order", async () => {
    const backend = new BatchingCpu("batching");
    const a = tensor([1, 2, 3], [3], { backend });
    const b = tensor(Int32Array.from([4, 5]), [2], { backend });
    const c = tensor([6.5], [1], { dtype: "float64", backend });
    const [ra, rb, rc] = await readTensors([a, b, c]);
    expect(Array.from(ra)).toEqual([1, 2, 3]);
    expect(rb).toBeInstanceOf(Int32Array);
    expect(Array.from(rb)).toEqual([4, 5]);
    expect(Array.from(rc)).toEqual([6.5]);
    expect(backend.batches).toBe(1);
    expect(backend.reads).toBe(0);
  });

  it("reads one by one without readMany, across backends, and for a single tensor", async () => {
    const batching = new BatchingCpu("batching");
    const plain = new CpuBackend("plain");
    const a = tensor([1], [1], { backend: batching });
    const b = tensor([2], [1], { backend: plain });
    expect((await readTensors([a, b])).map((r) => r[0])).toEqual([1, 2]);
    expect((await readTensors([a])).map((r) => r[0])).toEqual([1]);
    expect(await readTensors([])).toEqual([]);
    expect(batching.batches).toBe(0);
    expect(batching.reads).toBe(2);
  });

  it("names the call when a tensor was disposed", async () => {
    const t = tensor([1], [1]);
    t.dispose();
    await expect(readTensors([t])).rejects.toThrow("readTensors");
  });
});
