import { describe, expect, it } from "vitest";
import { ArgWriter } from "../src/kernels/writer.js";

describe("ArgWriter", () => {
  it("writes numbers, flags, buffers and dtype codes in order, growing as needed", () => {
    const w = new ArgWriter();
    w.reset()
      .dtype("float32")
      .dtype("int32")
      .dtype("bfloat16")
      .buf(7)
      .optBuf(null)
      .flag(true)
      .flag(false);
    for (let i = 0; i < 300; i++) w.num(i);
    const v = w.view();
    expect(Array.from(v.subarray(0, 7))).toEqual([0, 1, 2, 7, -1, 1, 0]);
    expect(v.length).toBe(307);
    expect(v[306]).toBe(299);
    expect(w.reset().num(5).view().length).toBe(1);
  });

  it("refuses float64 with a fix", () => {
    expect(() => new ArgWriter().dtype("float64")).toThrow(
      /stores float32, bfloat16 and int32, not float64; cast/,
    );
  });
});
