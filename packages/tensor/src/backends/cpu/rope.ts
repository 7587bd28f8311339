/**
 * Rotary position embedding (rotate-half) for the reference cpu backend; see RopeArgs. Each
 * output is computed in JS doubles and rounded to `dtype` when written.
 */
import type { RopeArgs } from "../../backend/kernels.js";
import type { CpuStore } from "./store.js";

export function rope(s: CpuStore, a: RopeArgs): void {
  const { dtype, rows, length, headDim, positionOffset } = a;
  const half = headDim / 2;
  const x = s.float(a.x, dtype);
  const cos = s.float(a.cos, dtype);
  const sin = s.float(a.sin, dtype);
  const out = s.float(a.out, dtype);
  const sign = a.inverse ? -1 : 1;
  for (let r = 0; r < rows; r++) {
    for (let t = 0; t < length; t++) {
      const row = (r * length + t) * headDim;
      const table = (positionOffset + t) * half;
      for (let i = 0; i < half; i++) {
        const c = cos[table + i];
        const sn = sign * sin[table + i];
        const x1 = x[row + i];
        const x2 = x[row + i + half];
        out[row + i] = x1 * c - x2 * sn;
        out[row + i + half] = x2 * c + x1 * sn;
      }
    }
  }
}
