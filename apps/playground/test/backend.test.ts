import { describe, expect, it } from "vitest";
import { backendLabel, webGpuNotice } from "../src/backend-notice.js";
import { adapterName, missingWebGpuReason, startBackend } from "../src/backend.js";

describe("adapterName", () => {
  it("joins the distinct non-empty fields of the adapter info", () => {
    expect(
      adapterName({ vendor: "google", architecture: "swiftshader", device: "", description: "" }),
    ).toBe("google swiftshader");
    expect(adapterName({ vendor: "nvidia", architecture: "hopper", description: "nvidia" })).toBe(
      "nvidia hopper",
    );
    expect(adapterName({})).toBe("unnamed adapter");
  });
});

describe("missingWebGpuReason", () => {
  it("is null with navigator.gpu, and names the secure-context rule or the flag without it", () => {
    expect(missingWebGpuReason({ navigator: { gpu: {} } })).toBeNull();
    expect(missingWebGpuReason({ navigator: {}, isSecureContext: false })).toContain("https://");
    expect(missingWebGpuReason({ navigator: {}, isSecureContext: true })).toContain(
      "--enable-unsafe-webgpu",
    );
  });
});

describe("the backend notice", () => {
  it("labels webgpu with its adapter and says why WebGPU was not used", () => {
    expect(backendLabel({ name: "webgpu", adapter: "google swiftshader" })).toBe(
      "webgpu (google swiftshader)",
    );
    expect(webGpuNotice({ name: "webgpu", adapter: "google swiftshader" })).toBeNull();
    expect(webGpuNotice({ name: "cpu", webgpuUnavailable: "no adapter." })).toBe(
      "WebGPU is unavailable, so this runs on the reference cpu backend instead: no adapter.",
    );
  });

  it("falls back to cpu under 'auto' where there is no navigator.gpu (Node), saying why", async () => {
    const { info } = await startBackend("auto");
    expect(info.name).toBe("cpu");
    expect(info.webgpuUnavailable).toContain("no navigator.gpu");
    await expect(startBackend("webgpu")).rejects.toThrow(/WebGPU was requested but/);
  });
});
