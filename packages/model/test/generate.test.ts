import { Random, tensor } from "@bmojo/tensor";
import { describe, expect, it } from "vitest";
import { LanguageModel, generate, generateTokens, preset, sampleToken } from "../src/index.js";

const model = new LanguageModel(preset("bmojo", "tiny", { window: 4, seed: 3 }));
const prompt = [1, 5, 9, 2, 7, 3];

describe("generate", () => {
  it("greedy decoding follows the argmax of the parallel forward", async () => {
    const { tokens, stopReason } = await generate(model, prompt, { maxTokens: 6, temperature: 0 });
    expect(stopReason).toBe("maxTokens");
    expect(tokens).toHaveLength(6);
    // Each greedy token is the argmax of the parallel forward's last logits on the sequence so far.
    const sequence = [...prompt];
    for (const token of tokens) {
      const logits = model
        .forward(tensor(Int32Array.from(sequence), [1, sequence.length]))
        .dataSync();
      const last = logits.subarray((sequence.length - 1) * 64, sequence.length * 64);
      let best = 0;
      for (let v = 1; v < 64; v++) if (last[v] > last[best]) best = v;
      expect(token).toBe(best);
      sequence.push(token);
    }
  });

  it("is reproducible per seed, streams through an async iterator and a callback, and stops on stop tokens", async () => {
    const a = await generate(model, prompt, { maxTokens: 12, seed: 7, topK: 10, topP: 0.9 });
    const b = await generate(model, prompt, { maxTokens: 12, seed: 7, topK: 10, topP: 0.9 });
    expect(a.tokens).toEqual(b.tokens);
    const streamed: number[] = [];
    for await (const token of generateTokens(model, prompt, {
      maxTokens: 12,
      seed: 7,
      topK: 10,
      topP: 0.9,
    }))
      streamed.push(token);
    expect(streamed).toEqual(a.tokens);
    const seen: [number, number][] = [];
    await generate(model, prompt, {
      maxTokens: 3,
      seed: 7,
      topK: 10,
      topP: 0.9,
      onToken: (t, i) => seen.push([t, i]),
    });
    expect(seen).toEqual(a.tokens.slice(0, 3).map((t, i) => [t, i]));
    const stopAt = a.tokens[4];
    const stopped = await generate(model, prompt, {
      maxTokens: 12,
      seed: 7,
      topK: 10,
      topP: 0.9,
      stopTokens: [stopAt],
    });
    expect(stopped.stopReason).toBe("stopToken");
    expect(stopped.tokens).toEqual(a.tokens.slice(0, a.tokens.indexOf(stopAt) + 1));
  });

  it("stops when its AbortSignal fires", async () => {
    const controller = new AbortController();
    const result = await generate(model, prompt, {
      maxTokens: 50,
      onToken: (_t, i) => {
        if (i === 2) controller.abort();
      },
      signal: controller.signal,
    });
    expect(result.stopReason).toBe("aborted");
    expect(result.tokens).toHaveLength(3);
  });

  it("samples with top-k / top-p / temperature as specified", () => {
    const logits = [0, 3, 1, 2];
    const rng = new Random(1);
    expect(sampleToken(logits, { temperature: 0 }, rng)).toBe(1);
    for (let i = 0; i < 50; i++) expect(sampleToken(logits, { topK: 1 }, rng)).toBe(1);
    for (let i = 0; i < 50; i++) expect([1, 3]).toContain(sampleToken(logits, { topK: 2 }, rng));
    // p(1) = e³/(e⁰+e³+e¹+e²) ≈ 0.644 < 0.7, so top-p 0.7 keeps tokens 1 and 3.
    for (let i = 0; i < 50; i++) expect([1, 3]).toContain(sampleToken(logits, { topP: 0.7 }, rng));
    const counts = [0, 0, 0, 0];
    for (let i = 0; i < 4000; i++) counts[sampleToken(logits, {}, rng)]++;
    const z = 1 + Math.exp(3) + Math.exp(1) + Math.exp(2);
    expect(Math.abs(counts[1] / 4000 - Math.exp(3) / z)).toBeLessThan(0.03);
  });

  it("rejects bad options, naming them", async () => {
    await expect(generate(model, [], { maxTokens: 1 })).rejects.toThrow(
      "generate: prompt must hold at least one token id.",
    );
    await expect(generate(model, prompt, { maxTokens: 2, topP: 0 })).rejects.toThrow(
      "generate: topP must be in (0, 1], got 0.",
    );
    await expect(generate(model, [1, 99], { maxTokens: 2 })).rejects.toThrow(
      "ids: token id 99 at flat position 1 is out of range for vocabSize 64; ids must be in [0, 64).",
    );
    const full = new LanguageModel(preset("transformer", "tiny", { maxLength: 16 }));
    await expect(generate(full, prompt, { maxTokens: 20 })).rejects.toThrow(
      "generate: prompt (6) + maxTokens (20) exceeds maxLength (16) of the full-attention cache; raise maxLength in the model config.",
    );
  });

  it("shows what each B'MOJO layer holds in eidetic memory during generation", async () => {
    let memory: ReturnType<LanguageModel["eideticMemory"]> = [];
    await generate(model, prompt, {
      maxTokens: 10,
      temperature: 0,
      onCache: (cache) => (memory = model.eideticMemory(cache)),
    });
    expect(memory.map((m) => m.layer)).toEqual([0, 1]);
    for (const { memory: snapshot } of memory) {
      const { positions, scores } = snapshot.sequences[0];
      expect(positions.length).toBe(model.config.bmojo.eideticTokens);
      expect([...positions].sort((x, y) => x - y)).toEqual(positions);
      expect(positions.every((p) => p >= 0 && p < prompt.length + 9)).toBe(true);
      expect(scores.every((s) => s > 0)).toBe(true);
    }
  });
});

describe("generate with a compiled step", () => {
  it("a Mamba model samples the same tokens replaying its step as stepping eagerly", async () => {
    const mamba = new LanguageModel(
      preset("mamba", "tiny", { seed: 4, layers: "mamba,mamba:mlp" }),
    );
    expect(mamba.compileStepBlocker()).toBeNull();
    const options = { maxTokens: 16, seed: 9, topK: 20 };
    const eager = await generate(mamba, prompt, { ...options, compile: false });
    const replayed = await generate(mamba, prompt, options);
    expect(replayed.tokens).toEqual(eager.tokens);
    const greedy = await generate(mamba, prompt, { maxTokens: 8, temperature: 0 });
    const greedyEager = await generate(mamba, prompt, {
      maxTokens: 8,
      temperature: 0,
      compile: false,
    });
    expect(greedy.tokens).toEqual(greedyEager.tokens);
    // While another compiled step holds the backend, generation steps eagerly, with the same tokens.
    const cache = mamba.createCache(1);
    const held = await mamba.compileStep(cache);
    expect(mamba.compileStepBlocker()).toMatch(/already holds a captured program/);
    expect((await generate(mamba, prompt, options)).tokens).toEqual(eager.tokens);
    held.dispose();
    mamba.disposeCache(cache);
    expect(mamba.compileStepBlocker()).toBeNull();
    mamba.dispose();
  });
});

describe("inference memory is constant in the sequence length", () => {
  for (const plan of ["mamba", "swa", "bmojo", "hybrid", "bmojo-f"] as const) {
    it(`${plan}: state bytes after 1k and 16k prompt tokens are equal`, async () => {
      const lm = new LanguageModel(
        preset(plan, "tiny", { window: 16, maxLength: 1 << 15, seed: 1 }),
      );
      const bytesAfter = async (length: number) => {
        const cache = lm.createCache(1);
        const ids = tensor(new Random(length).intArray(length, 0, 64), [1, length]);
        (await lm.prefill(ids, cache)).dispose();
        (await lm.step(tensor(Int32Array.of(3), [1]), cache)).dispose();
        const bytes = lm.cacheBytes(cache);
        lm.disposeCache(cache);
        return bytes;
      };
      const short = await bytesAfter(1024);
      expect(await bytesAfter(16384)).toBe(short);
    });
  }
});
