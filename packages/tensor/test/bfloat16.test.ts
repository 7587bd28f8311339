import { describe, expect, it } from "vitest";
import {
  CpuBackend,
  add,
  bfloat16Bits,
  bfloat16Value,
  cast,
  decodeBfloat16,
  encodeBfloat16,
  matmul,
  mul,
  randomNormal,
  roundBfloat16,
  selectiveScanStep,
  sum,
  tensor,
  valueAndGrad,
  zeros,
} from "../src/index.js";

const arr = (t: { dataSync(): ArrayLike<number> }) => Array.from(t.dataSync());

describe("bfloat16 patterns", () => {
  it("round float32 to nearest, ties to even, and keep infinities, −0, subnormals and NaN", () => {
    expect(bfloat16Bits(1)).toBe(0x3f80);
    expect(bfloat16Bits(1 + 2 ** -8)).toBe(0x3f80); // tie, to even (down)
    expect(bfloat16Bits(1 + 3 * 2 ** -8)).toBe(0x3f82); // tie, to even (up)
    expect(bfloat16Bits(1 + 2 ** -8 + 2 ** -20)).toBe(0x3f81); // just above the tie
    expect(bfloat16Bits(-(1 + 3 * 2 ** -8))).toBe(0xbf82);
    expect(bfloat16Bits(-0)).toBe(0x8000);
    expect(bfloat16Bits(Number.POSITIVE_INFINITY)).toBe(0x7f80);
    expect(bfloat16Bits(Number.NEGATIVE_INFINITY)).toBe(0xff80);
    expect(bfloat16Bits(3.4e38)).toBe(0x7f80); // past the largest bfloat16 (3.3895e38): overflow
    expect(bfloat16Bits(3.38e38)).toBe(0x7f7e);
    expect(bfloat16Bits(1e-40)).toBe(0x0001); // subnormal
    expect(Number.isNaN(bfloat16Value(bfloat16Bits(Number.NaN)))).toBe(true);
    expect(bfloat16Value(0x3f81)).toBe(1 + 2 ** -7);
    expect(roundBfloat16(Math.PI)).toBe(3.140625);
  });

  it("decode and encode every pattern back to itself (NaNs stay NaNs)", () => {
    const all = new Uint16Array(65536).map((_, i) => i);
    const values = decodeBfloat16(all);
    const again = encodeBfloat16(values);
    for (let i = 0; i < all.length; i++) {
      if (Number.isNaN(values[i])) expect(Number.isNaN(bfloat16Value(again[i]))).toBe(true);
      else if (again[i] !== i) throw new Error(`pattern ${i} came back as ${again[i]}`);
    }
  });
});

describe("bfloat16 tensors on the cpu backend (emulated storage)", () => {
  it("store 2 bytes an element, round host values when written and read back float32 values", async () => {
    const t = tensor([1, 1 + 2 ** -8, Math.PI, -2.5], [4], { dtype: "bfloat16" });
    expect(t.dtype).toBe("bfloat16");
    expect(t.storage.bytes).toBe(8);
    const data = await t.data();
    expect(data).toBeInstanceOf(Float32Array);
    expect(Array.from(data)).toEqual([1, 1, 3.140625, -2.5]);
    expect(arr(t)).toEqual([1, 1, 3.140625, -2.5]);
  });

  it("cast from float32 rounds once; casting back is exact", () => {
    const x = randomNormal([64], 7);
    const h = cast(x, "bfloat16");
    expect(arr(h)).toEqual(arr(x).map(roundBfloat16));
    expect(arr(cast(h, "float32"))).toEqual(arr(h));
  });

  it("run a kernel as float32 on the decoded values and round each stored value once", () => {
    const a = cast(randomNormal([5, 33], 1), "bfloat16");
    const b = cast(randomNormal([33, 4], 2), "bfloat16");
    const product = matmul(a, b);
    expect(product.dtype).toBe("bfloat16");
    const wide = matmul(cast(a, "float32"), cast(b, "float32"));
    expect(arr(product)).toEqual(arr(wide).map(roundBfloat16));
    // A value the kernel leaves alone keeps its pattern: adding zeros changes nothing.
    expect(arr(add(a, zeros([5, 33], { dtype: "bfloat16" })))).toEqual(arr(a));
  });

  it("differentiate through bfloat16 compute into float32 parameters", () => {
    const w = randomNormal([8], 3);
    const x = cast(randomNormal([8], 4), "bfloat16");
    const { value, grads } = valueAndGrad((p: { w: typeof w }) =>
      cast(sum(mul(cast(p.w, "bfloat16"), x)), "float32"),
    )({ w });
    expect(value.dtype).toBe("float32");
    expect(grads.w.dtype).toBe("float32");
    expect(arr(grads.w)).toEqual(arr(x));
  });

  it("step a scan with bfloat16 inputs through a float32 state, as float32 on their values", () => {
    const [batch, channels, stateSize] = [2, 3, 4];
    const b16 = (shape: number[], seed: number) => cast(randomNormal(shape, seed), "bfloat16");
    const u = b16([batch, channels], 1);
    const delta = cast(randomNormal([batch, channels], 2, { std: 0.1 }), "bfloat16");
    const A = b16([channels, stateSize], 3);
    const B = b16([batch, stateSize], 4);
    const C = b16([batch, stateSize], 5);
    const wide = (t: typeof u) => cast(t, "float32");
    const state = randomNormal([batch, channels, stateSize], 6);
    const reference = cast(state, "float32");
    const y = selectiveScanStep(state, u, delta, A, B, C);
    const expected = selectiveScanStep(reference, wide(u), wide(delta), wide(A), wide(B), wide(C));
    expect(y.dtype).toBe("bfloat16");
    expect(state.dtype).toBe("float32");
    expect(arr(y)).toEqual(arr(expected).map(roundBfloat16));
    expect(arr(state)).toEqual(arr(reference)); // h kept in float32, not rounded
    expect(() =>
      selectiveScanStep(cast(state, "bfloat16"), wide(u), wide(delta), wide(A), wide(B), wide(C)),
    ).toThrow(
      /selectiveScanStep: state is bfloat16 but the inputs are float32; the state must have the inputs' dtype\./,
    );
  });

  it("refuse bfloat16 on a backend that does not list it, naming the backends that do", () => {
    class Float32Only extends CpuBackend {
      override readonly dtypes = ["float32", "int32"] as const;
    }
    const backend = new Float32Only("f32-only");
    expect(() => tensor([1, 2], [2], { dtype: "bfloat16", backend })).toThrow(
      /backend 'f32-only' does not support dtype bfloat16.*'cuda' backend/,
    );
  });
});
