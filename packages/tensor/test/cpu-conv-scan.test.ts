/**
 * The cpu backend's causal conv and selective scan kernels: forward against plain reference
 * loops, recurrent step against the parallel forward, chunked against whole, every backward
 * output against central finite differences (float64), and float32 against float64.
 */
import { describe, expect, it } from "vitest";
import type { BufferId, ConvActivation } from "../src/backend/kernels.js";
import {
  causalConv1d,
  causalConv1dBackward,
  causalConv1dStep,
} from "../src/backends/cpu/causal-conv1d.js";
import {
  selectiveScan,
  selectiveScanBackward,
  selectiveScanStep,
} from "../src/backends/cpu/selective-scan.js";
import { CpuStore } from "../src/backends/cpu/store.js";
import { bytesPerElement, type DType } from "../src/dtype.js";

type FloatDType = "float32" | "float64";

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/** Deterministic uniform [0, 1) generator (mulberry32). */
function makeRng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let v = state;
    v = Math.imul(v ^ (v >>> 15), v | 1);
    v ^= v + Math.imul(v ^ (v >>> 7), v | 61);
    return ((v ^ (v >>> 14)) >>> 0) / 4294967296;
  };
}

function uniform(rng: () => number, size: number, lo = -1, hi = 1): Float64Array {
  const out = new Float64Array(size);
  for (let i = 0; i < size; i++) out[i] = lo + (hi - lo) * rng();
  return out;
}

/** Round every element to float32, so float32 and float64 runs see identical inputs. */
function fround(data: Float64Array): Float64Array {
  return data.map((v) => Math.fround(v));
}

/** Allocate a buffer holding `data` as `dtype`. */
function put(s: CpuStore, dtype: DType, data: ArrayLike<number>): BufferId {
  const id = s.alloc(data.length * bytesPerElement(dtype));
  s.view(id, dtype).set(data);
  return id;
}

/** Allocate an output buffer of `size` elements, pre-filled with NaN so unwritten slots show. */
function output(s: CpuStore, dtype: DType, size: number): BufferId {
  const id = s.alloc(size * bytesPerElement(dtype));
  s.view(id, dtype).fill(Number.NaN);
  return id;
}

function putOrNull(s: CpuStore, dtype: DType, data: Float64Array | null): BufferId | null {
  return data === null ? null : put(s, dtype, data);
}

function read(s: CpuStore, id: BufferId, dtype: DType, size: number): Float64Array {
  return Float64Array.from(s.view(id, dtype).subarray(0, size));
}

/** Assert |actual − expected| ≤ tol · max(1, |expected|) everywhere (NaN fails). */
function expectClose(
  actual: Float64Array,
  expected: ArrayLike<number>,
  tol: number,
  label: string,
): void {
  expect(actual.length, `${label}: length`).toBe(expected.length);
  let worst = 0;
  let worstIndex = -1;
  for (let i = 0; i < actual.length; i++) {
    const err = Math.abs(actual[i] - expected[i]) / Math.max(1, Math.abs(expected[i]));
    const errOrInf = Number.isNaN(err) ? Number.POSITIVE_INFINITY : err;
    if (errOrInf > worst || worstIndex < 0) {
      worst = errOrInf;
      worstIndex = i;
    }
  }
  const where =
    worstIndex < 0 ? "" : ` at ${worstIndex}: ${actual[worstIndex]} vs ${expected[worstIndex]}`;
  expect(worst, `${label}: worst relative error${where}`).toBeLessThanOrEqual(tol);
}

function dot(a: Float64Array, b: Float64Array): number {
  let acc = 0;
  for (let i = 0; i < a.length; i++) acc += a[i] * b[i];
  return acc;
}

const FD_EPS = 1e-6;
const FD_TOL = 1e-6;

/**
 * Central finite differences of `loss` with respect to every element of `data` (perturbed in
 * place and restored), compared with `analytic`.
 */
function checkGradient(
  label: string,
  data: Float64Array,
  analytic: Float64Array,
  loss: () => number,
): void {
  const numeric = new Float64Array(data.length);
  for (let i = 0; i < data.length; i++) {
    const saved = data[i];
    data[i] = saved + FD_EPS;
    const plus = loss();
    data[i] = saved - FD_EPS;
    const minus = loss();
    data[i] = saved;
    numeric[i] = (plus - minus) / (2 * FD_EPS);
  }
  expectClose(analytic, numeric, FD_TOL, `d${label}`);
}

// ---------------------------------------------------------------------------------------------
// Causal conv
// ---------------------------------------------------------------------------------------------

interface ConvDims {
  batch: number;
  length: number;
  channels: number;
  kernelSize: number;
}

interface ConvData {
  x: Float64Array;
  weight: Float64Array;
  bias: Float64Array | null;
  initialState: Float64Array | null;
  activation: ConvActivation;
}

interface ConvOptions {
  bias: boolean;
  initialState: boolean;
  activation: ConvActivation;
}

function makeConvData(rng: () => number, d: ConvDims, o: ConvOptions): ConvData {
  const { batch, length, channels, kernelSize } = d;
  return {
    x: uniform(rng, batch * length * channels),
    weight: uniform(rng, channels * kernelSize),
    bias: o.bias ? uniform(rng, channels) : null,
    initialState: o.initialState ? uniform(rng, batch * (kernelSize - 1) * channels) : null,
    activation: o.activation,
  };
}

function silu(v: number): number {
  return v / (1 + Math.exp(-v));
}

/** Reference: pad each channel with its K−1 history rows, then slide the K-tap window. */
function naiveConv(data: ConvData, d: ConvDims): { out: Float64Array; finalState: Float64Array } {
  const { batch, length, channels, kernelSize } = d;
  const history = kernelSize - 1;
  const out = new Float64Array(batch * length * channels);
  const finalState = new Float64Array(batch * history * channels);
  for (let b = 0; b < batch; b++) {
    for (let c = 0; c < channels; c++) {
      const padded: number[] = [];
      for (let i = 0; i < history; i++) {
        padded.push(
          data.initialState === null ? 0 : data.initialState[(b * history + i) * channels + c],
        );
      }
      for (let t = 0; t < length; t++) padded.push(data.x[(b * length + t) * channels + c]);
      for (let t = 0; t < length; t++) {
        let acc = data.bias === null ? 0 : data.bias[c];
        for (let j = 0; j < kernelSize; j++) acc += data.weight[c * kernelSize + j] * padded[t + j];
        out[(b * length + t) * channels + c] = data.activation === "silu" ? silu(acc) : acc;
      }
      for (let r = 0; r < history; r++) {
        finalState[(b * history + r) * channels + c] = padded[padded.length - history + r];
      }
    }
  }
  return { out, finalState };
}

function runConv(
  dtype: FloatDType,
  data: ConvData,
  d: ConvDims,
): { out: Float64Array; finalState: Float64Array } {
  const s = new CpuStore();
  const { batch, length, channels, kernelSize } = d;
  const outSize = batch * length * channels;
  const stateSize = batch * (kernelSize - 1) * channels;
  const out = output(s, dtype, outSize);
  const finalState = output(s, dtype, stateSize);
  causalConv1d(s, {
    dtype,
    x: put(s, dtype, data.x),
    weight: put(s, dtype, data.weight),
    bias: putOrNull(s, dtype, data.bias),
    initialState: putOrNull(s, dtype, data.initialState),
    out,
    finalState,
    ...d,
    activation: data.activation,
  });
  return { out: read(s, out, dtype, outSize), finalState: read(s, finalState, dtype, stateSize) };
}

/** Feed x one token at a time through causalConv1dStep, starting from initialState (or 0). */
function runConvSteps(
  dtype: FloatDType,
  data: ConvData,
  d: ConvDims,
): { out: Float64Array; finalState: Float64Array } {
  const s = new CpuStore();
  const { batch, length, channels, kernelSize } = d;
  const stateSize = batch * (kernelSize - 1) * channels;
  const state = put(s, dtype, data.initialState ?? new Float64Array(stateSize));
  const weight = put(s, dtype, data.weight);
  const bias = putOrNull(s, dtype, data.bias);
  const xToken = s.alloc(batch * channels * bytesPerElement(dtype));
  const outToken = output(s, dtype, batch * channels);
  const out = new Float64Array(batch * length * channels);
  for (let t = 0; t < length; t++) {
    const xView = s.view(xToken, dtype);
    for (let b = 0; b < batch; b++) {
      for (let c = 0; c < channels; c++) {
        xView[b * channels + c] = data.x[(b * length + t) * channels + c];
      }
    }
    causalConv1dStep(s, {
      dtype,
      x: xToken,
      state,
      weight,
      bias,
      out: outToken,
      batch,
      channels,
      kernelSize,
      activation: data.activation,
    });
    const outView = s.view(outToken, dtype);
    for (let b = 0; b < batch; b++) {
      for (let c = 0; c < channels; c++) {
        out[(b * length + t) * channels + c] = outView[b * channels + c];
      }
    }
  }
  return { out, finalState: read(s, state, dtype, stateSize) };
}

interface ConvGrads {
  dx: Float64Array;
  dweight: Float64Array;
  dbias: Float64Array | null;
  dInitialState: Float64Array | null;
}

function runConvBackward(data: ConvData, d: ConvDims, dy: Float64Array): ConvGrads {
  const dtype = "float64";
  const s = new CpuStore();
  const { batch, length, channels, kernelSize } = d;
  const xSize = batch * length * channels;
  const stateSize = batch * (kernelSize - 1) * channels;
  const dx = output(s, dtype, xSize);
  const dweight = output(s, dtype, channels * kernelSize);
  const dbias = data.bias === null ? null : output(s, dtype, channels);
  const dInitialState = data.initialState === null ? null : output(s, dtype, stateSize);
  causalConv1dBackward(s, {
    dtype,
    x: put(s, dtype, data.x),
    weight: put(s, dtype, data.weight),
    bias: putOrNull(s, dtype, data.bias),
    initialState: putOrNull(s, dtype, data.initialState),
    dy: put(s, dtype, dy),
    dx,
    dweight,
    dbias,
    dInitialState,
    ...d,
    activation: data.activation,
  });
  return {
    dx: read(s, dx, dtype, xSize),
    dweight: read(s, dweight, dtype, channels * kernelSize),
    dbias: dbias === null ? null : read(s, dbias, dtype, channels),
    dInitialState: dInitialState === null ? null : read(s, dInitialState, dtype, stateSize),
  };
}

const CONV_OPTIONS: ConvOptions[] = [];
for (const activation of ["none", "silu"] as const) {
  for (const bias of [false, true]) {
    for (const initialState of [false, true]) CONV_OPTIONS.push({ bias, initialState, activation });
  }
}

const CONV_SHAPES: ConvDims[] = [];
for (const length of [1, 2, 3, 7]) {
  for (const kernelSize of [1, 2, 3, 4]) {
    for (const channels of [1, 3]) CONV_SHAPES.push({ batch: 2, length, channels, kernelSize });
  }
}

function convLabel(d: ConvDims, o: ConvOptions): string {
  return `L=${d.length} C=${d.channels} K=${d.kernelSize} act=${o.activation} bias=${o.bias} init=${o.initialState}`;
}

describe("causalConv1d forward", () => {
  it.each(CONV_SHAPES)("matches a padded convolution: L=$length C=$channels K=$kernelSize", (d) => {
    const rng = makeRng(1 + d.length * 100 + d.kernelSize * 10 + d.channels);
    for (const o of CONV_OPTIONS) {
      const data = makeConvData(rng, d, o);
      const expected = naiveConv(data, d);
      const got = runConv("float64", data, d);
      expectClose(got.out, expected.out, 1e-14, `out ${convLabel(d, o)}`);
      expectClose(got.finalState, expected.finalState, 0, `finalState ${convLabel(d, o)}`);
    }
  });

  it("finalState when L < K−1 keeps the tail of the initial state", () => {
    const d = { batch: 1, length: 1, channels: 1, kernelSize: 4 };
    const data: ConvData = {
      x: Float64Array.of(7),
      weight: Float64Array.of(1, 2, 3, 4),
      bias: Float64Array.of(0.5),
      initialState: Float64Array.of(10, 20, 30),
      activation: "none",
    };
    const got = runConv("float64", data, d);
    expectClose(got.out, [0.5 + 10 + 40 + 90 + 28], 0, "out");
    expectClose(got.finalState, [20, 30, 7], 0, "finalState");
  });

  it("K = 1 is a per-channel affine map with an empty state", () => {
    const d = { batch: 1, length: 3, channels: 2, kernelSize: 1 };
    const data: ConvData = {
      x: Float64Array.of(1, 2, 3, 4, 5, 6),
      weight: Float64Array.of(2, -1),
      bias: Float64Array.of(1, 0),
      initialState: null,
      activation: "none",
    };
    const got = runConv("float64", data, d);
    expectClose(got.out, [3, -2, 7, -4, 11, -6], 0, "out");
    expect(got.finalState.length).toBe(0);
  });

  it("silu is applied after the bias", () => {
    const d = { batch: 1, length: 1, channels: 1, kernelSize: 2 };
    const data: ConvData = {
      x: Float64Array.of(2),
      weight: Float64Array.of(5, 0.25),
      bias: Float64Array.of(-1.5),
      initialState: null,
      activation: "silu",
    };
    const pre = 0.25 * 2 - 1.5;
    expectClose(runConv("float64", data, d).out, [pre / (1 + Math.exp(-pre))], 1e-15, "out");
  });

  it("float32 matches float64 within 1e-5", () => {
    const rng = makeRng(7);
    const d = { batch: 2, length: 9, channels: 5, kernelSize: 4 };
    for (const o of CONV_OPTIONS) {
      const raw = makeConvData(rng, d, o);
      const data: ConvData = {
        x: fround(raw.x),
        weight: fround(raw.weight),
        bias: raw.bias && fround(raw.bias),
        initialState: raw.initialState && fround(raw.initialState),
        activation: raw.activation,
      };
      const f64 = runConv("float64", data, d);
      const f32 = runConv("float32", data, d);
      expectClose(f32.out, f64.out, 1e-5, `out ${convLabel(d, o)}`);
      expectClose(f32.finalState, f64.finalState, 1e-5, `finalState ${convLabel(d, o)}`);
    }
  });
});

describe("causalConv1dStep", () => {
  for (const dtype of ["float64", "float32"] as const) {
    const tol = dtype === "float64" ? 1e-12 : 1e-5;
    it.each(CONV_SHAPES)(
      `${dtype}: token by token equals parallel: L=$length C=$channels K=$kernelSize`,
      (d) => {
        const rng = makeRng(2 + d.length * 100 + d.kernelSize * 10 + d.channels);
        for (const o of CONV_OPTIONS) {
          const data = makeConvData(rng, d, o);
          const parallel = runConv(dtype, data, d);
          const steps = runConvSteps(dtype, data, d);
          expectClose(steps.out, parallel.out, tol, `out ${convLabel(d, o)}`);
          expectClose(steps.finalState, parallel.finalState, tol, `state ${convLabel(d, o)}`);
        }
      },
    );
  }
});

/** Columns [from, to) of a [B, L, C] tensor. */
function sliceTime(
  data: Float64Array,
  batch: number,
  length: number,
  inner: number,
  from: number,
  to: number,
): Float64Array {
  const out = new Float64Array(batch * (to - from) * inner);
  for (let b = 0; b < batch; b++) {
    out.set(
      data.subarray((b * length + from) * inner, (b * length + to) * inner),
      b * (to - from) * inner,
    );
  }
  return out;
}

/** Concatenate two [B, L1, C] and [B, L2, C] tensors along time. */
function concatTime(
  first: Float64Array,
  second: Float64Array,
  batch: number,
  inner: number,
): Float64Array {
  const l1 = first.length / (batch * inner);
  const l2 = second.length / (batch * inner);
  const out = new Float64Array(first.length + second.length);
  for (let b = 0; b < batch; b++) {
    out.set(first.subarray(b * l1 * inner, (b + 1) * l1 * inner), b * (l1 + l2) * inner);
    out.set(second.subarray(b * l2 * inner, (b + 1) * l2 * inner), (b * (l1 + l2) + l1) * inner);
  }
  return out;
}

describe("causalConv1d chunked", () => {
  it("two chunks chained through finalState equal one pass", () => {
    const rng = makeRng(3);
    for (const length of [2, 3, 5, 9]) {
      for (const kernelSize of [1, 2, 4]) {
        const d = { batch: 2, length, channels: 3, kernelSize };
        for (const o of CONV_OPTIONS) {
          const data = makeConvData(rng, d, o);
          const whole = runConv("float64", data, d);
          const split = Math.floor(length / 2);
          const d1 = { ...d, length: split };
          const d2 = { ...d, length: length - split };
          const first = runConv(
            "float64",
            { ...data, x: sliceTime(data.x, 2, length, 3, 0, split) },
            d1,
          );
          const second = runConv(
            "float64",
            {
              ...data,
              x: sliceTime(data.x, 2, length, 3, split, length),
              initialState: first.finalState,
            },
            d2,
          );
          const label = convLabel(d, o);
          expectClose(concatTime(first.out, second.out, 2, 3), whole.out, 1e-12, `out ${label}`);
          expectClose(second.finalState, whole.finalState, 0, `finalState ${label}`);
        }
      }
    }
  });
});

describe("causalConv1dBackward", () => {
  const shapes: ConvDims[] = [
    { batch: 2, length: 5, channels: 3, kernelSize: 4 },
    { batch: 2, length: 2, channels: 2, kernelSize: 4 }, // L < K − 1
    { batch: 2, length: 1, channels: 3, kernelSize: 3 },
    { batch: 2, length: 4, channels: 2, kernelSize: 1 },
  ];
  for (const d of shapes) {
    it.each(CONV_OPTIONS)(
      `finite differences: L=${d.length} C=${d.channels} K=${d.kernelSize} act=$activation bias=$bias init=$initialState`,
      (o) => {
        const rng = makeRng(4 + d.length * 10 + d.kernelSize);
        const data = makeConvData(rng, d, o);
        const w = uniform(rng, d.batch * d.length * d.channels);
        // loss = Σ w ⊙ out, so dy = w. (finalState has no gradient input in this kernel.)
        const loss = (): number => dot(w, runConv("float64", data, d).out);
        const grads = runConvBackward(data, d, w);
        checkGradient("x", data.x, grads.dx, loss);
        checkGradient("weight", data.weight, grads.dweight, loss);
        if (data.bias !== null) checkGradient("bias", data.bias, grads.dbias!, loss);
        else expect(grads.dbias).toBeNull();
        if (data.initialState !== null) {
          checkGradient("initialState", data.initialState, grads.dInitialState!, loss);
        }
      },
    );
  }

  it("without initialState, dx ignores the zero padding", () => {
    const d = { batch: 1, length: 2, channels: 1, kernelSize: 3 };
    const data: ConvData = {
      x: Float64Array.of(1, 2),
      weight: Float64Array.of(1, 10, 100),
      bias: null,
      initialState: null,
      activation: "none",
    };
    // out0 = 100 x0, out1 = 10 x0 + 100 x1.
    const grads = runConvBackward(data, d, Float64Array.of(1, 1));
    expectClose(grads.dx, [110, 100], 0, "dx");
    expectClose(grads.dweight, [0, 1, 3], 0, "dweight");
  });
});

// ---------------------------------------------------------------------------------------------
// Selective scan
// ---------------------------------------------------------------------------------------------

interface ScanDims {
  batch: number;
  length: number;
  channels: number;
  stateSize: number;
}

interface ScanData {
  u: Float64Array;
  delta: Float64Array;
  A: Float64Array;
  B: Float64Array;
  C: Float64Array;
  D: Float64Array | null;
  z: Float64Array | null;
  deltaBias: Float64Array | null;
  deltaSoftplus: boolean;
  initialState: Float64Array | null;
}

interface ScanOptions {
  D: boolean;
  z: boolean;
  deltaBias: boolean;
  deltaSoftplus: boolean;
  initialState: boolean;
}

/** Inputs in Mamba's regime: A = −exp(·) < 0, dt > 0 (delta > 0 when there is no softplus). */
function makeScanData(rng: () => number, d: ScanDims, o: ScanOptions): ScanData {
  const { batch, length, channels, stateSize } = d;
  const tokens = batch * length;
  return {
    u: uniform(rng, tokens * channels),
    delta: o.deltaSoftplus
      ? uniform(rng, tokens * channels, -1.5, 1)
      : uniform(rng, tokens * channels, 0.05, 0.6),
    A: uniform(rng, channels * stateSize, -1, 1).map((v) => -Math.exp(v)),
    B: uniform(rng, tokens * stateSize),
    C: uniform(rng, tokens * stateSize),
    D: o.D ? uniform(rng, channels) : null,
    z: o.z ? uniform(rng, tokens * channels, -2, 2) : null,
    deltaBias: o.deltaBias
      ? o.deltaSoftplus
        ? uniform(rng, channels, -0.5, 0.5)
        : uniform(rng, channels, 0, 0.2)
      : null,
    deltaSoftplus: o.deltaSoftplus,
    initialState: o.initialState ? uniform(rng, batch * channels * stateSize) : null,
  };
}

const SCAN_OPTIONS: ScanOptions[] = [];
for (let mask = 0; mask < 32; mask++) {
  SCAN_OPTIONS.push({
    D: (mask & 1) !== 0,
    z: (mask & 2) !== 0,
    deltaBias: (mask & 4) !== 0,
    deltaSoftplus: (mask & 8) !== 0,
    initialState: (mask & 16) !== 0,
  });
}

function scanLabel(d: ScanDims, o: ScanOptions): string {
  const flags = Object.entries(o)
    .filter(([, on]) => on)
    .map(([name]) => name)
    .join("+");
  return `L=${d.length} E=${d.channels} N=${d.stateSize} [${flags || "plain"}]`;
}

/** Reference: the recurrence written out step by step with nested arrays, in float64. */
function naiveScan(data: ScanData, d: ScanDims): { out: Float64Array; lastState: Float64Array } {
  const { batch, length, channels: E, stateSize: N } = d;
  const out = new Float64Array(batch * length * E);
  const lastState = new Float64Array(batch * E * N);
  for (let b = 0; b < batch; b++) {
    const h: number[][] = [];
    for (let e = 0; e < E; e++) {
      h.push([]);
      for (let n = 0; n < N; n++) {
        h[e].push(data.initialState === null ? 0 : data.initialState[(b * E + e) * N + n]);
      }
    }
    for (let t = 0; t < length; t++) {
      for (let e = 0; e < E; e++) {
        const at = (b * length + t) * E + e;
        let dt = data.delta[at] + (data.deltaBias === null ? 0 : data.deltaBias[e]);
        if (data.deltaSoftplus && dt <= 20) dt = Math.log(1 + Math.exp(dt));
        const u = data.u[at];
        let y = 0;
        for (let n = 0; n < N; n++) {
          const Bn = data.B[(b * length + t) * N + n];
          const Cn = data.C[(b * length + t) * N + n];
          h[e][n] = Math.exp(dt * data.A[e * N + n]) * h[e][n] + dt * u * Bn;
          y += Cn * h[e][n];
        }
        if (data.D !== null) y += data.D[e] * u;
        out[at] = data.z === null ? y : y * silu(data.z[at]);
      }
    }
    for (let e = 0; e < E; e++) {
      for (let n = 0; n < N; n++) lastState[(b * E + e) * N + n] = h[e][n];
    }
  }
  return { out, lastState };
}

function runScan(
  dtype: FloatDType,
  data: ScanData,
  d: ScanDims,
): { out: Float64Array; lastState: Float64Array } {
  const s = new CpuStore();
  const outSize = d.batch * d.length * d.channels;
  const stateElems = d.batch * d.channels * d.stateSize;
  const out = output(s, dtype, outSize);
  const lastState = output(s, dtype, stateElems);
  selectiveScan(s, {
    dtype,
    u: put(s, dtype, data.u),
    delta: put(s, dtype, data.delta),
    A: put(s, dtype, data.A),
    B: put(s, dtype, data.B),
    C: put(s, dtype, data.C),
    D: putOrNull(s, dtype, data.D),
    z: putOrNull(s, dtype, data.z),
    deltaBias: putOrNull(s, dtype, data.deltaBias),
    deltaSoftplus: data.deltaSoftplus,
    initialState: putOrNull(s, dtype, data.initialState),
    out,
    lastState,
    ...d,
  });
  return { out: read(s, out, dtype, outSize), lastState: read(s, lastState, dtype, stateElems) };
}

/** Feed the sequence one token at a time through selectiveScanStep. */
function runScanSteps(
  dtype: FloatDType,
  data: ScanData,
  d: ScanDims,
): { out: Float64Array; lastState: Float64Array } {
  const s = new CpuStore();
  const { batch, length, channels: E, stateSize: N } = d;
  const stateElems = batch * E * N;
  const state = put(s, dtype, data.initialState ?? new Float64Array(stateElems));
  const A = put(s, dtype, data.A);
  const D = putOrNull(s, dtype, data.D);
  const deltaBias = putOrNull(s, dtype, data.deltaBias);
  const u = output(s, dtype, batch * E);
  const delta = output(s, dtype, batch * E);
  const z = data.z === null ? null : output(s, dtype, batch * E);
  const B = output(s, dtype, batch * N);
  const C = output(s, dtype, batch * N);
  const outToken = output(s, dtype, batch * E);
  const out = new Float64Array(batch * length * E);
  for (let t = 0; t < length; t++) {
    s.view(u, dtype).set(sliceTime(data.u, batch, length, E, t, t + 1));
    s.view(delta, dtype).set(sliceTime(data.delta, batch, length, E, t, t + 1));
    if (z !== null && data.z !== null) {
      s.view(z, dtype).set(sliceTime(data.z, batch, length, E, t, t + 1));
    }
    s.view(B, dtype).set(sliceTime(data.B, batch, length, N, t, t + 1));
    s.view(C, dtype).set(sliceTime(data.C, batch, length, N, t, t + 1));
    selectiveScanStep(s, {
      dtype,
      u,
      delta,
      A,
      B,
      C,
      D,
      z,
      deltaBias,
      deltaSoftplus: data.deltaSoftplus,
      state,
      out: outToken,
      batch,
      channels: E,
      stateSize: N,
    });
    const outView = s.view(outToken, dtype);
    for (let b = 0; b < batch; b++) {
      for (let e = 0; e < E; e++) out[(b * length + t) * E + e] = outView[b * E + e];
    }
  }
  return { out, lastState: read(s, state, dtype, stateElems) };
}

interface ScanGrads {
  du: Float64Array;
  ddelta: Float64Array;
  dA: Float64Array;
  dB: Float64Array;
  dC: Float64Array;
  dD: Float64Array | null;
  dz: Float64Array | null;
  dDeltaBias: Float64Array | null;
  dInitialState: Float64Array | null;
}

function runScanBackward(
  data: ScanData,
  d: ScanDims,
  dOutData: Float64Array,
  dLastStateData: Float64Array | null,
): ScanGrads {
  const dtype = "float64";
  const s = new CpuStore();
  const { batch, length, channels: E, stateSize: N } = d;
  const tokensE = batch * length * E;
  const tokensN = batch * length * N;
  const stateElems = batch * E * N;
  const du = output(s, dtype, tokensE);
  const ddelta = output(s, dtype, tokensE);
  const dA = output(s, dtype, E * N);
  const dB = output(s, dtype, tokensN);
  const dC = output(s, dtype, tokensN);
  const dD = data.D === null ? null : output(s, dtype, E);
  const dz = data.z === null ? null : output(s, dtype, tokensE);
  const dDeltaBias = data.deltaBias === null ? null : output(s, dtype, E);
  const dInitialState = data.initialState === null ? null : output(s, dtype, stateElems);
  selectiveScanBackward(s, {
    dtype,
    u: put(s, dtype, data.u),
    delta: put(s, dtype, data.delta),
    A: put(s, dtype, data.A),
    B: put(s, dtype, data.B),
    C: put(s, dtype, data.C),
    D: putOrNull(s, dtype, data.D),
    z: putOrNull(s, dtype, data.z),
    deltaBias: putOrNull(s, dtype, data.deltaBias),
    deltaSoftplus: data.deltaSoftplus,
    initialState: putOrNull(s, dtype, data.initialState),
    dOut: put(s, dtype, dOutData),
    dLastState: putOrNull(s, dtype, dLastStateData),
    du,
    ddelta,
    dA,
    dB,
    dC,
    dD,
    dz,
    dDeltaBias,
    dInitialState,
    ...d,
  });
  const readOrNull = (id: BufferId | null, size: number): Float64Array | null =>
    id === null ? null : read(s, id, dtype, size);
  return {
    du: read(s, du, dtype, tokensE),
    ddelta: read(s, ddelta, dtype, tokensE),
    dA: read(s, dA, dtype, E * N),
    dB: read(s, dB, dtype, tokensN),
    dC: read(s, dC, dtype, tokensN),
    dD: readOrNull(dD, E),
    dz: readOrNull(dz, tokensE),
    dDeltaBias: readOrNull(dDeltaBias, E),
    dInitialState: readOrNull(dInitialState, stateElems),
  };
}

/** Check every backward output of the scan against finite differences of Σ w⊙out (+ Σ w2⊙last). */
function checkScanGradients(
  data: ScanData,
  d: ScanDims,
  seed: number,
  withLastState: boolean,
): void {
  const rng = makeRng(seed);
  const w = uniform(rng, d.batch * d.length * d.channels);
  const w2 = withLastState ? uniform(rng, d.batch * d.channels * d.stateSize) : null;
  const loss = (): number => {
    const { out, lastState } = runScan("float64", data, d);
    return dot(w, out) + (w2 === null ? 0 : dot(w2, lastState));
  };
  const g = runScanBackward(data, d, w, w2);
  checkGradient("u", data.u, g.du, loss);
  checkGradient("delta", data.delta, g.ddelta, loss);
  checkGradient("A", data.A, g.dA, loss);
  checkGradient("B", data.B, g.dB, loss);
  checkGradient("C", data.C, g.dC, loss);
  const optional: [string, Float64Array | null, Float64Array | null][] = [
    ["D", data.D, g.dD],
    ["z", data.z, g.dz],
    ["deltaBias", data.deltaBias, g.dDeltaBias],
    ["initialState", data.initialState, g.dInitialState],
  ];
  for (const [name, input, grad] of optional) {
    if (input === null) {
      expect(grad, `d${name} without ${name}`).toBeNull();
    } else {
      expect(grad, `d${name}`).not.toBeNull();
      checkGradient(name, input, grad!, loss);
    }
  }
}

const SCAN_SHAPES: ScanDims[] = [];
for (const length of [1, 7, 33]) {
  for (const channels of [1, 3, 5]) {
    for (const stateSize of [1, 4, 16]) SCAN_SHAPES.push({ batch: 2, length, channels, stateSize });
  }
}

describe("selectiveScan forward", () => {
  it.each(SCAN_SHAPES)(
    "matches the step-by-step recurrence, all 32 option sets: L=$length E=$channels N=$stateSize",
    (d) => {
      const rng = makeRng(11 + d.length * 1000 + d.channels * 100 + d.stateSize);
      for (const o of SCAN_OPTIONS) {
        const data = makeScanData(rng, d, o);
        const expected = naiveScan(data, d);
        const got = runScan("float64", data, d);
        expectClose(got.out, expected.out, 1e-13, `out ${scanLabel(d, o)}`);
        expectClose(got.lastState, expected.lastState, 1e-13, `lastState ${scanLabel(d, o)}`);
      }
    },
  );

  it("softplus is the identity above 20", () => {
    const d = { batch: 1, length: 1, channels: 1, stateSize: 1 };
    const data: ScanData = {
      u: Float64Array.of(1),
      delta: Float64Array.of(25),
      A: Float64Array.of(-1),
      B: Float64Array.of(1),
      C: Float64Array.of(1),
      D: null,
      z: null,
      deltaBias: null,
      deltaSoftplus: true,
      initialState: null,
    };
    expectClose(runScan("float64", data, d).out, [25], 0, "out");
    // out = softplus(25) · u · B · C = 25, so d out / d delta is exactly softplus'(25) = 1.
    const grads = runScanBackward(data, d, Float64Array.of(1), null);
    expectClose(grads.ddelta, [1], 0, "ddelta");
  });

  it("float32 matches float64 within 1e-5", () => {
    const rng = makeRng(12);
    const d = { batch: 2, length: 33, channels: 5, stateSize: 16 };
    for (const o of SCAN_OPTIONS) {
      const raw = makeScanData(rng, d, o);
      const f = (v: Float64Array | null): Float64Array | null => (v === null ? null : fround(v));
      const data: ScanData = {
        u: fround(raw.u),
        delta: fround(raw.delta),
        A: fround(raw.A),
        B: fround(raw.B),
        C: fround(raw.C),
        D: f(raw.D),
        z: f(raw.z),
        deltaBias: f(raw.deltaBias),
        deltaSoftplus: raw.deltaSoftplus,
        initialState: f(raw.initialState),
      };
      const f64 = runScan("float64", data, d);
      const f32 = runScan("float32", data, d);
      expectClose(f32.out, f64.out, 1e-5, `out ${scanLabel(d, o)}`);
      expectClose(f32.lastState, f64.lastState, 1e-5, `lastState ${scanLabel(d, o)}`);
    }
  });
});

describe("selectiveScanStep", () => {
  const shapes: ScanDims[] = [
    { batch: 2, length: 1, channels: 3, stateSize: 4 },
    { batch: 2, length: 7, channels: 5, stateSize: 16 },
    { batch: 2, length: 33, channels: 1, stateSize: 1 },
    { batch: 2, length: 33, channels: 3, stateSize: 4 },
  ];
  for (const dtype of ["float64", "float32"] as const) {
    const tol = dtype === "float64" ? 1e-12 : 1e-5;
    it.each(shapes)(
      `${dtype}: token by token equals parallel: L=$length E=$channels N=$stateSize`,
      (d) => {
        const rng = makeRng(13 + d.length * 100 + d.channels * 10 + d.stateSize);
        for (const o of SCAN_OPTIONS) {
          const data = makeScanData(rng, d, o);
          const parallel = runScan(dtype, data, d);
          const steps = runScanSteps(dtype, data, d);
          expectClose(steps.out, parallel.out, tol, `out ${scanLabel(d, o)}`);
          expectClose(steps.lastState, parallel.lastState, tol, `state ${scanLabel(d, o)}`);
        }
      },
    );
  }
});

describe("selectiveScan chunked", () => {
  it("two chunks chained through lastState equal one pass", () => {
    const rng = makeRng(14);
    for (const length of [2, 7, 33]) {
      const d = { batch: 2, length, channels: 3, stateSize: 4 };
      const split = Math.floor(length / 2);
      for (const o of SCAN_OPTIONS) {
        const data = makeScanData(rng, d, o);
        const whole = runScan("float64", data, d);
        const part = (from: number, to: number): Partial<ScanData> => {
          const slice = (v: Float64Array, inner: number): Float64Array =>
            sliceTime(v, 2, length, inner, from, to);
          return {
            u: slice(data.u, 3),
            delta: slice(data.delta, 3),
            B: slice(data.B, 4),
            C: slice(data.C, 4),
            z: data.z === null ? null : slice(data.z, 3),
          };
        };
        const first = runScan("float64", { ...data, ...part(0, split) }, { ...d, length: split });
        const second = runScan(
          "float64",
          { ...data, ...part(split, length), initialState: first.lastState },
          { ...d, length: length - split },
        );
        const label = scanLabel(d, o);
        expectClose(concatTime(first.out, second.out, 2, 3), whole.out, 1e-12, `out ${label}`);
        expectClose(second.lastState, whole.lastState, 1e-12, `lastState ${label}`);
      }
    }
  });
});

describe("selectiveScanBackward", () => {
  const d = { batch: 2, length: 5, channels: 3, stateSize: 4 };
  it.each(SCAN_OPTIONS.map((o, i) => ({ ...o, i })))(
    "finite differences: D=$D z=$z deltaBias=$deltaBias softplus=$deltaSoftplus init=$initialState",
    (o) => {
      const data = makeScanData(makeRng(100 + o.i), d, o);
      checkScanGradients(data, d, 200 + o.i, true);
    },
  );

  it("finite differences without dLastState (treated as zero)", () => {
    const o = { D: true, z: true, deltaBias: true, deltaSoftplus: true, initialState: true };
    checkScanGradients(makeScanData(makeRng(300), d, o), d, 301, false);
  });

  it("finite differences with delta + deltaBias above the softplus threshold", () => {
    const o = { D: true, z: true, deltaBias: true, deltaSoftplus: true, initialState: true };
    const data = makeScanData(makeRng(400), d, o);
    // Some steps on the linear branch (x > 20, kept well clear of 20) and some on the log1p branch.
    for (let i = 0; i < data.delta.length; i += 2) data.delta[i] = 21 + (i % 3);
    data.A = data.A.map((v) => v / 30); // keep exp(dt·A) from underflowing to exactly 0
    checkScanGradients(data, d, 401, true);
  });

  it("single token, one channel, one state", () => {
    const one = { batch: 2, length: 1, channels: 1, stateSize: 1 };
    const o = { D: true, z: true, deltaBias: true, deltaSoftplus: true, initialState: true };
    checkScanGradients(makeScanData(makeRng(500), one, o), one, 501, true);
  });
});

describe("dtype checks", () => {
  it("every kernel throws a TypeError for int32", () => {
    const s = new CpuStore();
    const id = (): BufferId => s.alloc(64);
    const conv = {
      dtype: "int32" as const,
      batch: 1,
      channels: 1,
      kernelSize: 2,
      activation: "none" as const,
    };
    const scan = {
      dtype: "int32" as const,
      batch: 1,
      channels: 1,
      stateSize: 1,
      u: id(),
      delta: id(),
      A: id(),
      B: id(),
      C: id(),
      D: null,
      z: null,
      deltaBias: null,
      deltaSoftplus: false,
    };
    const calls: (() => void)[] = [
      () =>
        causalConv1d(s, {
          ...conv,
          length: 1,
          x: id(),
          weight: id(),
          bias: null,
          initialState: null,
          out: id(),
          finalState: null,
        }),
      () =>
        causalConv1dBackward(s, {
          ...conv,
          length: 1,
          x: id(),
          weight: id(),
          bias: null,
          initialState: null,
          dy: id(),
          dx: id(),
          dweight: id(),
          dbias: null,
          dInitialState: null,
        }),
      () =>
        causalConv1dStep(s, { ...conv, x: id(), state: id(), weight: id(), bias: null, out: id() }),
      () =>
        selectiveScan(s, { ...scan, length: 1, initialState: null, out: id(), lastState: id() }),
      () =>
        selectiveScanBackward(s, {
          ...scan,
          length: 1,
          initialState: null,
          dOut: id(),
          dLastState: null,
          du: id(),
          ddelta: id(),
          dA: id(),
          dB: id(),
          dC: id(),
          dD: null,
          dz: null,
          dDeltaBias: null,
          dInitialState: null,
        }),
      () => selectiveScanStep(s, { ...scan, state: id(), out: id() }),
    ];
    for (const call of calls) expect(call).toThrow(TypeError);
  });
});
