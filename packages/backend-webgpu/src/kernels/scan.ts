/**
 * Sequence kernels: the Mamba-1 selective scan (forward, backward, decode step) and the causal
 * conv1d kernels of conv.ts.
 *
 * selectiveScan: one invocation per (b, e) channel with h[e, :] (N ≤ 64, a compile-time
 * constant) in registers, looping over t; a workgroup is 64 channels of one batch element and
 * stages B[b, t, :] and C[b, t, :] in workgroup memory a chunk of T steps at a time.
 *
 * Storage-buffer budget: the forward binds up to 11 buffers directly when the device allows it
 * (lavapipe, Dawn on desktop GPUs); under a lower maxStorageBuffersPerShaderStage (browsers: 8)
 * a small prep dispatch first packs A, D, deltaBias into one scratch buffer and copies
 * initialState into lastState, so the scan binds ≤ 8. The step is the forward with L = 1 and the
 * state both initial and last state (in place).
 *
 * selectiveScanBackward (≤ 8 storage buffers per dispatch everywhere), with one scratch buffer W:
 *   0. prep: A, D, deltaBias (zeros when absent) → W; initialState (or 0) → checkpoint 0;
 *      dLastState (or 0) → W.
 *   1. recompute the forward, storing the state before every chunk of T steps (checkpoints) in W;
 *      with z, the ungated y goes to ddelta (as temporary storage).
 *   2. the gate: with z, dz = dOut · y · silu'(z) and g = dOut · silu(z) replaces y in ddelta;
 *      without z, g = dOut is copied there (so the reverse pass has one variant).
 *   3. reverse: per chunk (last first), recompute the chunk's states from its checkpoint into a
 *      private array, then the reverse recurrence with dh in registers; writes du, ddelta, and
 *      into W: per-channel-block partials of dB/dC (reduced over the block's channels in
 *      workgroup memory each step), per-(b, e) partials of dA/dD/dDeltaBias, and dh(t = 0).
 *   4. dB, dC = Σ of the block partials;  5. dA, dD, dDeltaBias = Σ_b; dInitialState copied out.
 * No float atomics: every sum has a fixed order, so results are deterministic.
 * W holds ≈ B·E·(L/T)·N checkpoints + B·L·⌈E/WG⌉·2N partials: about one [B, L, E] tensor for N = 16.
 */
import type {
  BufferId,
  DType,
  SelectiveScanArgs,
  SelectiveScanBackwardArgs,
  SelectiveScanStepArgs,
} from "@bmojo/tensor";
import { type Runtime, workgroups1d } from "../runtime.js";
import { convKernels } from "./conv.js";
import type { KernelGroup } from "./group.js";
import {
  type Binding,
  FLAG_SOFTPLUS,
  SCAN_FIELDS,
  type ScanShape,
  bindingKey,
  declarations,
  params,
  scanForwardWgsl,
  scanGateWgsl,
  scanPrepWgsl,
  scanReduceBCWgsl,
  scanReduceParamsWgsl,
  scanReverseWgsl,
} from "./scan-wgsl.js";

/** Channels per workgroup of the forward scan. */
const FWD_WG = 64;
const MAX_STATE = 64;

type Field = (typeof SCAN_FIELDS)[number];

function scanParams(values: Partial<Record<Field, number>>): ArrayBuffer {
  return params(SCAN_FIELDS.map((f) => values[f] ?? 0));
}

function checkArgs(kernel: string, dtype: DType, stateSize: number): void {
  if (dtype !== "float32") {
    throw new TypeError(`webgpu backend: ${kernel} supports float32, not ${dtype}`);
  }
  if (stateSize > MAX_STATE) {
    throw new RangeError(
      `webgpu backend: ${kernel} supports stateSize ≤ ${MAX_STATE}, got ${stateSize}`,
    );
  }
}

/** Time steps per staged chunk: T·N ≤ `budget` floats, at most 64. */
function chunkSteps(N: number, budget: number): number {
  return Math.max(1, Math.min(64, Math.floor(budget / Math.max(1, N))));
}

/** The per-token inputs shared by the forward and the step. */
type ScanInputs = Pick<
  SelectiveScanArgs,
  "dtype" | "u" | "delta" | "A" | "B" | "C" | "D" | "z" | "deltaBias" | "deltaSoftplus"
>;

export const scanKernels: KernelGroup = (rt: Runtime) => {
  const maxBuffers = rt.device.limits.maxStorageBuffersPerShaderStage;
  const buf = (id: BufferId): GPUBuffer => rt.buffer(id);
  const run = (
    key: string,
    code: (decl: string) => string,
    bindings: readonly Binding[],
    values: Partial<Record<Field, number>>,
    workgroups: readonly [number, number?, number?],
  ): void => {
    rt.dispatch({
      key: `${key}|${bindingKey(bindings)}`,
      code: () => code(declarations(SCAN_FIELDS, bindings)),
      buffers: bindings.map((b) => b.buffer),
      uniforms: scanParams(values),
      workgroups,
    });
  };

  /**
   * The forward scan over `length` steps from `init` (null: zeros; equal to `last`: in place)
   * writing out and `last`.
   */
  const forward = (
    a: ScanInputs,
    init: BufferId | null,
    out: BufferId,
    last: BufferId,
    batch: number,
    length: number,
    channels: number,
    stateSize: number,
  ): void => {
    const [B, L, E, N] = [batch, length, channels, stateSize];
    if (B === 0 || E === 0) return;
    const shape: ScanShape = {
      N,
      T: chunkSteps(N, 1024),
      WG: FWD_WG,
      hasD: a.D !== null,
      hasZ: a.z !== null,
      hasDB: a.deltaBias !== null,
    };
    const inPlace = init !== null && init === last;
    const direct: Binding[] = [
      { name: "u", buffer: buf(a.u) },
      { name: "delta", buffer: buf(a.delta) },
      { name: "A", buffer: buf(a.A) },
      { name: "bmat", buffer: buf(a.B) },
      { name: "cmat", buffer: buf(a.C) },
    ];
    if (a.D !== null) direct.push({ name: "Dv", buffer: buf(a.D) });
    if (a.z !== null) direct.push({ name: "z", buffer: buf(a.z) });
    if (a.deltaBias !== null) direct.push({ name: "dbias", buffer: buf(a.deltaBias) });
    if (init !== null && !inPlace) direct.push({ name: "hinit", buffer: buf(init) });
    direct.push({ name: "out", buffer: buf(out), write: true });
    direct.push({ name: "last", buffer: buf(last), write: true });
    const grid: [number, number] = [Math.ceil(E / FWD_WG), B];
    const values = {
      E,
      L,
      B,
      N,
      oA: 0,
      oD: E * N,
      oDB: E * N + E,
      flags: a.deltaSoftplus ? FLAG_SOFTPLUS : 0,
    };

    if (direct.length <= maxBuffers) {
      const h0 = init === null ? null : inPlace ? "last" : "hinit";
      run(
        `scan_fwd:${JSON.stringify(shape)}:${h0}`,
        (decl) => scanForwardWgsl(shape, "fwd", { packed: null }, h0, decl),
        direct,
        values,
        grid,
      );
      return;
    }

    // Packed path (≤ 8 storage buffers): A | D | deltaBias → P, initialState → last.
    const packParams = a.D !== null || a.deltaBias !== null;
    const copyInit = init !== null && !inPlace;
    const P = packParams ? rt.scratch((E * N + 2 * E) * 4) : null;
    if (packParams || copyInit) {
      const prep: Binding[] = [];
      if (packParams) prep.push({ name: "A", buffer: buf(a.A) });
      if (packParams && a.D !== null) prep.push({ name: "Dv", buffer: buf(a.D) });
      if (packParams && a.deltaBias !== null)
        prep.push({ name: "dbias", buffer: buf(a.deltaBias) });
      if (init !== null && copyInit) prep.push({ name: "hinit", buffer: buf(init) });
      if (P !== null) prep.push({ name: "P", buffer: P, write: true });
      if (copyInit) prep.push({ name: "last", buffer: buf(last), write: true });
      const o = {
        packParams,
        hasD: a.D !== null,
        hasDB: a.deltaBias !== null,
        dst: "P",
        h0: copyInit ? "hinit" : null,
        hdst: copyInit ? "last" : null,
        backward: false,
        dLast: false,
      };
      run(
        `scan_prep:${JSON.stringify(o)}`,
        (decl) => scanPrepWgsl(o, decl),
        prep,
        values,
        workgroups1d(Math.max(E * N, E, copyInit ? B * E * N : 0), 256),
      );
    }
    const main: Binding[] = [
      { name: "u", buffer: buf(a.u) },
      { name: "delta", buffer: buf(a.delta) },
      P !== null ? { name: "P", buffer: P } : { name: "A", buffer: buf(a.A) },
      { name: "bmat", buffer: buf(a.B) },
      { name: "cmat", buffer: buf(a.C) },
    ];
    if (a.z !== null) main.push({ name: "z", buffer: buf(a.z) });
    main.push({ name: "out", buffer: buf(out), write: true });
    main.push({ name: "last", buffer: buf(last), write: true });
    const h0 = init === null ? null : "last";
    run(
      `scan_fwdp:${JSON.stringify(shape)}:${h0}:${P !== null}`,
      (decl) => scanForwardWgsl(shape, "fwd", { packed: P !== null ? "P" : null }, h0, decl),
      main,
      values,
      grid,
    );
  };

  return {
    ...convKernels(rt),

    selectiveScan(a: SelectiveScanArgs): void {
      checkArgs("selectiveScan", a.dtype, a.stateSize);
      forward(a, a.initialState, a.out, a.lastState, a.batch, a.length, a.channels, a.stateSize);
      rt.written(a.out, a.lastState);
    },

    selectiveScanStep(a: SelectiveScanStepArgs): void {
      checkArgs("selectiveScanStep", a.dtype, a.stateSize);
      forward(a, a.state, a.out, a.state, a.batch, 1, a.channels, a.stateSize);
      rt.written(a.out, a.state);
    },

    selectiveScanBackward(a: SelectiveScanBackwardArgs): void {
      checkArgs("selectiveScanBackward", a.dtype, a.stateSize);
      const { batch: B, length: L, channels: E, stateSize: N } = a;
      const N1 = Math.max(1, N);
      const T = chunkSteps(N, 512);
      const WG = N1 <= 16 ? 64 : N1 <= 32 ? 32 : 16;
      const NC = Math.max(1, Math.ceil(L / T));
      const nblk = Math.ceil(E / WG);
      // D and deltaBias are read from W (zeros when absent), softplus is a uniform flag: the
      // checkpoint and reverse shaders vary only with N (and z for the checkpoint pass).
      const shape: ScanShape = { N, T, WG, hasD: true, hasZ: a.z !== null, hasDB: true };
      const dInit = a.dInitialState !== null;
      // W layout (f32 offsets).
      const oA = 0;
      const oD = oA + E * N;
      const oDB = oD + E;
      const oCk = oDB + E;
      const oDh = oCk + B * NC * E * N;
      const oPBC = oDh + B * E * N;
      const oPAD = oPBC + B * L * nblk * 2 * N;
      const total = oPAD + B * E * (N + 2);
      const maxBinding = rt.device.limits.maxStorageBufferBindingSize;
      if (total * 4 > maxBinding) {
        throw new RangeError(
          `webgpu backend: selectiveScanBackward needs ${total * 4} bytes of scratch, over the device's ${maxBinding}-byte binding limit`,
        );
      }
      const W = rt.scratch(total * 4);
      // dz is written iff z is given; should a caller pass z without dz, it goes to scratch.
      const dzBuf = a.z === null ? null : a.dz !== null ? buf(a.dz) : rt.scratch(B * L * E * 4);
      const flags = a.deltaSoftplus ? FLAG_SOFTPLUS : 0;
      const values = { E, L, NC, nblk, oA, oD, oDB, oCk, oDh, oPBC, oPAD, B, N, flags };
      const wB: Binding = { name: "W", buffer: W, write: true };
      const wR: Binding = { name: "W", buffer: W };
      const uB: Binding = { name: "u", buffer: buf(a.u) };
      const deltaB: Binding = { name: "delta", buffer: buf(a.delta) };
      const bB: Binding = { name: "bmat", buffer: buf(a.B) };
      const cB: Binding = { name: "cmat", buffer: buf(a.C) };
      const ddeltaB: Binding = { name: "ddelta", buffer: buf(a.ddelta), write: true };

      // 0. prep
      {
        const prep: Binding[] = [{ name: "A", buffer: buf(a.A) }];
        if (a.D !== null) prep.push({ name: "Dv", buffer: buf(a.D) });
        if (a.deltaBias !== null) prep.push({ name: "dbias", buffer: buf(a.deltaBias) });
        if (a.initialState !== null) prep.push({ name: "hinit", buffer: buf(a.initialState) });
        if (a.dLastState !== null) prep.push({ name: "dlast", buffer: buf(a.dLastState) });
        prep.push(wB);
        const o = {
          packParams: true,
          hasD: a.D !== null,
          hasDB: a.deltaBias !== null,
          dst: "W",
          h0: a.initialState !== null ? "hinit" : null,
          hdst: "W",
          backward: true,
          dLast: a.dLastState !== null,
        };
        const count = Math.max(E * N, E, B * E * N);
        if (count > 0) {
          run(
            `scan_prep:${JSON.stringify(o)}`,
            (decl) => scanPrepWgsl(o, decl),
            prep,
            values,
            workgroups1d(count, 256),
          );
        }
      }

      // 1. checkpoints past chunk 0 (and y with z)
      if (B > 0 && E > 0 && (L > T || a.z !== null)) {
        const bindings: Binding[] = [uB, deltaB, bB];
        if (a.z !== null) bindings.push(cB);
        bindings.push(wB);
        if (a.z !== null) bindings.push({ name: "yb", buffer: buf(a.ddelta), write: true });
        run(
          `scan_ckpt:${JSON.stringify(shape)}`,
          (decl) => scanForwardWgsl(shape, "ckpt", { packed: "W" }, null, decl),
          bindings,
          values,
          [Math.ceil(E / WG), B],
        );
      }

      // 2. gate: g into ddelta (and dz)
      {
        const count = B * L * E;
        const bindings: Binding[] = [ddeltaB];
        if (a.z !== null) bindings.push({ name: "z", buffer: buf(a.z) });
        bindings.push({ name: "dout", buffer: buf(a.dOut) });
        if (dzBuf !== null) bindings.push({ name: "dz", buffer: dzBuf, write: true });
        if (count > 0) {
          run(
            `scan_gate:${a.z !== null}`,
            (decl) => scanGateWgsl(a.z !== null, decl),
            bindings,
            { ...values, count },
            workgroups1d(count, 256),
          );
        }
      }

      // 3. reverse
      if (B > 0 && E > 0) {
        const bindings: Binding[] = [uB, deltaB, bB, cB, wB, ddeltaB];
        bindings.push({ name: "du", buffer: buf(a.du), write: true });
        run(
          `scan_rev:${JSON.stringify(shape)}`,
          (decl) => scanReverseWgsl(shape, decl),
          bindings,
          values,
          [nblk, B],
        );
      }

      // 4. dB, dC
      {
        const count = B * L * 2 * N;
        if (count > 0) {
          run(
            `scan_rbc:${N}`,
            (decl) => scanReduceBCWgsl(N, decl),
            [
              wR,
              { name: "dB", buffer: buf(a.dB), write: true },
              { name: "dC", buffer: buf(a.dC), write: true },
            ],
            { ...values, count },
            workgroups1d(count, 256),
          );
        }
      }

      // 5. dA, dD, dDeltaBias, dInitialState
      {
        const bindings: Binding[] = [wR, { name: "dA", buffer: buf(a.dA), write: true }];
        if (a.dD !== null) bindings.push({ name: "dD", buffer: buf(a.dD), write: true });
        if (a.dDeltaBias !== null)
          bindings.push({ name: "ddb", buffer: buf(a.dDeltaBias), write: true });
        if (a.dInitialState !== null)
          bindings.push({ name: "dinit", buffer: buf(a.dInitialState), write: true });
        const o = { dD: a.dD !== null, dDB: a.dDeltaBias !== null, dInit };
        const count = Math.max(E * N, E, dInit ? B * E * N : 0);
        if (count > 0) {
          run(
            `scan_rp:${N}:${JSON.stringify(o)}`,
            (decl) => scanReduceParamsWgsl(N, o, decl),
            bindings,
            values,
            workgroups1d(count, 256),
          );
        }
      }
      rt.written(a.du, a.ddelta, a.dA, a.dB, a.dC, a.dD, a.dz, a.dDeltaBias, a.dInitialState);
    },
  };
};
