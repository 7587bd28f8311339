/**
 * The kernel conformance cases, run on the reference cpu backend against itself: every case runs,
 * every kernel has cases, inputs are deterministic, no buffer leaks, and a broken backend fails.
 */
import { describe, expect, it } from "vitest";
import { type Backend, UnsupportedKernelError } from "../src/backend/backend.js";
import { KERNEL_NAMES, type KernelName } from "../src/backend/kernels.js";
import { CpuBackend } from "../src/backends/cpu/index.js";
import { type DType, type StorageArray, hostArray, storageArray } from "../src/dtype.js";
import { ConformanceMismatch } from "../src/testing/compare.js";
import { kernelCases } from "../src/testing/kernel-cases.js";
import { INT32_SENTINEL, runKernel } from "../src/testing/run-kernel.js";
import { type ConformanceCase, type ConformanceContext, SkipCase } from "../src/testing/types.js";

const cases = kernelCases();

/** "kernel/matmul float32 …" → "matmul". */
function kernelOfCase(c: ConformanceCase): string {
  return c.name.slice("kernel/".length).split(" ")[0];
}

function casesOf(kernel: KernelName, filter = ""): ConformanceCase[] {
  return cases.filter((c) => kernelOfCase(c) === kernel && c.name.includes(filter));
}

/** Runs a case; a SkipCase passes with a note. */
async function runOrSkip(c: ConformanceCase, ctx: ConformanceContext): Promise<void> {
  try {
    await c.run(ctx);
  } catch (err) {
    if (err instanceof SkipCase) {
      console.info(`skipped ${c.name}: ${err.reason}`);
      return;
    }
    throw err;
  }
}

/**
 * A CpuBackend that hashes everything written to it (FNV-1a over the bytes, in order) and counts
 * the elements it hands out that are NaN, ±Infinity or the int32 sentinel (an unwritten output).
 */
class RecordingBackend extends CpuBackend {
  writeHash = 2166136261;
  writes = 0;
  badReads: string[] = [];

  override write(id: number, data: StorageArray): void {
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    let h = this.writeHash;
    for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ bytes[i], 16777619);
    this.writeHash = h >>> 0;
    this.writes++;
    super.write(id, data);
  }

  override async read(id: number, dtype: DType, size: number): Promise<StorageArray> {
    const stored = await super.read(id, dtype, size);
    const data = hostArray(dtype, stored);
    const bad = data.filter(
      (v) => !Number.isFinite(v) || (dtype === "int32" && v === INT32_SENTINEL),
    );
    if (bad.length > 0) this.badReads.push(`${bad.length} of ${size} ${dtype} elements: ${bad[0]}`);
    return stored;
  }
}

describe("kernel cases on the reference cpu backend", () => {
  const ctx = { backend: new CpuBackend("cpu-under-test"), reference: new CpuBackend() };

  it("cover every kernel, with unique names, all in group 'kernel'", () => {
    const covered = new Set(cases.map(kernelOfCase));
    const missing = KERNEL_NAMES.filter((k) => !covered.has(k));
    expect(missing).toEqual([]);
    expect([...covered].filter((k) => !(KERNEL_NAMES as readonly string[]).includes(k))).toEqual(
      [],
    );
    expect(new Set(cases.map((c) => c.name)).size).toBe(cases.length);
    expect(cases.every((c) => c.group === "kernel")).toBe(true);
    for (const dtype of ["float32", "float64", "bfloat16"]) {
      const missingDType = KERNEL_NAMES.filter(
        (k) => k !== "cast" && !cases.some((c) => kernelOfCase(c) === k && c.name.includes(dtype)),
      );
      expect(missingDType, `kernels without ${dtype} cases`).toEqual([]);
    }
  });

  for (const c of cases) it(c.name, () => runOrSkip(c, ctx));

  it("free every buffer they allocate", () => {
    expect(ctx.backend.numBuffers()).toBe(0);
    expect(ctx.reference.numBuffers()).toBe(0);
  });

  it("draw the same inputs every time they run, and every output is written and finite", async () => {
    const first = new RecordingBackend();
    const second = new RecordingBackend();
    const reference = new CpuBackend();
    for (const c of cases) {
      const before = first.badReads.length;
      await runOrSkip(c, { backend: first, reference });
      if (first.badReads.length > before) first.badReads.push(`in ${c.name}`);
      await runOrSkip(c, { backend: second, reference });
    }
    expect(first.writes).toBeGreaterThan(cases.length);
    expect(second.writes).toBe(first.writes);
    expect(second.writeHash).toBe(first.writeHash);
    expect(first.badReads).toEqual([]);
  });
});

describe("kernel cases fail on a broken backend", () => {
  const reference = new CpuBackend();

  /** Expects every case to reject with an instance of `error`, and at least one case. */
  async function expectAllFail(
    selected: readonly ConformanceCase[],
    backend: Backend,
    error: new (...args: never[]) => Error,
  ): Promise<void> {
    expect(selected.length).toBeGreaterThan(0);
    for (const c of selected) {
      await expect(c.run({ backend, reference }), c.name).rejects.toBeInstanceOf(error);
    }
  }

  it("matmul that adds 1e-2 + 5% to out[0]", async () => {
    const broken = new CpuBackend("broken-matmul");
    const matmul = broken.kernels.matmul;
    broken.kernels.matmul = (args) => {
      matmul(args);
      const o = hostArray(args.dtype, broken.readSync(args.out, args.dtype, 1));
      o[0] += 1e-2 + 0.05 * Math.abs(o[0]);
      broken.write(args.out, storageArray(args.dtype, o));
    };
    await expectAllFail(casesOf("matmul"), broken, ConformanceMismatch);
    expect(broken.numBuffers()).toBe(0);
  });

  it("unary relu that is the identity", async () => {
    const broken = new CpuBackend("broken-relu");
    const unary = broken.kernels.unary;
    broken.kernels.unary = (args) => unary(args.op === "relu" ? { ...args, op: "neg" } : args);
    await expectAllFail(casesOf("unary", " relu "), broken, ConformanceMismatch);
  });

  it("rmsNorm that leaves rstd unwritten", async () => {
    const broken = new CpuBackend("broken-rmsnorm");
    const rmsNorm = broken.kernels.rmsNorm;
    broken.kernels.rmsNorm = (args) => {
      const scratch = broken.alloc(args.rows * 8);
      rmsNorm({ ...args, rstd: scratch });
      broken.free(scratch);
    };
    await expectAllFail(casesOf("rmsNorm"), broken, ConformanceMismatch);
  });

  it("gather that clamps out-of-range indices instead of throwing", async () => {
    const broken = new CpuBackend("broken-gather");
    const gather = broken.kernels.gather;
    broken.kernels.gather = (args) => {
      const indices = broken.readSync(args.indices, "int32", args.count);
      const clamped = indices.map((i) => Math.min(Math.max(i, 0), args.rows - 1));
      broken.write(args.indices, clamped);
      gather(args);
    };
    await expectAllFail(casesOf("gather", "out of range"), broken, ConformanceMismatch);
    // The in-range cases still pass.
    for (const c of casesOf("gather").filter((c) => !c.name.includes("out of range"))) {
      await c.run({ backend: broken, reference });
    }
  });

  it("a backend without a kernel", async () => {
    const broken = new CpuBackend("no-softmax");
    const kernels: Partial<typeof broken.kernels> = { ...broken.kernels };
    delete kernels.softmax;
    const partial: Backend = Object.assign(Object.create(broken) as CpuBackend, { kernels });
    await expectAllFail(casesOf("softmax"), partial, UnsupportedKernelError);
  });

  it("runKernel frees its buffers when the kernel throws", async () => {
    const backend = new CpuBackend();
    await expect(
      runKernel(backend, "gather", {
        inputs: { table: new Float32Array(4), indices: Int32Array.of(0, 9) },
        outputs: { out: { dtype: "float32", size: 2 } },
        args: (ids) => ({
          dtype: "float32",
          table: ids.table,
          indices: ids.indices,
          out: ids.out,
          outer: 1,
          rows: 4,
          inner: 1,
          count: 2,
        }),
      }),
    ).rejects.toBeInstanceOf(RangeError);
    expect(backend.numBuffers()).toBe(0);
  });
});
