/**
 * Runs one kernel call on a backend with host inputs and returns host outputs, and compares such a
 * call between the backend under test and the reference cpu backend.
 */
import { type Backend, kernelOf } from "../backend/backend.js";
import type { BufferId, KernelName, KernelTable } from "../backend/kernels.js";
import {
  type DType,
  type StorageArray,
  type TypedArray,
  bytesPerElement,
  dtypeOfTypedArray,
  hostArray,
  storageArray,
} from "../dtype.js";
import { assertClose } from "./compare.js";
import { type ConformanceContext, TOLERANCE, type Tolerance } from "./types.js";

/** The argument object of kernel `K`. */
export type KernelArgs<K extends KernelName> = Parameters<KernelTable[K]>[0];

/** An output buffer of a kernel call: its element type, its size, and optionally its contents. */
export interface OutputSpec {
  readonly dtype: DType;
  readonly size: number;
  /**
   * Initial contents (length `size`, element type `dtype`): for in-place outputs (adamw's param,
   * m, v; scatterAdd's out; the *Step kernels' state) and for writes into a region of `out`
   * (copy). Without it the buffer is filled with a sentinel (NaN, or INT32_SENTINEL for int32)
   * so an element the kernel should have written but did not shows up in the comparison.
   */
  readonly init?: TypedArray;
}

/**
 * One kernel call: named host inputs, named outputs, and the kernel's arguments given the ids.
 * An input given as a Uint16Array holds bfloat16 patterns.
 */
export interface KernelCall<K extends KernelName> {
  readonly inputs: Readonly<Record<string, StorageArray>>;
  readonly outputs: Readonly<Record<string, OutputSpec>>;
  /** Builds the kernel's arguments from the buffer ids of every input and output, by name. */
  readonly args: (ids: Readonly<Record<string, BufferId>>) => KernelArgs<K>;
}

/** The value an int32 output holds before the kernel runs (when it has no `init`). */
export const INT32_SENTINEL = -12345;

function sentinel(dtype: DType, size: number): TypedArray {
  switch (dtype) {
    case "float32":
    case "bfloat16":
      return new Float32Array(size).fill(Number.NaN);
    case "float64":
      return new Float64Array(size).fill(Number.NaN);
    case "int32":
      return new Int32Array(size).fill(INT32_SENTINEL);
  }
}

/** Allocates a buffer for `size` elements; never 0 bytes, since some backends cannot allocate 0. */
function allocElements(backend: Backend, dtype: DType, size: number): BufferId {
  return backend.alloc(Math.max(size, 1) * bytesPerElement(dtype));
}

/** The dtype a buffer is stored as: float32 becomes `floatDType` when that is bfloat16. */
function storedAs(dtype: DType, floatDType: DType | undefined): DType {
  return dtype === "float32" && floatDType === "bfloat16" ? "bfloat16" : dtype;
}

/** The dtype of a host input (a Uint16Array holds bfloat16 patterns). */
function dtypeOfInput(data: StorageArray): DType {
  return data instanceof Uint16Array ? "bfloat16" : dtypeOfTypedArray(data);
}

/**
 * Runs `kernel` once on `backend`: allocates and writes every input, allocates every output
 * (writing `init`, or a sentinel), calls the kernel, waits for `sync()`, reads every output back
 * (as host values: bfloat16 as float32) and frees every buffer it allocated (also when the kernel
 * throws). With `floatDType` bfloat16, Float32Array inputs and float32 outputs are stored as
 * bfloat16.
 */
export async function runKernel<K extends KernelName>(
  backend: Backend,
  kernel: K,
  call: KernelCall<K>,
  floatDType?: DType,
): Promise<Record<string, TypedArray>> {
  for (const name of Object.keys(call.outputs)) {
    if (Object.hasOwn(call.inputs, name)) {
      throw new Error(`runKernel(${kernel}): '${name}' is both an input and an output`);
    }
  }
  const fn = kernelOf(backend, kernel) as (args: KernelArgs<K>) => void;
  const ids: Record<string, BufferId> = {};
  const allocated: BufferId[] = [];
  try {
    for (const [name, data] of Object.entries(call.inputs)) {
      const dtype = storedAs(dtypeOfInput(data), floatDType);
      const id = allocElements(backend, dtype, data.length);
      allocated.push(id);
      ids[name] = id;
      if (data.length > 0) backend.write(id, storageArray(dtype, data));
    }
    for (const [name, spec] of Object.entries(call.outputs)) {
      const dtype = storedAs(spec.dtype, floatDType);
      const init = spec.init ?? sentinel(dtype, spec.size);
      const initDType = storedAs(dtypeOfTypedArray(init), dtype === "bfloat16" ? dtype : undefined);
      if (init.length !== spec.size || initDType !== dtype) {
        throw new Error(
          `runKernel(${kernel}): init of output '${name}' is ${dtypeOfTypedArray(init)}[${init.length}], ` +
            `expected ${dtype}[${spec.size}]`,
        );
      }
      const id = allocElements(backend, dtype, spec.size);
      allocated.push(id);
      ids[name] = id;
      if (spec.size > 0) backend.write(id, storageArray(dtype, init));
    }
    fn(call.args(ids));
    await backend.sync();
    const results: Record<string, TypedArray> = {};
    for (const [name, spec] of Object.entries(call.outputs)) {
      const dtype = storedAs(spec.dtype, floatDType);
      results[name] = hostArray(dtype, await backend.read(ids[name], dtype, spec.size));
    }
    return results;
  } finally {
    for (const id of allocated) backend.free(id);
  }
}

/** `tol`, or the dtype's default; never tighter than bfloat16's own step for bfloat16. */
function toleranceFor(dtype: DType, tol: Tolerance | undefined): Tolerance {
  const own = TOLERANCE[dtype];
  if (tol === undefined) return own;
  if (dtype !== "bfloat16") return tol;
  return { atol: Math.max(tol.atol, own.atol), rtol: Math.max(tol.rtol, own.rtol) };
}

/**
 * Runs the call on `ctx.backend` and on `ctx.reference` and asserts every output is close
 * (ConformanceMismatch naming `kernel.output` otherwise). Float outputs use `tol`, or
 * TOLERANCE[dtype] when not given; int32 outputs must match exactly. Returns the reference's
 * outputs.
 */
export async function compareKernel<K extends KernelName>(
  ctx: ConformanceContext,
  kernel: K,
  call: KernelCall<K>,
  tol?: Tolerance,
): Promise<Record<string, TypedArray>> {
  const actual = await runKernel(ctx.backend, kernel, call, ctx.floatDType);
  const expected = await runKernel(ctx.reference, kernel, call, ctx.floatDType);
  for (const [name, spec] of Object.entries(call.outputs)) {
    const dtype = storedAs(spec.dtype, ctx.floatDType);
    const tolerance = dtype === "int32" ? TOLERANCE.int32 : toleranceFor(dtype, tol);
    assertClose(`${kernel}.${name}`, actual[name], expected[name], tolerance);
  }
  return expected;
}
