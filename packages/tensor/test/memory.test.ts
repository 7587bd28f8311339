import { describe, expect, it } from "vitest";
import {
  CpuBackend,
  Random,
  adamw,
  add,
  crossEntropy,
  dispose,
  keep,
  matmul,
  memory,
  mul,
  resetPeakMemory,
  rmsNorm,
  split,
  tanh,
  tensor,
  tidy,
  valueAndGrad,
  zeros,
  zerosLike,
  type Tensor,
} from "../src/index.js";

describe("memory management", () => {
  it("counts the bytes tensors hold (views share their parent's) and the peak since a reset", () => {
    const backend = new CpuBackend("bytes-cpu");
    const start = memory(backend);
    expect(start).toMatchObject({ numBytes: 0, peakBytes: 0 });
    const a = tensor(new Float32Array(10), [10], { backend });
    const b = zeros([4], { dtype: "int32", backend });
    expect(memory(backend).numBytes).toBe(56);
    const [left, right] = split(a, [5, 5]); // contiguous parts: views of a
    expect(memory(backend).numBytes).toBe(56);
    a.dispose();
    left.dispose();
    right.dispose();
    expect(memory(backend)).toMatchObject({ numBytes: 16, peakBytes: 56 });
    resetPeakMemory(backend);
    expect(memory(backend).peakBytes).toBe(16);
    add(b, b).dispose();
    expect(memory(backend)).toMatchObject({ numBytes: 16, peakBytes: 32 });
    b.dispose();
    expect(memory(backend).numBytes).toBe(0);
    backend.dispose();
  });

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
    const after = memory();
    expect({ ...after, peakBytes: before.peakBytes }).toEqual(before); // the peak rose meanwhile
    expect(after.peakBytes).toBeGreaterThanOrEqual(before.numBytes + 3 * 4 * 3);
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
