/**
 * An independent dense float64 implementation of the conventions' attention, in plain JS: per
 * head, an explicit causal/window mask, explicit memory slots, softmax, weighted sum, o_proj.
 */
import { Random, type Tensor, tensor } from "@bmojo/tensor";
import type { Attention } from "../src/index.js";

/** Row-major weights [out, in] as float64 arrays. */
export interface DenseWeights {
  wq: Float64Array;
  wk: Float64Array;
  wv: Float64Array;
  wo: Float64Array;
}

export interface DenseSpec {
  dModel: number;
  heads: number;
  kvHeads: number;
  window: number;
  rope: boolean;
  theta: number;
}

/** Memory tokens [B, C, M, d] (projected here with wk, wv), mask [B, C, M], chunk size. */
export interface DenseMemory {
  tokens: Float64Array;
  chunks: number;
  slots: number;
  mask: Int32Array;
  chunkSize: number;
}

export function weightsOf(layer: Attention): DenseWeights {
  const read = (t: Tensor) => Float64Array.from(t.dataSync());
  return {
    wq: read(layer.q_proj.weight),
    wk: read(layer.k_proj.weight),
    wv: read(layer.v_proj.weight),
    wo: read(layer.o_proj.weight),
  };
}

/** y[n, o] = Σ_i x[n, i] w[o, i]. */
export function linear(
  w: Float64Array,
  outF: number,
  inF: number,
  x: ArrayLike<number>,
): Float64Array {
  const n = x.length / inF;
  const y = new Float64Array(n * outF);
  for (let r = 0; r < n; r++) {
    for (let o = 0; o < outF; o++) {
      let acc = 0;
      for (let i = 0; i < inF; i++) acc += x[r * inF + i] * w[o * inF + i];
      y[r * outF + o] = acc;
    }
  }
  return y;
}

/** Rotate-half RoPE of one head vector (in place), straight from the conventions. */
export function ropeVector(x: Float64Array, pos: number, theta: number): void {
  const dh = x.length;
  const half = dh / 2;
  for (let i = 0; i < half; i++) {
    const angle = pos * theta ** ((-2 * i) / dh);
    const c = Math.cos(angle);
    const s = Math.sin(angle);
    const a = x[i];
    const b = x[i + half];
    x[i] = a * c - b * s;
    x[i + half] = b * c + a * s;
  }
}

function dot(a: Float64Array, b: Float64Array): number {
  let acc = 0;
  for (let i = 0; i < a.length; i++) acc += a[i] * b[i];
  return acc;
}

/** x [B, L, d] → [B, L, d], positions positionOffset + t; memory chunk floor(t / chunkSize). */
export function denseForward(
  w: DenseWeights,
  x: ArrayLike<number>,
  batch: number,
  length: number,
  spec: DenseSpec,
  memory?: DenseMemory,
  positionOffset = 0,
): Float64Array {
  const { dModel: d, heads: H, kvHeads: G, window, rope, theta } = spec;
  const dh = d / H;
  const q = linear(w.wq, H * dh, d, x);
  const k = linear(w.wk, G * dh, d, x);
  const v = linear(w.wv, G * dh, d, x);
  const head = (t: Float64Array, width: number, row: number, h: number) =>
    t.slice(row * width + h * dh, row * width + (h + 1) * dh);
  const memK = memory ? linear(w.wk, G * dh, d, memory.tokens) : null;
  const memV = memory ? linear(w.wv, G * dh, d, memory.tokens) : null;
  const merged = new Float64Array(batch * length * H * dh);
  const scale = 1 / Math.sqrt(dh);
  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < H; h++) {
      const g = Math.floor(h / (H / G));
      for (let t = 0; t < length; t++) {
        const qt = head(q, H * dh, b * length + t, h);
        if (rope) ropeVector(qt, positionOffset + t, theta);
        const scores: number[] = [];
        const values: Float64Array[] = [];
        for (let s = 0; s <= t; s++) {
          if (t - s >= window) continue; // the mask: keys t−w+1 … t
          const ks = head(k, G * dh, b * length + s, g);
          if (rope) ropeVector(ks, positionOffset + s, theta);
          scores.push(dot(qt, ks) * scale);
          values.push(head(v, G * dh, b * length + s, g));
        }
        if (memory && memK && memV) {
          const c = Math.floor(t / memory.chunkSize);
          for (let m = 0; m < memory.slots; m++) {
            if (memory.mask[(b * memory.chunks + c) * memory.slots + m] === 0) continue;
            const row = (b * memory.chunks + c) * memory.slots + m;
            scores.push(dot(qt, head(memK, G * dh, row, g)) * scale);
            values.push(head(memV, G * dh, row, g));
          }
        }
        const top = Math.max(...scores);
        const e = scores.map((s) => Math.exp(s - top));
        const z = e.reduce((a, c) => a + c, 0);
        const base = (b * length + t) * H * dh + h * dh;
        for (let j = 0; j < e.length; j++) {
          for (let i = 0; i < dh; i++) merged[base + i] += (e[j] / z) * values[j][i];
        }
      }
    }
  }
  return linear(w.wo, d, H * dh, merged);
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** Seeded host values: normal floats and a 0/1 mask with some zeros. */
export function randomInputs(seed: number) {
  const rng = new Random(seed);
  return {
    normal: (shape: number[], dtype: "float32" | "float64") => rng.normal(shape, { dtype }),
    mask: (shape: number[], density = 0.6) => {
      const u = rng.uniformArray(
        shape.reduce((a, c) => a * c, 1),
        0,
        1,
        "float64",
      );
      return tensor(
        Int32Array.from(u, (x) => (x < density ? 1 : 0)),
        shape,
      );
    },
  };
}
