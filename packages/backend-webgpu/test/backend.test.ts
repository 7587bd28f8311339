/**
 * With an adapter (CI: Mesa's lavapipe through Dawn): the conformance suite and a whole-model
 * check against the reference cpu backend. Without one: init says what is missing and "auto"
 * falls back.
 */
import { preset } from "@bmojo/model";
import { compareModel } from "@bmojo/model/testing";
import { BackendUnavailableError, backendByName, init, registeredBackends } from "@bmojo/tensor";
import { runConformance, summaryLine } from "@bmojo/tensor/testing";
import { afterAll, describe, expect, it } from "vitest";
import { type WebGpuBackend, createWebGpuBackend } from "../src/index.js";
import { attentionTuning } from "../src/kernels/attention.js";

let backend: WebGpuBackend | null = null;
let reason: string | null = null;
try {
  backend = await createWebGpuBackend();
} catch (err) {
  reason = err instanceof Error ? err.message : String(err);
  console.info(`WebGPU tests skipped: ${reason}`);
}
afterAll(() => backend?.dispose());

describe("registration", () => {
  it("registers webgpu above cpu", () => {
    const names = registeredBackends();
    expect(names.indexOf("webgpu")).toBeGreaterThanOrEqual(0);
    expect(names.indexOf("webgpu")).toBeLessThan(names.indexOf("cpu"));
  });
});

describe.skipIf(reason === null)(
  `without an adapter (${reason ?? "an adapter is present"})`,
  () => {
    it("init({ backend: 'webgpu' }) says what is missing", async () => {
      const err = await init({ backend: "webgpu" }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(BackendUnavailableError);
      expect((err as Error).message).toMatch(
        /Backend 'webgpu' is unavailable: .*(adapter|webgpu|Vulkan)/,
      );
    });
  },
);

describe.skipIf(reason !== null)(`on ${backend?.adapter.description ?? "no adapter"}`, () => {
  it("passes the conformance suite", async () => {
    const report = await runConformance(backend as WebGpuBackend, {
      onResult: (r) => {
        if (r.status === "failed") console.error(`FAIL ${r.name}: ${r.message}`);
      },
    });
    console.info(summaryLine(report));
    expect(report.failed).toBe(0);
    expect(report.passed).toBeGreaterThan(600);
  }, 600_000);

  it("passes the attention cases with forced key splits and a small workgroup-memory budget", async () => {
    // 600 bytes hold the smallest tiles of head dims below 10 only (larger ones say so).
    for (const [splits, sharedBytes, filter] of [
      [3, 0, /attention/],
      [0, 600, /^(?!.* Dh=\d\d).*attention/],
    ] as const) {
      Object.assign(attentionTuning, { splits, sharedBytes });
      try {
        const report = await runConformance(backend as WebGpuBackend, { filter });
        expect(report.failed, `splits ${splits}, sharedBytes ${sharedBytes}`).toBe(0);
        expect(report.passed).toBeGreaterThan(20);
      } finally {
        Object.assign(attentionTuning, { splits: 0, sharedBytes: 0 });
      }
    }
  }, 600_000);

  for (const positions of ["none", "rope"] as const) {
    it(`gives the cpu's logits and gradients for a small B'MOJO (positions ${positions})`, async () => {
      const cpu = await backendByName("cpu");
      const r = await compareModel(
        preset("bmojo", "small", { seed: 3, bmojo: { positions } }),
        cpu,
        backend as WebGpuBackend,
        [2, 160],
      );
      expect(r.logitsRelError).toBeLessThan(2e-3);
      expect(r.decodeRelError).toBeLessThan(2e-3);
      // The compiled step (position on the device, admissions on the host) decodes as well.
      expect(r.replayRelError).not.toBeNull();
      expect(r.replayRelError).toBeLessThan(2e-3);
      expect(r.gradRelError).toBeLessThan(2e-3);
    }, 600_000);
  }
});
