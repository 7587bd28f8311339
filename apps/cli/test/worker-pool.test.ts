import { availableParallelism } from "node:os";
import { afterEach, describe, expect, it } from "vitest";
import { workerEnv } from "../src/worker-pool.js";

describe("workerEnv", () => {
  const saved = process.env.BMOJO_WASM_THREADS;
  afterEach(() => {
    if (saved === undefined) delete process.env.BMOJO_WASM_THREADS;
    else process.env.BMOJO_WASM_THREADS = saved;
  });

  it("gives each of several workers its share of the cores (at least one)", () => {
    delete process.env.BMOJO_WASM_THREADS;
    const share = Math.max(1, Math.floor(availableParallelism() / 2));
    expect(workerEnv(2).BMOJO_WASM_THREADS).toBe(String(share));
    expect(workerEnv(10_000).BMOJO_WASM_THREADS).toBe("1");
    expect(workerEnv(1).BMOJO_WASM_THREADS).toBeUndefined();
  });

  it("keeps a thread count the user set", () => {
    process.env.BMOJO_WASM_THREADS = "3";
    expect(workerEnv(2).BMOJO_WASM_THREADS).toBe("3");
  });
});
