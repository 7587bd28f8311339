/**
 * The safetensors format, as pure functions on bytes (no Node APIs: usable in browsers).
 *
 *   [8 bytes]  N, the header length, unsigned 64-bit little-endian
 *   [N bytes]  UTF-8 JSON: { "__metadata__"?: {string: string},
 *                            name: { "dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end] }, … }
 *              padded with spaces so that 8 + N is a multiple of 8
 *   [rest]     the data section; offsets are relative to its start; row-major, little-endian
 */
import {
  type DType,
  type TypedArray,
  bytesPerElement,
  decodeBfloat16,
  encodeBfloat16,
} from "@bmojo/tensor";

/**
 * A tensor held in host memory: what encode takes and decode returns. A bfloat16 tensor's data is
 * a Float32Array of its values (encode rounds them to bfloat16; the file holds 2-byte patterns).
 */
export interface HostTensor {
  dtype: DType;
  shape: number[];
  data: TypedArray;
}

/** The safetensors dtype tag of each dtype this library has. */
export const SAFETENSORS_DTYPE: Readonly<Record<DType, string>> = {
  float32: "F32",
  float64: "F64",
  int32: "I32",
  bfloat16: "BF16",
};

const FROM_TAG: Readonly<Record<string, DType>> = {
  F32: "float32",
  F64: "float64",
  I32: "int32",
  BF16: "bfloat16",
};
/** Tags of the format this library cannot read yet (it has no such dtype). */
const UNSUPPORTED_TAGS = [
  "F16",
  "F8_E4M3",
  "F8_E5M2",
  "I64",
  "I16",
  "I8",
  "U8",
  "U16",
  "U32",
  "U64",
  "BOOL",
];
const METADATA_KEY = "__metadata__";
const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Bytes of a safetensors file holding `tensors` in the given order, and `metadata` if given. */
export function encodeSafetensors(
  tensors: Record<string, HostTensor>,
  metadata?: Record<string, string>,
): Uint8Array {
  const header: Record<string, unknown> = {};
  if (metadata !== undefined) {
    for (const [key, value] of Object.entries(metadata)) {
      if (typeof value !== "string") {
        throw new TypeError(
          `encodeSafetensors: metadata value for "${key}" must be a string, got ${typeof value}; use JSON.stringify for structured values.`,
        );
      }
    }
    header[METADATA_KEY] = { ...metadata };
  }
  let offset = 0;
  const entries = Object.entries(tensors);
  for (const [name, t] of entries) {
    validateForEncode(name, t);
    const bytes = t.data.length * bytesPerElement(t.dtype);
    header[name] = {
      dtype: SAFETENSORS_DTYPE[t.dtype],
      shape: [...t.shape],
      data_offsets: [offset, offset + bytes],
    };
    offset += bytes;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const headerLength = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + headerLength + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerLength), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + headerLength);
  let at = 8 + headerLength;
  for (const [, t] of entries) {
    writeLittleEndian(out, at, t);
    at += t.data.length * bytesPerElement(t.dtype);
  }
  return out;
}

/**
 * Parses a safetensors file. Every tensor's data is copied into a fresh typed array (aligned, not
 * a view of `bytes`). Throws an Error naming the problem: a file too short, a truncated header or
 * data section, invalid JSON, an unsupported dtype, a shape that disagrees with its byte range,
 * or overlapping tensors.
 */
export function decodeSafetensors(bytes: Uint8Array): {
  tensors: Record<string, HostTensor>;
  metadata: Record<string, string>;
} {
  if (bytes.length < 8) {
    fail(
      `the file is ${bytes.length} bytes long, shorter than the 8-byte header length; it is truncated or not a safetensors file.`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const declared = view.getBigUint64(0, true);
  const available = bytes.length - 8;
  if (declared > BigInt(available)) {
    fail(`truncated: header says ${declared} bytes but only ${available} follow.`);
  }
  const headerLength = Number(declared);
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(8, 8 + headerLength));
  } catch {
    return fail("the header is not valid UTF-8; this is not a safetensors file.");
  }
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (err) {
    return fail(`the header is not valid JSON (${(err as Error).message}).`);
  }
  if (header === null || typeof header !== "object" || Array.isArray(header)) {
    fail("the header must be a JSON object of tensor entries.");
  }
  const dataStart = 8 + headerLength;
  const dataLength = bytes.length - dataStart;
  const metadata: Record<string, string> = {};
  const parsed: [string, HostTensor, number, number][] = [];
  for (const [name, entry] of Object.entries(header as Record<string, unknown>)) {
    if (name === METADATA_KEY) {
      Object.assign(metadata, parseMetadata(entry));
      continue;
    }
    const { dtype, shape, begin, end } = parseEntry(name, entry);
    const elements = shape.reduce((a, b) => a * b, 1);
    if (end - begin !== elements * bytesPerElement(dtype)) {
      fail(
        `tensor ${name} has shape [${shape.join(", ")}] (${elements} × ${bytesPerElement(dtype)} bytes = ${elements * bytesPerElement(dtype)}) ` +
          `but data_offsets [${begin}, ${end}] span ${end - begin} bytes.`,
      );
    }
    if (end > dataLength) {
      fail(
        `truncated: tensor ${name} needs bytes [${begin}, ${end}) but the data section has only ${dataLength} bytes.`,
      );
    }
    parsed.push([name, { dtype, shape, data: new Float32Array(0) }, begin, end]);
  }
  assertNoOverlap(parsed);
  const tensors = Object.fromEntries(
    parsed.map(([name, t, begin, end]) => [
      name,
      { ...t, data: readLittleEndian(bytes, dataStart + begin, dataStart + end, t.dtype) },
    ]),
  );
  return { tensors, metadata };
}

/** Fails naming two tensors whose byte ranges intersect (empty tensors occupy no bytes). */
function assertNoOverlap(parsed: readonly [string, HostTensor, number, number][]): void {
  const byStart = parsed.filter(([, , b, e]) => e > b).sort((a, b) => a[2] - b[2]);
  for (let i = 1; i < byStart.length; i++) {
    const [prevName, , prevBegin, prevEnd] = byStart[i - 1];
    const [name, , begin, end] = byStart[i];
    if (begin < prevEnd) {
      fail(
        `tensors ${prevName} [${prevBegin}, ${prevEnd}) and ${name} [${begin}, ${end}) overlap in the data section.`,
      );
    }
  }
}

function fail(msg: string): never {
  throw new Error(`decodeSafetensors: ${msg}`);
}

function parseEntry(
  name: string,
  entry: unknown,
): { dtype: DType; shape: number[]; begin: number; end: number } {
  if (entry === null || typeof entry !== "object" || Array.isArray(entry)) {
    fail(`tensor ${name}: the entry must be an object with dtype, shape and data_offsets.`);
  }
  const { dtype: tag, shape, data_offsets: offsets } = entry as Record<string, unknown>;
  if (typeof tag !== "string")
    fail(`tensor ${name}: dtype must be a string, got ${JSON.stringify(tag)}.`);
  const dtype = FROM_TAG[tag as string];
  if (dtype === undefined) {
    const supported = Object.keys(FROM_TAG).join(", ");
    fail(
      UNSUPPORTED_TAGS.includes(tag as string)
        ? `tensor ${name} has dtype ${tag}, which is not supported yet (supported: ${supported}); convert it before saving, e.g. tensor.float() in PyTorch.`
        : `tensor ${name} has unknown dtype ${JSON.stringify(tag)}; supported: ${supported}.`,
    );
  }
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    fail(
      `tensor ${name}: shape must be an array of non-negative integers, got ${JSON.stringify(shape)}.`,
    );
  }
  if (
    !Array.isArray(offsets) ||
    offsets.length !== 2 ||
    !offsets.every((o) => Number.isSafeInteger(o) && o >= 0) ||
    offsets[0] > offsets[1]
  ) {
    fail(
      `tensor ${name}: data_offsets must be [begin, end] with 0 ≤ begin ≤ end, got ${JSON.stringify(offsets)}.`,
    );
  }
  const [begin, end] = offsets as [number, number];
  return { dtype, shape: shape as number[], begin, end };
}

function parseMetadata(entry: unknown): Record<string, string> {
  if (entry === null || typeof entry !== "object" || Array.isArray(entry)) {
    fail("__metadata__ must be an object of string values.");
  }
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(entry as Record<string, unknown>)) {
    if (typeof value !== "string") {
      fail(`__metadata__.${key} must be a string, got ${JSON.stringify(value)}.`);
    }
    out[key] = value as string;
  }
  return out;
}

function validateForEncode(name: string, t: HostTensor): void {
  const where = `encodeSafetensors: tensor ${name}`;
  if (name === METADATA_KEY || name.length === 0) {
    throw new RangeError(`encodeSafetensors: "${name}" cannot be a tensor name.`);
  }
  if (!(t.dtype in SAFETENSORS_DTYPE)) {
    throw new TypeError(
      `${where}: unknown dtype ${JSON.stringify(t.dtype)}; use float32, float64, int32 or bfloat16.`,
    );
  }
  const expected =
    t.dtype === "int32" ? Int32Array : t.dtype === "float64" ? Float64Array : Float32Array;
  if (!(t.data instanceof expected)) {
    throw new TypeError(
      `${where}: dtype ${t.dtype} needs a ${expected.name} of data, got ${t.data?.constructor?.name}.`,
    );
  }
  if (!Array.isArray(t.shape) || !t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new RangeError(
      `${where}: shape must be an array of non-negative integers, got ${JSON.stringify(t.shape)}.`,
    );
  }
  const elements = t.shape.reduce((a, b) => a * b, 1);
  if (elements !== t.data.length) {
    throw new RangeError(
      `${where}: shape [${t.shape.join(", ")}] has ${elements} elements but data has ${t.data.length}.`,
    );
  }
}

function writeLittleEndian(out: Uint8Array, at: number, t: HostTensor): void {
  const data = t.dtype === "bfloat16" ? encodeBfloat16(t.data) : t.data;
  if (HOST_LITTLE_ENDIAN) {
    out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), at);
    return;
  }
  const view = new DataView(out.buffer, out.byteOffset);
  const size = bytesPerElement(t.dtype);
  for (let i = 0; i < data.length; i++) {
    const p = at + i * size;
    if (t.dtype === "float32") view.setFloat32(p, data[i], true);
    else if (t.dtype === "int32") view.setInt32(p, data[i], true);
    else if (t.dtype === "bfloat16") view.setUint16(p, data[i], true);
    else view.setFloat64(p, data[i], true);
  }
}

function readLittleEndian(bytes: Uint8Array, start: number, end: number, dtype: DType): TypedArray {
  const size = (end - start) / bytesPerElement(dtype);
  const out =
    dtype === "int32"
      ? new Int32Array(size)
      : dtype === "float64"
        ? new Float64Array(size)
        : dtype === "bfloat16"
          ? new Uint16Array(size)
          : new Float32Array(size);
  if (HOST_LITTLE_ENDIAN) {
    new Uint8Array(out.buffer).set(bytes.subarray(start, end));
  } else {
    const view = new DataView(bytes.buffer, bytes.byteOffset);
    for (let i = 0; i < size; i++) {
      const p = start + i * bytesPerElement(dtype);
      out[i] =
        dtype === "float32"
          ? view.getFloat32(p, true)
          : dtype === "int32"
            ? view.getInt32(p, true)
            : dtype === "bfloat16"
              ? view.getUint16(p, true)
              : view.getFloat64(p, true);
    }
  }
  return out instanceof Uint16Array ? decodeBfloat16(out) : out;
}
