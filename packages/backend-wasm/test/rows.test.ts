/**
 * The row kernels (softmax, cross-entropy, rmsNorm and its backward) and reductions against the cpu
 * backend at shapes the conformance suite does not reach: above the parallel thresholds, rows
 * and columns that are not multiples of 4 or 8, one column, inner 2 and 3, column blocks with a
 * partial last block, and non-finite values (NaN, ±Infinity, −0, ties).
 */
import { CpuBackend, type KernelTable, Random, type ReduceOp } from "@bmojo/tensor";
import { afterAll, describe, expect, it } from "vitest";
import { WasmBackend } from "../src/index.js";

const threaded = await WasmBackend.create({ threads: 2 });
const single = await WasmBackend.create({ threads: 1 });
const cpu = new CpuBackend("cpu-rows");
afterAll(() => {
  threaded.dispose();
  single.dispose();
  cpu.dispose();
});

type Backend = WasmBackend | CpuBackend;
type Kernel = keyof KernelTable;

interface Call {
  /** Inputs by argument name. */
  inputs: Record<string, Float32Array | Int32Array>;
  /** Outputs by argument name: element count and dtype. */
  outputs: Record<string, [number, "float32" | "int32"]>;
  /** The other arguments. */
  args: Record<string, unknown>;
}

/** Runs `kernel` on `backend` and returns its outputs. */
function run(
  backend: Backend,
  kernel: Kernel,
  call: Call,
): Record<string, Float32Array | Int32Array> {
  const ids: Record<string, number> = {};
  for (const [name, data] of Object.entries(call.inputs)) {
    ids[name] = backend.alloc(data.byteLength);
    backend.write(ids[name], data);
  }
  for (const [name, [size]] of Object.entries(call.outputs)) {
    ids[name] = backend.alloc(Math.max(4, size * 4));
    // A canary, so that an output the kernel leaves unwritten shows up.
    backend.write(ids[name], new Float32Array(size).fill(12345));
  }
  const fn = backend.kernels[kernel] as (args: object) => void;
  fn({ dtype: "float32", ...call.args, ...ids });
  const results: Record<string, Float32Array | Int32Array> = {};
  for (const [name, [size, dtype]] of Object.entries(call.outputs)) {
    results[name] = backend.readSync(ids[name], dtype, size) as Float32Array | Int32Array;
  }
  for (const id of Object.values(ids)) backend.free(id);
  return results;
}

/** Max |got − want| / (atol/rtol-style scale), NaN and ±Infinity required to match exactly. */
function expectClose(
  got: Float32Array | Int32Array,
  want: Float32Array | Int32Array,
  what: string,
  rtol = 1e-4,
  atol = 1e-5,
): void {
  expect(got.length, what).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    const [g, w] = [got[i], want[i]];
    if (Number.isNaN(w) && Number.isNaN(g)) continue;
    if (!Number.isFinite(w) || !Number.isFinite(g) || got instanceof Int32Array) {
      if (g !== w) expect(`${what}[${i}] = ${g}`).toBe(`${what}[${i}] = ${w}`);
      continue;
    }
    if (Math.abs(g - w) > atol + rtol * Math.abs(w)) {
      expect(`${what}[${i}] = ${g}`).toBe(`${what}[${i}] = ${w}`);
    }
  }
}

function compare(kernel: Kernel, call: Call, rtol?: number, atol?: number): void {
  const want = run(cpu, kernel, call);
  for (const backend of [threaded, single]) {
    const got = run(backend, kernel, call);
    for (const name of Object.keys(want)) {
      expectClose(got[name], want[name], `${kernel} ${name} (${backend.threading})`, rtol, atol);
    }
  }
}

const rng = new Random(11);
const normal = (n: number, std = 1) => rng.normalArray(n, 0, std) as Float32Array;
const uniform = (n: number, lo: number, hi: number) => rng.uniformArray(n, lo, hi) as Float32Array;
const u01 = () => rng.uniformArray(1)[0];
/** Small integers in [lo, hi), as floats: ties for max/min/argmax/argmin. */
function integers(n: number, lo: number, hi: number): Float32Array {
  return uniform(n, lo, hi).map(Math.floor);
}

describe("softmax", () => {
  it.each([
    [1024, 256],
    [257, 131],
    [7, 1],
    [3, 5],
    [1, 4099],
    [300, 9],
  ])("forward and backward at rows %i, cols %i", (rows, cols) => {
    const x = normal(rows * cols, 3);
    const y = run(cpu, "softmax", {
      inputs: { x },
      outputs: { out: [rows * cols, "float32"] },
      args: { rows, cols },
    }).out as Float32Array;
    compare("softmax", {
      inputs: { x },
      outputs: { out: [rows * cols, "float32"] },
      args: { rows, cols },
    });
    compare("softmaxBackward", {
      inputs: { y, dy: normal(rows * cols) },
      outputs: { dx: [rows * cols, "float32"] },
      args: { rows, cols },
    });
  });

  it("gives NaN rows for NaN and +Infinity, 0 for −Infinity entries, and no overflow", () => {
    const cols = 13;
    const rows = [
      [1, 2, Number.NaN, 3],
      [1, Number.POSITIVE_INFINITY, 2],
      [Number.NEGATIVE_INFINITY, Number.NEGATIVE_INFINITY],
      [5, Number.NEGATIVE_INFINITY, -200, 3],
      [1000, 999, -1000],
      [-1e30, -1e30 + 1],
    ];
    const x = new Float32Array(rows.length * cols).fill(-500);
    for (const [i, r] of rows.entries()) x.set(r, i * cols);
    compare("softmax", {
      inputs: { x },
      outputs: { out: [x.length, "float32"] },
      args: { rows: rows.length, cols },
    });
    const out = run(threaded, "softmax", {
      inputs: { x },
      outputs: { out: [x.length, "float32"] },
      args: { rows: rows.length, cols },
    }).out;
    expect(out[3 * cols + 1]).toBe(0);
  });
});

describe("crossEntropy", () => {
  it.each([
    [1024, 257, -100],
    [513, 1000, 7],
    [9, 3, -1],
    [5, 1, -100],
  ])("forward and backward at rows %i, classes %i, ignoreIndex %i", (rows, classes, ignore) => {
    const logits = normal(rows * classes, 4);
    const targets = new Int32Array(rows).map((_, r) =>
      r % 5 === 2 ? ignore : Math.floor(u01() * classes),
    );
    const forward = {
      inputs: { logits, targets },
      outputs: { loss: [rows, "float32"], lse: [rows, "float32"] } as Call["outputs"],
      args: { rows, classes, ignoreIndex: ignore },
    };
    compare("crossEntropy", forward);
    const lse = run(cpu, "crossEntropy", forward).lse as Float32Array;
    compare("crossEntropyBackward", {
      inputs: { logits, targets, lse, dloss: uniform(rows, 0.1, 1) },
      outputs: { dlogits: [rows * classes, "float32"] },
      args: { rows, classes, ignoreIndex: ignore },
    });
  });

  it("gives NaN for rows with NaN or +Infinity, and the reference's RangeError for a bad target", () => {
    const classes = 6;
    const logits = normal(4 * classes);
    logits[1] = Number.NaN;
    logits[classes + 2] = Number.POSITIVE_INFINITY;
    logits[2 * classes + 3] = Number.NEGATIVE_INFINITY;
    const targets = new Int32Array([0, 1, 3, 5]);
    const call = {
      inputs: { logits, targets },
      outputs: { loss: [4, "float32"], lse: [4, "float32"] } as Call["outputs"],
      args: { rows: 4, classes, ignoreIndex: -100 },
    };
    compare("crossEntropy", call);
    const bad = { ...call, inputs: { logits, targets: new Int32Array([0, 1, 6, 5]) } };
    const message = /crossEntropy: target 6 at row 2 is out of range for 6 classes/;
    for (const backend of [threaded, single]) {
      expect(() => run(backend, "crossEntropy", bad)).toThrow(RangeError);
      expect(() => run(backend, "crossEntropy", bad)).toThrow(message);
      expect(() =>
        run(backend, "crossEntropyBackward", {
          inputs: { ...bad.inputs, lse: new Float32Array(4), dloss: new Float32Array(4) },
          outputs: { dlogits: [4 * classes, "float32"] },
          args: bad.args,
        }),
      ).toThrow(/crossEntropyBackward: target 6 at row 2 is out of range/);
    }
  });
});

/** An rmsNormBackward call on random inputs of `rows` × `cols`. */
function backwardCall(rows: number, cols: number): Call {
  return {
    inputs: {
      x: normal(rows * cols),
      weight: uniform(cols, 0.5, 1.5),
      rstd: uniform(rows, 0.5, 2),
      dy: normal(rows * cols),
    },
    outputs: { dx: [rows * cols, "float32"], dweight: [cols, "float32"] },
    args: { rows, cols },
  };
}

describe("rmsNorm", () => {
  it.each([
    [1024, 128],
    [1000, 37],
    [5, 3],
    [33, 1],
    [4099, 20],
  ])("forward at rows %i, cols %i", (rows, cols) => {
    compare("rmsNorm", {
      inputs: { x: normal(rows * cols), weight: uniform(cols, 0.5, 1.5) },
      outputs: { out: [rows * cols, "float32"], rstd: [rows, "float32"] },
      args: { rows, cols, eps: 1e-5 },
    });
  });

  it.each([
    [1024, 128],
    [1000, 37],
    [5, 3],
    [33, 1],
    [4099, 20],
  ])("backward: dx and dweight at rows %i, cols %i", (rows, cols) => {
    compare("rmsNormBackward", backwardCall(rows, cols));
  });

  it("gives the same dweight on one thread and on two", () => {
    const call = backwardCall(3000, 100);
    expect(run(threaded, "rmsNormBackward", call).dweight).toEqual(
      run(single, "rmsNormBackward", call).dweight,
    );
  });
});

describe("reduce", () => {
  const ops: ReduceOp[] = ["sum", "mean", "max", "min", "argmax", "argmin"];
  const shapes: [number, number, number][] = [
    [1024, 256, 1],
    [1, 4099, 1],
    [37, 7, 1],
    [5, 1, 1],
    [3, 2, 1],
    [1, 1024, 128],
    [4, 300, 3],
    [6, 9, 2],
    [3, 70, 133],
    [2, 1, 67],
    [1, 5, 64],
    [2048, 300, 1],
    [4, 600, 301],
  ];
  for (const op of ops) {
    it.each(shapes)(`${op} over [outer, size, inner] = [%i, %i, %i]`, (outer, size, inner) => {
      const n = outer * size * inner;
      const x = op === "sum" || op === "mean" ? uniform(n, -2, 2) : integers(n, -3, 4);
      const outDType = op === "argmax" || op === "argmin" ? "int32" : "float32";
      compare("reduce", {
        inputs: { x },
        outputs: { out: [outer * inner, outDType] },
        args: { op, outer, size, inner },
      });
    });

    it(`${op} with NaN, ±Infinity and −0`, () => {
      const specials = [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, -0, 0];
      for (const [outer, size, inner] of [
        [40, 9, 1],
        [3, 9, 13],
      ]) {
        const n = outer * size * inner;
        const x = integers(n, -2, 3);
        for (let i = 0; i < n; i++) {
          if (u01() < 0.15) x[i] = specials[Math.floor(u01() * specials.length)];
        }
        const outDType = op === "argmax" || op === "argmin" ? "int32" : "float32";
        compare("reduce", {
          inputs: { x },
          outputs: { out: [outer * inner, outDType] },
          args: { op, outer, size, inner },
        });
      }
    });
  }

  it("sums over inner ≥ 2 exactly as the reference (float64, in order)", () => {
    const [outer, size, inner] = [2, 3000, 70];
    const x = normal(outer * size * inner, 1000);
    const call: Call = {
      inputs: { x },
      outputs: { out: [outer * inner, "float32"] },
      args: { op: "sum", outer, size, inner },
    };
    expect(run(threaded, "reduce", call).out).toEqual(run(cpu, "reduce", call).out);
  });
});
