/**
 * Marshallers of the Mamba-1 selective scan kernels (native/scan.cu reads them in this order).
 *
 *   selectiveScan:          INPUTS, initialState?, out, lastState, batch, length, channels,
 *                           stateSize
 *   selectiveScanBackward:  INPUTS, initialState?, dOut, dLastState?, du, ddelta, dA, dB, dC, dD?,
 *                           dz?, dDeltaBias?, dInitialState?, batch, length, channels, stateSize
 *   selectiveScanStep:      INPUTS, state, out, batch, channels, stateSize, stateDType
 *
 *   INPUTS = dtype, u, delta, A, B, C, D?, z?, deltaBias?, deltaSoftplus
 *
 * Optional buffers (?) are written as −1 when null. The kernels take float32 or bfloat16.
 */
import type {
  SelectiveScanArgs,
  SelectiveScanBackwardArgs,
  SelectiveScanStepArgs,
} from "@bmojo/tensor";
import type { ArgWriter, Marshaller } from "./writer.js";

/** The per-token inputs and options shared by the scan, its backward and the step. */
type ScanInputs = Pick<
  SelectiveScanArgs,
  "dtype" | "u" | "delta" | "A" | "B" | "C" | "D" | "z" | "deltaBias" | "deltaSoftplus"
>;

function writeInputs(a: ScanInputs, w: ArgWriter): void {
  w.dtype(a.dtype).buf(a.u).buf(a.delta).buf(a.A).buf(a.B).buf(a.C);
  w.optBuf(a.D).optBuf(a.z).optBuf(a.deltaBias).flag(a.deltaSoftplus);
}

const selectiveScan: Marshaller<SelectiveScanArgs> = (a, w) => {
  writeInputs(a, w);
  w.optBuf(a.initialState).buf(a.out).buf(a.lastState);
  w.num(a.batch).num(a.length).num(a.channels).num(a.stateSize);
};

const selectiveScanBackward: Marshaller<SelectiveScanBackwardArgs> = (a, w) => {
  writeInputs(a, w);
  w.optBuf(a.initialState).buf(a.dOut).optBuf(a.dLastState);
  w.buf(a.du).buf(a.ddelta).buf(a.dA).buf(a.dB).buf(a.dC);
  w.optBuf(a.dD).optBuf(a.dz).optBuf(a.dDeltaBias).optBuf(a.dInitialState);
  w.num(a.batch).num(a.length).num(a.channels).num(a.stateSize);
};

const selectiveScanStep: Marshaller<SelectiveScanStepArgs> = (a, w) => {
  writeInputs(a, w);
  w.buf(a.state).buf(a.out);
  w.num(a.batch).num(a.channels).num(a.stateSize);
  w.dtype(a.stateDType ?? a.dtype);
};

export const scanMarshallers = { selectiveScan, selectiveScanBackward, selectiveScanStep };
