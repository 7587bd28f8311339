import { describe, expect, it } from "vitest";
import { type HostTensor, decodeSafetensors, encodeSafetensors } from "../src/index.js";

const sample = (): Record<string, HostTensor> => ({
  "layers.0.weight": {
    dtype: "float32",
    shape: [2, 3],
    data: new Float32Array([1, -2, 3.5, 0, 1e-8, -0]),
  },
  "layers.0.A_log": {
    dtype: "float64",
    shape: [3],
    data: new Float64Array([Math.PI, -1e300, 5e-324]),
  },
  ids: { dtype: "int32", shape: [2, 1, 2], data: new Int32Array([-2147483648, 2147483647, 0, 7]) },
  scale: { dtype: "float32", shape: [], data: new Float32Array([0.25]) },
  empty: { dtype: "float64", shape: [0], data: new Float64Array(0) },
  "empty.2d": { dtype: "int32", shape: [3, 0], data: new Int32Array(0) },
});

/** A file from a header object (serialised as is, unpadded) and a data section. */
function rawFile(header: unknown, data: Uint8Array = new Uint8Array(0)): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

const expectDecodeError = (bytes: Uint8Array, message: string) =>
  expect(() => decodeSafetensors(bytes)).toThrow(`decodeSafetensors: ${message}`);

describe("safetensors", () => {
  it("round-trips F32, F64, I32, a scalar and empty tensors, with metadata", () => {
    const tensors = sample();
    const bytes = encodeSafetensors(tensors, { config: '{"d":8}', format: "bmojo" });
    const decoded = decodeSafetensors(bytes);
    expect(decoded.metadata).toEqual({ config: '{"d":8}', format: "bmojo" });
    expect(Object.keys(decoded.tensors)).toEqual(Object.keys(tensors));
    for (const [name, t] of Object.entries(tensors)) {
      const got = decoded.tensors[name];
      expect(got.dtype).toBe(t.dtype);
      expect(got.shape).toEqual(t.shape);
      expect(got.data.constructor).toBe(t.data.constructor);
      expect(Array.from(got.data)).toEqual(Array.from(t.data));
    }
    expect(Object.is(decoded.tensors["layers.0.weight"].data[5], -0)).toBe(true);
    expect(decodeSafetensors(encodeSafetensors({})).tensors).toEqual({});
  });

  it("reads and writes BF16 as 2-byte patterns of float32 values (PyTorch's layout)", () => {
    // 1.0 = 0x3f80, −2.5 = 0xc020, π rounds to 3.140625 = 0x4049.
    const patterns = new Uint8Array([0x80, 0x3f, 0x20, 0xc0, 0x49, 0x40]);
    const file = rawFile({ w: { dtype: "BF16", shape: [3], data_offsets: [0, 6] } }, patterns);
    const { tensors } = decodeSafetensors(file);
    expect(tensors.w.dtype).toBe("bfloat16");
    expect(tensors.w.data).toBeInstanceOf(Float32Array);
    expect(Array.from(tensors.w.data)).toEqual([1, -2.5, 3.140625]);
    const again = encodeSafetensors({
      w: { dtype: "bfloat16", shape: [3], data: Float32Array.of(1, -2.5, Math.PI) },
    });
    expect(again.subarray(again.length - 6)).toEqual(patterns);
  });

  it("lays tensors out in order with an 8-byte-aligned header, and decodes from unaligned memory", () => {
    const bytes = encodeSafetensors(sample());
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect((8 + n) % 8).toBe(0);
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
    expect(header["layers.0.weight"].data_offsets).toEqual([0, 24]);
    expect(header["layers.0.A_log"].data_offsets).toEqual([24, 48]);
    expect(header.ids.data_offsets).toEqual([48, 64]);
    expect(header.scale).toEqual({ dtype: "F32", shape: [], data_offsets: [64, 68] });
    expect(header.empty.data_offsets).toEqual([68, 68]);
    expect(bytes.length).toBe(8 + n + 68);
    // Shift the file by one byte: the F64 data is now misaligned in memory.
    const shifted = new Uint8Array(bytes.length + 1);
    shifted.set(bytes, 1);
    const decoded = decodeSafetensors(shifted.subarray(1));
    const aLog = decoded.tensors["layers.0.A_log"].data;
    expect(aLog.buffer).not.toBe(shifted.buffer);
    expect(aLog.byteOffset).toBe(0);
    expect(aLog[0]).toBe(Math.PI);
  });

  it("matches a byte layout built by hand", () => {
    const bytes = encodeSafetensors({
      x: { dtype: "float32", shape: [2], data: new Float32Array([1, -2]) },
    });
    const json = '{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}'; // 54 bytes
    const expected = [
      ...[56, 0, 0, 0, 0, 0, 0, 0], // header length 54 + 2 spaces of padding, u64 little-endian
      ...Array.from(json, (c) => c.charCodeAt(0)),
      0x20,
      0x20,
      ...[0x00, 0x00, 0x80, 0x3f], // 1.0f little-endian
      ...[0x00, 0x00, 0x00, 0xc0], // -2.0f
    ];
    expect(json.length).toBe(54);
    expect(Array.from(bytes)).toEqual(expected);
  });

  it("reports truncation at every point of a file", () => {
    const bytes = encodeSafetensors({
      a: { dtype: "float32", shape: [2], data: new Float32Array([1, 2]) },
      b: { dtype: "float64", shape: [2], data: new Float64Array([3, 4]) },
    });
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expectDecodeError(
      bytes.subarray(0, 0),
      "the file is 0 bytes long, shorter than the 8-byte header length",
    );
    expectDecodeError(bytes.subarray(0, 5), "the file is 5 bytes long");
    expectDecodeError(bytes.subarray(0, 8), `truncated: header says ${n} bytes but only 0 follow.`);
    expectDecodeError(
      bytes.subarray(0, 8 + n - 1),
      `truncated: header says ${n} bytes but only ${n - 1} follow.`,
    );
    expectDecodeError(
      bytes.subarray(0, 8 + n + 4),
      "truncated: tensor a needs bytes [0, 8) but the data section has only 4 bytes.",
    );
    expectDecodeError(
      bytes.subarray(0, bytes.length - 1),
      "truncated: tensor b needs bytes [8, 24) but the data section has only 23 bytes.",
    );
    const huge = bytes.slice();
    new DataView(huge.buffer).setBigUint64(0, 2n ** 63n, true);
    expectDecodeError(
      huge,
      `truncated: header says 9223372036854775808 bytes but only ${bytes.length - 8} follow.`,
    );
  });

  it("rejects invalid headers with a clear message", () => {
    const good = encodeSafetensors({
      x: { dtype: "float32", shape: [2], data: new Float32Array([1, -2]) },
    });
    /** The file with the first occurrence of ASCII `from` overwritten by `to` (same length). */
    const corrupt = (from: string, to: string): Uint8Array => {
      const needle = new TextEncoder().encode(from);
      const at = good.findIndex((_, i) => needle.every((b, j) => good[i + j] === b));
      expect(at).toBeGreaterThan(0);
      const out = good.slice();
      out.set(new TextEncoder().encode(to), at);
      return out;
    };
    expectDecodeError(corrupt('{"x"', '["x"'), "the header is not valid JSON (");
    expectDecodeError(rawFile([1, 2]), "the header must be a JSON object of tensor entries.");
    const utf8 = good.slice();
    utf8[9] = 0xff;
    expectDecodeError(utf8, "the header is not valid UTF-8");
    expectDecodeError(
      corrupt('"F32"', '"F16"'),
      "tensor x has dtype F16, which is not supported yet (supported: F32, F64, I32, BF16)",
    );
    const data = new Uint8Array(8);
    expectDecodeError(
      rawFile({ x: { dtype: "I8", shape: [8], data_offsets: [0, 8] } }, data),
      "tensor x has dtype I8, which is not supported yet",
    );
    expectDecodeError(
      rawFile({ x: { dtype: "Q7", shape: [2], data_offsets: [0, 8] } }, data),
      'tensor x has unknown dtype "Q7"; supported: F32, F64, I32, BF16.',
    );
    expectDecodeError(
      corrupt("[2]", "[3]"),
      "tensor x has shape [3] (3 × 4 bytes = 12) but data_offsets [0, 8] span 8 bytes.",
    );
    expectDecodeError(
      rawFile({ x: { dtype: "F32", shape: [-1], data_offsets: [0, 8] } }, data),
      "tensor x: shape must be an array of non-negative integers, got [-1].",
    );
    expectDecodeError(
      rawFile({ x: { dtype: "F32", shape: [2], data_offsets: [8, 0] } }, data),
      "tensor x: data_offsets must be [begin, end] with 0 ≤ begin ≤ end, got [8,0].",
    );
    expectDecodeError(
      rawFile(
        { x: { dtype: "F32", shape: [2], data_offsets: [0, 8] }, __metadata__: { n: 1 } },
        data,
      ),
      "__metadata__.n must be a string, got 1.",
    );
  });

  it("rejects overlapping tensors", () => {
    const data = new Uint8Array(12);
    expectDecodeError(
      rawFile(
        {
          a: { dtype: "F32", shape: [2], data_offsets: [0, 8] },
          e: { dtype: "F32", shape: [0], data_offsets: [4, 4] },
          b: { dtype: "I32", shape: [2], data_offsets: [4, 12] },
        },
        data,
      ),
      "tensors a [0, 8) and b [4, 12) overlap in the data section.",
    );
  });

  it("validates what it encodes", () => {
    expect(() =>
      encodeSafetensors({ x: { dtype: "float32", shape: [3], data: new Float32Array(2) } }),
    ).toThrow("encodeSafetensors: tensor x: shape [3] has 3 elements but data has 2.");
    expect(() =>
      encodeSafetensors({ x: { dtype: "float64", shape: [2], data: new Float32Array(2) } }),
    ).toThrow(
      "encodeSafetensors: tensor x: dtype float64 needs a Float64Array of data, got Float32Array.",
    );
    expect(() =>
      encodeSafetensors({
        __metadata__: { dtype: "float32", shape: [0], data: new Float32Array(0) },
      }),
    ).toThrow('"__metadata__" cannot be a tensor name');
  });
});
