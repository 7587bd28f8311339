import { CpuBackend, tensor } from "@bmojo/tensor";
import { describe, expect, it } from "vitest";
import { LanguageModel, type ModelCache, preset } from "../src/index.js";

const prompt = [
  [3, 9, 1, 4, 1, 5, 9, 2],
  [6, 5, 3, 5, 8, 9, 7, 9],
];
const tokens = [
  [2, 6],
  [5, 3],
  [0, 63],
  [17, 4],
  [8, 8],
];

async function prefilled(model: LanguageModel): Promise<ModelCache> {
  const cache = model.createCache(2);
  const ids = tensor(Int32Array.from(prompt.flat()), [2, prompt[0].length], {
    dtype: "int32",
    backend: model.embedding.weight.backend,
  });
  (await model.prefill(ids, cache)).dispose();
  ids.dispose();
  return cache;
}

describe("LanguageModel.compileStep", () => {
  it("replays step bit for bit on a Mamba model with MLPs, and leaves the cache where step does", async () => {
    const backend = new CpuBackend("cpu-capture");
    for (const plan of ["mamba", "mamba-mlp"] as const) {
      const layers = plan === "mamba" ? "mamba,mamba" : "mamba:mlp,mamba:mlp";
      const model = new LanguageModel(preset("mamba", "tiny", { seed: 5, layers }), { backend });
      const eager = await prefilled(model);
      const replayed = await prefilled(model);
      const compiled = await model.compileStep(replayed);
      expect(compiled.size).toBeGreaterThan(10 * model.blocks.length);
      for (const step of tokens) {
        const ids = tensor(Int32Array.from(step), [2], { dtype: "int32", backend });
        const want = await model.step(ids, eager);
        ids.dispose();
        const got = await compiled.run(step);
        expect(Array.from(got.dataSync())).toEqual(Array.from(want.dataSync()));
        want.dispose();
      }
      expect(replayed.position).toBe(eager.position);
      // The state itself: a further eager step from each cache agrees.
      const next = tensor(Int32Array.of(1, 2), [2], { dtype: "int32", backend });
      const a = await model.step(next, eager);
      const b = await model.step(next, replayed);
      expect(Array.from(b.dataSync())).toEqual(Array.from(a.dataSync()));
      for (const t of [a, b, next]) t.dispose();
      compiled.dispose();
      model.disposeCache(eager);
      model.disposeCache(replayed);
      model.dispose();
    }
    expect(backend.numBuffers()).toBe(0);
  });

  it("frees every buffer it reserved once disposed, and refuses bad tokens, changed weights and a second live program", async () => {
    const backend = new CpuBackend("cpu-capture");
    const model = new LanguageModel(preset("mamba", "tiny", { seed: 1 }), { backend });
    const cache = await prefilled(model);
    const compiled = await model.compileStep(cache);
    await expect(compiled.run([1])).rejects.toThrow(/one id per sequence \(2\)/);
    await expect(compiled.run([1, 64])).rejects.toThrow(/token 64 at index 1 is out of range/);
    await expect(compiled.run([1, 2.5])).rejects.toThrow(/token 2.5/);
    expect(model.compileStepBlocker()).toMatch(/already holds a captured program/);
    await expect(model.compileStep(cache)).rejects.toThrow(
      /compileStep: backend 'cpu-capture' already holds a captured program/,
    );
    const weight = model.lm_head.weight;
    weight.storage.bump();
    await expect(compiled.run([1, 2])).rejects.toThrow(
      /parameter 'lm_head.weight' was written after compileStep/,
    );
    compiled.dispose();
    await expect(compiled.run([1, 2])).rejects.toThrow(/disposed/);
    model.disposeCache(cache);
    model.dispose();
    expect(backend.numBuffers()).toBe(0);
  });

  it("with argmax feedback, replays greedy decoding on the device as eager steps on their argmax do", async () => {
    const backend = new CpuBackend("cpu-capture");
    const model = new LanguageModel(
      preset("mamba", "tiny", { seed: 2, layers: "mamba,mamba:mlp" }),
      {
        backend,
      },
    );
    const eager = await prefilled(model);
    const replayed = await prefilled(model);
    const compiled = await model.compileStep(replayed, { feedback: "argmax" });
    const argmaxOf = (logits: Float32Array, row: number) => {
      const v = logits.subarray(row * 64, (row + 1) * 64);
      return v.indexOf(Math.max(...v));
    };
    let next = [2, 6];
    for (let t = 0; t < 6; t++) {
      const ids = tensor(Int32Array.from(next), [2], { dtype: "int32", backend });
      const stepped = await model.step(ids, eager);
      const want = stepped.dataSync() as Float32Array;
      stepped.dispose();
      ids.dispose();
      const got = await (t === 0 ? compiled.run(next) : compiled.replayGreedy());
      expect(Array.from(got.dataSync())).toEqual(Array.from(want));
      next = [argmaxOf(want, 0), argmaxOf(want, 1)];
      expect(Array.from(compiled.tokens.dataSync())).toEqual(next);
    }
    expect(replayed.position).toBe(eager.position);
    compiled.dispose();
    const plain = await model.compileStep(replayed);
    await expect(plain.replayGreedy()).rejects.toThrow(/compiled without feedback/);
    plain.dispose();
    await expect(model.compileStep(replayed, { feedback: "top1" as "argmax" })).rejects.toThrow(
      /feedback must be "none" or "argmax", got top1/,
    );
    model.disposeCache(eager);
    model.disposeCache(replayed);
    model.dispose();
    expect(backend.numBuffers()).toBe(0);
  });

  it("replays attention steps at a device position: Transformer, SWA (its ring wraps) and hybrid give step's logits up to rounding", async () => {
    const backend = new CpuBackend("cpu-capture");
    const plans = [
      ["transformer", {}],
      ["swa", {}],
      ["swa", { positions: "none" }],
      ["hybrid", {}],
    ] as const;
    for (const [plan, overrides] of plans) {
      const model = new LanguageModel(preset(plan, "tiny", { seed: 4, ...overrides }), {
        backend,
      });
      const eager = await prefilled(model);
      const replayed = await prefilled(model);
      const compiled = await model.compileStep(replayed);
      // Prompt 8 fills the window-8 ring: every replay writes over its oldest slot.
      for (const step of [...tokens, ...tokens]) {
        const ids = tensor(Int32Array.from(step), [2], { dtype: "int32", backend });
        const stepped = await model.step(ids, eager);
        const want = stepped.dataSync();
        for (const t of [stepped, ids]) t.dispose();
        const got = (await compiled.run(step)).dataSync();
        let worst = 0;
        for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]));
        expect(worst, `${plan} at position ${replayed.position - 1}`).toBeLessThan(2e-6);
      }
      expect(replayed.position).toBe(eager.position);
      for (const [i, layer] of replayed.layers.entries()) {
        const other = eager.layers[i];
        if (layer.kind === "attention" && other.kind === "attention")
          expect(layer.kv.position).toBe(other.kv.position);
      }
      compiled.dispose();
      model.disposeCache(eager);
      model.disposeCache(replayed);
      model.dispose();
    }
    expect(backend.numBuffers()).toBe(2); // the backend's RoPE tables, kept for the next model
  });

  it("refuses a replay past the positions its caches and RoPE tables cover", async () => {
    const backend = new CpuBackend("cpu-capture");
    const model = new LanguageModel(preset("transformer", "tiny", { seed: 3, maxLength: 10 }), {
      backend,
    });
    expect(model.replayLimit).toBe(10);
    const cache = await prefilled(model);
    const compiled = await model.compileStep(cache);
    await compiled.run([1, 2]);
    await compiled.run([3, 4]);
    await expect(compiled.run([5, 6])).rejects.toThrow(
      "CompiledStep.run: the cache is at position 10, and this model's replayed step covers positions below 10",
    );
    expect(cache.position).toBe(10);
    compiled.dispose();
    model.disposeCache(cache);
    model.dispose();
    const nope = new LanguageModel(preset("swa", "tiny", { positions: "none", maxLength: 10 }), {
      backend,
    });
    expect(nope.replayLimit).toBe(Number.POSITIVE_INFINITY);
    nope.dispose();
    expect(backend.numBuffers()).toBe(2); // the backend's RoPE tables
  });

  it("replays B'MOJO steps across chunk boundaries: step's logits up to rounding, the same eidetic stores", async () => {
    const backend = new CpuBackend("cpu-capture");
    const plans = [
      ["bmojo", {}],
      ["bmojo-f", {}],
      ["bmojo", { bmojo: { positions: "rope" } }],
    ] as const;
    for (const [plan, overrides] of plans) {
      const model = new LanguageModel(preset(plan, "tiny", { seed: 6, ...overrides }), {
        backend,
      });
      expect(model.compileStepBlocker()).toBeNull();
      const eager = await prefilled(model);
      const replayed = await prefilled(model);
      const compiled = await model.compileStep(replayed, { feedback: "argmax" });
      // Prompt 8 ends the first window-8 chunk: the replays refresh the memory at 8 and 16.
      for (const [t, step] of [...tokens, ...tokens].entries()) {
        const ids = tensor(Int32Array.from(step), [2], { dtype: "int32", backend });
        const stepped = await model.step(ids, eager);
        const want = stepped.dataSync();
        for (const x of [stepped, ids]) x.dispose();
        const got = (await compiled.run(step)).dataSync();
        let worst = 0;
        for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]));
        expect(worst, `${plan} at step ${t}`).toBeLessThan(2e-6);
      }
      expect(replayed.position).toBe(eager.position);
      await model.settle(replayed);
      expect(replayed.admitting).toBeNull();
      expect(model.eideticMemory(replayed)).toEqual(model.eideticMemory(eager));
      // Greedy replays admit too (in flight until settled): the next eager step still agrees.
      const greedyStep = compiled.replayGreedy();
      expect(() => model.eideticMemory(replayed)).toThrow(
        "a compiled step's admissions are still in flight; await model.settle(cache) first",
      );
      await greedyStep;
      const greedy = Array.from(compiled.tokens.dataSync());
      const ids = tensor(Int32Array.from(greedy), [2], { dtype: "int32", backend });
      (await model.step(ids, eager)).dispose();
      const next = tensor(Int32Array.of(1, 2), [2], { dtype: "int32", backend });
      const [ta, tb] = [await model.step(next, eager), await model.step(next, replayed)];
      const [a, b] = [ta.dataSync(), tb.dataSync()];
      for (const x of [ta, tb]) x.dispose();
      let worst = 0;
      for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
      expect(worst, `${plan}: an eager step after the replays`).toBeLessThan(2e-6);
      expect(model.eideticMemory(replayed)).toEqual(model.eideticMemory(eager));
      for (const x of [ids, next]) x.dispose();
      compiled.dispose();
      model.disposeCache(eager);
      model.disposeCache(replayed);
      model.dispose();
    }
    expect(backend.numBuffers()).toBe(2); // the RoPE B'MOJO's tables, kept for the next model
  });
});
