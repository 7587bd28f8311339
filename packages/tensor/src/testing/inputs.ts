/** Deterministic host inputs for op-level conformance cases. */
import type { Backend } from "../backend/backend.js";
import type { DType } from "../dtype.js";
import { tensorFromHost } from "../ops/internal.js";
import type { Random } from "../random.js";
import { type Shape, sizeOf } from "../shape.js";
import type { Tensor } from "../tensor.js";

/** How an input's values are drawn. */
export type InputKind =
  | "normal"
  | "positive"
  | "nonzero"
  | "negative"
  | { int: [low: number, high: number] }
  | { values: readonly number[]; int?: boolean };

export interface InputSpec {
  readonly name: string;
  readonly shape: Shape;
  readonly kind?: InputKind;
  /** Not differentiated (indices, masks, and float inputs held fixed). Int inputs always are. */
  readonly constant?: boolean;
}

/** A stable 31-bit seed from a case name, so every case has its own inputs. */
export function seedOf(name: string): number {
  let h = 2166136261;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 16777619);
  return (h >>> 1) % 2147483647;
}

export function isIntInput(spec: InputSpec): boolean {
  const kind = spec.kind;
  if (typeof kind !== "object") return false;
  return "values" in kind ? kind.int === true : true;
}

/** Host values of an input: Int32Array for int inputs, Float64Array otherwise. */
export function drawInput(spec: InputSpec, rng: Random): Float64Array | Int32Array {
  const size = sizeOf(spec.shape);
  const kind = spec.kind ?? "normal";
  if (typeof kind === "object") {
    if ("values" in kind) {
      if (kind.values.length !== size)
        throw new Error(`input ${spec.name}: ${kind.values.length} values for ${size} elements`);
      return kind.int ? Int32Array.from(kind.values) : Float64Array.from(kind.values);
    }
    return rng.intArray(size, kind.int[0], kind.int[1]);
  }
  const u = rng.uniformArray(size, -1, 1, "float64") as Float64Array;
  switch (kind) {
    case "normal":
      return rng.normalArray(size, 0, 1, "float64") as Float64Array;
    case "positive":
      return u.map((x) => 0.75 + 0.5 * x);
    case "nonzero":
      return u.map((x) => Math.sign(x || 1) * (0.25 + Math.abs(x)));
    case "negative":
      return u.map((x) => -Math.exp(x));
  }
}

/** A tensor of the host values on `backend`: int inputs as int32, float inputs as `dtype`. */
export function toTensor(
  spec: InputSpec,
  host: Float64Array | Int32Array,
  dtype: DType,
  backend: Backend,
): Tensor {
  if (host instanceof Int32Array) return tensorFromHost(host, spec.shape, "int32", backend);
  const data = dtype === "float64" ? host : Float32Array.from(host);
  return tensorFromHost(data, spec.shape, dtype, backend);
}

/** An int32 tensor of `values` on `backend` (indices and masks built by a case). */
export function intTensor(values: ArrayLike<number>, shape: Shape, backend: Backend): Tensor {
  return tensorFromHost(Int32Array.from(values), shape, "int32", backend);
}
