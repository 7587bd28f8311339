/**
 * The tfjs adapter: the conformance suite on tfjs-backend-cpu and tfjs-backend-wasm, the
 * registration, the tfjs-node(-gpu) selection logic (with simulated packages), and a whole-model
 * check against the reference cpu backend.
 */
import { preset } from "@bmojo/model";
import { compareModel } from "@bmojo/model/testing";
import { BackendUnavailableError, KERNEL_NAMES, backendByName, init } from "@bmojo/tensor";
import { runConformance, summaryLine } from "@bmojo/tensor/testing";
import * as tf from "@tensorflow/tfjs-core";
import { afterAll, describe, expect, it } from "vitest";
import { TFJS_PRIORITY, TfjsBackend, createTfjsBackend } from "../src/index.js";

const onCpu = await TfjsBackend.create({ tfBackend: "cpu" });
const onWasm = await TfjsBackend.create({ tfBackend: "wasm" });
afterAll(() => {
  onCpu.dispose();
  onWasm.dispose();
});

describe("registration", () => {
  it("implements every kernel and lists float32 and int32 only", () => {
    expect(KERNEL_NAMES.filter((k) => onCpu.kernels[k] === undefined)).toEqual([]);
    expect(onCpu.dtypes).toEqual(["float32", "int32"]);
  });

  it("registers below cpu, so auto never picks it", async () => {
    expect(TFJS_PRIORITY).toBeLessThan(0);
    const report = await init({ backend: "auto" });
    expect(report.backend).toBe("cpu");
    for (const name of ["tfjs", "tfjs-cpu", "tfjs-wasm", "tfjs-tensorflow"]) {
      expect(report.skipped).toContainEqual({ name, reason: "lower priority than 'cpu'" });
    }
    await init({ backend: "cpu" });
  });

  it("brings up tfjs-wasm by name and runs on the tfjs backend it names", async () => {
    const b = (await backendByName("tfjs-wasm")) as TfjsBackend;
    expect(b.tfBackend).toBe("wasm");
    const x = b.alloc(12);
    b.write(x, new Float32Array([1, -2, 3]));
    const y = b.alloc(12);
    b.kernels.unary?.({ op: "abs", dtype: "float32", x, out: y, size: 3 });
    expect(Array.from(await b.read(y, "float32", 3))).toEqual([1, 2, 3]);
    b.free(x);
    b.free(y);
    expect(b.numBuffers()).toBe(0);
  });

  it("switches the active tfjs backend per call and frees tfjs memory", () => {
    const before = tf.memory().numTensors;
    for (const b of [onCpu, onWasm]) {
      const x = b.alloc(8);
      b.write(x, new Int32Array([3, -4]));
      b.kernels.unary?.({ op: "neg", dtype: "int32", x, out: x, size: 2 });
      expect(tf.getBackend()).toBe(b.tfBackend);
      expect(Array.from(b.readSync(x, "int32", 2))).toEqual([-3, 4]);
      b.free(x);
    }
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe("tfjs-node(-gpu) pickup (simulated packages)", () => {
  /** Registers tfjs's "tensorflow" backend as a copy of its cpu backend, as the real package would. */
  async function fakeTensorflowPackage(): Promise<unknown> {
    const cpuMod = await import("@tensorflow/tfjs-backend-cpu");
    if (tf.getKernelsForBackend("tensorflow").length === 0) {
      for (const k of tf.getKernelsForBackend("cpu")) {
        tf.registerKernel({ ...k, backendName: "tensorflow" });
      }
    }
    tf.registerBackend("tensorflow", () => new cpuMod.MathBackendCPU(), 0);
    return {};
  }
  const importer = (present: string[], calls: string[]) => async (specifier: string) => {
    calls.push(specifier);
    if (!present.includes(specifier)) throw new Error(`Cannot find package '${specifier}'`);
    return fakeTensorflowPackage();
  };
  const reset = () => {
    if (tf.findBackendFactory("tensorflow") !== null) tf.removeBackend("tensorflow");
  };

  it("says what is needed when neither package is installed", async () => {
    reset();
    const calls: string[] = [];
    const err = await createTfjsBackend({
      tfBackend: "tensorflow",
      importModule: importer([], calls),
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BackendUnavailableError);
    expect(String(err)).toMatch(/tfjs-node-gpu.*tfjs-node.*CUDA 11\.2.*cuDNN 8\.1.*backend-cuda/s);
    expect(calls).toEqual(["@tensorflow/tfjs-node-gpu", "@tensorflow/tfjs-node"]);
  });

  it("prefers @tensorflow/tfjs-node-gpu when it is installed", async () => {
    reset();
    const calls: string[] = [];
    const b = await createTfjsBackend({
      tfBackend: "tensorflow",
      importModule: importer(["@tensorflow/tfjs-node-gpu", "@tensorflow/tfjs-node"], calls),
    });
    expect(b.provider).toBe("@tensorflow/tfjs-node-gpu");
    expect(b.name).toBe("tfjs-tensorflow");
    expect(calls).toEqual(["@tensorflow/tfjs-node-gpu"]);
    const x = b.alloc(8);
    b.write(x, new Float32Array([4, 9]));
    b.kernels.unary?.({ op: "sqrt", dtype: "float32", x, out: x, size: 2 });
    expect(tf.getBackend()).toBe("tensorflow");
    expect(Array.from(await b.read(x, "float32", 2))).toEqual([2, 3]);
    b.dispose();
  });

  it("falls back to @tensorflow/tfjs-node without the GPU package", async () => {
    reset();
    const calls: string[] = [];
    const b = await createTfjsBackend({
      tfBackend: "tensorflow",
      importModule: importer(["@tensorflow/tfjs-node"], calls),
    });
    expect(b.provider).toBe("@tensorflow/tfjs-node");
    expect(calls).toEqual(["@tensorflow/tfjs-node-gpu", "@tensorflow/tfjs-node"]);
    b.dispose();
    reset();
    await tf.setBackend("cpu");
  });
});

describe.each([
  ["tfjs-backend-cpu", onCpu],
  ["tfjs-backend-wasm", onWasm],
])("conformance on %s", (label, backend) => {
  it("passes every case it can run (float64 and bfloat16 cases skip)", async () => {
    const report = await runConformance(backend, {
      onResult: (r) => {
        if (r.status === "failed") console.error(`FAIL ${r.name}: ${r.message}`);
      },
    });
    console.info(`${label}: ${summaryLine(report)}`);
    expect(report.failed).toBe(0);
    const skips = report.results.filter((r) => r.status === "skipped");
    // float64 and bfloat16 cases, buffer views (tfjs tensors cannot alias a range: split copies)
    // and batched reads (tfjs reads one tensor at a time).
    expect(
      skips.every((r) => /float64|bfloat16|no buffer views|no readMany/.test(r.message ?? "")),
    ).toBe(true);
    expect(report.passed).toBeGreaterThan(600);
  }, 120_000);
});

describe.each([3, 4])("selective scan with chunks of %i steps (closed form)", (scanChunk) => {
  it("passes the scan cases on tfjs-backend-cpu", async () => {
    const backend = await TfjsBackend.create({ tfBackend: "cpu", scanChunk });
    try {
      const report = await runConformance(backend, {
        filter: /selectiveScan/,
        onResult: (r) => {
          if (r.status === "failed") console.error(`FAIL ${r.name}: ${r.message}`);
        },
      });
      expect(report.failed).toBe(0);
      expect(report.passed).toBeGreaterThan(30);
    } finally {
      backend.dispose();
    }
  }, 60_000);
});

describe("whole model", () => {
  for (const positions of ["none", "rope"] as const) {
    it(`gives the cpu's logits and gradients for a small B'MOJO on tfjs-wasm (positions ${positions})`, async () => {
      const cpu = await backendByName("cpu");
      const config = preset("bmojo", "small", { seed: 3, bmojo: { positions } });
      const r = await compareModel(config, cpu, onWasm, [1, 96]);
      console.info(
        `small B'MOJO (${positions}) on tfjs-wasm vs cpu: logits ${r.logitsRelError.toExponential(2)}, decode ${r.decodeRelError.toExponential(2)}, grads ${r.gradRelError.toExponential(2)} (${r.worstGrad})`,
      );
      expect(r.logitsRelError).toBeLessThan(1e-3);
      expect(r.decodeRelError).toBeLessThan(1e-3);
      // The compiled step (position on the device, admissions on the host) decodes as well.
      expect(r.replayRelError).not.toBeNull();
      expect(r.replayRelError).toBeLessThan(1e-3);
      expect(r.gradRelError).toBeLessThan(1e-3);
    }, 120_000);
  }
});
