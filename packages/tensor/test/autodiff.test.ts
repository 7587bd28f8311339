import { describe, expect, it } from "vitest";
import {
  add,
  grad,
  mul,
  noGrad,
  reshape,
  stopGradient,
  sum,
  tensor,
  valueAndGrad,
  type Tensor,
} from "../src/index.js";

const arr = (t: Tensor) => Array.from(t.dataSync());

describe("valueAndGrad", () => {
  it("differentiates over a tree of parameters", () => {
    const f = valueAndGrad((p: { a: Tensor; list: Tensor[] }) =>
      sum(mul(mul(p.a, p.a), p.list[0])),
    );
    const a = tensor([1, 2, 3]);
    const b = tensor([4, 5, 6]);
    const { value, grads } = f({ a, list: [b] });
    expect(value.item()).toBe(1 * 4 + 4 * 5 + 9 * 6);
    expect(arr(grads.a)).toEqual([8, 20, 36]);
    expect(arr(grads.list[0])).toEqual([1, 4, 9]);
  });

  it("accumulates gradients of a tensor used several times, through reshapes and broadcasting", () => {
    const g = grad((x: Tensor) => sum(add(mul(reshape(x, [2, 1]), x), x)));
    // f = Σ_ij x_i x_j + 2 Σ_i x_i (broadcast [2,1] + [2]); df/dx_k = 2 Σ_i x_i + 2
    expect(arr(g(tensor([1, 2])))).toEqual([8, 8]);
  });

  it("gives zero gradients to unused parameters and passes extra arguments through", () => {
    const g = grad((p: { used: Tensor; unused: Tensor }, scale: number) => sum(mul(p.used, scale)));
    const grads = g({ used: tensor([1, 2]), unused: tensor([[1, 2, 3]]) }, 3);
    expect(arr(grads.used)).toEqual([3, 3]);
    expect(grads.unused.shape).toEqual([1, 3]);
    expect(arr(grads.unused)).toEqual([0, 0, 0]);
  });

  it("stopGradient and noGrad block the flow", () => {
    const g = grad((x: Tensor) =>
      sum(
        add(
          mul(x, stopGradient(x)),
          noGrad(() => mul(x, 10)),
        ),
      ),
    );
    expect(arr(g(tensor([2, 3])))).toEqual([2, 3]);
  });

  it("rejects non-scalar values, int parameters and nesting", () => {
    expect(() => valueAndGrad((x: Tensor) => mul(x, 2))(tensor([1, 2]))).toThrow(
      "valueAndGrad: f must return a scalar float tensor (the loss), got float32 [2].",
    );
    expect(() => grad((x: Tensor) => sum(x))(tensor(new Int32Array([1])))).toThrow(
      /valueAndGrad: parameter #\d+ is int32; gradients need float parameters \(float32, float64 or bfloat16\)\./,
    );
    const inner = grad((x: Tensor) => sum(x));
    expect(() => grad((x: Tensor) => sum(inner(x)))(tensor([1]))).toThrow(
      "valueAndGrad: already computing a gradient; nested (higher-order) gradients are not supported.",
    );
  });
});
