import { afterAll, describe, expect, it } from "vitest";
import {
  BACKEND_SPEC_VERSION,
  type Backend,
  BackendUnavailableError,
  CpuBackend,
  UnsupportedKernelError,
  add,
  getBackend,
  init,
  registerBackend,
  setBackend,
  tensor,
} from "../src/index.js";

/** A cpu backend under another name with only some kernels: partial backends are legal. */
function partialBackend(name: string): Backend {
  const cpu = new CpuBackend(name);
  const kernels = { fill: cpu.kernels.fill, copy: cpu.kernels.copy };
  return Object.assign(Object.create(cpu) as Backend, { kernels });
}

afterAll(async () => {
  await setBackend("cpu");
});

describe("backend registry", () => {
  it("init auto picks the highest-priority available backend and says why others were skipped", async () => {
    registerBackend(
      "fake-gpu",
      () => {
        throw new BackendUnavailableError("fake-gpu", "no adapter found (install a Vulkan driver)");
      },
      10,
    );
    registerBackend("partial", () => partialBackend("partial"), 5);
    const report = await init({ backend: "auto" });
    expect(report.backend).toBe("partial");
    expect(report.skipped).toEqual([
      { name: "fake-gpu", reason: "no adapter found (install a Vulkan driver)" },
      { name: "cpu", reason: "lower priority than 'partial'" },
    ]);
    expect(getBackend().name).toBe("partial");
  });

  it("a missing kernel throws UnsupportedKernelError naming kernel and backend", async () => {
    await setBackend("partial");
    const a = tensor([1, 2]);
    let error: unknown;
    try {
      add(a, a);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(UnsupportedKernelError);
    expect((error as Error).message).toBe(
      "Kernel 'binary' is not implemented by backend 'partial'. Use a backend that has it " +
        `(the 'cpu' backend implements every kernel), e.g. setBackend("cpu").`,
    );
    await setBackend("cpu");
  });

  it("refuses a backend built against another spec version, naming both", async () => {
    registerBackend("old", () =>
      Object.assign(new CpuBackend("old"), { specVersion: BACKEND_SPEC_VERSION + 1 }),
    );
    await expect(setBackend("old")).rejects.toThrow(
      `Backend 'old' is unavailable: it implements backend spec v${BACKEND_SPEC_VERSION + 1} but this @bmojo/tensor implements v${BACKEND_SPEC_VERSION}`,
    );
  });

  it("an unknown name lists what is registered; mixing backends is an error", async () => {
    await expect(setBackend("nope")).rejects.toThrow(
      `Backend 'nope' is unavailable: no backend of that name is registered (registered: fake-gpu, partial, old, cpu). Import its package first, e.g. import "@bmojo/backend-nope".`,
    );
    const other = new CpuBackend("cpu-2");
    const a = tensor([1], [1], { backend: other });
    const b = tensor([1]);
    expect(() => add(a, b)).toThrow(
      "add: inputs live on different backends ('cpu-2' and 'cpu'); move one with toBackend(t, name) first.",
    );
  });

  it("float64 needs a backend that lists it", () => {
    const partial = partialBackend("no-f64");
    const limited = Object.assign(partial, { dtypes: ["float32", "int32"] });
    expect(() => tensor([1], [1], { dtype: "float64", backend: limited })).toThrow(
      "tensor: backend 'no-f64' does not support dtype float64 (it supports float32, int32).",
    );
  });
});
