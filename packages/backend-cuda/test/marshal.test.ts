/**
 * The marshallers run on every machine (no GPU needed): dim merging must visit the same elements
 * in the same order, and the argument lists must have the layout the native side reads.
 */
import { Random, collapseAxes as collapse } from "@bmojo/tensor";
import { describe, expect, it } from "vitest";
import { elementwiseMarshallers } from "../src/kernels/elementwise.js";
import { matmulMarshaller } from "../src/kernels/matmul.js";
import { ArgWriter } from "../src/kernels/writer.js";

/** Offsets of every operand at every multi-index of `shape`, in row-major order. */
function offsets(shape: readonly number[], strides: readonly (readonly number[])[]): number[][] {
  const out: number[][] = strides.map(() => []);
  const index = shape.map(() => 0);
  const total = shape.reduce((a, b) => a * b, 1);
  for (let n = 0; n < total; n++) {
    for (const [o, s] of strides.entries())
      out[o].push(index.reduce((acc, i, d) => acc + i * s[d], 0));
    for (let d = shape.length - 1; d >= 0; d--) {
      if (++index[d] < shape[d]) break;
      index[d] = 0;
    }
  }
  return out;
}

describe("collapse (dim merging of binary / where / copy)", () => {
  it("visits the same offsets in the same order on 500 random layouts", () => {
    const rng = new Random(3);
    const int = (lo: number, hi: number) => rng.intArray(1, lo, hi)[0];
    for (let trial = 0; trial < 500; trial++) {
      const rank = int(0, 6);
      const shape = Array.from({ length: rank }, () => int(1, 4));
      const operands = Array.from({ length: int(1, 4) }, () => {
        const kind = int(0, 3); // contiguous, broadcast some axes, or permuted
        const contiguous = shape.map((_, d) => shape.slice(d + 1).reduce((a, b) => a * b, 1));
        if (kind === 0) return contiguous;
        if (kind === 1) return contiguous.map((s) => (int(0, 2) === 0 ? 0 : s));
        return [...contiguous].reverse();
      });
      const merged = collapse(shape, operands);
      if (merged === null) throw new Error("no extent is 0 here");
      expect(merged.shape.length).toBeLessThanOrEqual(shape.length);
      expect(offsets(merged.shape, merged.strides)).toEqual(offsets(shape, operands));
    }
  });

  it("merges a contiguous 3-d add into one dim and reports an empty space as null", () => {
    expect(
      collapse(
        [2, 3, 4],
        [
          [12, 4, 1],
          [12, 4, 1],
        ],
      ),
    ).toEqual({ shape: [24], strides: [[1], [1]] });
    expect(collapse([2, 0, 4], [[0, 4, 1]])).toBeNull();
  });
});

describe("elementwise marshallers", () => {
  it("binary: op code, dtype, buffers, then the merged space with a's and b's strides", () => {
    const w = new ArgWriter();
    elementwiseMarshallers.binary(
      {
        op: "mul",
        dtype: "float32",
        a: 11,
        b: 12,
        out: 13,
        shape: [2, 3],
        aStrides: [3, 1],
        bStrides: [0, 1],
      },
      w,
    );
    // mul is ARITHMETIC_OPS[2]; b broadcasts over the first axis, so nothing merges.
    expect(Array.from(w.view())).toEqual([2, 0, 11, 12, 13, 6, 2, 2, 3, 3, 1, 0, 1]);
  });

  it("names the kernel and operand when strides do not match the shape", () => {
    expect(() =>
      elementwiseMarshallers.binary(
        {
          op: "add",
          dtype: "float32",
          a: 1,
          b: 2,
          out: 3,
          shape: [2, 3],
          aStrides: [1],
          bStrides: [3, 1],
        },
        new ArgWriter(),
      ),
    ).toThrow(/cuda backend: binary: aStrides \[1\] do.*shape \[2, 3\]/);
  });
});

describe("matmul marshaller", () => {
  it("writes the arguments in native/matmul.cu's order, the precision code last", () => {
    const args = {
      dtype: "float32" as const,
      a: 1,
      b: 2,
      out: 3,
      batch: 4,
      m: 5,
      n: 6,
      k: 7,
      transA: false,
      transB: true,
      aBatchStride: 35,
      bBatchStride: 0,
    };
    const codes = (["float32", "tf32", "bf16"] as const).map((precision) => {
      const w = new ArgWriter();
      matmulMarshaller(precision)(args, w);
      const list = Array.from(w.view());
      expect(list.slice(0, -1)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 35, 0]);
      return list.at(-1);
    });
    expect(codes).toEqual([0, 1, 2]);
  });
});
