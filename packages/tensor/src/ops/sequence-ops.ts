/**
 * Fused sequence routines for Mamba-style layers, channels last: causalConv1d and selectiveScan,
 * each with a parallel form (with gradients) and a one-token step that updates a state in place.
 */
import type { ConvActivation } from "../backend/kernels.js";
import type { Tensor } from "../tensor.js";
import {
  assertFloat,
  assertRank,
  assertSameDType,
  assertShape,
  backendOf,
  emptyTensor,
  kernel,
  recordGrad,
} from "./internal.js";

const id = (t: Tensor | null | undefined): number | null => (t ? t.storage.id : null);

function assertActivation(op: string, activation: string): asserts activation is ConvActivation {
  if (activation !== "none" && activation !== "silu") {
    throw new RangeError(
      `${op}: activation must be "none" or "silu", got ${JSON.stringify(activation)}.`,
    );
  }
}

export interface CausalConv1dOptions {
  /** [C]. */
  bias?: Tensor | null;
  /** The K−1 inputs before x, [B, K−1, C] (zeros when absent). Carries no gradient back to a cache. */
  initialState?: Tensor | null;
  activation?: ConvActivation;
  /** Also return the last K−1 inputs, [B, K−1, C], to continue with causalConv1dStep. */
  returnFinalState?: boolean;
}

export interface CausalConv1dResult {
  out: Tensor;
  /** Present when returnFinalState was set; carries no gradient. */
  finalState: Tensor | null;
}

/**
 * Depthwise causal convolution: x [B, L, C], weight [C, K]; out[b,t,c] = act(bias[c] +
 * Σ_j weight[c,j] · x[b, t−K+1+j, c]).
 */
export function causalConv1d(
  x: Tensor,
  weight: Tensor,
  options: CausalConv1dOptions = {},
): CausalConv1dResult {
  const op = "causalConv1d";
  const {
    bias = null,
    initialState = null,
    activation = "none",
    returnFinalState = false,
  } = options;
  const backend = backendOf(op, x, weight, bias, initialState);
  assertActivation(op, activation);
  assertFloat(op, "x", x);
  const dtype = assertSameDType(op, { x, weight, bias, initialState });
  assertRank(op, "x", x, 3, "[batch, length, channels]");
  const [batch, length, channels] = x.shape;
  assertRank(op, "weight", weight, 2, "[channels, kernelSize]");
  const kernelSize = weight.shape[1];
  assertShape(op, "weight", weight, [channels, -1], "[channels, kernelSize]");
  if (kernelSize < 1)
    throw new RangeError(
      `${op}: weight must have kernelSize ≥ 1, got shape [${weight.shape.join(", ")}].`,
    );
  if (bias) assertShape(op, "bias", bias, [channels], "[channels]");
  if (initialState)
    assertShape(
      op,
      "initialState",
      initialState,
      [batch, kernelSize - 1, channels],
      "[batch, kernelSize-1, channels]",
    );
  const sizes = { batch, length, channels, kernelSize, activation };
  const out = emptyTensor(x.shape, dtype, backend);
  const finalState = returnFinalState
    ? emptyTensor([batch, kernelSize - 1, channels], dtype, backend)
    : null;
  kernel(
    backend,
    "causalConv1d",
  )({
    dtype,
    x: x.storage.id,
    weight: weight.storage.id,
    bias: id(bias),
    initialState: id(initialState),
    out: out.storage.id,
    finalState: id(finalState),
    ...sizes,
  });
  const optional = [bias, initialState];
  recordGrad(
    op,
    [x, weight, ...optional],
    [out],
    [x, weight, ...optional.filter((t): t is Tensor => t !== null)],
    ([dy], saved) => {
      const [xs, ws] = saved;
      let next = 2;
      const [bs, ss] = optional.map((t) => (t ? saved[next++] : null));
      const like = (t: Tensor | null) => (t ? emptyTensor(t.shape, dtype, dy.backend) : null);
      const dx = like(xs) as Tensor;
      const dw = like(ws) as Tensor;
      const db = like(bs);
      const ds = like(ss);
      kernel(
        dy.backend,
        "causalConv1dBackward",
      )({
        dtype,
        x: xs.storage.id,
        weight: ws.storage.id,
        bias: id(bs),
        initialState: id(ss),
        dy: dy.storage.id,
        dx: dx.storage.id,
        dweight: dw.storage.id,
        dbias: id(db),
        dInitialState: id(ds),
        ...sizes,
      });
      return [dx, dw, db, ds];
    },
  );
  return { out, finalState };
}

/**
 * One decode step of causalConv1d: x [B, C]; state [B, K−1, C] (oldest first) is shifted and
 * updated in place. Returns out [B, C]. No gradient.
 */
export function causalConv1dStep(
  x: Tensor,
  state: Tensor,
  weight: Tensor,
  options: { bias?: Tensor | null; activation?: ConvActivation } = {},
): Tensor {
  const op = "causalConv1dStep";
  const { bias = null, activation = "none" } = options;
  const backend = backendOf(op, x, state, weight, bias);
  assertActivation(op, activation);
  assertFloat(op, "x", x);
  const dtype = assertSameDType(op, { x, state, weight, bias });
  assertRank(op, "x", x, 2, "[batch, channels]");
  const [batch, channels] = x.shape;
  assertShape(op, "weight", weight, [channels, -1], "[channels, kernelSize]");
  const kernelSize = weight.shape[1];
  assertShape(
    op,
    "state",
    state,
    [batch, kernelSize - 1, channels],
    "[batch, kernelSize-1, channels]",
  );
  if (bias) assertShape(op, "bias", bias, [channels], "[channels]");
  const out = emptyTensor([batch, channels], dtype, backend);
  kernel(
    backend,
    "causalConv1dStep",
  )({
    dtype,
    x: x.storage.id,
    state: state.storage.id,
    weight: weight.storage.id,
    bias: id(bias),
    out: out.storage.id,
    batch,
    channels,
    kernelSize,
    activation,
  });
  state.storage.bump();
  return out;
}

export interface SelectiveScanOptions {
  /** Skip connection [E]. */
  D?: Tensor | null;
  /** Gate [B, L, E]: out = y · silu(z). */
  z?: Tensor | null;
  /** Added to delta before softplus, [E]. */
  deltaBias?: Tensor | null;
  /** Apply softplus to delta (+ bias). Default false. */
  deltaSoftplus?: boolean;
  /** h before the first token, [B, E, N] (zeros when absent). */
  initialState?: Tensor | null;
}

export interface SelectiveScanResult {
  /** [B, L, E]. */
  out: Tensor;
  /** h after the last token, [B, E, N]. */
  lastState: Tensor;
}

/**
 * Mamba-1 selective scan (see the kernel doc in backend/kernels.ts): u, delta [B, L, E];
 * A [E, N]; B, C [B, L, N]. Gradients flow to every input and from both outputs.
 */
export function selectiveScan(
  u: Tensor,
  delta: Tensor,
  A: Tensor,
  B: Tensor,
  C: Tensor,
  options: SelectiveScanOptions = {},
): SelectiveScanResult {
  const op = "selectiveScan";
  const {
    D = null,
    z = null,
    deltaBias = null,
    deltaSoftplus = false,
    initialState = null,
  } = options;
  const backend = backendOf(op, u, delta, A, B, C, D, z, deltaBias, initialState);
  assertFloat(op, "u", u);
  const dtype = assertSameDType(op, { u, delta, A, B, C, D, z, deltaBias, initialState });
  assertRank(op, "u", u, 3, "[batch, length, channels]");
  const [batch, length, channels] = u.shape;
  assertShape(op, "delta", delta, [batch, length, channels], "[batch, length, channels]");
  assertRank(op, "A", A, 2, "[channels, stateSize]");
  const stateSize = A.shape[1];
  assertShape(op, "A", A, [channels, stateSize], "[channels, stateSize]");
  assertShape(op, "B", B, [batch, length, stateSize], "[batch, length, stateSize]");
  assertShape(op, "C", C, [batch, length, stateSize], "[batch, length, stateSize]");
  if (D) assertShape(op, "D", D, [channels], "[channels]");
  if (z) assertShape(op, "z", z, [batch, length, channels], "[batch, length, channels]");
  if (deltaBias) assertShape(op, "deltaBias", deltaBias, [channels], "[channels]");
  if (initialState)
    assertShape(
      op,
      "initialState",
      initialState,
      [batch, channels, stateSize],
      "[batch, channels, stateSize]",
    );
  const sizes = { batch, length, channels, stateSize, deltaSoftplus };
  const out = emptyTensor(u.shape, dtype, backend);
  const lastState = emptyTensor([batch, channels, stateSize], dtype, backend);
  kernel(
    backend,
    "selectiveScan",
  )({
    dtype,
    u: u.storage.id,
    delta: delta.storage.id,
    A: A.storage.id,
    B: B.storage.id,
    C: C.storage.id,
    D: id(D),
    z: id(z),
    deltaBias: id(deltaBias),
    initialState: id(initialState),
    out: out.storage.id,
    lastState: lastState.storage.id,
    ...sizes,
  });
  const optional = [D, z, deltaBias, initialState];
  recordGrad(
    op,
    [u, delta, A, B, C, ...optional],
    [out, lastState],
    [u, delta, A, B, C, ...optional.filter((t): t is Tensor => t !== null)],
    ([dOut, dLast], saved) => {
      const [us, ds, As, Bs, Cs] = saved;
      let next = 5;
      const [Ds, zs, dbs, hs] = optional.map((t) => (t ? saved[next++] : null));
      const like = (t: Tensor | null) => (t ? emptyTensor(t.shape, dtype, dOut.backend) : null);
      const grads = {
        du: like(us) as Tensor,
        ddelta: like(ds) as Tensor,
        dA: like(As) as Tensor,
        dB: like(Bs) as Tensor,
        dC: like(Cs) as Tensor,
        dD: like(Ds),
        dz: like(zs),
        dDeltaBias: like(dbs),
        dInitialState: like(hs),
      };
      kernel(
        dOut.backend,
        "selectiveScanBackward",
      )({
        dtype,
        u: us.storage.id,
        delta: ds.storage.id,
        A: As.storage.id,
        B: Bs.storage.id,
        C: Cs.storage.id,
        D: id(Ds),
        z: id(zs),
        deltaBias: id(dbs),
        initialState: id(hs),
        dOut: dOut.storage.id,
        dLastState: dLast.storage.id,
        du: grads.du.storage.id,
        ddelta: grads.ddelta.storage.id,
        dA: grads.dA.storage.id,
        dB: grads.dB.storage.id,
        dC: grads.dC.storage.id,
        dD: id(grads.dD),
        dz: id(grads.dz),
        dDeltaBias: id(grads.dDeltaBias),
        dInitialState: id(grads.dInitialState),
        ...sizes,
      });
      return [
        grads.du,
        grads.ddelta,
        grads.dA,
        grads.dB,
        grads.dC,
        grads.dD,
        grads.dz,
        grads.dDeltaBias,
        grads.dInitialState,
      ];
    },
  );
  return { out, lastState };
}

/**
 * One decode step of selectiveScan: u, delta (, z) [B, E]; B, C [B, N]; state [B, E, N] is
 * updated in place. Returns out [B, E]. No gradient. With bfloat16 inputs the state may be
 * float32 (mixed precision keeps h in float32).
 */
export function selectiveScanStep(
  state: Tensor,
  u: Tensor,
  delta: Tensor,
  A: Tensor,
  B: Tensor,
  C: Tensor,
  options: Omit<SelectiveScanOptions, "initialState"> = {},
): Tensor {
  const op = "selectiveScanStep";
  const { D = null, z = null, deltaBias = null, deltaSoftplus = false } = options;
  const backend = backendOf(op, state, u, delta, A, B, C, D, z, deltaBias);
  assertFloat(op, "u", u);
  const dtype = assertSameDType(op, { u, delta, A, B, C, D, z, deltaBias });
  const wideState = dtype === "bfloat16" && state.dtype === "float32";
  if (state.dtype !== dtype && !wideState) {
    throw new TypeError(
      `${op}: state is ${state.dtype} but the inputs are ${dtype}; the state must have the inputs' dtype${dtype === "bfloat16" ? " or be float32" : ""}.`,
    );
  }
  assertRank(op, "u", u, 2, "[batch, channels]");
  const [batch, channels] = u.shape;
  assertRank(op, "A", A, 2, "[channels, stateSize]");
  const stateSize = A.shape[1];
  assertShape(op, "A", A, [channels, stateSize], "[channels, stateSize]");
  assertShape(op, "state", state, [batch, channels, stateSize], "[batch, channels, stateSize]");
  assertShape(op, "delta", delta, [batch, channels], "[batch, channels]");
  assertShape(op, "B", B, [batch, stateSize], "[batch, stateSize]");
  assertShape(op, "C", C, [batch, stateSize], "[batch, stateSize]");
  if (D) assertShape(op, "D", D, [channels], "[channels]");
  if (z) assertShape(op, "z", z, [batch, channels], "[batch, channels]");
  if (deltaBias) assertShape(op, "deltaBias", deltaBias, [channels], "[channels]");
  const out = emptyTensor([batch, channels], dtype, backend);
  kernel(
    backend,
    "selectiveScanStep",
  )({
    dtype,
    ...(wideState ? { stateDType: state.dtype } : {}),
    u: u.storage.id,
    delta: delta.storage.id,
    A: A.storage.id,
    B: B.storage.id,
    C: C.storage.id,
    D: id(D),
    z: id(z),
    deltaBias: id(deltaBias),
    deltaSoftplus,
    state: state.storage.id,
    out: out.storage.id,
    batch,
    channels,
    stateSize,
  });
  state.storage.bump();
  return out;
}
