import { describe, expect, it } from "vitest";
import {
  add,
  arange,
  broadcastTo,
  cast,
  concat,
  div,
  equal,
  full,
  gather,
  matmul,
  maximum,
  mul,
  pad,
  reshape,
  scatterAdd,
  slice,
  split,
  squeeze,
  stack,
  sub,
  sum,
  tensor,
  transpose,
  where,
  zeros,
} from "../src/index.js";

const arr = (t: { dataSync(): ArrayLike<number> }) => Array.from(t.dataSync());

describe("tensor creation and reads", () => {
  it("infers shape and dtype from nested arrays and typed arrays", async () => {
    const a = tensor([
      [1, 2, 3],
      [4, 5, 6],
    ]);
    expect(a.shape).toEqual([2, 3]);
    expect(a.dtype).toBe("float32");
    expect(await a.array()).toEqual([
      [1, 2, 3],
      [4, 5, 6],
    ]);
    const b = tensor(new Int32Array([7, 8]));
    expect(b.dtype).toBe("int32");
    expect(Array.from(await b.data())).toEqual([7, 8]);
    expect(tensor(3.5).item()).toBe(3.5);
    expect(tensor([1, 2], [2], { dtype: "float64" }).dataSync()).toBeInstanceOf(Float64Array);
  });

  it("rejects values that do not fill the shape, bad dtypes and bad shapes", () => {
    expect(() => tensor([1, 2, 3], [2, 2])).toThrow(
      "tensor: 3 values do not fill shape [2, 2] (4 elements).",
    );
    // @ts-expect-error: checked at run time too
    expect(() => tensor([1], [1], { dtype: "float16" })).toThrow(
      'tensor: unknown dtype "float16"; use one of float32, int32, float64, bfloat16.',
    );
    expect(() => zeros([2, -1])).toThrow("tensor: invalid shape [2, -1]");
    expect(() => tensor([1, 2]).item()).toThrow(
      "item: tensor has shape [2]; item() needs exactly one element.",
    );
  });

  it("arange, full and cast", () => {
    expect(arr(arange(5))).toEqual([0, 1, 2, 3, 4]);
    expect(arr(arange(1, 2, 0.25, { dtype: "float32" }))).toEqual([1, 1.25, 1.5, 1.75]);
    expect(arr(full([2], 7, { dtype: "int32" }))).toEqual([7, 7]);
    expect(arr(cast(tensor([-1.7, 2.9, 0.5]), "int32"))).toEqual([-1, 2, 0]);
  });
});

describe("broadcasting and elementwise ops", () => {
  it("broadcasts [2,1,3] against [4,1]", () => {
    const a = tensor([1, 2, 3, 4, 5, 6], [2, 1, 3]);
    const b = tensor([10, 20, 30, 40], [4, 1]);
    const c = add(a, b);
    expect(c.shape).toEqual([2, 4, 3]);
    const data = c.dataSync();
    for (let i = 0; i < 2; i++)
      for (let j = 0; j < 4; j++)
        for (let k = 0; k < 3; k++)
          expect(data[i * 12 + j * 3 + k]).toBe(i * 3 + k + 1 + (j + 1) * 10);
  });

  it("accepts numbers as operands, and comparisons give int32", () => {
    expect(arr(sub(10, tensor([1, 2])))).toEqual([9, 8]);
    expect(arr(div(tensor([1, 2]), 4))).toEqual([0.25, 0.5]);
    const eq = equal(tensor([1, 2, 3]), 2);
    expect(eq.dtype).toBe("int32");
    expect(arr(eq)).toEqual([0, 1, 0]);
    expect(arr(where(eq, tensor([1, 1, 1]), tensor([5, 6, 7])))).toEqual([5, 1, 7]);
    expect(arr(maximum(tensor([1, 5]), tensor([3, 2])))).toEqual([3, 5]);
  });

  it("names the op and both shapes when broadcasting fails", () => {
    expect(() => add(zeros([2, 3]), zeros([4]))).toThrow(
      "add: shapes [2, 3] and [4] cannot be broadcast together (axis -1: 3 vs 4); each dimension must match or be 1.",
    );
    expect(() => mul(zeros([3]), zeros([3], { dtype: "int32" }))).toThrow(
      'mul: dtypes differ (a is float32, b is int32); cast one first, e.g. cast(b, "float32").',
    );
  });
});

describe("shape ops", () => {
  const x = tensor(
    Array.from({ length: 24 }, (_, i) => i),
    [2, 3, 4],
  );

  it("reshape shares data and checks sizes", () => {
    expect(reshape(x, [4, -1]).shape).toEqual([4, 6]);
    expect(() => reshape(x, [5, -1])).toThrow(
      "reshape: cannot reshape [2, 3, 4] (24 elements) to [5, -1]",
    );
    expect(squeeze(zeros([1, 3, 1])).shape).toEqual([3]);
  });

  it("transpose, slice, pad, concat, stack, split, broadcastTo", () => {
    const t = transpose(x, [2, 0, 1]);
    expect(t.shape).toEqual([4, 2, 3]);
    expect(t.dataSync()[1 * 6 + 1 * 3 + 2]).toBe(1 * 12 + 2 * 4 + 1);
    const s = slice(x, [1, 1, 2], [1, 2, -1]);
    expect(arr(s)).toEqual([18, 19, 22, 23]);
    expect(() => slice(x, [0, 2, 0], [1, 2, 4])).toThrow(
      "slice: begin 2 with size 2 on axis 1 is out of bounds",
    );
    expect(arr(pad(tensor([1, 2]), [[1, 2]]))).toEqual([0, 1, 2, 0, 0]);
    const c = concat([tensor([[1, 2]]), tensor([[3, 4]])], 0);
    expect(c.shape).toEqual([2, 2]);
    expect(arr(c)).toEqual([1, 2, 3, 4]);
    expect(() => concat([zeros([2, 3]), zeros([2, 4])], 0)).toThrow(
      "concat: tensor 1 is float32 [2, 4]",
    );
    expect(stack([tensor([1, 2]), tensor([3, 4])], 1).arraySync()).toEqual([
      [1, 3],
      [2, 4],
    ]);
    expect(split(tensor([1, 2, 3, 4, 5]), [2, 3]).map(arr)).toEqual([
      [1, 2],
      [3, 4, 5],
    ]);
    expect(arr(broadcastTo(tensor([1, 2]), [2, 2]))).toEqual([1, 2, 1, 2]);
  });

  it("sums over non-contiguous axes", () => {
    expect(arr(sum(x, [0, 2]))).toEqual(
      [0, 1, 2].map((j) =>
        [0, 1].reduce(
          (acc, i) => acc + [0, 1, 2, 3].reduce((a2, k) => a2 + i * 12 + j * 4 + k, 0),
          0,
        ),
      ),
    );
    expect(sum(x).item()).toBe(276);
    expect(() => sum(x, 3)).toThrow(
      "sum: axis 3 is out of range for a tensor of rank 3; use an axis in [-3, 2].",
    );
  });
});

describe("matmul", () => {
  it("multiplies batched matrices with broadcasting and transposes", () => {
    const a = tensor([1, 2, 3, 4, 5, 6], [1, 2, 3]);
    const b = tensor([1, 0, 0, 1, 1, 1], [3, 2]);
    expect(matmul(a, b).arraySync()).toEqual([
      [
        [4, 5],
        [10, 11],
      ],
    ]);
    expect(matmul(a, b, { transposeA: false, transposeB: false }).shape).toEqual([1, 2, 2]);
    expect(matmul(tensor([[1, 2, 3]]), tensor([[1, 2, 3]]), { transposeB: true }).item()).toBe(14);
  });

  it("names both shapes when inner sizes differ", () => {
    expect(() => matmul(zeros([2, 3]), zeros([4, 5]))).toThrow(
      "matmul: inner dimensions differ: a [2, 3] has k = 3 but b [4, 5] has k = 4.",
    );
    expect(() => matmul(zeros([3]), zeros([3, 1]))).toThrow(
      "matmul: a [3] and b [3, 1] must both have rank ≥ 2",
    );
  });
});

describe("gather and scatterAdd", () => {
  it("gathers rows and scatters them back", () => {
    const table = tensor([
      [1, 2],
      [3, 4],
      [5, 6],
    ]);
    const idx = tensor(new Int32Array([2, 0, 2]), [3]);
    expect(gather(table, idx).arraySync()).toEqual([
      [5, 6],
      [1, 2],
      [5, 6],
    ]);
    expect(scatterAdd(zeros([3, 2]), idx, full([3, 2], 1)).arraySync()).toEqual([
      [1, 1],
      [0, 0],
      [2, 2],
    ]);
  });

  it("rejects out-of-range and non-int32 indices", () => {
    const table = zeros([3, 2]);
    expect(() => gather(table, tensor(new Int32Array([0, 3])))).toThrow(
      "gather: index 3 at position 1 is out of range for 3 rows; indices must be in [0, 3)",
    );
    expect(() => gather(table, tensor([0, 1]))).toThrow(
      'gather: indices must be int32, got float32; cast it with cast(indices, "int32").',
    );
  });
});
