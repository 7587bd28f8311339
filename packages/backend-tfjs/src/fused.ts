/**
 * Fused routines without a tfjs counterpart, composed from tfjs ops: causalConv1d (K shifted
 * slices), the selective scan (chunked: within a chunk of T steps the recurrence is solved in
 * closed form from cumulative sums of dt·A, one state carry per chunk), and attention (dense
 * scores against the in-context keys and the memory slots under a mask built per call, GQA by
 * grouping query heads). Their backward kernels are the analytic gradients in tfjs ops
 * (tfjs-core's Node build registers no gradient functions, so tf.grads is not available to a
 * library that imports only @tensorflow/tfjs-core).
 */
import type {
  AttentionArgs,
  AttentionBackwardArgs,
  BufferId,
  CausalConv1dArgs,
  CausalConv1dBackwardArgs,
  CausalConv1dStepArgs,
  SelectiveScanArgs,
  SelectiveScanBackwardArgs,
  SelectiveScanStepArgs,
} from "@bmojo/tensor";
import * as tf from "@tensorflow/tfjs-core";
import { silu, siluDerivative, softplus, softplusDerivative } from "./kernels.js";
import { type TensorStore, requireFloat } from "./store.js";

/**
 * Default time steps per chunk of the selective scan (TfjsBackendOptions.scanChunk overrides it).
 * A chunk of T steps costs T× the arithmetic of a sequential step in T× fewer tfjs ops; on
 * tfjs-wasm at the bench's sizes one step per chunk measured fastest (README).
 */
export const SCAN_CHUNK = 1;

function maybe(s: TensorStore, id: BufferId | null, shape: number[]): tf.Tensor | null {
  return id === null ? null : s.prefix(id, "float32", shape);
}

// ---------------------------------------------------------------------------------------------
// causalConv1d
// ---------------------------------------------------------------------------------------------

interface ConvDims {
  batch: number;
  length: number;
  channels: number;
  kernelSize: number;
  activation: "none" | "silu";
}

function convForward(
  d: ConvDims,
  x: tf.Tensor,
  weight: tf.Tensor,
  bias: tf.Tensor | null,
  initialState: tf.Tensor | null,
): { out: tf.Tensor; pre: tf.Tensor; extended: tf.Tensor } {
  const { batch: B, length: L, channels: C, kernelSize: K } = d;
  const init = initialState ?? tf.zeros([B, K - 1, C]);
  const extended = K > 1 ? tf.concat([init, x], 1) : x;
  const wt = tf.transpose(weight); // [K, C]
  let acc: tf.Tensor = bias === null ? tf.zeros([B, L, C]) : tf.reshape(bias, [1, 1, C]);
  for (let j = 0; j < K; j++) {
    const tap = tf.reshape(tf.slice(wt, [j, 0], [1, C]), [1, 1, C]);
    acc = tf.add(acc, tf.mul(tf.slice(extended, [0, j, 0], [B, L, C]), tap));
  }
  return { out: d.activation === "silu" ? silu(acc) : acc, pre: acc, extended };
}

function convInputs(s: TensorStore, a: CausalConv1dArgs | CausalConv1dBackwardArgs) {
  const { batch: B, length: L, channels: C, kernelSize: K } = a;
  return {
    x: s.prefix(a.x, "float32", [B, L, C]),
    weight: s.prefix(a.weight, "float32", [C, K]),
    bias: maybe(s, a.bias, [C]),
    initialState: maybe(s, a.initialState, [B, K - 1, C]),
  };
}

// ---------------------------------------------------------------------------------------------
// selective scan
// ---------------------------------------------------------------------------------------------

interface ScanInputs {
  u: tf.Tensor; // [B, L, E]
  delta: tf.Tensor; // [B, L, E]
  A: tf.Tensor; // [E, N]
  B: tf.Tensor; // [B, L, N]
  C: tf.Tensor; // [B, L, N]
  D: tf.Tensor | null; // [E]
  z: tf.Tensor | null; // [B, L, E]
  deltaBias: tf.Tensor | null; // [E]
  initialState: tf.Tensor | null; // [B, E, N]
}

interface ScanDims {
  batch: number;
  length: number;
  channels: number;
  stateSize: number;
  deltaSoftplus: boolean;
  /** Time steps per chunk. */
  chunk: number;
}

/** 0/1 float selector [1, T, T, 1, 1] of r ≤ t (lower) or r ≥ t (upper) over axes (t, r), cached. */
const triangles = new Map<string, tf.Tensor>();
function triangle(T: number, upper: boolean): tf.Tensor {
  const key = `${T}${upper ? "u" : "l"}`;
  let m = triangles.get(key);
  if (m === undefined || m.isDisposed) {
    const data = new Float32Array(T * T);
    for (let t = 0; t < T; t++) {
      for (let r = 0; r < T; r++) if (upper ? r >= t : r <= t) data[t * T + r] = 1;
    }
    m = tf.keep(tf.tensor(data, [1, T, T, 1, 1], "float32"));
    triangles.set(key, m);
  }
  return m;
}

/**
 * Σ_r w(t, r)·v_r over a chunk for all t at once, with w(t, r) = exp(S_r − S_t) for r ≥ t
 * (upper) or exp(S_t − S_r) for r ≤ t (lower): [B, T, E, N]. The exponents are zeroed by the
 * mask before the exp (and the result masked after), so the excluded, growing exponentials are
 * never formed.
 */
function chunkContract(S: tf.Tensor, v: tf.Tensor, upper: boolean): tf.Tensor {
  const [Bn, T, E, N] = S.shape as [number, number, number, number];
  const St = tf.reshape(S, [Bn, T, 1, E, N]);
  const Sr = tf.reshape(S, [Bn, 1, T, E, N]);
  const mask = triangle(T, upper);
  const w = tf.mul(tf.exp(tf.mul(upper ? tf.sub(Sr, St) : tf.sub(St, Sr), mask)), mask);
  return tf.sum(tf.mul(w, tf.reshape(v, [Bn, 1, T, E, N])), 2);
}

interface ScanChunk {
  t0: number;
  T: number;
  dt: tf.Tensor; // [B, T, E]
  u: tf.Tensor; // [B, T, E]
  B: tf.Tensor; // [B, T, 1, N]
  C: tf.Tensor; // [B, T, 1, N]
  S: tf.Tensor; // [B, T, E, N]: cumulative Σ dt·A within the chunk
  input: tf.Tensor; // [B, T, E, N]: dt·u·B
}

function scanChunk(d: ScanDims, x: ScanInputs, dt: tf.Tensor, t0: number): ScanChunk {
  const { batch: Bn, length: L, channels: E, stateSize: N } = d;
  const T = Math.min(d.chunk, L - t0);
  const dtc = tf.slice(dt, [0, t0, 0], [Bn, T, E]);
  const uc = tf.slice(x.u, [0, t0, 0], [Bn, T, E]);
  const Bc = tf.reshape(tf.slice(x.B, [0, t0, 0], [Bn, T, N]), [Bn, T, 1, N]);
  const Cc = tf.reshape(tf.slice(x.C, [0, t0, 0], [Bn, T, N]), [Bn, T, 1, N]);
  const S = tf.cumsum(tf.mul(tf.reshape(dtc, [Bn, T, E, 1]), tf.reshape(x.A, [1, 1, E, N])), 1);
  const input = tf.mul(tf.reshape(tf.mul(dtc, uc), [Bn, T, E, 1]), Bc);
  return { t0, T, dt: dtc, u: uc, B: Bc, C: Cc, S, input };
}

/** The chunk's states h_t = exp(S_t)·h_0 + Σ_{r≤t} exp(S_t − S_r)·input_r: [B, T, E, N]. */
function chunkStates(c: ScanChunk, h0: tf.Tensor): tf.Tensor {
  const [Bn, T, E, N] = c.S.shape as [number, number, number, number];
  const carried = T === 1 ? c.input : chunkContract(c.S, c.input, false);
  return tf.add(carried, tf.mul(tf.exp(c.S), tf.reshape(h0, [Bn, 1, E, N])));
}

function stepSizes(d: ScanDims, x: ScanInputs): { raw: tf.Tensor; dt: tf.Tensor } {
  let raw = x.delta;
  if (x.deltaBias !== null) raw = tf.add(raw, tf.reshape(x.deltaBias, [1, 1, d.channels]));
  return { raw, dt: d.deltaSoftplus ? softplus(raw) : raw };
}

/**
 * The selective scan, chunked over time (d.chunk steps): within a chunk all states come from
 * one closed form (chunkStates); the last state carries into the next chunk. Returns the output,
 * the last state, and (for the backward) the pre-gate output y and each chunk's entry state.
 */
function scanForward(
  d: ScanDims,
  x: ScanInputs,
): { out: tf.Tensor; last: tf.Tensor; y: tf.Tensor; entries: tf.Tensor[] } {
  const { batch: Bn, length: L, channels: E, stateSize: N } = d;
  const { dt } = stepSizes(d, x);
  let h: tf.Tensor = x.initialState ?? tf.zeros([Bn, E, N]);
  const ys: tf.Tensor[] = [];
  const entries: tf.Tensor[] = [];
  for (let t0 = 0; t0 < L; t0 += d.chunk) {
    const c = scanChunk(d, x, dt, t0);
    entries.push(h);
    const states = chunkStates(c, h);
    ys.push(tf.sum(tf.mul(states, c.C), 3)); // [B, T, E]
    h = tf.reshape(tf.slice(states, [0, c.T - 1, 0, 0], [Bn, 1, E, N]), [Bn, E, N]);
  }
  let y = ys.length === 1 ? ys[0] : tf.concat(ys, 1);
  if (x.D !== null) y = tf.add(y, tf.mul(x.u, tf.reshape(x.D, [1, 1, E])));
  const out = x.z === null ? y : tf.mul(y, silu(x.z));
  return { out, last: h, y, entries };
}

/**
 * Gradients of the selective scan. With g = dOut·silu(z) the gradient of y, the state adjoint
 * λ_t = g_t·C_t + exp(dt_{t+1}A)·λ_{t+1} (plus dLastState at the end) is solved chunk by chunk
 * from the last, in the same closed form run backwards (chunkContract upper), from the states
 * recomputed from each chunk's entry state. Then, with h_{t−1} the previous state and
 * a_t = exp(dt_t A): dC_t = Σ_e g·h_t; dB_t = Σ_e λ·dt·u; du += Σ_n λ·dt·B;
 * d(dt) = Σ_n λ·(u·B + A·a·h_{t−1}); dA = Σ λ·dt·a·h_{t−1}; dh_0 = a_0·λ_0.
 */
function scanBackward(
  d: ScanDims,
  x: ScanInputs,
  dOut: tf.Tensor,
  dLast: tf.Tensor | null,
): Record<keyof ScanInputs, tf.Tensor | null> {
  const { batch: Bn, channels: E, stateSize: N } = d;
  const { raw, dt } = stepSizes(d, x);
  const fwd = scanForward(d, x);
  const g = x.z === null ? dOut : tf.mul(dOut, silu(x.z));
  const A4 = tf.reshape(x.A, [1, 1, E, N]);
  let mu: tf.Tensor = dLast ?? tf.zeros([Bn, E, N]);
  const dDt: tf.Tensor[] = [];
  const dU: tf.Tensor[] = [];
  const dBs: tf.Tensor[] = [];
  const dCs: tf.Tensor[] = [];
  let dA: tf.Tensor = tf.zeros([E, N]);
  const chunks = fwd.entries.length;
  for (let c = chunks - 1; c >= 0; c--) {
    const ch = scanChunk(d, x, dt, c * d.chunk);
    const { T } = ch;
    const h0 = fwd.entries[c];
    const states = chunkStates(ch, h0);
    const prev =
      T === 1
        ? tf.reshape(h0, [Bn, 1, E, N])
        : tf.concat(
            [tf.reshape(h0, [Bn, 1, E, N]), tf.slice(states, [0, 0, 0, 0], [Bn, T - 1, E, N])],
            1,
          );
    const gc = tf.reshape(tf.slice(g, [0, ch.t0, 0], [Bn, T, E]), [Bn, T, E, 1]);
    const cvec = tf.mul(gc, ch.C); // [B, T, E, N]
    const Send = tf.slice(ch.S, [0, T - 1, 0, 0], [Bn, 1, E, N]);
    const fromFuture = tf.mul(tf.exp(tf.sub(Send, ch.S)), tf.reshape(mu, [Bn, 1, E, N]));
    const lambda = tf.add(T === 1 ? cvec : chunkContract(ch.S, cvec, true), fromFuture);
    const decay = tf.exp(tf.mul(tf.reshape(ch.dt, [Bn, T, E, 1]), A4)); // a_t
    const decayedPrev = tf.mul(tf.mul(lambda, decay), prev); // λ·a·h_{t−1}
    const dt4 = tf.reshape(ch.dt, [Bn, T, E, 1]);
    const u4 = tf.reshape(ch.u, [Bn, T, E, 1]);
    dCs.unshift(tf.sum(tf.mul(gc, states), 2)); // [B, T, N]
    dBs.unshift(tf.sum(tf.mul(lambda, tf.mul(dt4, u4)), 2)); // [B, T, N]
    dU.unshift(tf.sum(tf.mul(lambda, tf.mul(dt4, ch.B)), 3)); // [B, T, E]
    dDt.unshift(tf.sum(tf.add(tf.mul(lambda, tf.mul(u4, ch.B)), tf.mul(decayedPrev, A4)), 3));
    dA = tf.add(dA, tf.sum(tf.mul(decayedPrev, dt4), [0, 1]));
    mu = tf.reshape(tf.slice(tf.mul(lambda, decay), [0, 0, 0, 0], [Bn, 1, E, N]), [Bn, E, N]);
  }
  const cat = (parts: tf.Tensor[]) => (parts.length === 1 ? parts[0] : tf.concat(parts, 1));
  let du = cat(dU);
  if (x.D !== null) du = tf.add(du, tf.mul(g, tf.reshape(x.D, [1, 1, E])));
  let dRaw = cat(dDt);
  if (d.deltaSoftplus) dRaw = tf.mul(dRaw, softplusDerivative(raw));
  return {
    u: du,
    delta: dRaw,
    A: dA,
    B: cat(dBs),
    C: cat(dCs),
    D: x.D === null ? null : tf.sum(tf.mul(g, x.u), [0, 1]),
    z: x.z === null ? null : tf.mul(tf.mul(dOut, fwd.y), siluDerivative(x.z)),
    deltaBias: x.deltaBias === null ? null : tf.sum(dRaw, [0, 1]),
    initialState: x.initialState === null ? null : mu,
  };
}

function scanInputs(s: TensorStore, a: SelectiveScanArgs | SelectiveScanBackwardArgs): ScanInputs {
  const { batch: B, length: L, channels: E, stateSize: N } = a;
  return {
    u: s.prefix(a.u, "float32", [B, L, E]),
    delta: s.prefix(a.delta, "float32", [B, L, E]),
    A: s.prefix(a.A, "float32", [E, N]),
    B: s.prefix(a.B, "float32", [B, L, N]),
    C: s.prefix(a.C, "float32", [B, L, N]),
    D: maybe(s, a.D, [E]),
    z: maybe(s, a.z, [B, L, E]),
    deltaBias: maybe(s, a.deltaBias, [E]),
    initialState: maybe(s, a.initialState, [B, E, N]),
  };
}

// ---------------------------------------------------------------------------------------------
// attention
// ---------------------------------------------------------------------------------------------

interface AttentionDims {
  batch: number;
  heads: number;
  kvHeads: number;
  queryLength: number;
  keyLength: number;
  headDim: number;
  window: number;
  queryOffset: number;
  scale: number;
  memorySlots: number; // chunks · slots (0 without memory)
}

/**
 * Which keys each query sees, as an additive score bias (0 or −∞) [B, 1, 1, Lq, Lk + chunks·slots]. The band (p − window < j ≤ p)
 * and the chunk selector are built on the host from the sizes; the memory validity mask is
 * combined on the device.
 */
function attentionMask(s: TensorStore, a: AttentionArgs | AttentionBackwardArgs): tf.Tensor {
  const { batch: B, queryLength: Lq, keyLength: Lk, queryOffset, window } = a;
  const band = new Int32Array(Lq * Lk);
  for (let i = 0; i < Lq; i++) {
    const p = queryOffset + i;
    for (let j = Math.max(0, p - window + 1); j <= Math.min(p, Lk - 1); j++) band[i * Lk + j] = 1;
  }
  let mask: tf.Tensor = tf.tensor(band, [1, Lq, Lk], "int32");
  const mem = a.memory;
  if (mem !== null) {
    const M = mem.chunks * mem.slots;
    const select = new Int32Array(Lq * M);
    for (let i = 0; i < Lq; i++) {
      const c = Math.floor((queryOffset + i) / mem.chunkSize);
      if (c < mem.chunks) select.fill(1, i * M + c * mem.slots, i * M + (c + 1) * mem.slots);
    }
    const valid = tf.cast(tf.notEqual(s.prefix(mem.mask, "int32", [B, 1, M]), 0), "int32");
    const memMask = tf.mul(tf.tensor(select, [1, Lq, M], "int32"), valid);
    mask = tf.concat([tf.broadcastTo(mask, [B, Lq, Lk]), memMask], 2);
  }
  const [maskBatch, , width] = mask.shape as [number, number, number];
  // log(1) = 0, log(0) = −∞: an additive bias (a broadcast add, cheaper in tfjs than a select).
  return tf.reshape(tf.log(tf.cast(mask, "float32")), [maskBatch, 1, 1, Lq, width]);
}

/** Masked softmax attention with GQA; a query that sees no key gets lse −∞ and a zero output. */
function attentionForward(
  d: AttentionDims,
  mask: tf.Tensor,
  q: tf.Tensor,
  k: tf.Tensor,
  v: tf.Tensor,
  memK: tf.Tensor | null,
  memV: tf.Tensor | null,
): {
  out: tf.Tensor;
  lse: tf.Tensor;
  p: tf.Tensor;
  q: tf.Tensor3D;
  keys: tf.Tensor3D;
  values: tf.Tensor3D;
} {
  const { batch: B, heads: H, kvHeads: Hkv, queryLength: Lq, keyLength: Lk, headDim: Dh } = d;
  const G = H / Hkv;
  const Lt = Lk + d.memorySlots;
  let keys = k;
  let values = v;
  if (memK !== null && memV !== null) {
    keys = tf.concat([k, tf.reshape(memK, [B, Hkv, d.memorySlots, Dh])], 2);
    values = tf.concat([v, tf.reshape(memV, [B, Hkv, d.memorySlots, Dh])], 2);
  }
  const q3 = tf.reshape(q, [B * Hkv, G * Lq, Dh]) as tf.Tensor3D;
  const k3 = tf.reshape(keys, [B * Hkv, Lt, Dh]) as tf.Tensor3D;
  const v3 = tf.reshape(values, [B * Hkv, Lt, Dh]) as tf.Tensor3D;
  const scores = tf.reshape(tf.mul(tf.matMul(q3, k3, false, true), d.scale), [B, Hkv, G, Lq, Lt]);
  const masked = tf.add(scores, mask);
  const rowMax = tf.max(masked, -1, true);
  const shift = tf.where(tf.isFinite(rowMax), rowMax, tf.zerosLike(rowMax));
  const p = tf.exp(tf.sub(masked, shift));
  const denom = tf.sum(p, -1, true);
  const safeDenom = tf.where(tf.greater(denom, 0), denom, tf.onesLike(denom));
  const weighted = tf.matMul(tf.reshape(p, [B * Hkv, G * Lq, Lt]) as tf.Tensor3D, v3);
  const out = tf.div(tf.reshape(weighted, [B, Hkv, G, Lq, Dh]), safeDenom);
  const lse = tf.add(shift, tf.log(denom));
  return {
    out: tf.reshape(out, [B, H, Lq, Dh]),
    lse: tf.reshape(lse, [B, H, Lq]),
    p: tf.div(p, safeDenom),
    q: q3,
    keys: k3,
    values: v3,
  };
}

function attentionDims(a: AttentionArgs | AttentionBackwardArgs): AttentionDims {
  return {
    ...a,
    memorySlots: a.memory === null ? 0 : a.memory.chunks * a.memory.slots,
  };
}

function attentionInputs(s: TensorStore, a: AttentionArgs | AttentionBackwardArgs) {
  const { batch: B, heads: H, kvHeads: Hkv, queryLength: Lq, keyLength: Lk, headDim: Dh } = a;
  if (!Number.isInteger(H / Hkv)) {
    throw new RangeError(`tfjs backend: attention: heads ${H} is not a multiple of kvHeads ${Hkv}`);
  }
  const mem = a.memory;
  const memShape = mem === null ? [] : [B, Hkv, mem.chunks, mem.slots, Dh];
  return {
    q: s.prefix(a.q, "float32", [B, H, Lq, Dh]),
    k: s.prefix(a.k, "float32", [B, Hkv, Lk, Dh]),
    v: s.prefix(a.v, "float32", [B, Hkv, Lk, Dh]),
    memK: mem === null ? null : s.prefix(mem.k, "float32", memShape),
    memV: mem === null ? null : s.prefix(mem.v, "float32", memShape),
  };
}

// ---------------------------------------------------------------------------------------------
// The kernels
// ---------------------------------------------------------------------------------------------

export function fusedKernels(s: TensorStore, scanChunk: number) {
  return {
    causalConv1d(a: CausalConv1dArgs): void {
      requireFloat(a.dtype, "causalConv1d");
      tf.tidy(() => {
        const x = convInputs(s, a);
        const { out, extended } = convForward(a, x.x, x.weight, x.bias, x.initialState);
        s.set(a.out, out);
        if (a.finalState !== null) {
          const K1 = a.kernelSize - 1;
          s.set(a.finalState, tf.slice(extended, [0, a.length, 0], [a.batch, K1, a.channels]));
        }
      });
    },

    causalConv1dBackward(a: CausalConv1dBackwardArgs): void {
      requireFloat(a.dtype, "causalConv1dBackward");
      tf.tidy(() => {
        const { batch: B, length: L, channels: C, kernelSize: K } = a;
        const x = convInputs(s, a);
        let dPre = s.prefix(a.dy, "float32", [B, L, C]);
        const { pre, extended } = convForward(a, x.x, x.weight, x.bias, x.initialState);
        if (a.activation === "silu") dPre = tf.mul(dPre, siluDerivative(pre));
        // Tap j reads extended[t + j]: its gradient lands there, and dweight[:, j] sums the products.
        const wt = tf.transpose(x.weight); // [K, C]
        const taps: tf.Tensor[] = [];
        let dExtended: tf.Tensor = tf.zeros([B, L + K - 1, C]);
        for (let j = 0; j < K; j++) {
          const tap = tf.reshape(tf.slice(wt, [j, 0], [1, C]), [1, 1, C]);
          dExtended = tf.add(
            dExtended,
            tf.pad(tf.mul(dPre, tap), [
              [0, 0],
              [j, K - 1 - j],
              [0, 0],
            ]),
          );
          taps.push(tf.sum(tf.mul(dPre, tf.slice(extended, [0, j, 0], [B, L, C])), [0, 1]));
        }
        s.set(a.dx, tf.slice(dExtended, [0, K - 1, 0], [B, L, C]));
        s.set(a.dweight, tf.transpose(tf.stack(taps))); // [K, C] → [C, K]
        if (a.dbias !== null) s.set(a.dbias, tf.sum(dPre, [0, 1]));
        if (a.dInitialState !== null) {
          s.set(a.dInitialState, tf.slice(dExtended, [0, 0, 0], [B, K - 1, C]));
        }
      });
    },

    causalConv1dStep(a: CausalConv1dStepArgs): void {
      requireFloat(a.dtype, "causalConv1dStep");
      tf.tidy(() => {
        const { batch: B, channels: C, kernelSize: K } = a;
        const x = tf.reshape(s.prefix(a.x, "float32", [B, C]), [B, 1, C]);
        const window = K > 1 ? tf.concat([s.prefix(a.state, "float32", [B, K - 1, C]), x], 1) : x;
        const w = tf.reshape(tf.transpose(s.prefix(a.weight, "float32", [C, K])), [1, K, C]);
        let out = tf.sum(tf.mul(window, w), 1);
        if (a.bias !== null) out = tf.add(out, s.prefix(a.bias, "float32", [1, C]));
        s.set(a.out, a.activation === "silu" ? silu(out) : out);
        if (K > 1) s.set(a.state, tf.slice(window, [0, 1, 0], [B, K - 1, C]));
      });
    },

    selectiveScan(a: SelectiveScanArgs): void {
      requireFloat(a.dtype, "selectiveScan");
      tf.tidy(() => {
        const { out, last } = scanForward({ ...a, chunk: scanChunk }, scanInputs(s, a));
        s.set(a.out, out);
        s.set(a.lastState, last);
      });
    },

    selectiveScanBackward(a: SelectiveScanBackwardArgs): void {
      requireFloat(a.dtype, "selectiveScanBackward");
      tf.tidy(() => {
        const { batch: B, length: L, channels: E, stateSize: N } = a;
        const grads = scanBackward(
          { ...a, chunk: scanChunk },
          scanInputs(s, a),
          s.prefix(a.dOut, "float32", [B, L, E]),
          a.dLastState === null ? null : s.prefix(a.dLastState, "float32", [B, E, N]),
        );
        const write = (id: BufferId | null, g: tf.Tensor | null) => {
          if (id !== null && g !== null) s.set(id, g);
        };
        write(a.du, grads.u);
        write(a.ddelta, grads.delta);
        write(a.dA, grads.A);
        write(a.dB, grads.B);
        write(a.dC, grads.C);
        write(a.dD, grads.D);
        write(a.dz, grads.z);
        write(a.dDeltaBias, grads.deltaBias);
        write(a.dInitialState, grads.initialState);
      });
    },

    selectiveScanStep(a: SelectiveScanStepArgs): void {
      requireFloat(a.dtype, "selectiveScanStep");
      tf.tidy(() => {
        const { batch: B, channels: E, stateSize: N } = a;
        const u = s.prefix(a.u, "float32", [B, E]);
        let dt = s.prefix(a.delta, "float32", [B, E]);
        if (a.deltaBias !== null) dt = tf.add(dt, s.prefix(a.deltaBias, "float32", [1, E]));
        if (a.deltaSoftplus) dt = softplus(dt);
        const dt3 = tf.reshape(dt, [B, E, 1]);
        const decay = tf.exp(tf.mul(dt3, s.prefix(a.A, "float32", [1, E, N])));
        const input = tf.mul(
          tf.reshape(tf.mul(dt, u), [B, E, 1]),
          s.prefix(a.B, "float32", [B, 1, N]),
        );
        const state = tf.add(tf.mul(decay, s.prefix(a.state, "float32", [B, E, N])), input);
        let y = tf.sum(tf.mul(state, s.prefix(a.C, "float32", [B, 1, N])), 2);
        if (a.D !== null) y = tf.add(y, tf.mul(u, s.prefix(a.D, "float32", [1, E])));
        if (a.z !== null) y = tf.mul(y, silu(s.prefix(a.z, "float32", [B, E])));
        s.set(a.out, y);
        s.set(a.state, state);
      });
    },

    attention(a: AttentionArgs): void {
      requireFloat(a.dtype, "attention");
      tf.tidy(() => {
        const x = attentionInputs(s, a);
        const { out, lse } = attentionForward(
          attentionDims(a),
          attentionMask(s, a),
          x.q,
          x.k,
          x.v,
          x.memK,
          x.memV,
        );
        s.set(a.out, out);
        s.set(a.lse, lse);
      });
    },

    attentionBackward(a: AttentionBackwardArgs): void {
      requireFloat(a.dtype, "attentionBackward");
      tf.tidy(() => {
        const x = attentionInputs(s, a);
        const d = attentionDims(a);
        const { batch: B, heads: H, kvHeads: Hkv, queryLength: Lq, keyLength: Lk, headDim: Dh } = a;
        const G = H / Hkv;
        const Lt = Lk + d.memorySlots;
        const f = attentionForward(d, attentionMask(s, a), x.q, x.k, x.v, x.memK, x.memV);
        const p = tf.reshape(f.p, [B * Hkv, G * Lq, Lt]) as tf.Tensor3D; // normalized weights
        const o = tf.reshape(f.out, [B * Hkv, G * Lq, Dh]) as tf.Tensor3D;
        const dO = tf.reshape(s.prefix(a.dOut, "float32", [B, H, Lq, Dh]), [
          B * Hkv,
          G * Lq,
          Dh,
        ]) as tf.Tensor3D;
        // dV = Pᵀ dO; dP = dO Vᵀ; dS = P ⊙ (dP − rowsum(dO ⊙ O)); dQ = dS K·scale; dK = dSᵀ Q·scale.
        const dV = tf.matMul(p, dO, true, false);
        const dP = tf.matMul(dO, f.values, false, true);
        const dS = tf.mul(p, tf.sub(dP, tf.sum(tf.mul(dO, o), -1, true)));
        const dQ = tf.mul(tf.matMul(dS, f.keys), a.scale);
        const dK = tf.mul(tf.matMul(dS, f.q, true, false), a.scale);
        s.set(a.dq, dQ);
        const split = (t: tf.Tensor, ctx: BufferId, mem: BufferId | null) => {
          const t4 = tf.reshape(t, [B, Hkv, Lt, Dh]);
          s.set(ctx, tf.slice(t4, [0, 0, 0, 0], [B, Hkv, Lk, Dh]));
          if (mem !== null) s.set(mem, tf.slice(t4, [0, 0, Lk, 0], [B, Hkv, d.memorySlots, Dh]));
        };
        split(dK, a.dk, a.dMemK);
        split(dV, a.dv, a.dMemV);
      });
    },
  };
}
