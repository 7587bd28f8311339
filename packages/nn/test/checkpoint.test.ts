import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Random, type Tensor } from "@bmojo/tensor";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  Linear,
  Module,
  RMSNorm,
  encodeSafetensors,
  loadCheckpoint,
  loadParametersInto,
  readCheckpoint,
  saveCheckpoint,
} from "../src/index.js";

interface TinyConfig {
  dIn: number;
  dOut: number;
  dtype?: "float32" | "float64";
  extra?: boolean;
}

/** Linear + RMSNorm, optionally with a conv1d-like [E, 1, K] parameter. */
class Tiny extends Module {
  readonly proj: Linear;
  readonly norm: RMSNorm;
  constructor(config: TinyConfig, seed: number) {
    super();
    const rng = new Random(seed);
    const dtype = config.dtype ?? "float32";
    this.proj = this.registerModule(
      "proj",
      new Linear(config.dIn, config.dOut, { rng, bias: true, dtype }),
    );
    this.norm = this.registerModule("norm", new RMSNorm(config.dOut, { dtype }));
    if (config.extra) this.registerParameter("conv.weight", rng.normal([4, 1, 3], { dtype }));
  }
}

const snapshot = (m: Module): Record<string, number[]> =>
  Object.fromEntries(
    m.namedParameters().map(([n, t]: [string, Tensor]) => [n, Array.from(t.dataSync())]),
  );

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "bmojo-nn-ckpt-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("checkpoints", () => {
  it("save → read → load gives identical parameters and the config", async () => {
    const config = { dIn: 3, dOut: 2, extra: true, note: "ünïcode ✓" };
    const model = new Tiny(config, 1);
    const path = join(dir, "model.safetensors");
    await saveCheckpoint(path, model, config);
    expect(await readdir(dir)).toEqual(["model.safetensors"]);

    const ckpt = await readCheckpoint(path);
    expect(ckpt.config).toEqual(config);
    expect(ckpt.metadata.format).toBe("bmojo");
    expect(Object.keys(ckpt.tensors)).toEqual([
      "conv.weight",
      "proj.weight",
      "proj.bias",
      "norm.weight",
    ]);
  });

  it("round-trips every parameter bit for bit (float32 and float64)", async () => {
    for (const dtype of ["float32", "float64"] as const) {
      const config: TinyConfig = { dIn: 3, dOut: 2, extra: true, dtype };
      const model = new Tiny(config, 1);
      const path = join(dir, `${dtype}.safetensors`);
      await saveCheckpoint(path, model, config);
      const fresh = new Tiny(config, 2);
      expect(snapshot(fresh)).not.toEqual(snapshot(model));
      const { config: loadedConfig, report } = await loadCheckpoint(path, fresh);
      expect(loadedConfig).toEqual(config);
      expect(report).toEqual({
        loaded: ["conv.weight", "proj.weight", "proj.bias", "norm.weight"],
        ignored: [],
      });
      expect(snapshot(fresh)).toEqual(snapshot(model));
    }
  });

  it("fails clearly on a truncated or config-less file", async () => {
    const model = new Tiny({ dIn: 3, dOut: 2 }, 1);
    const path = join(dir, "model.safetensors");
    await saveCheckpoint(path, model, { dIn: 3, dOut: 2 });
    const bytes = await readFile(path);
    const truncated = join(dir, "truncated.safetensors");
    await writeFile(truncated, bytes.subarray(0, bytes.length - 3));
    await expect(readCheckpoint(truncated)).rejects.toThrow(
      `readCheckpoint(${truncated}): decodeSafetensors: truncated: tensor norm.weight needs bytes [32, 40) but the data section has only 37 bytes.`,
    );
    await writeFile(truncated, bytes.subarray(0, 6));
    await expect(readCheckpoint(truncated)).rejects.toThrow("the file is 6 bytes long");
    const bare = join(dir, "bare.safetensors");
    await writeFile(bare, encodeSafetensors({}));
    await expect(readCheckpoint(bare)).rejects.toThrow(
      `readCheckpoint(${bare}): no model config (expected JSON in __metadata__.config)`,
    );
  });

  it("lists every mismatch in one error and writes nothing", async () => {
    const source = new Tiny({ dIn: 3, dOut: 2 }, 1);
    const path = join(dir, "model.safetensors");
    await saveCheckpoint(path, source, {});
    const { tensors } = await readCheckpoint(path);
    tensors["extra.weight"] = { dtype: "float32", shape: [1], data: new Float32Array([1]) };

    const target = new Tiny({ dIn: 4, dOut: 2, extra: true }, 3); // proj.weight [2, 4], conv.weight not in the file
    const before = snapshot(target);
    expect(() => loadParametersInto(target, tensors)).toThrow(
      "checkpoint does not match the model: " +
        "missing conv.weight [4, 1, 3]; " +
        "shape of proj.weight is [2, 3] in the checkpoint but [2, 4] in the model; " +
        "unexpected extra.weight (pass { strict: false } to ignore unexpected tensors).",
    );
    expect(snapshot(target)).toEqual(before);

    const wide = new Tiny({ dIn: 3, dOut: 2, dtype: "float64" }, 3);
    const wideBefore = snapshot(wide);
    expect(() => loadParametersInto(wide, tensors, { strict: false })).toThrow(
      "checkpoint does not match the model: dtype of proj.weight is float32 (F32) in the checkpoint but float64 in the model; " +
        "dtype of proj.bias is float32 (F32) in the checkpoint but float64 in the model; " +
        "dtype of norm.weight is float32 (F32) in the checkpoint but float64 in the model.",
    );
    expect(snapshot(wide)).toEqual(wideBefore);

    const same = new Tiny({ dIn: 3, dOut: 2 }, 3);
    expect(() => loadParametersInto(same, tensors)).toThrow("unexpected extra.weight");
    expect(loadParametersInto(same, tensors, { strict: false })).toEqual({
      loaded: ["proj.weight", "proj.bias", "norm.weight"],
      ignored: ["extra.weight"],
    });
    expect(snapshot(same)).toEqual(snapshot(source));
  });

  it("accepts a conv1d weight stored [E, K] for a [E, 1, K] parameter", () => {
    const model = new Tiny({ dIn: 3, dOut: 2, extra: true }, 1);
    const values = Float32Array.from({ length: 12 }, (_, i) => i - 5.5);
    const tensors = Object.fromEntries(
      model
        .namedParameters()
        .map(([n, t]) => [n, { dtype: t.dtype, shape: [...t.shape], data: t.dataSync() }]),
    );
    tensors["conv.weight"] = { dtype: "float32", shape: [4, 3], data: values };
    loadParametersInto(model, tensors);
    const conv = model.parameters()["conv.weight"];
    expect(conv.shape).toEqual([4, 1, 3]);
    expect(Array.from(conv.dataSync())).toEqual(Array.from(values));
    tensors["conv.weight"] = { dtype: "float32", shape: [3, 4], data: values };
    expect(() => loadParametersInto(model, tensors)).toThrow(
      "shape of conv.weight is [3, 4] in the checkpoint but [4, 1, 3] in the model",
    );
  });

  it("leaves the previous file byte-for-byte intact and no temp file when a save fails", async () => {
    const model = new Tiny({ dIn: 3, dOut: 2 }, 1);
    const path = join(dir, "model.safetensors");
    await saveCheckpoint(path, model, { version: 1 });
    const original = await readFile(path);

    await expect(saveCheckpoint(path, model, { big: 1n })).rejects.toThrow(
      "saveCheckpoint: config cannot be converted to JSON",
    );
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    await expect(saveCheckpoint(path, model, cyclic)).rejects.toThrow(
      "config cannot be converted to JSON",
    );
    await expect(saveCheckpoint(path, model, undefined)).rejects.toThrow(
      "config must be JSON data",
    );

    // The rename fails (the destination is a non-empty directory) after the temp file was written.
    const blocked = join(dir, "blocked");
    await mkdir(blocked);
    await writeFile(join(blocked, "keep"), "x");
    await expect(saveCheckpoint(blocked, model, {})).rejects.toThrow(
      `saveCheckpoint: could not write ${blocked}`,
    );

    // The directory does not exist.
    const missingDir = join(dir, "nope", "model.safetensors");
    await expect(saveCheckpoint(missingDir, model, {})).rejects.toThrow(
      `saveCheckpoint: could not write ${missingDir}`,
    );

    // A parameter cannot be read.
    const broken = new Tiny({ dIn: 3, dOut: 2 }, 1);
    broken.norm.weight.dispose();
    await expect(saveCheckpoint(path, broken, {})).rejects.toThrow("was disposed");

    expect((await readdir(dir)).sort()).toEqual(["blocked", "model.safetensors"]);
    expect(await readdir(blocked)).toEqual(["keep"]);
    expect(Buffer.compare(await readFile(path), original)).toBe(0);
    expect((await readCheckpoint(path)).config).toEqual({ version: 1 });
  });
});
