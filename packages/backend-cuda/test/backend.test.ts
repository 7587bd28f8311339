/**
 * Without a GPU (CI): the package imports, registers "cuda" and "cuda-fp32", and every way of
 * asking for them says why CUDA is unavailable; "auto" falls back. With a GPU and a built addon:
 * the conformance suite on cuda-fp32 and the whole-model check against the cpu reference.
 */
import { preset } from "@bmojo/model";
import { BackendUnavailableError, backendByName, init, registeredBackends } from "@bmojo/tensor";
import { runConformance, summaryLine } from "@bmojo/tensor/testing";
import { describe, expect, it } from "vitest";
import { compareModel } from "@bmojo/model/testing";
import { createCudaBackend } from "../src/index.js";

function unavailableReason(): string | null {
  try {
    createCudaBackend({ name: "cuda-probe" }).dispose();
    return null;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

const reason = unavailableReason();
if (reason !== null) console.info(`CUDA tests skipped: ${reason}`);

describe("registration", () => {
  it("registers cuda (above cpu), cuda-fp32 and cuda-bf16 (below cpu)", () => {
    const names = registeredBackends();
    expect(names).toContain("cuda");
    expect(names.indexOf("cuda")).toBeLessThan(names.indexOf("cpu"));
    for (const explicit of ["cuda-fp32", "cuda-bf16"]) {
      expect(names).toContain(explicit);
      expect(names.indexOf(explicit)).toBeGreaterThan(names.indexOf("cpu"));
    }
  });

  it("rejects bad options by name", () => {
    expect(() => createCudaBackend({ matmulPrecision: "fp16" as never })).toThrow(
      /matmulPrecision must be one of tf32, float32, bf16/,
    );
    expect(() => createCudaBackend({ device: -1 })).toThrow(/device must be a CUDA device ordinal/);
  });
});

describe.skipIf(reason === null)(`without CUDA (${reason ?? "CUDA is available"})`, () => {
  it("init({ backend: 'cuda' }) says why CUDA is unavailable", async () => {
    const err = await init({ backend: "cuda" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BackendUnavailableError);
    expect((err as Error).message).toMatch(/Backend 'cuda' is unavailable: .*(nvcc|addon|CUDA)/);
  });

  it("init({ backend: 'auto' }) falls back to cpu and reports the reason", async () => {
    const report = await init({ backend: "auto" });
    expect(report.backend).toBe("cpu");
    const skipped = report.skipped.find((s) => s.name === "cuda");
    expect(skipped?.reason).toMatch(/addon|nvcc|CUDA/);
  });
});

describe.skipIf(reason !== null)(
  `on the GPU${reason === null ? "" : ` (skipped: ${reason})`}`,
  () => {
    it("passes the conformance suite (strict float32 matmuls)", async () => {
      const report = await runConformance(await backendByName("cuda-fp32"));
      console.info(summaryLine(report));
      expect(report.failed).toBe(0);
    }, 600_000);

    it("gives the cpu's logits and gradients for a small B'MOJO", async () => {
      const cpu = await backendByName("cpu");
      const r = await compareModel(
        preset("bmojo", "small", { seed: 3 }),
        cpu,
        await backendByName("cuda-fp32"),
        [2, 160],
      );
      expect(r.logitsRelError).toBeLessThan(2e-3);
      expect(r.decodeRelError).toBeLessThan(2e-3);
      // The compiled step (position on the device, admissions on the host) decodes as well.
      expect(r.replayRelError).not.toBeNull();
      expect(r.replayRelError).toBeLessThan(2e-3);
      expect(r.gradRelError).toBeLessThan(2e-3);
    }, 600_000);
  },
);
