import { describe, expect, it } from "vitest";
import {
  type Backend,
  CpuBackend,
  add,
  assignHost,
  canCapture,
  capture,
  matmul,
  mul,
  tensor,
  tidy,
} from "../src/index.js";
import { captureCases } from "../src/testing/capture-cases.js";
import { runConformance } from "../src/testing/index.js";

const float = (backend: Backend, values: number[]) =>
  tensor(Float32Array.from(values), [values.length], { backend });

describe("capture", () => {
  it("records kernels without running them, and each replay recomputes from the inputs' current values", async () => {
    const backend = new CpuBackend("cpu-capture");
    expect(canCapture(backend)).toBe(true);
    const a = float(backend, [1, 2, 3]);
    const b = float(backend, [10, 20, 30]);
    const { value: c, program } = await capture(backend, () => tidy(() => mul(add(a, b), a)));
    expect(program.size).toBe(2);
    expect(Array.from(c.dataSync())).toEqual([0, 0, 0]); // nothing ran yet
    program.replay();
    expect(Array.from(c.dataSync())).toEqual([11, 44, 99]);
    assignHost(a, [2, 0, -1]);
    program.replay();
    expect(Array.from(c.dataSync())).toEqual([24, 0, -29]);
    program.dispose();
    c.dispose();
    a.dispose();
    b.dispose();
    expect(backend.numBuffers()).toBe(0);
  });

  it("replays host writes with the data they had when captured", async () => {
    const backend = new CpuBackend("cpu-capture");
    const x = float(backend, [1, 1]);
    const { value: y, program } = await capture(backend, () => {
      const data = Float32Array.of(3, 4);
      const w = tensor(data, [2], { backend }); // a write inside the capture
      data[0] = 100; // the caller's array changes afterwards: the program kept its own copy
      return mul(x, w);
    });
    program.replay();
    expect(Array.from(y.dataSync())).toEqual([3, 4]);
    program.dispose();
    y.dispose();
    x.dispose();
  });

  it("keeps buffers freed during the capture, and captured buffers freed after it, until the program goes", async () => {
    const backend = new CpuBackend("cpu-capture");
    const x = tensor(Float32Array.of(1, 2, 3, 4), [2, 2], { backend });
    const { value: y, program } = await capture(backend, () => {
      const t = matmul(x, x); // freed inside the capture, read by the program later
      const out = add(t, x);
      t.dispose();
      return out;
    });
    expect(backend.numBuffers()).toBe(3); // x, y and the freed temporary
    y.dispose(); // captured, so the program still writes it
    expect(backend.numBuffers()).toBe(3);
    program.replay();
    program.dispose();
    expect(backend.numBuffers()).toBe(1);
    expect(() => program.replay()).toThrow(/replay of a disposed program/);
    x.dispose();
  });

  it("refuses reads and syncs while capturing, discards a failed capture, and allows one live program", async () => {
    const backend = new CpuBackend("cpu-capture");
    const x = float(backend, [1, 2]);
    await expect(capture(backend, () => tidy(() => add(x, x).dataSync()))).rejects.toThrow(
      /cpu-capture backend: a read while capturing a program; nothing has run yet/,
    );
    await expect(capture(backend, () => backend.sync())).rejects.toThrow(/a sync while capturing/);
    expect(backend.numBuffers()).toBe(1); // the failed captures' buffers went with them
    expect(backend.programLive()).toBe(false);
    const { value: y, program } = await capture(backend, () => add(x, x));
    expect(backend.programLive()).toBe(true);
    await expect(capture(backend, () => add(x, x))).rejects.toThrow(
      /a captured program is still live; dispose it before capturing another/,
    );
    program.dispose();
    expect(backend.programLive()).toBe(false);
    y.dispose();
    const again = await capture(backend, () => add(x, x));
    again.program.replay();
    expect(Array.from(again.value.dataSync())).toEqual([2, 4]);
    again.program.dispose();
    again.value.dispose();
    x.dispose();
    expect(backend.numBuffers()).toBe(0);
  });

  it("says which backends cannot capture", async () => {
    const plain: Backend = Object.assign(Object.create(new CpuBackend()), {
      name: "plain",
      beginCapture: undefined,
    });
    expect(canCapture(plain)).toBe(false);
    await expect(capture(plain, () => 0)).rejects.toThrow(
      /backend 'plain' cannot capture programs \(it has no beginCapture\)/,
    );
  });
});

describe("the conformance suite's capture cases", () => {
  it("pass on the cpu backend, and skip with a reason where a backend cannot capture", async () => {
    const cases = captureCases();
    const report = await runConformance(new CpuBackend("cpu-capture"), { cases });
    expect(report.results.map((r) => `${r.name}: ${r.status} ${r.message ?? ""}`.trim())).toEqual(
      cases.map((c) => `${c.name}: passed`),
    );
    const plain: Backend = Object.assign(Object.create(new CpuBackend()), {
      name: "plain",
      beginCapture: undefined,
    });
    const skipped = await runConformance(plain, { cases });
    expect(skipped.skipped).toBe(cases.length);
    expect(skipped.results[0].message).toMatch(/backend 'plain' cannot capture programs/);
  });

  it("fail on a backend whose program replays only once", async () => {
    const backend = new CpuBackend("cpu-stale");
    const endCapture = backend.endCapture.bind(backend);
    backend.endCapture = () => {
      const program = endCapture();
      let replays = 0;
      return {
        size: program.size,
        replay: () => {
          if (replays++ === 0) program.replay();
        },
        dispose: () => program.dispose(),
      };
    };
    const report = await runConformance(backend, { cases: captureCases().slice(0, 1) });
    expect(report.failed).toBe(1);
  });
});
