/**
 * Reference depthwise causal 1-D convolution (Mamba's `causal_conv1d`), channels last.
 *
 * Layout: x [B, L, C], weight [C, K], bias [C], conv state [B, K−1, C] (oldest input first).
 * Output position t sees the K inputs ending at t of the extended sequence [initialState; x]:
 *
 *   pre[b, t, c] = bias[c] + Σ_{j<K} weight[c, j] · ext[b, t + j, c]
 *   out[b, t, c] = act(pre[b, t, c])                      (act = identity or silu)
 *
 * where ext[b, i, c] = initialState[b, i, c] for i < K−1 (0 when there is no initial state) and
 * x[b, i − (K−1), c] otherwise. Tap K−1 multiplies the current token.
 *
 * Every sum is accumulated in JS doubles; float32 buffers are rounded only when written.
 */
import type {
  CausalConv1dArgs,
  CausalConv1dBackwardArgs,
  CausalConv1dStepArgs,
  ConvActivation,
} from "../../backend/kernels.js";
import type { CpuStore, FloatArray } from "./store.js";

function sigmoid(v: number): number {
  return 1 / (1 + Math.exp(-v));
}

/** act(v): identity or silu(v) = v · sigmoid(v). */
function activate(activation: ConvActivation, v: number): number {
  return activation === "silu" ? v * sigmoid(v) : v;
}

/** act'(v): 1 or silu'(v) = sigmoid(v) · (1 + v · (1 − sigmoid(v))). */
function activateGrad(activation: ConvActivation, v: number): number {
  if (activation !== "silu") return 1;
  const sig = sigmoid(v);
  return sig * (1 + v * (1 - sig));
}

/**
 * Element `c` of row `i` of the extended sequence [initialState; x] of batch element `b`.
 * Rows 0..K−2 come from `initialState` (zeros when null); row i ≥ K−1 is x[b, i − (K−1)].
 */
function extendedInput(
  x: FloatArray,
  initialState: FloatArray | null,
  b: number,
  i: number,
  c: number,
  length: number,
  channels: number,
  kernelSize: number,
): number {
  const history = kernelSize - 1;
  if (i < history) {
    return initialState === null ? 0 : initialState[(b * history + i) * channels + c];
  }
  return x[(b * length + (i - history)) * channels + c];
}

/**
 * Pre-activation of output (b, t, c): bias[c] + Σ_j weight[c, j] · ext[b, t + j, c].
 */
function preActivation(
  x: FloatArray,
  weight: FloatArray,
  bias: FloatArray | null,
  initialState: FloatArray | null,
  b: number,
  t: number,
  c: number,
  length: number,
  channels: number,
  kernelSize: number,
): number {
  let acc = bias === null ? 0 : bias[c];
  for (let j = 0; j < kernelSize; j++) {
    const input = extendedInput(x, initialState, b, t + j, c, length, channels, kernelSize);
    acc += weight[c * kernelSize + j] * input;
  }
  return acc;
}

/**
 * Forward causal conv: writes `out` [B, L, C] and, when not null, `finalState` [B, K−1, C] = the
 * last K−1 rows of [initialState; x] (so a following causalConv1dStep or chunk continues the conv;
 * when L < K−1 some of those rows still come from initialState).
 */
export function causalConv1d(s: CpuStore, a: CausalConv1dArgs): void {
  const { dtype, batch, length, channels, kernelSize, activation } = a;
  const x = s.float(a.x, dtype);
  const weight = s.float(a.weight, dtype);
  const bias = a.bias === null ? null : s.float(a.bias, dtype);
  const initialState = a.initialState === null ? null : s.float(a.initialState, dtype);
  const out = s.float(a.out, dtype);
  const history = kernelSize - 1;

  for (let b = 0; b < batch; b++) {
    for (let t = 0; t < length; t++) {
      for (let c = 0; c < channels; c++) {
        const pre = preActivation(
          x,
          weight,
          bias,
          initialState,
          b,
          t,
          c,
          length,
          channels,
          kernelSize,
        );
        out[(b * length + t) * channels + c] = activate(activation, pre);
      }
    }
  }

  if (a.finalState !== null) {
    const finalState = s.float(a.finalState, dtype);
    for (let b = 0; b < batch; b++) {
      for (let r = 0; r < history; r++) {
        // Row r of the final state is row L + r of the extended sequence (length K−1+L).
        for (let c = 0; c < channels; c++) {
          finalState[(b * history + r) * channels + c] = extendedInput(
            x,
            initialState,
            b,
            length + r,
            c,
            length,
            channels,
            kernelSize,
          );
        }
      }
    }
  }
}

/**
 * Backward of causalConv1d given dy [B, L, C]. With g = dy · act'(pre):
 *   dx[b, s, c]           = Σ_{t, j: t + j = s + K−1} g[b, t, c] · weight[c, j]
 *   dInitialState[b, i, c] = Σ_{t, j: t + j = i}     g[b, t, c] · weight[c, j]   (i < K−1)
 *   dweight[c, j]         = Σ_{b, t} g[b, t, c] · ext[b, t + j, c]
 *   dbias[c]              = Σ_{b, t} g[b, t, c]
 * The pre-activation is recomputed. dbias / dInitialState are written when not null.
 */
export function causalConv1dBackward(s: CpuStore, a: CausalConv1dBackwardArgs): void {
  const { dtype, batch, length, channels, kernelSize, activation } = a;
  const x = s.float(a.x, dtype);
  const weight = s.float(a.weight, dtype);
  const bias = a.bias === null ? null : s.float(a.bias, dtype);
  const initialState = a.initialState === null ? null : s.float(a.initialState, dtype);
  const dy = s.float(a.dy, dtype);
  const dx = s.float(a.dx, dtype);
  const dweight = s.float(a.dweight, dtype);
  const dbias = a.dbias === null ? null : s.float(a.dbias, dtype);
  const dInitialState = a.dInitialState === null ? null : s.float(a.dInitialState, dtype);
  const history = kernelSize - 1;

  // Double-precision accumulators, allocated once: dx and dInitialState of one batch element
  // (extended-sequence rows), and dweight / dbias summed over the whole batch.
  const dExtended = new Float64Array((history + length) * channels);
  const dweightAcc = new Float64Array(channels * kernelSize);
  const dbiasAcc = new Float64Array(channels);

  for (let b = 0; b < batch; b++) {
    dExtended.fill(0);
    for (let t = 0; t < length; t++) {
      for (let c = 0; c < channels; c++) {
        const pre = preActivation(
          x,
          weight,
          bias,
          initialState,
          b,
          t,
          c,
          length,
          channels,
          kernelSize,
        );
        const g = dy[(b * length + t) * channels + c] * activateGrad(activation, pre);
        dbiasAcc[c] += g;
        for (let j = 0; j < kernelSize; j++) {
          const row = t + j; // row of the extended sequence that tap j reads
          const input = extendedInput(x, initialState, b, row, c, length, channels, kernelSize);
          dweightAcc[c * kernelSize + j] += g * input;
          dExtended[row * channels + c] += g * weight[c * kernelSize + j];
        }
      }
    }
    for (let t = 0; t < length; t++) {
      for (let c = 0; c < channels; c++) {
        dx[(b * length + t) * channels + c] = dExtended[(history + t) * channels + c];
      }
    }
    if (dInitialState !== null) {
      for (let i = 0; i < history; i++) {
        for (let c = 0; c < channels; c++) {
          dInitialState[(b * history + i) * channels + c] = dExtended[i * channels + c];
        }
      }
    }
  }

  dweight.set(dweightAcc);
  if (dbias !== null) dbias.set(dbiasAcc);
}

/**
 * One decode step: out[b, c] = act(bias[c] + Σ_{j<K−1} weight[c, j] · state[b, j, c]
 * + weight[c, K−1] · x[b, c]); then state[b] shifts up one row (dropping the oldest) and x[b]
 * becomes its last row. Equivalent to causalConv1d with L = 1, initialState = state and
 * finalState written back into state.
 */
export function causalConv1dStep(s: CpuStore, a: CausalConv1dStepArgs): void {
  const { dtype, batch, channels, kernelSize, activation } = a;
  const x = s.float(a.x, dtype);
  const state = s.float(a.state, dtype);
  const weight = s.float(a.weight, dtype);
  const bias = a.bias === null ? null : s.float(a.bias, dtype);
  const out = s.float(a.out, dtype);
  const history = kernelSize - 1;

  for (let b = 0; b < batch; b++) {
    for (let c = 0; c < channels; c++) {
      const current = x[b * channels + c];
      let pre = bias === null ? 0 : bias[c];
      for (let j = 0; j < history; j++) {
        pre += weight[c * kernelSize + j] * state[(b * history + j) * channels + c];
      }
      pre += weight[c * kernelSize + history] * current;
      out[b * channels + c] = activate(activation, pre);

      // Shift the window: row j takes row j + 1, the newest input goes last.
      for (let j = 0; j + 1 < history; j++) {
        state[(b * history + j) * channels + c] = state[(b * history + j + 1) * channels + c];
      }
      if (history > 0) state[(b * history + history - 1) * channels + c] = current;
    }
  }
}
