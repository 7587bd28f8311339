import {
  type AttentionMemoryInput,
  Random,
  type Tensor,
  assignHost,
  concat,
  memory as liveMemory,
  reshape,
  slice,
  tidy,
  zeros,
} from "@bmojo/tensor";
import { describe, expect, it } from "vitest";
import {
  Attention,
  type AttentionConfig,
  DevicePosition,
  FullKVCache,
  type KVCache,
  RingKVCache,
  type StepMemory,
} from "../src/index.js";
import { maxAbsDiff, randomInputs } from "./reference.js";

const B = 2;
const L = 23;
type DType = "float32" | "float64";
const TOL: Record<DType, number> = { float32: 1e-4, float64: 1e-10 };

interface Setup {
  layer: Attention;
  x: Tensor;
  memory?: AttentionMemoryInput;
}

function setup(config: AttentionConfig, dtype: DType, withMemory: boolean, chunkSize = 6): Setup {
  const layer = new Attention(config, { rng: new Random(21), dtype });
  const inputs = randomInputs(22);
  const x = inputs.normal([B, L, config.dModel], dtype);
  if (!withMemory) return { layer, x };
  const chunks = Math.ceil(L / chunkSize);
  const tokens = inputs.normal([B, chunks, 3, config.dModel], dtype);
  const { k, v } = layer.projectKeysValues(tokens);
  return { layer, x, memory: { k, v, mask: inputs.mask([B, chunks, 3]), chunkSize } };
}

/** The memory slots of the chunk that position p falls in, as step takes them. */
function chunkSlots(memory: AttentionMemoryInput, p: number): StepMemory {
  const c = Math.floor(p / memory.chunkSize);
  const [b, g, , m, dh] = memory.k.shape;
  return {
    k: reshape(slice(memory.k, [0, 0, c, 0, 0], [b, g, 1, m, dh]), [b, g, m, dh]),
    v: reshape(slice(memory.v, [0, 0, c, 0, 0], [b, g, 1, m, dh]), [b, g, m, dh]),
    mask: reshape(slice(memory.mask, [0, c, 0], [b, 1, m]), [b, m]),
  };
}

/** Feeds tokens from..to−1 one at a time; returns their outputs [B, to−from, d] as host rows. */
function stepThrough(s: Setup, cache: KVCache, from: number, to: number): Float64Array[] {
  const rows: Float64Array[] = [];
  for (let p = from; p < to; p++) {
    tidy(() => {
      const xt = reshape(slice(s.x, [0, p, 0], [B, 1, -1]), [B, -1]);
      const memory = s.memory && chunkSlots(s.memory, p);
      const { out, k, v } = s.layer.step(xt, cache, { memory });
      expect(out.shape).toEqual([B, s.layer.config.dModel]);
      expect(k.shape).toEqual([B, s.layer.kvHeads, 1, s.layer.headDim]);
      // The returned k, v are what the cache now holds in this position's slot.
      const slot = cache.kind === "ring" ? p % cache.capacity : p;
      const stored = slice(cache.k, [0, 0, slot, 0], [-1, -1, 1, -1]);
      expect(maxAbsDiff(stored.dataSync(), k.dataSync())).toBe(0);
      expect(
        maxAbsDiff(slice(cache.v, [0, 0, slot, 0], [-1, -1, 1, -1]).dataSync(), v.dataSync()),
      ).toBe(0);
      rows.push(Float64Array.from(out.dataSync()));
    });
  }
  return rows;
}

/** Rows of [B, L, d] for positions from..to−1, as [B][t][d] flattened like stepThrough's rows. */
function parallelRows(out: Tensor, from: number, to: number): Float64Array[] {
  const rows: Float64Array[] = [];
  for (let p = from; p < to; p++) {
    rows.push(Float64Array.from(slice(out, [0, p, 0], [B, 1, -1]).dataSync()));
  }
  return rows;
}

function rowsDiff(a: Float64Array[], b: Float64Array[]): number {
  expect(a.length).toBe(b.length);
  return Math.max(...a.map((r, i) => maxAbsDiff(r, b[i])));
}

const CASES: [string, AttentionConfig, boolean, "full" | "ring"][] = [
  ["full causal", { dModel: 12, heads: 3 }, false, "full"],
  ["window 5 (ring, wraps 4 times)", { dModel: 12, heads: 3, window: 5 }, false, "ring"],
  ["RoPE, full", { dModel: 16, heads: 2, rope: true }, false, "full"],
  ["RoPE, window 5", { dModel: 16, heads: 2, rope: true, window: 5 }, false, "ring"],
  [
    "GQA 4/2, window 7, RoPE",
    { dModel: 16, heads: 4, kvHeads: 2, window: 7, rope: true },
    false,
    "ring",
  ],
  ["GQA 4/1, full", { dModel: 16, heads: 4, kvHeads: 1 }, false, "full"],
  ["memory, window 5", { dModel: 12, heads: 3, window: 5 }, true, "ring"],
  ["memory, full, GQA", { dModel: 16, heads: 4, kvHeads: 2 }, true, "full"],
  [
    "memory, window 5, RoPE",
    { dModel: 16, heads: 4, kvHeads: 2, window: 5, rope: true },
    true,
    "ring",
  ],
];

describe("recurrent decoding equals the parallel form", () => {
  for (const dtype of ["float32", "float64"] as const) {
    describe(dtype, () => {
      it.each(CASES)("step by step: %s", (_, config, withMemory, kind) => {
        const s = setup(config, dtype, withMemory);
        const parallel = s.layer.forward(s.x, { memory: s.memory });
        const cache = s.layer.createCache(B, L);
        expect(cache.kind).toBe(kind);
        expect(cache).toBeInstanceOf(kind === "full" ? FullKVCache : RingKVCache);
        const diff = rowsDiff(stepThrough(s, cache, 0, L), parallelRows(parallel, 0, L));
        expect(diff).toBeLessThanOrEqual(TOL[dtype]);
        expect(cache.position).toBe(L);
      });

      it.each(CASES)("prefill 10, then steps: %s", (_, config, withMemory) => {
        const s = setup(config, dtype, withMemory);
        const parallel = s.layer.forward(s.x, { memory: s.memory });
        const cache = s.layer.createCache(B, L);
        const head = s.layer.prefill(slice(s.x, [0, 0, 0], [B, 10, -1]), cache, {
          memory: s.memory,
        });
        expect(cache.position).toBe(10);
        expect(
          maxAbsDiff(head.dataSync(), slice(parallel, [0, 0, 0], [B, 10, -1]).dataSync()),
        ).toBeLessThanOrEqual(TOL[dtype]);
        const diff = rowsDiff(stepThrough(s, cache, 10, L), parallelRows(parallel, 10, L));
        expect(diff).toBeLessThanOrEqual(TOL[dtype]);
      });
    });
  }

  it.each(CASES)(
    "prefill continues a cache that holds tokens (10, then 7, then steps): %s",
    (_, config, withMemory) => {
      const s = setup(config, "float64", withMemory, 4);
      const parallel = s.layer.forward(s.x, { memory: s.memory });
      const cache = s.layer.createCache(B, L);
      s.layer.prefill(slice(s.x, [0, 0, 0], [B, 10, -1]), cache, { memory: s.memory });
      const middle = s.layer.prefill(slice(s.x, [0, 10, 0], [B, 7, -1]), cache, {
        memory: s.memory,
      });
      expect(cache.position).toBe(17);
      expect(
        maxAbsDiff(middle.dataSync(), slice(parallel, [0, 10, 0], [B, 7, -1]).dataSync()),
      ).toBeLessThanOrEqual(1e-10);
      expect(
        rowsDiff(stepThrough(s, cache, 17, L), parallelRows(parallel, 17, L)),
      ).toBeLessThanOrEqual(1e-10);
    },
  );

  it("a ring cache fed by prefill longer than the window keeps only the last window tokens", () => {
    const s = setup({ dModel: 12, heads: 3, window: 5 }, "float64", false);
    const cache = s.layer.createCache(B, 100);
    s.layer.prefill(slice(s.x, [0, 0, 0], [B, 13, -1]), cache);
    // Positions 8..12 live in slots 8%5=3, 4, 0, 1, 2 (no RoPE: a key is k_proj of its token).
    expect(cache.position).toBe(13);
    const keys = s.layer.projectKeysValues(reshape(s.x, [B, 1, L, 12])).k; // [B, 3, 1, L, 4]
    const k12 = slice(keys, [0, 0, 0, 12, 0], [B, 3, 1, 1, 4]).dataSync();
    expect(maxAbsDiff(slice(cache.k, [0, 0, 2, 0], [B, 3, 1, 4]).dataSync(), k12)).toBe(0);
    const k8 = slice(keys, [0, 0, 0, 8, 0], [B, 3, 1, 1, 4]).dataSync();
    expect(maxAbsDiff(slice(cache.k, [0, 0, 3, 0], [B, 3, 1, 4]).dataSync(), k8)).toBe(0);
  });

  it("a step leaves no tensors behind besides its outputs", () => {
    const s = setup({ dModel: 16, heads: 4, kvHeads: 2, window: 5, rope: true }, "float32", true);
    const cache = s.layer.createCache(B, L);
    const xt = reshape(slice(s.x, [0, 0, 0], [B, 1, -1]), [B, -1]);
    const memory = chunkSlots(s.memory!, 0);
    s.layer.step(xt, cache, { memory }).out.dispose(); // warm the RoPE table
    const before = liveMemory().numTensors;
    const result = s.layer.step(xt, cache, { memory });
    expect(liveMemory().numTensors).toBe(before + 3);
    for (const t of [result.out, result.k, result.v]) t.dispose();
    expect(liveMemory().numTensors).toBe(before);
  });
});

describe("stepProjected", () => {
  it("from the layer's own q, k, v projections side by side equals step, token by token", () => {
    const s = setup({ dModel: 16, heads: 4, kvHeads: 2, window: 5, rope: true }, "float64", true);
    const viaStep = s.layer.createCache(B, L);
    const viaProjections = s.layer.createCache(B, L);
    for (let p = 0; p < 9; p++) {
      tidy(() => {
        const xt = reshape(slice(s.x, [0, p, 0], [B, 1, -1]), [B, -1]);
        const memory = chunkSlots(s.memory!, p);
        const a = s.layer.step(xt, viaStep, { memory });
        const qkv = concat(
          [s.layer.q_proj, s.layer.k_proj, s.layer.v_proj].map((l) => l.forward(xt)),
          1,
        );
        const b = s.layer.stepProjected(qkv, viaProjections, { memory });
        for (const key of ["out", "k", "v"] as const)
          expect(maxAbsDiff(a[key].dataSync(), b[key].dataSync()), `${key} at ${p}`).toBe(0);
      });
    }
    expect(maxAbsDiff(viaStep.k.dataSync(), viaProjections.k.dataSync())).toBe(0);
  });

  it("names the projection whose shape is wrong", () => {
    const s = setup({ dModel: 16, heads: 4, kvHeads: 2, window: 5 }, "float32", false);
    const cache = s.layer.createCache(B, L);
    const rng = new Random(3);
    expect(() => s.layer.stepProjected(rng.normal([B, 40]), cache)).toThrow(
      "Attention.stepProjected: qkv must be [batch, 32] ([q | k | v]: (heads 4 + 2 · kvHeads 2) · headDim 4), got [2, 40].",
    );
  });
});

describe("cache sizes", () => {
  it("a ring cache holds window slots: the same bytes after 10 and after 200 steps", () => {
    const layer = new Attention(
      { dModel: 16, heads: 4, kvHeads: 2, window: 6, rope: true },
      { rng: new Random(0) },
    );
    const cache = layer.createCache(3, 50);
    expect(cache).toBeInstanceOf(RingKVCache);
    expect(cache.k.shape).toEqual([3, 2, 6, 4]);
    const x = new Random(1).normal([3, 16]);
    const bytesAt: Record<number, number> = {};
    const buffersAt: Record<number, number> = {};
    for (let i = 1; i <= 200; i++) {
      tidy(() => {
        layer.step(x, cache);
      });
      if (i === 10 || i === 200) {
        bytesAt[i] = cache.bytes();
        buffersAt[i] = liveMemory().numBuffers;
      }
    }
    expect(cache.position).toBe(200);
    expect(bytesAt[10]).toBe(2 * 3 * 2 * 6 * 4 * 4); // k and v, float32
    expect(bytesAt[200]).toBe(bytesAt[10]);
    expect(buffersAt[200]).toBe(buffersAt[10]);
  });

  it("a full cache's bytes are fixed by maxLength; writing past it throws", () => {
    const layer = new Attention({ dModel: 8, heads: 2 }, { rng: new Random(0), dtype: "float64" });
    const cache = layer.createCache(2, 4);
    expect(cache).toBeInstanceOf(FullKVCache);
    expect(cache.bytes()).toBe(2 * 2 * 2 * 4 * 4 * 8);
    const x = new Random(1).normal([2, 8], { dtype: "float64" });
    for (let i = 0; i < 4; i++) {
      tidy(() => {
        layer.step(x, cache);
      });
    }
    expect(cache.bytes()).toBe(2 * 2 * 2 * 4 * 4 * 8);
    const message =
      "FullKVCache: cannot write 1 token(s) at position 4: the cache holds maxLength 4 positions. " +
      "Create a larger cache (createCache(batch, maxLength ≥ 5)).";
    expect(() => layer.step(x, cache)).toThrow(message);
    expect(cache.position).toBe(4);
    const fresh = layer.createCache(2, 4);
    expect(() =>
      layer.prefill(new Random(2).normal([2, 5, 8], { dtype: "float64" }), fresh),
    ).toThrow("Create a larger cache (createCache(batch, maxLength ≥ 5))");
    expect(fresh.position).toBe(0);
    cache.dispose();
    expect(cache.k.isDisposed && cache.v.isDisposed).toBe(true);
  });

  it("picks a full cache when the window covers maxLength, else a ring of window slots", () => {
    const layer = new Attention({ dModel: 8, heads: 2, window: 8 }, { rng: new Random(0) });
    expect(layer.createCache(1, 8)).toBeInstanceOf(FullKVCache);
    expect(layer.createCache(1, 9)).toBeInstanceOf(RingKVCache);
    expect(layer.createCache(1, 9).capacity).toBe(8);
    const full = new Attention({ dModel: 8, heads: 2 }, { rng: new Random(0) });
    expect(full.createCache(1, 1000).capacity).toBe(1000);
  });

  it("refuses a cache that does not fit the layer or the input", () => {
    const layer = new Attention({ dModel: 8, heads: 2, window: 4 }, { rng: new Random(0) });
    const cache = layer.createCache(2, 16);
    expect(() => layer.step(new Random(1).normal([3, 8]), cache)).toThrow(
      "Attention.step: the cache holds batch 2, kvHeads 2, headDim 4; this call needs batch 3",
    );
    const wrongRing = new RingKVCache({
      batch: 2,
      kvHeads: 2,
      capacity: 3,
      headDim: 4,
      dtype: "float32",
    });
    expect(() => layer.step(new Random(1).normal([2, 8]), wrongRing)).toThrow(
      "a RingKVCache must have window (3) slots equal to the layer's window (4)",
    );
    expect(() => layer.step(new Random(1).normal([2, 1, 8]), cache)).toThrow(
      "Attention.step: input must be [batch, dModel]",
    );
  });

  it("a full cache created by hand for a windowed layer still applies the window", () => {
    const s = setup({ dModel: 12, heads: 3, window: 5 }, "float64", false);
    const parallel = s.layer.forward(s.x);
    const cache = new FullKVCache({
      batch: B,
      kvHeads: 3,
      capacity: L,
      headDim: 4,
      dtype: "float64",
    });
    s.layer.prefill(slice(s.x, [0, 0, 0], [B, 8, -1]), cache);
    expect(rowsDiff(stepThrough(s, cache, 8, L), parallelRows(parallel, 8, L))).toBeLessThanOrEqual(
      1e-10,
    );
  });
});

describe("steps at a device position (DevicePosition)", () => {
  /** Steps from..to−1 with the position read from the device: one DevicePosition, rewritten. */
  function stepAtDevice(s: Setup, cache: KVCache, from: number, to: number): Float64Array[] {
    const position = zeros([1], { dtype: "int32" });
    const at = new DevicePosition(position, L);
    const rows: Float64Array[] = [];
    for (let p = from; p < to; p++) {
      expect(cache.position).toBe(p);
      assignHost(position, [p]);
      tidy(() => {
        const xt = reshape(slice(s.x, [0, p, 0], [B, 1, -1]), [B, -1]);
        const memory = s.memory && chunkSlots(s.memory, p);
        const { out } = s.layer.step(xt, cache, { at, memory });
        rows.push(Float64Array.from(out.dataSync()));
      });
      expect(cache.position).toBe(p); // the caller moves it on
      cache.advance(1);
    }
    at.dispose();
    position.dispose();
    return rows;
  }

  for (const dtype of ["float32", "float64"] as const) {
    it.each(CASES)(
      `${dtype}: prefill 10, then device steps equal the parallel form: %s`,
      (_, config) => {
        const s = setup(config, dtype, false);
        const parallel = s.layer.forward(s.x);
        const cache = s.layer.createCache(B, L);
        s.layer.prefill(slice(s.x, [0, 0, 0], [B, 10, -1]), cache);
        const diff = rowsDiff(stepAtDevice(s, cache, 10, L), parallelRows(parallel, 10, L));
        expect(diff).toBeLessThanOrEqual(TOL[dtype]);
      },
    );
  }

  it.each(CASES)(
    "stores the same keys as the host-position step and gives its outputs up to rounding: %s",
    (_, config, withMemory) => {
      const s = setup(config, "float64", withMemory);
      const host = s.layer.createCache(B, L);
      const device = s.layer.createCache(B, L);
      const a = stepThrough(s, host, 0, L);
      const b = stepAtDevice(s, device, 0, L);
      expect(rowsDiff(a, b)).toBeLessThanOrEqual(1e-13);
      // RoPE at a device position reads the same table rows: the stored keys are bit for bit.
      expect(maxAbsDiff(host.k.dataSync(), device.k.dataSync())).toBe(0);
      expect(maxAbsDiff(host.v.dataSync(), device.v.dataSync())).toBe(0);
    },
  );

  it("a step keeps one set of derived values per cache geometry, freed by dispose", () => {
    const s = setup({ dModel: 12, heads: 3, window: 5 }, "float32", false);
    const caches = [s.layer.createCache(B, L), s.layer.createCache(B, L)];
    const position = zeros([1], { dtype: "int32" });
    const at = new DevicePosition(position, L);
    const xt = reshape(slice(s.x, [0, 0, 0], [B, 1, -1]), [B, -1]);
    s.layer.step(xt, caches[0], { at }).out.dispose();
    const before = liveMemory().numTensors;
    for (const cache of caches) {
      const { out, k, v } = s.layer.step(xt, cache, { at });
      for (const t of [out, k, v]) t.dispose();
    }
    expect(liveMemory().numTensors).toBe(before);
    expect(at.slots(caches[1])).toBe(at.slots(caches[0]));
    at.dispose();
    expect(liveMemory().numTensors).toBe(before - 2); // the ring's slot and mask
    position.dispose();
  });

  it("refuses what it cannot do, naming the fix", () => {
    const s = setup({ dModel: 12, heads: 3, window: 5 }, "float32", false);
    const position = zeros([1], { dtype: "int32" });
    const at = new DevicePosition(position, L);
    const xt = reshape(slice(s.x, [0, 0, 0], [B, 1, -1]), [B, -1]);
    const memory = {
      k: zeros([B, 3, 2, 4]),
      v: zeros([B, 3, 3, 4]),
      mask: zeros([B, 2], { dtype: "int32" }),
    };
    expect(() => s.layer.step(xt, s.layer.createCache(B, L), { at, memory })).toThrow(
      "memory.k/v must be [batch, kvHeads, slots, headDim] = [2, 3, slots, 4]",
    );
    const full = new FullKVCache({
      batch: B,
      kvHeads: 3,
      capacity: L,
      headDim: 4,
      dtype: "float32",
    });
    expect(() => s.layer.step(xt, full, { at })).toThrow(
      "a full cache needs the window (5) to cover its 23 slots; use a RingKVCache",
    );
    expect(() => new DevicePosition(zeros([1]), 4)).toThrow(
      "position must be int32 [1], got float32 [1]",
    );
    expect(() => new DevicePosition(position, 0)).toThrow("bound must be an integer ≥ 1, got 0");
    expect(() => full.advance(L + 1)).toThrow("cannot write 24 token(s) at position 0");
    expect(full.position).toBe(0);
  });
});
