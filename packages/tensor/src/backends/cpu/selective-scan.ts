/**
 * Reference Mamba-1 selective scan (mamba_ssm's `selective_scan_ref`), channels last.
 *
 * Shapes: u, delta, z, out [B, L, E]; A [E, N]; B, C [B, L, N]; D, deltaBias [E];
 * states [B, E, N]. For every batch element b and time t, with x = delta[b, t, e] + deltaBias[e]:
 *
 *   dt[e]      = softplus(x) if deltaSoftplus else x
 *   Ā[e, n]    = exp(dt[e] · A[e, n])
 *   h[e, n]    = Ā[e, n] · h[e, n] + dt[e] · u[b, t, e] · B[b, t, n]
 *   y[e]       = Σ_n C[b, t, n] · h[e, n] + D[e] · u[b, t, e]
 *   out[b,t,e] = y[e] · silu(z[b, t, e])          (y[e] when there is no z)
 *
 * h starts at initialState[b] (or 0) and its value after the last token is lastState[b].
 * All arithmetic runs in JS doubles; the running state lives in a float64 scratch buffer, so
 * float32 inputs and outputs are rounded only when read and written.
 */
import type {
  SelectiveScanArgs,
  SelectiveScanBackwardArgs,
  SelectiveScanStepArgs,
} from "../../backend/kernels.js";
import type { CpuStore, FloatArray } from "./store.js";

/** Above this, softplus(x) is taken to be x (and its derivative 1). */
const SOFTPLUS_THRESHOLD = 20;

function sigmoid(v: number): number {
  return 1 / (1 + Math.exp(-v));
}

function softplus(v: number): number {
  return v > SOFTPLUS_THRESHOLD ? v : Math.log1p(Math.exp(v));
}

/** d softplus / dv: sigmoid(v), or 1 above the threshold where softplus(v) = v. */
function softplusGrad(v: number): number {
  return v > SOFTPLUS_THRESHOLD ? 1 : sigmoid(v);
}

function silu(v: number): number {
  return v * sigmoid(v);
}

/** silu'(v) = sigmoid(v) · (1 + v · (1 − sigmoid(v))). */
function siluGrad(v: number): number {
  const sig = sigmoid(v);
  return sig * (1 + v * (1 - sig));
}

/** The raw step-size input x = delta + deltaBias[e] (before softplus). */
function rawDelta(delta: number, deltaBias: FloatArray | null, e: number): number {
  return deltaBias === null ? delta : delta + deltaBias[e];
}

/** The discretisation step dt = softplus(x) or x. */
function stepSize(x: number, deltaSoftplus: boolean): number {
  return deltaSoftplus ? softplus(x) : x;
}

/** The float views of a forward call's inputs (optional ones null). */
interface ScanInputs {
  u: FloatArray;
  delta: FloatArray;
  A: FloatArray;
  B: FloatArray;
  C: FloatArray;
  D: FloatArray | null;
  z: FloatArray | null;
  deltaBias: FloatArray | null;
}

/** The buffer ids of the per-token inputs, shared by the scan, its backward and the step. */
type ScanInputIds = Pick<
  SelectiveScanArgs,
  "dtype" | "u" | "delta" | "A" | "B" | "C" | "D" | "z" | "deltaBias"
>;

function scanInputs(s: CpuStore, a: ScanInputIds): ScanInputs {
  const { dtype } = a;
  return {
    u: s.float(a.u, dtype),
    delta: s.float(a.delta, dtype),
    A: s.float(a.A, dtype),
    B: s.float(a.B, dtype),
    C: s.float(a.C, dtype),
    D: a.D === null ? null : s.float(a.D, dtype),
    z: a.z === null ? null : s.float(a.z, dtype),
    deltaBias: a.deltaBias === null ? null : s.float(a.deltaBias, dtype),
  };
}

/** Load initialState[b] (or zeros) into the [E, N] scratch `h`. */
function loadInitialState(h: Float64Array, initialState: FloatArray | null, b: number): void {
  const stateElems = h.length;
  for (let i = 0; i < stateElems; i++) {
    h[i] = initialState === null ? 0 : initialState[b * stateElems + i];
  }
}

/**
 * Advance the state h [E, N] by one token. The token's rows start at element `tokenE` of u, delta,
 * z, out (stride 1 over e) and at element `tokenN` of B, C (stride 1 over n). Writes the token's
 * output y (times silu(z) when there is a z) at out[tokenE + e].
 */
function scanToken(
  inp: ScanInputs,
  deltaSoftplus: boolean,
  h: Float64Array,
  out: FloatArray,
  tokenE: number,
  tokenN: number,
  channels: number,
  stateSize: number,
): void {
  for (let e = 0; e < channels; e++) {
    const ue = inp.u[tokenE + e];
    const dt = stepSize(rawDelta(inp.delta[tokenE + e], inp.deltaBias, e), deltaSoftplus);
    let y = 0;
    for (let n = 0; n < stateSize; n++) {
      const i = e * stateSize + n;
      const aBar = Math.exp(dt * inp.A[i]);
      h[i] = aBar * h[i] + dt * ue * inp.B[tokenN + n];
      y += inp.C[tokenN + n] * h[i];
    }
    if (inp.D !== null) y += inp.D[e] * ue;
    out[tokenE + e] = inp.z === null ? y : y * silu(inp.z[tokenE + e]);
  }
}

/** Forward selective scan over [B, L]: writes out [B, L, E] and lastState [B, E, N]. */
export function selectiveScan(s: CpuStore, a: SelectiveScanArgs): void {
  const { dtype, batch, length, channels, stateSize, deltaSoftplus } = a;
  const inp = scanInputs(s, a);
  const initialState = a.initialState === null ? null : s.float(a.initialState, dtype);
  const out = s.float(a.out, dtype);
  const lastState = s.float(a.lastState, dtype);
  const stateElems = channels * stateSize;
  const h = new Float64Array(stateElems); // the running state of one batch element

  for (let b = 0; b < batch; b++) {
    loadInitialState(h, initialState, b);
    for (let t = 0; t < length; t++) {
      const token = b * length + t;
      scanToken(
        inp,
        deltaSoftplus,
        h,
        out,
        token * channels,
        token * stateSize,
        channels,
        stateSize,
      );
    }
    for (let i = 0; i < stateElems; i++) lastState[b * stateElems + i] = h[i];
  }
}

/**
 * Backward of selectiveScan. Per batch element: recompute the states h_{-1} (the initial state),
 * h_0, …, h_{L−1}, then walk t = L−1 … 0 carrying dh = ∂loss/∂h_t (seeded with dLastState or 0):
 *
 *   g = dOut · silu(z)                   dz = dOut · y · silu'(z)        (g = dOut without z)
 *   dC[t, n] = Σ_e g_e h_t[e, n]          dD[e] += g_e u_e                du_e = g_e D_e
 *   dh[e, n] += g_e C[t, n]
 *   ddt_e = Σ_n dh[e, n] (A[e, n] Ā h_{t−1}[e, n] + u_e B[t, n])
 *   dA[e, n] += dh[e, n] dt_e Ā h_{t−1}[e, n]
 *   dB[t, n] = Σ_e dh[e, n] dt_e u_e      du_e += Σ_n dh[e, n] dt_e B[t, n]
 *   dh[e, n] *= Ā                         (now ∂loss/∂h_{t−1})
 *   ddelta = ddt · softplus'(x) (or ddt),  dDeltaBias[e] += ddelta
 *
 * and dInitialState[b] = dh after t = 0. Sums over batch and time (dA, dD, dDeltaBias) are kept
 * in float64 scratch and written once at the end.
 */
export function selectiveScanBackward(s: CpuStore, a: SelectiveScanBackwardArgs): void {
  const { dtype, batch, length, channels, stateSize, deltaSoftplus } = a;
  const inp = scanInputs(s, a);
  const initialState = a.initialState === null ? null : s.float(a.initialState, dtype);
  const dOut = s.float(a.dOut, dtype);
  const dLastState = a.dLastState === null ? null : s.float(a.dLastState, dtype);
  const du = s.float(a.du, dtype);
  const ddelta = s.float(a.ddelta, dtype);
  const dA = s.float(a.dA, dtype);
  const dB = s.float(a.dB, dtype);
  const dC = s.float(a.dC, dtype);
  const dD = a.dD === null ? null : s.float(a.dD, dtype);
  const dz = a.dz === null ? null : s.float(a.dz, dtype);
  const dDeltaBias = a.dDeltaBias === null ? null : s.float(a.dDeltaBias, dtype);
  const dInitialState = a.dInitialState === null ? null : s.float(a.dInitialState, dtype);
  const { u, delta, A, B, C, D, z, deltaBias } = inp;
  const stateElems = channels * stateSize;

  // Scratch, allocated once per call.
  // states[(t + 1) · E·N + i] = h_t[i] for t = −1 … L−1 (slot 0 holds the initial state).
  const states = new Float64Array((length + 1) * stateElems);
  const dh = new Float64Array(stateElems); // ∂loss/∂h_t while walking backwards
  const dBToken = new Float64Array(stateSize); // dB[b, t, :] being summed over e
  const dCToken = new Float64Array(stateSize); // dC[b, t, :] being summed over e
  const dAAcc = new Float64Array(stateElems);
  const dDAcc = new Float64Array(channels);
  const dDeltaBiasAcc = new Float64Array(channels);

  for (let b = 0; b < batch; b++) {
    // Recompute the forward states of this batch element.
    loadInitialState(states.subarray(0, stateElems), initialState, b);
    for (let t = 0; t < length; t++) {
      const tokenE = (b * length + t) * channels;
      const tokenN = (b * length + t) * stateSize;
      const prev = t * stateElems;
      const cur = (t + 1) * stateElems;
      for (let e = 0; e < channels; e++) {
        const ue = u[tokenE + e];
        const dt = stepSize(rawDelta(delta[tokenE + e], deltaBias, e), deltaSoftplus);
        for (let n = 0; n < stateSize; n++) {
          const i = e * stateSize + n;
          states[cur + i] = Math.exp(dt * A[i]) * states[prev + i] + dt * ue * B[tokenN + n];
        }
      }
    }

    // Seed dh with ∂loss/∂h_{L−1}.
    for (let i = 0; i < stateElems; i++) {
      dh[i] = dLastState === null ? 0 : dLastState[b * stateElems + i];
    }

    for (let t = length - 1; t >= 0; t--) {
      const tokenE = (b * length + t) * channels;
      const tokenN = (b * length + t) * stateSize;
      const prev = t * stateElems; // h_{t−1}
      const cur = (t + 1) * stateElems; // h_t
      dBToken.fill(0);
      dCToken.fill(0);

      for (let e = 0; e < channels; e++) {
        const ue = u[tokenE + e];
        const x = rawDelta(delta[tokenE + e], deltaBias, e);
        const dt = stepSize(x, deltaSoftplus);

        // Output gate: out = y · silu(z).
        let g = dOut[tokenE + e];
        if (z !== null) {
          const ze = z[tokenE + e];
          if (dz !== null) {
            let y = D === null ? 0 : D[e] * ue;
            for (let n = 0; n < stateSize; n++) {
              y += C[tokenN + n] * states[cur + e * stateSize + n];
            }
            dz[tokenE + e] = g * y * siluGrad(ze);
          }
          g *= silu(ze);
        }

        // y = Σ_n C h_t + D u.
        let duE = 0;
        if (D !== null) {
          dDAcc[e] += g * ue;
          duE += g * D[e];
        }

        // h_t = Ā h_{t−1} + dt u B, after adding the output's contribution to dh.
        let ddt = 0;
        for (let n = 0; n < stateSize; n++) {
          const i = e * stateSize + n;
          const hCur = states[cur + i];
          const hPrev = states[prev + i];
          dCToken[n] += g * hCur;
          dh[i] += g * C[tokenN + n];
          const aBar = Math.exp(dt * A[i]);
          const dhi = dh[i];
          ddt += dhi * (A[i] * aBar * hPrev + ue * B[tokenN + n]);
          dAAcc[i] += dhi * dt * aBar * hPrev;
          dBToken[n] += dhi * dt * ue;
          duE += dhi * dt * B[tokenN + n];
          dh[i] = dhi * aBar;
        }

        const dx = deltaSoftplus ? ddt * softplusGrad(x) : ddt;
        ddelta[tokenE + e] = dx;
        dDeltaBiasAcc[e] += dx;
        du[tokenE + e] = duE;
      }

      for (let n = 0; n < stateSize; n++) {
        dB[tokenN + n] = dBToken[n];
        dC[tokenN + n] = dCToken[n];
      }
    }

    if (dInitialState !== null) {
      for (let i = 0; i < stateElems; i++) dInitialState[b * stateElems + i] = dh[i];
    }
  }

  dA.set(dAAcc);
  if (dD !== null) dD.set(dDAcc);
  if (dDeltaBias !== null) dDeltaBias.set(dDeltaBiasAcc);
}

/**
 * One decode step: advances state [B, E, N] in place by the token u, delta, z [B, E], B, C [B, N]
 * and writes out [B, E]. Equal to selectiveScan with L = 1, initialState = state and lastState
 * written back into state.
 */
export function selectiveScanStep(s: CpuStore, a: SelectiveScanStepArgs): void {
  const { dtype, batch, channels, stateSize, deltaSoftplus } = a;
  const inp = scanInputs(s, a);
  const state = s.float(a.state, a.stateDType ?? dtype);
  const out = s.float(a.out, dtype);
  const stateElems = channels * stateSize;
  const h = new Float64Array(stateElems);

  for (let b = 0; b < batch; b++) {
    loadInitialState(h, state, b);
    scanToken(inp, deltaSoftplus, h, out, b * channels, b * stateSize, channels, stateSize);
    for (let i = 0; i < stateElems; i++) state[b * stateElems + i] = h[i];
  }
}
