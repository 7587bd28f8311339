/** Strided index spaces, shared by backends that walk broadcast or strided operands. */

/**
 * Simplifies a strided iteration space without changing the visited elements or their order:
 * drops axes of extent 1 and merges adjacent axes d, d+1 when every operand satisfies
 * `strides[d] == strides[d+1] * shape[d+1]`. Returns null when the space is empty (some extent 0).
 * The result may have rank 0 (a single element).
 */
export function collapseAxes(
  shape: readonly number[],
  strides: readonly (readonly number[])[],
): { shape: number[]; strides: number[][] } | null {
  const outShape: number[] = [];
  const outStrides: number[][] = strides.map(() => []);
  for (let d = 0; d < shape.length; d++) {
    const extent = shape[d];
    if (extent === 0) return null;
    if (extent === 1) continue;
    const last = outShape.length - 1;
    let mergeable = last >= 0;
    for (let o = 0; mergeable && o < strides.length; o++) {
      if (outStrides[o][last] !== strides[o][d] * extent) mergeable = false;
    }
    if (mergeable) {
      outShape[last] *= extent;
      for (let o = 0; o < strides.length; o++) outStrides[o][last] = strides[o][d];
    } else {
      outShape.push(extent);
      for (let o = 0; o < strides.length; o++) outStrides[o].push(strides[o][d]);
    }
  }
  return { shape: outShape, strides: outStrides };
}
