import { WasmBackend, createWasmBackend } from "@bmojo/backend-wasm";
import { BackendUnavailableError, getBackend, registerBackend } from "@bmojo/tensor";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
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

  it("labels wasm with its threading and names both reasons when cpu is the last resort", () => {
    const wasm = {
      name: "wasm",
      threads: 2,
      threading: "2 threads (shared memory)",
      webgpuUnavailable: "navigator.gpu offers no adapter.",
    };
    expect(backendLabel(wasm)).toBe("wasm · 2 threads (shared memory)");
    expect(webGpuNotice(wasm)).toBe(
      "WebGPU is unavailable, so this runs on the wasm backend (WebAssembly SIMD on the CPU) instead: navigator.gpu offers no adapter.",
    );
    expect(backendLabel({ name: "wasm", threading: "2 threads (shared memory)" })).toBe(
      "wasm · 2 threads (shared memory)",
    );
    expect(webGpuNotice({ name: "wasm", threads: 2, threading: "2 threads" })).toBeNull();
    expect(
      webGpuNotice({
        name: "cpu",
        webgpuUnavailable: "no adapter",
        wasmUnavailable: "WebAssembly SIMD is unsupported.",
      }),
    ).toBe(
      "WebGPU is unavailable (no adapter) and the wasm backend did not start (WebAssembly SIMD is unsupported), so this runs on the reference cpu backend.",
    );
  });
});

describe("startBackend", () => {
  it("falls back to wasm under 'auto' where there is no navigator.gpu (Node), saying why", async () => {
    const { backend, info } = await startBackend("auto");
    expect(info.name).toBe("wasm");
    expect(backend).toBeInstanceOf(WasmBackend);
    expect(backend).toBe(getBackend());
    expect(info.threads).toBe((backend as WasmBackend).threads);
    expect(info.threading).toBe((backend as WasmBackend).threading);
    expect(info.webgpuUnavailable).toContain("no navigator.gpu");
    expect(info.wasmUnavailable).toBeUndefined();
    await expect(startBackend("webgpu")).rejects.toThrow(/WebGPU was requested but/);
  });

  it("forces wasm or cpu by name, with no fallback notice", async () => {
    const wasm = await startBackend("wasm");
    expect(wasm.info.name).toBe("wasm");
    expect(wasm.info.webgpuUnavailable).toBeUndefined();
    const cpu = await startBackend("cpu");
    expect(cpu.info).toEqual({ name: "cpu" });
    expect(cpu.backend).toBe(getBackend());
  });

  describe("where the wasm backend cannot start", () => {
    const reason = "WebAssembly SIMD is unsupported by this engine.";
    beforeAll(() => {
      registerBackend(
        "wasm",
        () => {
          throw new BackendUnavailableError("wasm", reason);
        },
        1,
      );
    });
    afterAll(() => {
      registerBackend("wasm", () => createWasmBackend(), 1);
    });

    it("'auto' takes the reference cpu backend and gives both reasons", async () => {
      const { backend, info } = await startBackend("auto");
      expect(backend.name).toBe("cpu");
      expect(info.name).toBe("cpu");
      expect(info.webgpuUnavailable).toContain("no navigator.gpu");
      expect(info.wasmUnavailable).toBe("WebAssembly SIMD is unsupported by this engine");
      expect(webGpuNotice(info)).toContain(
        "the wasm backend did not start (WebAssembly SIMD is unsupported by this engine), so this runs on the reference cpu backend",
      );
    });

    it("'wasm' fails, naming the reason and the other choices", async () => {
      await expect(startBackend("wasm")).rejects.toThrow(
        'The wasm backend was requested but it cannot start here: WebAssembly SIMD is unsupported by this engine. Choose "auto" or "cpu (reference)" instead.',
      );
    });
  });
});
