import { describe, expect, it } from "vitest";
import { CpuBackend, add, matmul, profileKernels, tensor, tidy } from "../src/index.js";

describe("profileKernels", () => {
  it("counts each kernel call and its host time, and stop() restores the table", () => {
    const backend = new CpuBackend("profiled-cpu");
    const original = backend.kernels.matmul;
    const a = tensor([1, 2, 3, 4], [2, 2], { backend });
    const profiler = profileKernels(backend);
    expect(backend.kernels.matmul).not.toBe(original);
    const out = tidy(() => add(matmul(a, a), matmul(a, a)));
    expect(Array.from(out.dataSync())).toEqual([14, 20, 30, 44]);
    const stats = profiler.stats();
    expect(stats[0]).toMatchObject({ kernel: "matmul", calls: 2 });
    expect(stats.find((s) => s.kernel === "binary")?.calls).toBe(1);
    expect(profiler.calls).toBe(stats.reduce((n, s) => n + s.calls, 0));
    expect(profiler.hostMs).toBeGreaterThanOrEqual(0);
    profiler.reset();
    expect(profiler.calls).toBe(0);
    profiler.stop();
    expect(backend.kernels.matmul).toBe(original);
    matmul(a, a).dispose();
    expect(profiler.calls).toBe(0);
    profiler.stop(); // idempotent
    backend.dispose();
  });

  it("refuses a second profiler on the same backend until the first stops", () => {
    const backend = new CpuBackend("profiled-cpu-2");
    const first = profileKernels(backend);
    expect(() => profileKernels(backend)).toThrow(
      /already being profiled; stop\(\) that profiler first/,
    );
    first.stop();
    const second = profileKernels(backend);
    second.stop();
    backend.dispose();
  });

  it("counts a call that throws, and passes the error on", () => {
    const backend = new CpuBackend("profiled-cpu-3");
    const a = tensor([1, 2, 3], [3], { backend });
    (backend.kernels as { binary: unknown }).binary = () => {
      throw new Error("boom");
    };
    using profiler = profileKernels(backend);
    expect(() => add(a, a)).toThrow("boom");
    expect(profiler.stats()).toEqual([{ kernel: "binary", calls: 1, hostMs: expect.any(Number) }]);
  });
});
