import { describe, expect, it } from "vitest";
import {
  CpuBackend,
  type KernelTable,
  adamw,
  addRmsNorm,
  assign,
  assignHost,
  assignRows,
  assignSlice,
  attention,
  causalConv1d,
  crossEntropy,
  full,
  rmsNorm,
  selectiveScan,
  siluMul,
  softmax,
  tensor,
  zeros,
} from "../src/index.js";

const int = (values: number[], shape?: number[]) => tensor(Int32Array.from(values), shape);

describe("fused ops name the argument and the fix on bad input", () => {
  it("attention", () => {
    const q = zeros([1, 3, 4, 2]);
    const kv = zeros([1, 2, 4, 2]);
    expect(() => attention(q, kv, kv)).toThrow(
      "attention: heads (3) must be a multiple of kvHeads (2).",
    );
    const q2 = zeros([1, 2, 4, 2]);
    expect(() => attention(q2, zeros([1, 2, 4, 3]), kv)).toThrow(
      "attention: k must have shape [batch, kvHeads, keyLength, headDim] = [1, 2, 4, 2], got [1, 2, 4, 3].",
    );
    expect(() => attention(q2, kv, kv, { window: 0 })).toThrow(
      "attention: window must be an integer ≥ 1 (or Infinity for full causal attention), got 0.",
    );
    expect(() => attention(q2, kv, kv, { queryOffset: 1 })).toThrow(
      "attention: queryOffset 1 with 4 queries needs 0 ≤ queryOffset and queryOffset + queryLength ≤ keyLength (4).",
    );
    const mem = zeros([1, 2, 1, 3, 2]);
    expect(() =>
      attention(q2, kv, kv, {
        memory: { k: mem, v: mem, mask: int([1, 1, 1], [1, 1, 3]), chunkSize: 2 },
      }),
    ).toThrow(
      "attention: memory has 1 chunks but queries up to position 3 with chunkSize 2 need 2.",
    );
    expect(() =>
      attention(q2, kv, kv, {
        memory: { k: mem, v: mem, mask: tensor([1, 1, 1], [1, 1, 3]), chunkSize: 4 },
      }),
    ).toThrow(
      'attention: memory.mask must be int32, got float32; cast it with cast(memory.mask, "int32").',
    );
  });

  it("attention with window = Infinity equals the default full causal attention", () => {
    const q = tensor([0.1, -0.3, 0.5, 0.2, 0.7, -0.1], [1, 1, 3, 2]);
    const full1 = attention(q, q, q).out.dataSync();
    const full2 = attention(q, q, q, { window: Number.POSITIVE_INFINITY }).out.dataSync();
    expect(Array.from(full2)).toEqual(Array.from(full1));
  });

  it("selectiveScan and causalConv1d", () => {
    const u = zeros([2, 5, 3]);
    const A = zeros([3, 4]);
    const B = zeros([2, 5, 4]);
    expect(() => selectiveScan(u, zeros([2, 5, 2]), A, B, B)).toThrow(
      "selectiveScan: delta must have shape [batch, length, channels] = [2, 5, 3], got [2, 5, 2].",
    );
    expect(() => selectiveScan(u, u, A, B, zeros([2, 5, 3]))).toThrow(
      "selectiveScan: C must have shape [batch, length, stateSize] = [2, 5, 4], got [2, 5, 3].",
    );
    expect(() => selectiveScan(u, u, A, B, B, { initialState: zeros([2, 4, 3]) })).toThrow(
      "selectiveScan: initialState must have shape [batch, channels, stateSize] = [2, 3, 4], got [2, 4, 3].",
    );
    expect(() => causalConv1d(u, zeros([3, 4]), { activation: "gelu" as "silu" })).toThrow(
      'causalConv1d: activation must be "none" or "silu", got "gelu".',
    );
    expect(() => causalConv1d(u, zeros([2, 4]))).toThrow(
      "causalConv1d: weight must have shape [channels, kernelSize] = [3, *], got [2, 4].",
    );
  });

  it("rmsNorm, crossEntropy, softmax, adamw", () => {
    expect(() => rmsNorm(zeros([2, 4]), zeros([3]))).toThrow(
      "rmsNorm: weight must have shape [4] for x [2, 4], got [3].",
    );
    expect(() => crossEntropy(zeros([3, 5]), int([0, 1]))).toThrow(
      "crossEntropy: targets must have shape [3] for logits [3, 5] (one class index per row), got [2].",
    );
    expect(() => crossEntropy(zeros([2, 5]), int([0, 7]))).toThrow(
      "crossEntropy: target 7 at row 1 is out of range for 5 classes; targets must be in [0, 5) or equal ignoreIndex (-100)",
    );
    expect(() => softmax(zeros([2, 3], { dtype: "int32" }))).toThrow(
      'softmax: x must be a float (float32, float64 or bfloat16), got int32; cast it first with cast(x, "float32").',
    );
    const p = zeros([3]);
    expect(() => adamw(p, zeros([4]), zeros([3]), zeros([3]), { lr: 0.1, step: 1 })).toThrow(
      "adamw: grad has shape [4] but param has [3]; they must match.",
    );
    expect(() => adamw(p, p, p, p, { lr: 0.1, step: 0 })).toThrow(
      "adamw: step must be an integer ≥ 1, got 0.",
    );
  });

  it("crossEntropy with every target ignored is 0, not NaN", () => {
    expect(crossEntropy(full([2, 3], 1), int([-100, -100])).item()).toBe(0);
  });
});

describe("in-place writes", () => {
  it("assign, assignSlice and assignHost write in place and check shapes", () => {
    const cache = zeros([2, 4]);
    assignSlice(cache, tensor([[1, 2]]), [1, 2]);
    expect(cache.arraySync()).toEqual([
      [0, 0, 0, 0],
      [0, 0, 1, 2],
    ]);
    expect(() => assignSlice(cache, tensor([[1, 2]]), [1, 3])).toThrow(
      "assignSlice: a [1, 2] block at [1, 3] does not fit in target [2, 4].",
    );
    assign(cache, full([2, 4], 7));
    expect(cache.dataSync()[5]).toBe(7);
    expect(() => assign(cache, zeros([4, 2]))).toThrow(
      "assign: value is float32 [4, 2] but target is float32 [2, 4]; they must match.",
    );
    assignHost(cache, [1, 2, 3, 4, 5, 6, 7, 8]);
    expect(cache.dataSync()[7]).toBe(8);
    expect(() => assignHost(cache, [1])).toThrow(
      "assignHost: 1 values for a tensor of 8 elements [2, 4].",
    );
  });

  it("assignRows writes the rows its indices name along an axis, in place, and bumps the version", () => {
    const cache = zeros([2, 3, 2]);
    const version = cache.version;
    assignRows(
      cache,
      int([2, 0]),
      tensor([
        [
          [1, 2],
          [3, 4],
        ],
        [
          [5, 6],
          [7, 8],
        ],
      ]),
      1,
    );
    expect(cache.arraySync()).toEqual([
      [
        [3, 4],
        [0, 0],
        [1, 2],
      ],
      [
        [7, 8],
        [0, 0],
        [5, 6],
      ],
    ]);
    expect(cache.version).toBeGreaterThan(version);
    expect(() => assignRows(cache, int([1]), zeros([2, 2, 2]), 1)).toThrow(
      "assignRows: updates must be float32 [2, 1, 2] (target [2, 3, 2], indices [1], axis 1), got float32 [2, 2, 2].",
    );
    expect(() => assignRows(cache, tensor([1]), zeros([2, 1, 2]), 1)).toThrow("indices");
    expect(() => assignRows(cache, int([3]), zeros([2, 1, 2]), 1)).toThrow(
      "scatter: index 3 at position 0 is out of range for 3 rows",
    );
    expect(cache.dataSync()[0]).toBe(3); // nothing written
  });
});

describe("addRmsNorm and siluMul: one kernel, or the composition where a backend leaves it out", () => {
  const composing = new CpuBackend("cpu-composing");
  const table = composing.kernels as Partial<KernelTable>;
  delete table.addRmsNorm;
  delete table.siluMul;
  const values = (n: number, seed: number) =>
    Array.from({ length: n }, (_, i) => Math.sin(seed * 7.1 + i * 1.37) * 2.5);

  for (const dtype of ["float32", "float64"] as const) {
    it(`give the composition's values bit for bit (${dtype})`, () => {
      const shape = [3, 40];
      const on = (backend?: CpuBackend) => {
        const opts = { dtype, backend };
        return {
          x: tensor(values(120, 1), shape, opts),
          r: tensor(values(120, 2), shape, opts),
          w: tensor(values(40, 3), [40], opts),
        };
      };
      const fused = on();
      const composed = on(composing);
      const a = addRmsNorm(fused.x, fused.r, fused.w);
      const b = addRmsNorm(composed.x, composed.r, composed.w);
      expect(Array.from(a.sum.dataSync())).toEqual(Array.from(b.sum.dataSync()));
      expect(Array.from(a.out.dataSync())).toEqual(Array.from(b.out.dataSync()));
      expect(Array.from(a.out.dataSync())).toEqual(Array.from(rmsNorm(a.sum, fused.w).dataSync()));
      expect(Array.from(siluMul(fused.x, fused.r).dataSync())).toEqual(
        Array.from(siluMul(composed.x, composed.r).dataSync()),
      );
    });
  }

  it("name the argument and the fix on bad input", () => {
    const x = zeros([2, 4]);
    expect(() => addRmsNorm(x, zeros([1, 4]), zeros([4]))).toThrow(
      "addRmsNorm: x [2, 4] and residual [1, 4] must have one shape (no broadcasting).",
    );
    expect(() => addRmsNorm(x, x, zeros([3]))).toThrow(
      "addRmsNorm: weight must have shape [4] for x [2, 4], got [3].",
    );
    expect(() => addRmsNorm(x, zeros([2, 4], { dtype: "float64" }), zeros([4]))).toThrow(
      "addRmsNorm: x is float32 but residual is float64; cast them to one dtype first.",
    );
    expect(() => siluMul(x, zeros([4]))).toThrow(
      "siluMul: gate [2, 4] and up [4] must have one shape (no broadcasting).",
    );
    expect(() => siluMul(x, zeros([2, 4], { dtype: "int32" }))).toThrow(
      "siluMul: gate and up must be float tensors of one dtype, got float32 and int32; cast them first.",
    );
  });
});
