/**
 * The wasm backend: the conformance suite with the threads on and on one thread, the heap, the
 * registration, and a whole-model check against the reference cpu backend.
 */
import { preset } from "@bmojo/model";
import { compareModel } from "@bmojo/model/testing";
import { CpuBackend, Random, backendByName, init, registeredBackends } from "@bmojo/tensor";
import { runConformance, summaryLine } from "@bmojo/tensor/testing";
import { afterAll, describe, expect, it } from "vitest";
import { WasmBackend } from "../src/index.js";

const threaded = await WasmBackend.create({ threads: 2 });
const single = await WasmBackend.create({ threads: 1 });
afterAll(() => {
  threaded.dispose();
  single.dispose();
});

/**
 * Every output of `got` (wasm) against the same output of `want` (cpu): max |Δ| relative to the
 * largest reference value, below `bound`; the assertion names the output.
 */
function expectOutputsClose(
  got: Record<string, Float32Array>,
  want: Record<string, Float32Array>,
  bound: number,
): void {
  for (const name of Object.keys(want)) {
    let maxRef = 0;
    let maxDiff = 0;
    for (let i = 0; i < want[name].length; i++) {
      maxRef = Math.max(maxRef, Math.abs(want[name][i]));
      maxDiff = Math.max(maxDiff, Math.abs(got[name][i] - want[name][i]));
    }
    expect(maxDiff / maxRef, name).toBeLessThan(bound);
  }
}
describe("registration", () => {
  it("registers wasm above cpu and below the GPU backends' priorities", async () => {
    const names = registeredBackends();
    expect(names.indexOf("wasm")).toBeGreaterThanOrEqual(0);
    expect(names.indexOf("wasm")).toBeLessThan(names.indexOf("cpu"));
    const report = await init({ backend: "auto" });
    expect(report.backend).toBe("wasm");
    await init({ backend: "cpu" });
  });

  it("runs two threads on a shared memory where asked, one where asked", () => {
    expect(threaded.threads).toBe(2);
    expect(threaded.threading).toMatch(/2 threads/);
    expect(single.threads).toBe(1);
  });
});

describe.each([
  ["2 threads", threaded],
  ["1 thread", single],
])("conformance on %s", (_, backend) => {
  it("passes the whole suite", async () => {
    const report = await runConformance(backend, {
      onResult: (r) => {
        if (r.status === "failed") console.error(`FAIL ${r.name}: ${r.message}`);
      },
    });
    console.info(`wasm (${backend.threading}): ${summaryLine(report)}`);
    expect(report.failed).toBe(0);
    // The batched-read case skips (reads here are copies out of the wasm memory, one each), and
    // the bfloat16 cases: bfloat16 storage is the cuda backend's (and the cpu's emulation).
    const skips = report.results.filter((r) => r.status === "skipped");
    const others = skips.filter((r) => r.message !== "backend 'wasm' does not support bfloat16");
    expect(others.map((r) => r.name)).toEqual(["kernel/readMany float32 and int32, odd sizes"]);
    expect(skips.length - others.length).toBeGreaterThan(600);
    expect(report.passed).toBeGreaterThan(1200);
  }, 600_000);
});

describe("kernels at sizes the suite does not reach", () => {
  const rng = new Random(5);
  const cpu = new CpuBackend("cpu-check");
  afterAll(() => cpu.dispose());

  function upload(backend: WasmBackend | CpuBackend, data: Float32Array): number {
    const id = backend.alloc(data.byteLength);
    backend.write(id, data);
    return id;
  }

  it.each([
    [300, 520, 600, false, false],
    [257, 130, 513, true, false],
    [129, 264, 300, false, true],
    [70, 90, 1100, true, true],
    [1, 301, 130, false, true],
    [1, 70, 1101, true, false],
    [1, 1000, 601, false, false],
    [1, 999, 700, false, true],
  ])("matmul m=%i n=%i k=%i (transA %s, transB %s) on 2 threads", (m, n, k, transA, transB) => {
    const a = rng.uniformArray(m * k, -1, 1) as Float32Array;
    const b = rng.uniformArray(k * n, -1, 1) as Float32Array;
    const outs = [threaded, cpu].map((backend) => {
      const args = {
        dtype: "float32" as const,
        a: upload(backend, a),
        b: upload(backend, b),
        out: backend.alloc(m * n * 4),
        batch: 1,
        m,
        n,
        k,
        transA,
        transB,
        aBatchStride: 0,
        bBatchStride: 0,
      };
      backend.kernels.matmul?.(args);
      const out = backend.readSync?.(args.out, "float32", m * n) as Float32Array;
      for (const id of [args.a, args.b, args.out]) backend.free(id);
      return out;
    });
    let worst = 0;
    for (let i = 0; i < m * n; i++) {
      worst = Math.max(worst, Math.abs(outs[0][i] - outs[1][i]) / (1 + Math.abs(outs[1][i])));
    }
    expect(worst).toBeLessThan(1e-4);
  });

  it("selective scan and its backward at B 3, L 70, E 37, N 16 on 2 threads", async () => {
    const { B, L, E, N } = { B: 3, L: 70, E: 37, N: 16 };
    const inputs: Record<string, Float32Array> = {
      u: rng.uniformArray(B * L * E, -1, 1) as Float32Array,
      delta: rng.uniformArray(B * L * E, -2, 1) as Float32Array,
      A: rng.uniformArray(E * N, -2, -0.1) as Float32Array,
      B: rng.uniformArray(B * L * N, -1, 1) as Float32Array,
      C: rng.uniformArray(B * L * N, -1, 1) as Float32Array,
      D: rng.uniformArray(E, -1, 1) as Float32Array,
      z: rng.uniformArray(B * L * E, -2, 2) as Float32Array,
      deltaBias: rng.uniformArray(E, -1, 1) as Float32Array,
      initialState: rng.uniformArray(B * E * N, -1, 1) as Float32Array,
      dOut: rng.uniformArray(B * L * E, -1, 1) as Float32Array,
    };
    const grads = { du: B * L * E, ddelta: B * L * E, dA: E * N, dB: B * L * N, dC: B * L * N };
    const more = { dD: E, dz: B * L * E, dDeltaBias: E, dInitialState: B * E * N };
    const results = [threaded, cpu].map((backend) => {
      const ids = Object.fromEntries(
        Object.entries(inputs).map(([k, v]) => [k, upload(backend, v)]),
      );
      const outIds = Object.fromEntries(
        Object.entries({ ...grads, ...more, out: B * L * E, lastState: B * E * N }).map(
          ([k, size]) => [k, backend.alloc(size * 4)],
        ),
      );
      const common = {
        dtype: "float32" as const,
        u: ids.u,
        delta: ids.delta,
        A: ids.A,
        B: ids.B,
        C: ids.C,
        D: ids.D,
        z: ids.z,
        deltaBias: ids.deltaBias,
        deltaSoftplus: true,
        initialState: ids.initialState,
        batch: B,
        length: L,
        channels: E,
        stateSize: N,
      };
      backend.kernels.selectiveScan?.({ ...common, out: outIds.out, lastState: outIds.lastState });
      backend.kernels.selectiveScanBackward?.({
        ...common,
        dOut: ids.dOut,
        dLastState: null,
        du: outIds.du,
        ddelta: outIds.ddelta,
        dA: outIds.dA,
        dB: outIds.dB,
        dC: outIds.dC,
        dD: outIds.dD,
        dz: outIds.dz,
        dDeltaBias: outIds.dDeltaBias,
        dInitialState: outIds.dInitialState,
      });
      const sizes = { ...grads, ...more, out: B * L * E, lastState: B * E * N };
      return Object.fromEntries(
        Object.entries(sizes).map(([k, size]) => [
          k,
          backend.readSync?.(outIds[k], "float32", size) as Float32Array,
        ]),
      );
    });
    expectOutputsClose(results[0], results[1], 1e-4);
  });

  it.each([16, 6])("selectiveScanStep at B 3, E 37, N %i (state in place)", (N) => {
    const [B, E] = [3, 37];
    const inputs: Record<string, Float32Array> = {
      u: rng.uniformArray(B * E, -1, 1) as Float32Array,
      delta: rng.uniformArray(B * E, -2, 1) as Float32Array,
      A: rng.uniformArray(E * N, -2, -0.1) as Float32Array,
      B: rng.uniformArray(B * N, -1, 1) as Float32Array,
      C: rng.uniformArray(B * N, -1, 1) as Float32Array,
      D: rng.uniformArray(E, -1, 1) as Float32Array,
      z: rng.uniformArray(B * E, -2, 2) as Float32Array,
      deltaBias: rng.uniformArray(E, -1, 1) as Float32Array,
      state: rng.uniformArray(B * E * N, -1, 1) as Float32Array,
    };
    const results = [threaded, cpu].map((backend) => {
      const ids = Object.fromEntries(
        Object.entries(inputs).map(([k, v]) => [k, upload(backend, v)]),
      );
      const out = backend.alloc(B * E * 4);
      backend.kernels.selectiveScanStep({
        dtype: "float32",
        u: ids.u,
        delta: ids.delta,
        A: ids.A,
        B: ids.B,
        C: ids.C,
        D: ids.D,
        z: ids.z,
        deltaBias: ids.deltaBias,
        deltaSoftplus: true,
        state: ids.state,
        out,
        batch: B,
        channels: E,
        stateSize: N,
      });
      const read = [
        backend.readSync?.(out, "float32", B * E) as Float32Array,
        backend.readSync?.(ids.state, "float32", B * E * N) as Float32Array,
      ];
      for (const id of [...Object.values(ids), out]) backend.free(id);
      return read;
    });
    for (let r = 0; r < 2; r++) {
      const [got, want] = [results[0][r], results[1][r]];
      let worst = 0;
      for (let i = 0; i < want.length; i++) {
        worst = Math.max(worst, Math.abs(got[i] - want[i]) / (1 + Math.abs(want[i])));
      }
      expect(worst).toBeLessThan(1e-5);
    }
  });

  it.each([
    [13, true],
    [Number.POSITIVE_INFINITY, false],
  ])(
    "attention and its backward (GQA, window %s, memory %s) at B 2, H 4, Hkv 2, Lq 40, Lk 50, Dh 19 on 2 threads",
    (window, withMemory) => {
      const [B, H, Hkv, Lq, Lk, Dh, chunks, slots] = [2, 4, 2, 40, 50, 19, 4, 5];
      const inputs: Record<string, Float32Array | Int32Array> = {
        q: rng.uniformArray(B * H * Lq * Dh, -1, 1) as Float32Array,
        k: rng.uniformArray(B * Hkv * Lk * Dh, -1, 1) as Float32Array,
        v: rng.uniformArray(B * Hkv * Lk * Dh, -1, 1) as Float32Array,
        dOut: rng.uniformArray(B * H * Lq * Dh, -1, 1) as Float32Array,
        memK: rng.uniformArray(B * Hkv * chunks * slots * Dh, -1, 1) as Float32Array,
        memV: rng.uniformArray(B * Hkv * chunks * slots * Dh, -1, 1) as Float32Array,
        mask: Int32Array.from(rng.intArray(B * chunks * slots, 0, 2)),
      };
      const sizes = {
        out: B * H * Lq * Dh,
        lse: B * H * Lq,
        dq: B * H * Lq * Dh,
        dk: B * Hkv * Lk * Dh,
        dv: B * Hkv * Lk * Dh,
        dMemK: B * Hkv * chunks * slots * Dh,
        dMemV: B * Hkv * chunks * slots * Dh,
      };
      const results = [threaded, cpu].map((backend) => {
        const ids: Record<string, number> = {};
        for (const [name, data] of Object.entries(inputs)) {
          ids[name] = backend.alloc(data.byteLength);
          backend.write(ids[name], data);
        }
        for (const [name, size] of Object.entries(sizes)) ids[name] = backend.alloc(size * 4);
        const common = {
          dtype: "float32" as const,
          q: ids.q,
          k: ids.k,
          v: ids.v,
          memory: withMemory
            ? { k: ids.memK, v: ids.memV, mask: ids.mask, chunks, slots, chunkSize: 13 }
            : null,
          batch: B,
          heads: H,
          kvHeads: Hkv,
          queryLength: Lq,
          keyLength: Lk,
          headDim: Dh,
          window,
          queryOffset: Lk - Lq,
          scale: 0.3,
        };
        backend.kernels.attention({ ...common, out: ids.out, lse: ids.lse });
        backend.kernels.attentionBackward({
          ...common,
          out: ids.out,
          lse: ids.lse,
          dOut: ids.dOut,
          dq: ids.dq,
          dk: ids.dk,
          dv: ids.dv,
          dMemK: withMemory ? ids.dMemK : null,
          dMemV: withMemory ? ids.dMemV : null,
        });
        const read = Object.fromEntries(
          Object.entries(sizes)
            .filter(([name]) => withMemory || !name.startsWith("dMem"))
            .map(([name, size]) => [
              name,
              backend.readSync?.(ids[name], "float32", size) as Float32Array,
            ]),
        );
        for (const id of Object.values(ids)) backend.free(id);
        return read;
      });
      expectOutputsClose(results[0], results[1], 1e-5);
    },
  );

  it.each([
    ["silu", 4, true],
    ["none", 3, false],
  ] as const)(
    "causalConv1d (%s, K %i, initial state %s), its backward and step at B 3, L 80, C 37 on 2 threads",
    (activation, K, withState) => {
      const [B, L, C] = [3, 80, 37];
      const inputs: Record<string, Float32Array> = {
        x: rng.uniformArray(B * L * C, -2, 2) as Float32Array,
        weight: rng.uniformArray(C * K, -1, 1) as Float32Array,
        bias: rng.uniformArray(C, -1, 1) as Float32Array,
        init: rng.uniformArray(B * (K - 1) * C, -1, 1) as Float32Array,
        dy: rng.uniformArray(B * L * C, -1, 1) as Float32Array,
        step: rng.uniformArray(B * C, -1, 1) as Float32Array,
      };
      const sizes = {
        out: B * L * C,
        fin: B * (K - 1) * C,
        dx: B * L * C,
        dweight: C * K,
        dbias: C,
        dInit: B * (K - 1) * C,
        stepOut: B * C,
      };
      const results = [threaded, cpu].map((backend) => {
        const ids: Record<string, number> = {};
        for (const [name, data] of Object.entries(inputs)) {
          ids[name] = backend.alloc(data.byteLength);
          backend.write(ids[name], data);
        }
        for (const [name, size] of Object.entries(sizes)) ids[name] = backend.alloc(size * 4);
        const common = {
          dtype: "float32" as const,
          x: ids.x,
          weight: ids.weight,
          bias: ids.bias,
          initialState: withState ? ids.init : null,
          batch: B,
          length: L,
          channels: C,
          kernelSize: K,
          activation,
        };
        backend.kernels.causalConv1d({ ...common, out: ids.out, finalState: ids.fin });
        backend.kernels.causalConv1dBackward({
          ...common,
          dy: ids.dy,
          dx: ids.dx,
          dweight: ids.dweight,
          dbias: ids.dbias,
          dInitialState: withState ? ids.dInit : null,
        });
        backend.kernels.causalConv1dStep({
          dtype: "float32",
          x: ids.step,
          state: ids.fin,
          weight: ids.weight,
          bias: ids.bias,
          out: ids.stepOut,
          batch: B,
          channels: C,
          kernelSize: K,
          activation,
        });
        const read = Object.fromEntries(
          Object.entries(sizes)
            .filter(([name]) => withState || name !== "dInit")
            .map(([name, size]) => [
              name,
              backend.readSync?.(ids[name], "float32", size) as Float32Array,
            ]),
        );
        for (const id of Object.values(ids)) backend.free(id);
        return read;
      });
      expectOutputsClose(results[0], results[1], 1e-5);
    },
  );

  it.each([
    ["add", [50001], [1], [1]],
    ["mul", [3, 20001], [20001, 1], [0, 1]],
    ["sub", [5, 7, 9001], [63007, 9001, 1], [0, 9001, 0]],
    ["div", [40, 30, 20], [1, 40, 1200], [600, 20, 1]],
    ["maximum", [9, 8, 7, 6], [336, 42, 6, 1], [0, 42, 6, 1]],
  ] as const)(
    "binary %s over %j (long rows split into blocks, broadcasts, strides) on 2 threads",
    (op, shape, aStrides, bStrides) => {
      const size = shape.reduce((x, y) => x * y, 1);
      const span = (strides: readonly number[]) =>
        1 + shape.reduce((acc, n, d) => acc + (n - 1) * strides[d], 0);
      const a = rng.uniformArray(span(aStrides), 0.5, 2) as Float32Array;
      const b = rng.uniformArray(span(bStrides), 0.5, 2) as Float32Array;
      const outs = [threaded, cpu].map((backend) => {
        const ids = [upload(backend, a), upload(backend, b), backend.alloc(size * 4)];
        backend.kernels.binary({
          op,
          dtype: "float32",
          a: ids[0],
          b: ids[1],
          out: ids[2],
          shape,
          aStrides,
          bStrides,
        });
        const out = backend.readSync?.(ids[2], "float32", size) as Float32Array;
        for (const id of ids) backend.free(id);
        return out;
      });
      expect(outs[0]).toEqual(outs[1]);
    },
  );
});

describe("heap", () => {
  it("reuses freed blocks, grows the memory, and keeps data across growth", async () => {
    const backend = await WasmBackend.create({ threads: 1 });
    try {
      const first = backend.alloc(1000);
      backend.write(
        first,
        Float32Array.from({ length: 250 }, (_, i) => i),
      );
      const before = backend.memoryBytes();
      const big = backend.alloc(64 << 20);
      expect(backend.memoryBytes()).toBeGreaterThan(before);
      const back = backend.readSync(first, "float32", 250) as Float32Array;
      expect(back[249]).toBe(249);
      backend.free(big);
      const grown = backend.memoryBytes();
      const again = backend.alloc(64 << 20);
      expect(backend.memoryBytes()).toBe(grown);
      backend.free(again);
      backend.free(first);
      expect(backend.numBuffers()).toBe(0);
    } finally {
      backend.dispose();
    }
  });

  it("says what to do when the memory limit is reached", async () => {
    const backend = await WasmBackend.create({ threads: 1, maxMemoryMiB: 16 });
    try {
      expect(() => backend.alloc(32 << 20)).toThrow(/out of memory.*maxMemoryMiB/);
    } finally {
      backend.dispose();
    }
  });
});

describe("whole model", () => {
  it("replays a compiled Mamba step with the cpu's stepped logits", async () => {
    const cpu = await backendByName("cpu");
    const config = preset("mamba", "small", {
      seed: 3,
      numLayers: 3,
      layers: "mamba,mamba:mlp,mamba",
    });
    const r = await compareModel(config, cpu, threaded, [1, 48]);
    console.info(
      `small Mamba vs cpu: decode ${r.decodeRelError.toExponential(2)}, replayed ${r.replayRelError?.toExponential(2)}`,
    );
    expect(r.decodeRelError).toBeLessThan(1e-4);
    expect(r.replayRelError).not.toBeNull();
    expect(r.replayRelError).toBeLessThan(1e-4);
  }, 600_000);

  for (const positions of ["none", "rope"] as const) {
    it(`gives the cpu's logits and gradients for a small B'MOJO (positions ${positions})`, async () => {
      const cpu = await backendByName("cpu");
      const config = preset("bmojo", "small", { seed: 3, bmojo: { positions } });
      const r = await compareModel(config, cpu, threaded, [2, 160]);
      console.info(
        `small B'MOJO (${positions}) vs cpu: logits ${r.logitsRelError.toExponential(2)}, decode ${r.decodeRelError.toExponential(2)}, grads ${r.gradRelError.toExponential(2)} (${r.worstGrad})`,
      );
      expect(r.logitsRelError).toBeLessThan(1e-3);
      expect(r.decodeRelError).toBeLessThan(1e-3);
      // The compiled step (position on the device, admissions on the host) decodes as well.
      expect(r.replayRelError).not.toBeNull();
      expect(r.replayRelError).toBeLessThan(1e-3);
      expect(r.gradRelError).toBeLessThan(1e-3);
    }, 600_000);
  }
});
