/** Reading several tensors to the host at once. */
import { type TypedArray, hostArray } from "./dtype.js";
import type { Tensor } from "./tensor.js";

/**
 * The elements of every tensor, in order, as new host arrays: like `Promise.all(ts.map((t) =>
 * t.data()))`, but tensors of one backend that has `readMany` come back in one read (a GPU
 * backend then waits for the device once, not once per tensor).
 */
export async function readTensors(tensors: readonly Tensor[]): Promise<TypedArray[]> {
  for (const t of tensors) t.assertAlive("readTensors");
  const backend = tensors[0]?.backend;
  if (
    backend?.readMany === undefined ||
    tensors.length < 2 ||
    tensors.some((t) => t.backend !== backend)
  ) {
    return Promise.all(tensors.map((t) => t.data()));
  }
  const arrays = await backend.readMany(
    tensors.map((t) => ({ id: t.storage.id, dtype: t.dtype, size: t.size })),
  );
  return arrays.map((a, i) => hostArray(tensors[i].dtype, a));
}
