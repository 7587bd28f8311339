import { CpuBackend } from "@bmojo/tensor";
import { describe, expect, it } from "vitest";
import { preset } from "../src/index.js";
import { compareModel } from "../src/testing/backend-check.js";

describe("@bmojo/model/testing compareModel", () => {
  const config = preset("bmojo", "tiny", { seed: 1 });
  const reference = new CpuBackend("cpu-a");

  it("finds no difference between two reference cpu backends", async () => {
    const same = await compareModel(config, reference, new CpuBackend("cpu-b"), [1, 24]);
    expect(same.logitsRelError).toBe(0);
    expect(same.decodeRelError).toBe(0);
    expect(same.gradRelError).toBe(0);
    expect(same.loss[0]).toBe(same.loss[1]);
    // B'MOJO's replayed step attends in another summation order: equal up to rounding.
    expect(same.replayRelError).not.toBeNull();
    expect(same.replayRelError).toBeLessThan(1e-6);
  });

  it("also checks the replayed decode where the model compiles its step", async () => {
    const mamba = preset("mamba", "tiny", { seed: 1, layers: "mamba,mamba:mlp" });
    const same = await compareModel(mamba, reference, new CpuBackend("cpu-b"), [1, 24]);
    expect(same.decodeRelError).toBe(0);
    expect(same.replayRelError).toBe(0);
  });

  it("checks a Transformer's replayed decode too: its position lives on the device, its logits agree up to rounding", async () => {
    const transformer = preset("transformer", "tiny", { seed: 1 });
    const same = await compareModel(transformer, reference, new CpuBackend("cpu-b"), [1, 24]);
    expect(same.decodeRelError).toBe(0);
    expect(same.replayRelError).not.toBeNull();
    expect(same.replayRelError).toBeLessThan(1e-6);
  });

  it("catches a backend whose rmsNorm is 1% off", async () => {
    const broken = new CpuBackend("cpu-broken");
    const rmsNorm = broken.kernels.rmsNorm;
    broken.kernels.rmsNorm = (args) => {
      rmsNorm(args);
      // The error is made by reading back, which a capture refuses: skipped while a program lives.
      if (broken.programLive()) return;
      const out = broken.readSync(args.out, "float32", args.rows * args.cols) as Float32Array;
      broken.write(
        args.out,
        out.map((v) => v * 1.01),
      );
    };
    const off = await compareModel(config, reference, broken, [1, 24]);
    expect(off.logitsRelError).toBeGreaterThan(1e-3);
  });

  it("catches a backend whose decode-only scan step is off, through the decode error", async () => {
    const broken = new CpuBackend("cpu-broken-step");
    const step = broken.kernels.selectiveScanStep;
    broken.kernels.selectiveScanStep = (args) => {
      step(args);
      if (broken.programLive()) return; // as above
      const size = args.batch * args.channels;
      const out = broken.readSync(args.out, "float32", size) as Float32Array;
      broken.write(
        args.out,
        out.map((v) => v * 1.01),
      );
    };
    const off = await compareModel(config, reference, broken, [1, 24]);
    expect(off.logitsRelError).toBe(0);
    expect(off.decodeRelError).toBeGreaterThan(1e-4);
  });
});
