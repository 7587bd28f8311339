/** Element types. `float64` exists on backends that list it (the cpu backend) for gradient checks. */
export type DType = "float32" | "int32" | "float64";

export const DTYPES: readonly DType[] = ["float32", "int32", "float64"];

export type TypedArray = Float32Array | Int32Array | Float64Array;

export type TypedArrayFor<D extends DType> = D extends "float32"
  ? Float32Array
  : D extends "int32"
    ? Int32Array
    : Float64Array;

export function bytesPerElement(dtype: DType): number {
  return dtype === "float64" ? 8 : 4;
}

export function isFloat(dtype: DType): boolean {
  return dtype === "float32" || dtype === "float64";
}

/** A typed array of `size` zeros for `dtype`. */
export function allocTyped(dtype: DType, size: number): TypedArray {
  switch (dtype) {
    case "float32":
      return new Float32Array(size);
    case "int32":
      return new Int32Array(size);
    case "float64":
      return new Float64Array(size);
  }
}

/** View (not copy) of an ArrayBuffer region as `dtype`. */
export function viewTyped(
  dtype: DType,
  buffer: ArrayBufferLike,
  byteOffset = 0,
  size?: number,
): TypedArray {
  switch (dtype) {
    case "float32":
      return new Float32Array(buffer, byteOffset, size);
    case "int32":
      return new Int32Array(buffer, byteOffset, size);
    case "float64":
      return new Float64Array(buffer, byteOffset, size);
  }
}

export function dtypeOfTypedArray(a: TypedArray): DType {
  if (a instanceof Float32Array) return "float32";
  if (a instanceof Int32Array) return "int32";
  return "float64";
}

export function assertDType(value: unknown, where: string): DType {
  if (value === "float32" || value === "int32" || value === "float64") return value;
  throw new TypeError(
    `${where}: unknown dtype ${JSON.stringify(value)}; use one of ${DTYPES.join(", ")}.`,
  );
}
