/**
 * float32 selective scan on the wasm kernels (src/wat/scan.wat). The forward runs one task per
 * (batch element, group of four channels); the backward one task per batch element, whose sums
 * over batch (dA, dD, dDeltaBias) go to per-element partials that are added up here. The decode
 * step (scan_step) updates the state in place, each channel walking its contiguous states (the
 * forward with L = 1 when N is not a multiple of 4).
 */
import type {
  SelectiveScanArgs,
  SelectiveScanBackwardArgs,
  SelectiveScanStepArgs,
} from "@bmojo/tensor";
import type { Runtime } from "../runtime.js";

/** Below this many state updates (B·L·E·N) a scan runs on the calling thread. */
const PARALLEL_UPDATES = 1 << 15;

type ScanInputs = Pick<
  SelectiveScanArgs,
  "u" | "delta" | "A" | "B" | "C" | "D" | "z" | "deltaBias" | "deltaSoftplus"
>;

/** Writes argument slots 0 … 15 (the inputs, sizes and scratch). */
function inputArgs(
  rt: Runtime,
  a: ScanInputs,
  initialState: number | null,
  dims: [number, number, number, number],
  scratch: number,
  scratchBytes: number,
): void {
  const p = (id: number | null) => (id === null ? 0 : rt.ptr(id));
  rt.args([
    p(a.u),
    p(a.delta),
    p(a.A),
    p(a.B),
    p(a.C),
    p(a.D),
    p(a.z),
    p(a.deltaBias),
    a.deltaSoftplus ? 1 : 0,
    p(initialState),
    ...dims,
    scratch,
    scratchBytes,
  ]);
}

function forward(
  rt: Runtime,
  a: ScanInputs,
  initialState: number | null,
  out: number,
  lastState: number,
  batch: number,
  length: number,
  channels: number,
  stateSize: number,
): void {
  const scratchBytes = 48 * stateSize;
  const scratch = rt.heap.alloc(scratchBytes * rt.pool.threads);
  try {
    inputArgs(
      rt,
      a,
      initialState,
      [batch, length, channels, stateSize],
      rt.ptr(scratch),
      scratchBytes,
    );
    rt.args([rt.ptr(out), rt.ptr(lastState)], 16);
    const groups = Math.ceil(channels / 4);
    rt.pool.run(
      "scan_fwd",
      batch * groups,
      1,
      batch * length * channels * stateSize >= PARALLEL_UPDATES,
    );
  } finally {
    rt.heap.free(scratch);
  }
}

export function selectiveScanF32(rt: Runtime, a: SelectiveScanArgs): void {
  const { batch, length, channels, stateSize } = a;
  if (length === 0 || stateSize === 0 || batch === 0 || channels === 0) {
    rt.reference.selectiveScan(a);
    return;
  }
  forward(rt, a, a.initialState, a.out, a.lastState, batch, length, channels, stateSize);
}

export function selectiveScanStepF32(rt: Runtime, a: SelectiveScanStepArgs): void {
  const { batch, channels, stateSize } = a;
  if (stateSize === 0 || batch === 0 || channels === 0) {
    rt.reference.selectiveScanStep(a);
    return;
  }
  if (stateSize % 4 !== 0) {
    forward(rt, a, a.state, a.out, a.state, batch, 1, channels, stateSize);
    return;
  }
  // States in place and contiguous per channel: no scratch, no transposed copy.
  inputArgs(rt, a, a.state, [batch, 1, channels, stateSize], 0, 0);
  rt.args([rt.ptr(a.out), rt.ptr(a.state)], 16);
  const tasks = batch * Math.ceil(channels / 4);
  rt.pool.run("scan_step", tasks, 1, batch * channels * stateSize >= PARALLEL_UPDATES);
}

export function selectiveScanBackwardF32(rt: Runtime, a: SelectiveScanBackwardArgs): void {
  const { batch, length: L, channels: E, stateSize: N } = a;
  if (L === 0 || N === 0 || batch === 0 || E === 0) {
    rt.reference.selectiveScanBackward(a);
    return;
  }
  const threads = rt.pool.threads;
  // at, dh, dA accumulators [N]; states [(L+1)·N]; dB, dC accumulators and Ā rows [L·N]; all v128.
  const scratchBytes = 16 * N * (3 + (L + 1) + 3 * L);
  const scratch = rt.heap.alloc(scratchBytes * threads);
  const partials = rt.heap.alloc(4 * batch * (E * N + 2 * E));
  try {
    const p = (id: number | null) => (id === null ? 0 : rt.ptr(id));
    const dAp = rt.ptr(partials);
    const dDp = dAp + 4 * batch * E * N;
    const dBiasp = dDp + 4 * batch * E;
    inputArgs(rt, a, a.initialState, [batch, L, E, N], rt.ptr(scratch), scratchBytes);
    rt.args(
      [
        p(a.dOut),
        p(a.dLastState),
        p(a.du),
        p(a.ddelta),
        p(a.dB),
        p(a.dC),
        p(a.dz),
        p(a.dInitialState),
        dAp,
        dDp,
        dBiasp,
      ],
      16,
    );
    rt.pool.run("scan_bwd", batch, 1, batch > 1 && batch * L * E * N >= PARALLEL_UPDATES);
    rt.sumRows(dAp, batch, E * N, rt.ptr(a.dA));
    if (a.dD !== null) rt.sumRows(dDp, batch, E, rt.ptr(a.dD));
    if (a.dDeltaBias !== null) rt.sumRows(dBiasp, batch, E, rt.ptr(a.dDeltaBias));
  } finally {
    rt.heap.free(scratch);
    rt.heap.free(partials);
  }
}
