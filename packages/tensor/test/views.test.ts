import { describe, expect, it } from "vitest";
import { assign, memory, mul, split, sum, tensor, tidy, valueAndGrad } from "../src/index.js";

describe("split: parts as views of the input's buffer", () => {
  it("shares the buffer when only 1s precede the axis, and copies otherwise", () => {
    tidy(() => {
      const x = tensor([0, 1, 2, 3, 4, 5, 6, 7], [1, 8]);
      const [a, b, c] = split(x, [2, 4, 2], 1);
      for (const part of [a, b, c]) expect(part.storage.parent).toBe(x.storage);
      expect(Array.from(a.dataSync())).toEqual([0, 1]);
      expect(Array.from(b.dataSync())).toEqual([2, 3, 4, 5]);
      expect(Array.from(c.dataSync())).toEqual([6, 7]);
      const y = tensor([0, 1, 2, 3, 4, 5, 6, 7], [2, 4]);
      const [p] = split(y, 2, 1);
      expect(p.storage.parent).toBeNull();
      expect(Array.from(p.dataSync())).toEqual([0, 1, 4, 5]);
    });
  });

  it("keeps the parent's buffer alive until the last view is freed", () => {
    const before = memory().numBuffers;
    const x = tensor([1, 2, 3, 4], [1, 1, 4]);
    const [a, b] = split(x, 2, 2);
    expect(memory().numBuffers).toBe(before + 3);
    x.dispose();
    expect(Array.from(b.dataSync())).toEqual([3, 4]);
    a.dispose();
    b.dispose();
    expect(memory().numBuffers).toBe(before);
  });

  it("shares the write count: an in-place write to a part bumps the input's version", () => {
    tidy(() => {
      const x = tensor([1, 2, 3, 4], [1, 4]);
      const [, b] = split(x, 2, 1);
      const v = x.version;
      assign(b, tensor([7, 8], [1, 2]));
      expect(x.version).toBe(v + 1);
      expect(b.version).toBe(x.version);
      expect(Array.from(x.dataSync())).toEqual([1, 2, 7, 8]);
    });
  });

  it("backpropagates like slices", () => {
    tidy(() => {
      const w1 = tensor([10, 20], [1, 2]);
      const w2 = tensor([1, 2, 3], [1, 3]);
      const f = (x: ReturnType<typeof tensor>) => {
        const [a, b] = split(x, [2, 3], 1);
        expect(a.storage.parent).not.toBeNull();
        return sum(mul(a, w1)).add(sum(mul(mul(b, b), w2)));
      };
      const x = tensor([1, 2, 3, 4, 5], [1, 5]);
      const { grads } = valueAndGrad(f)(x);
      // d/da = w1; d/db = 2·b·w2.
      expect(Array.from((grads as ReturnType<typeof tensor>).dataSync())).toEqual([
        10, 20, 6, 16, 30,
      ]);
    });
  });
});
