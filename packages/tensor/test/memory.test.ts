import { describe, expect, it } from "vitest";
import {
  Random,
  adamw,
  add,
  crossEntropy,
  dispose,
  keep,
  matmul,
  memory,
  mul,
  rmsNorm,
  tanh,
  tensor,
  tidy,
  valueAndGrad,
  zeros,
  zerosLike,
  type Tensor,
} from "../src/index.js";

describe("memory management", () => {
  it("tidy disposes intermediates and keeps what it returns", () => {
    const before = memory();
    const kept = tidy(() => {
      const a = tensor([1, 2, 3]);
      const b = mul(a, 2);
      return { c: add(b, 1), list: [b] };
    });
    expect(Array.from(kept.c.dataSync())).toEqual([3, 5, 7]);
    expect(memory().numTensors - before.numTensors).toBe(2);
    dispose(kept);
    expect(memory()).toEqual(before);
  });

  it("keep() survives tidy, and nested tidy moves results outward", () => {
    const before = memory().numBuffers;
    let inner: Tensor | null = null;
    const outer = tidy(() => {
      const kept = keep(tensor([1]));
      inner = tidy(() => add(kept, 1));
      return add(inner, 1);
    });
    expect(outer.item()).toBe(3);
    expect(inner!.isDisposed).toBe(true);
    dispose(outer);
    expect(memory().numBuffers).toBe(before + 1); // the kept tensor
  });

  it("a disposed tensor used again throws an error that says what to do", () => {
    const a = tensor([1, 2]);
    a.dispose();
    a.dispose(); // a second dispose is a no-op
    expect(() => add(a, 1)).toThrow(
      /add: tensor #\d+ \(float32 \[2\]\) was disposed and cannot be used\. Keep it alive/,
    );
    expect(() => a.dataSync()).toThrow(/dataSync: tensor #\d+/);
  });

  it("`using` disposes at the end of the block", () => {
    const before = memory().numBuffers;
    {
      using t = zeros([4]);
      expect(t.size).toBe(4);
      expect(memory().numBuffers).toBe(before + 1);
    }
    expect(memory().numBuffers).toBe(before);
  });

  it("tidy refuses async functions and cleans up after a throw", () => {
    const before = memory().numBuffers;
    expect(() =>
      tidy(() => {
        tensor([1]);
        throw new Error("boom");
      }),
    ).toThrow("boom");
    expect(memory().numBuffers).toBe(before);
    expect(() => tidy(async () => tensor([1]))).toThrow("tidy: the function returned a Promise");
    expect(memory().numBuffers).toBe(before);
  });

  it("the count of live buffers does not grow across repeated training steps", () => {
    const rng = new Random(1);
    const params = {
      w1: rng.normal([8, 4], { std: 0.5 }),
      w2: rng.normal([5, 8], { std: 0.5 }),
      g: rng.normal([8], { mean: 1, std: 0.1 }),
    };
    const moments = Object.values(params).map((p) => ({ m: zerosLike(p), v: zerosLike(p) }));
    const x = rng.normal([6, 4]);
    const targets = tensor(new Int32Array([0, 1, 2, 3, -100, 4]));
    const loss = valueAndGrad((p: typeof params) =>
      crossEntropy(
        matmul(rmsNorm(tanh(matmul(x, p.w1, { transposeB: true })), p.g), p.w2, {
          transposeB: true,
        }),
        targets,
      ),
    );
    const counts: number[] = [];
    const losses: number[] = [];
    for (let step = 1; step <= 6; step++) {
      tidy(() => {
        const { value, grads } = loss(params);
        losses.push(value.item());
        const names = Object.keys(params) as (keyof typeof params)[];
        names.forEach((name, i) => {
          adamw(params[name], grads[name], moments[i].m, moments[i].v, { lr: 0.05, step });
        });
      });
      counts.push(memory().numBuffers);
    }
    expect(new Set(counts).size).toBe(1);
    expect(losses[5]).toBeLessThan(losses[0]);
  });
});
