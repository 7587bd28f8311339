/**
 * An independent plain-JS float64 Mamba-1 forward, written from the equations in
 * shared/reference/conventions.md (not from the package's code), for the tests.
 */

/** Host copies of the parameters, by mamba_ssm name. */
export type HostParams = Record<string, ArrayLike<number>>;

export interface ReferenceSizes {
  /** d_model. */
  d: number;
  /** E = expand · d. */
  E: number;
  /** N = d_state. */
  N: number;
  /** R = dt_rank. */
  R: number;
  /** K = d_conv. */
  K: number;
}

const sigmoid = (v: number): number => 1 / (1 + Math.exp(-v));
const silu = (v: number): number => v * sigmoid(v);
const softplus = (v: number): number => Math.log1p(Math.exp(v));

/** y[o] = Σ_i W[o, i] · x[xOff + i] for a row-major W [rows, cols] (y = x Wᵀ). */
function linear(
  W: ArrayLike<number>,
  rows: number,
  cols: number,
  x: ArrayLike<number>,
  xOff: number,
): Float64Array {
  const y = new Float64Array(rows);
  for (let o = 0; o < rows; o++) {
    let acc = 0;
    for (let i = 0; i < cols; i++) acc += W[o * cols + i] * x[xOff + i];
    y[o] = acc;
  }
  return y;
}

/** u [batch, length, d] (row-major) → out [batch, length, d], from a zero state. */
export function referenceMamba(
  p: HostParams,
  s: ReferenceSizes,
  u: ArrayLike<number>,
  batch: number,
  length: number,
): Float64Array {
  const { d, E, N, R, K } = s;
  const out = new Float64Array(batch * length * d);
  for (let b = 0; b < batch; b++) {
    // in_proj: rows 0..E-1 give x, rows E..2E-1 give z.
    const xs: Float64Array[] = [];
    const zs: Float64Array[] = [];
    for (let t = 0; t < length; t++) {
      const xz = linear(p["in_proj.weight"], 2 * E, d, u, (b * length + t) * d);
      xs.push(xz.slice(0, E));
      zs.push(xz.slice(E, 2 * E));
    }
    const h = new Float64Array(E * N); // h_{-1} = 0
    for (let t = 0; t < length; t++) {
      // Causal depthwise conv: out_t = bias + Σ_j w[j] · x_{t-K+1+j}; tap K-1 is the current token.
      const xc = new Float64Array(E);
      for (let e = 0; e < E; e++) {
        let acc = p["conv1d.bias"][e];
        for (let j = 0; j < K; j++) {
          const src = t - K + 1 + j;
          if (src >= 0) acc += p["conv1d.weight"][e * K + j] * xs[src][e];
        }
        xc[e] = silu(acc);
      }
      // x_proj rows: dt_low (R), then B (N), then C (N).
      const xdbl = linear(p["x_proj.weight"], R + 2 * N, E, xc, 0);
      const dtLow = xdbl.slice(0, R);
      const Bt = xdbl.slice(R, R + N);
      const Ct = xdbl.slice(R + N, R + 2 * N);
      const dtPre = linear(p["dt_proj.weight"], E, R, dtLow, 0);
      const g = new Float64Array(E);
      for (let e = 0; e < E; e++) {
        const dt = softplus(dtPre[e] + p["dt_proj.bias"][e]);
        let y = 0;
        for (let n = 0; n < N; n++) {
          const A = -Math.exp(p.A_log[e * N + n]);
          h[e * N + n] = Math.exp(dt * A) * h[e * N + n] + dt * xc[e] * Bt[n];
          y += Ct[n] * h[e * N + n];
        }
        y += p.D[e] * xc[e];
        g[e] = y * silu(zs[t][e]);
      }
      out.set(linear(p["out_proj.weight"], d, E, g, 0), (b * length + t) * d);
    }
  }
  return out;
}

/** max_i |a[i] − b[i]| (lengths must match). */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length)
    throw new Error(`maxAbsDiff: lengths ${a.length} and ${b.length} differ.`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}
