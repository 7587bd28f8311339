/**
 * Element types. `float64` exists on backends that list it (the cpu backend) for gradient checks;
 * `bfloat16` is storage (2 bytes: float32's sign, exponent and top 7 mantissa bits) on backends
 * that list it (cuda; the cpu backend emulates it): kernels compute in float32 and round each
 * stored value to bfloat16 (nearest, ties to even). On the host a bfloat16 tensor's data is a
 * Float32Array of its values.
 */
export type DType = "float32" | "int32" | "float64" | "bfloat16";

export const DTYPES: readonly DType[] = ["float32", "int32", "float64", "bfloat16"];

/** The floating element types. */
export type FloatDType = Exclude<DType, "int32">;

/** A tensor's elements on the host (bfloat16 tensors read and write as Float32Array). */
export type TypedArray = Float32Array | Int32Array | Float64Array;

/** A buffer's elements as the backends store them: bfloat16 as its raw 16-bit patterns. */
export type StorageArray = TypedArray | Uint16Array;

export type TypedArrayFor<D extends DType> = D extends "float32" | "bfloat16"
  ? Float32Array
  : D extends "int32"
    ? Int32Array
    : Float64Array;

export function bytesPerElement(dtype: DType): number {
  return dtype === "float64" ? 8 : dtype === "bfloat16" ? 2 : 4;
}

export function isFloat(dtype: DType): boolean {
  return dtype !== "int32";
}

/** A host array of `size` zeros for a tensor of `dtype` (bfloat16: a Float32Array). */
export function allocTyped(dtype: DType, size: number): TypedArray {
  switch (dtype) {
    case "float32":
    case "bfloat16":
      return new Float32Array(size);
    case "int32":
      return new Int32Array(size);
    case "float64":
      return new Float64Array(size);
  }
}

/** View (not copy) of an ArrayBuffer region as `dtype`'s storage array. */
export function viewTyped(
  dtype: DType,
  buffer: ArrayBufferLike,
  byteOffset = 0,
  size?: number,
): StorageArray {
  switch (dtype) {
    case "float32":
      return new Float32Array(buffer, byteOffset, size);
    case "int32":
      return new Int32Array(buffer, byteOffset, size);
    case "float64":
      return new Float64Array(buffer, byteOffset, size);
    case "bfloat16":
      return new Uint16Array(buffer, byteOffset, size);
  }
}

const F32 = new Float32Array(1);
const U32 = new Uint32Array(F32.buffer);

/** The bfloat16 bit pattern of `x` (rounded to nearest, ties to even; NaN stays a quiet NaN). */
export function bfloat16Bits(x: number): number {
  F32[0] = x;
  const bits = U32[0];
  if ((bits & 0x7fffffff) > 0x7f800000) return ((bits >>> 16) | 0x0040) & 0xffff;
  return ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16) & 0xffff;
}

/** The value of a bfloat16 bit pattern. */
export function bfloat16Value(bits: number): number {
  U32[0] = (bits & 0xffff) << 16;
  return F32[0];
}

/** `x` rounded to the nearest bfloat16 value. */
export function roundBfloat16(x: number): number {
  return bfloat16Value(bfloat16Bits(x));
}

/** Bit patterns of `values`, each rounded to bfloat16. */
export function encodeBfloat16(
  values: ArrayLike<number>,
  out = new Uint16Array(values.length),
): Uint16Array {
  for (let i = 0; i < values.length; i++) out[i] = bfloat16Bits(values[i]);
  return out;
}

/** Values of bfloat16 bit patterns. */
export function decodeBfloat16(
  bits: Uint16Array,
  out = new Float32Array(bits.length),
): Float32Array {
  const wide = new Uint32Array(out.buffer, out.byteOffset, out.length);
  for (let i = 0; i < bits.length; i++) wide[i] = bits[i] << 16;
  return out;
}

/** A tensor's host array from its storage array (bfloat16 patterns decode to float32 values). */
export function hostArray(dtype: DType, data: StorageArray): TypedArray {
  if (dtype !== "bfloat16") return data as TypedArray;
  return decodeBfloat16(data as Uint16Array);
}

/** A storage array of `dtype` from host values (bfloat16 rounds each value). */
export function storageArray(dtype: DType, data: StorageArray): StorageArray {
  if (dtype !== "bfloat16" || data instanceof Uint16Array) return data;
  return encodeBfloat16(data);
}

export function dtypeOfTypedArray(a: TypedArray): DType {
  if (a instanceof Float32Array) return "float32";
  if (a instanceof Int32Array) return "int32";
  return "float64";
}

export function assertDType(value: unknown, where: string): DType {
  if (DTYPES.includes(value as DType)) return value as DType;
  throw new TypeError(
    `${where}: unknown dtype ${JSON.stringify(value)}; use one of ${DTYPES.join(", ")}.`,
  );
}
