import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { LanguageModel, loadModel, preset, saveModel } from "../src/index.js";
import { randomIds } from "./helpers.js";

describe("checkpoints", () => {
  const roundTrips = [
    ["B'MOJO", preset("bmojo", "tiny", { seed: 4 })],
    ["B'MOJO with RoPE", preset("bmojo", "tiny", { seed: 4, bmojo: { positions: "rope" } })],
    ["NoPE Transformer", preset("transformer", "tiny", { seed: 4, positions: "none" })],
  ] as const;
  for (const [name, config] of roundTrips) {
    it(`a save / load round trip gives identical logits (${name})`, async () => {
      const dir = await mkdtemp(join(tmpdir(), "bmojo-model-"));
      const model = new LanguageModel(config);
      const path = join(dir, "model.safetensors");
      await saveModel(path, model);
      const loaded = await loadModel(path);
      expect(loaded.config).toEqual(model.config);
      const ids = randomIds(2, 11, 64);
      expect(Array.from(loaded.forward(ids).dataSync())).toEqual(
        Array.from(model.forward(ids).dataSync()),
      );
    });
  }

  it("a truncated checkpoint fails with a clear message and a failed save leaves the previous file intact", async () => {
    const dir = await mkdtemp(join(tmpdir(), "bmojo-model-"));
    const path = join(dir, "model.safetensors");
    const model = new LanguageModel(preset("mamba", "tiny"));
    await saveModel(path, model);
    const bytes = await readFile(path);
    const truncated = join(dir, "truncated.safetensors");
    await writeFile(truncated, bytes.subarray(0, bytes.length - 100));
    await expect(loadModel(truncated)).rejects.toThrow(/truncated/);
    // A model whose parameters cannot be read fails mid-save: the old file must survive intact.
    const broken = new LanguageModel(preset("mamba", "tiny", { seed: 9 }));
    broken.embedding.weight.dispose();
    await expect(saveModel(path, broken)).rejects.toThrow(/disposed/);
    expect(Buffer.compare(await readFile(path), bytes)).toBe(0);
  });

  it("a checkpoint whose parameters do not match the config fails naming each mismatch", async () => {
    const dir = await mkdtemp(join(tmpdir(), "bmojo-model-"));
    const path = join(dir, "model.safetensors");
    const model = new LanguageModel(preset("bmojo", "tiny"));
    await saveModel(path, model);
    // Rewrite the stored config to claim a different width: every shape then mismatches.
    const bytes = await readFile(path);
    const headerLength = Number(bytes.readBigUInt64LE(0));
    const header = JSON.parse(bytes.subarray(8, 8 + headerLength).toString("utf8"));
    const config = JSON.parse(header.__metadata__.config);
    config.vocabSize = 65;
    header.__metadata__.config = JSON.stringify(config);
    let text = JSON.stringify(header);
    text += " ".repeat((8 - ((8 + text.length) % 8)) % 8);
    const prefix = Buffer.alloc(8);
    prefix.writeBigUInt64LE(BigInt(text.length));
    const edited = join(dir, "edited.safetensors");
    await writeFile(
      edited,
      Buffer.concat([prefix, Buffer.from(text), bytes.subarray(8 + headerLength)]),
    );
    await expect(loadModel(edited)).rejects.toThrow(/embedding\.weight.*\[64, 32\].*\[65, 32\]/s);
  });
});
