/**
 * Depthwise causal conv1d (channels last) on WebGPU: forward, backward, decode step.
 *
 * Layouts as in the spec: x, out, dy, dx [B, L, C]; weight [C, K]; bias [C]; states [B, K−1, C].
 * The kernel size K is a compile-time constant of each pipeline (so the tap loops unroll and the
 * backward's per-tap accumulators live in registers).
 *
 * - forward: one invocation per output (b, t, c), c fastest (coalesced); the same dispatch also
 *   writes finalState (invocations i < B·(K−1)·C) so a call is a single dispatch.
 * - backward: (1) with silu, g = dy · silu'(pre) into scratch (pre recomputed); without, g = dy;
 *   (2) dx and dInitialState, one invocation per row of the extended sequence [initialState; x]
 *   and channel, summing the ≤ K taps that read it; (3) per-chunk partial sums of dweight/dbias
 *   over (b, t) rows into scratch, one invocation per (row chunk, channel); (4) a second dispatch
 *   sums the chunks, so dweight / dbias are written (not accumulated) deterministically.
 * - step: one invocation per (b, c); it owns its state column, so the in-place shift is safe.
 */
import type {
  CausalConv1dArgs,
  CausalConv1dBackwardArgs,
  CausalConv1dStepArgs,
  ConvActivation,
  DType,
  KernelTable,
} from "@bmojo/tensor";
import { type Runtime, workgroups1d } from "../runtime.js";
import {
  type Binding,
  ENTRY_1D,
  MATH_WGSL,
  bindingKey,
  declarations,
  linearIndex,
  params,
} from "./scan-wgsl.js";

const WG = 256;
const FIELDS = ["B", "L", "C", "count", "count2", "R", "RC", "nch"] as const;

function checkDtype(kernel: string, dtype: DType): void {
  if (dtype !== "float32") {
    throw new TypeError(`webgpu backend: ${kernel} supports float32, not ${dtype}`);
  }
}

/** WGSL: ext(b, row, c), the extended sequence [initialState; x] (0 before x without a state). */
function extFn(hasInit: boolean): string {
  return `fn ext(b: u32, row: u32, c: u32) -> f32 {
  if (row >= H) { return x[(b * p.L + row - H) * p.C + c]; }
  return ${hasInit ? "hinit[(b * H + row) * p.C + c]" : "0.0"};
}`;
}

function header(K: number, fields: readonly string[], bindings: readonly Binding[]): string {
  return `${declarations(fields, bindings)}
${MATH_WGSL}
const K: u32 = ${K}u;
const H: u32 = ${K - 1}u;
`;
}

/** The pre-activation of output i = (b, t, c): bias + Σ_j w[c, j] · ext(b, t + j, c). */
function preFn(hasBias: boolean): string {
  return `fn pre_act(i: u32) -> f32 {
  let c = i % p.C;
  let bt = i / p.C;
  let t = bt % p.L;
  let b = bt / p.L;
  var acc = ${hasBias ? "bias[c]" : "0.0"};
  for (var j = 0u; j < K; j++) { acc += w[c * K + j] * ext(b, t + j, c); }
  return acc;
}`;
}

export function convKernels(rt: Runtime): Partial<KernelTable> {
  const dispatch1d = (
    key: string,
    code: () => string,
    bindings: readonly Binding[],
    values: readonly number[],
    count: number,
  ): void => {
    if (count === 0) return;
    rt.dispatch({
      key,
      code,
      buffers: bindings.map((b) => b.buffer),
      uniforms: params(values),
      workgroups: workgroups1d(count, WG),
    });
  };
  const act = (activation: ConvActivation, v: string): string =>
    activation === "silu" ? `silu_(${v})` : v;

  return {
    causalConv1d(a: CausalConv1dArgs): void {
      checkDtype("causalConv1d", a.dtype);
      const { batch: B, length: L, channels: C, kernelSize: K } = a;
      const H = K - 1;
      const bindings: Binding[] = [
        { name: "x", buffer: rt.buffer(a.x) },
        { name: "w", buffer: rt.buffer(a.weight) },
      ];
      if (a.bias !== null) bindings.push({ name: "bias", buffer: rt.buffer(a.bias) });
      if (a.initialState !== null)
        bindings.push({ name: "hinit", buffer: rt.buffer(a.initialState) });
      bindings.push({ name: "out", buffer: rt.buffer(a.out), write: true });
      const hasFinal = a.finalState !== null && H > 0;
      if (a.finalState !== null && hasFinal)
        bindings.push({ name: "fs", buffer: rt.buffer(a.finalState), write: true });
      const count = B * L * C;
      const countFs = hasFinal ? B * H * C : 0;
      const key = `conv1d:${K}:${a.activation}:${bindingKey(bindings)}`;
      const code = () => `${header(K, FIELDS, bindings)}
${extFn(a.initialState !== null)}
${preFn(a.bias !== null)}
@compute @workgroup_size(${WG})
fn main(${ENTRY_1D}) {
  let i = ${linearIndex(WG)};
  if (i < p.count) { out[i] = ${act(a.activation, "pre_act(i)")}; }
  ${
    hasFinal
      ? `if (i < p.count2) {
    let c = i % p.C;
    let br = i / p.C;
    fs[i] = ext(br / H, p.L + br % H, c);
  }`
      : ""
  }
}
`;
      dispatch1d(key, code, bindings, [B, L, C, count, countFs, 0, 0, 0], Math.max(count, countFs));
      rt.written(a.out, a.finalState);
    },

    causalConv1dBackward(a: CausalConv1dBackwardArgs): void {
      checkDtype("causalConv1dBackward", a.dtype);
      const { batch: B, length: L, channels: C, kernelSize: K } = a;
      const H = K - 1;
      const R = B * L;
      const hasInit = a.initialState !== null;
      // Row chunks of the dweight/dbias partial sums: enough (chunk, channel) invocations to fill
      // the device, few enough chunks for the second pass to sum quickly.
      const nchWanted = Math.max(1, Math.min(R, Math.ceil(32768 / Math.max(1, C))));
      const RC = Math.max(1, Math.ceil(R / nchWanted));
      const nch = Math.ceil(R / RC);
      const silu = a.activation === "silu";
      // Scratch first (nothing else is taken between these dispatches).
      const gBuf = silu ? rt.scratch(R * C * 4) : rt.buffer(a.dy);
      const part = rt.scratch(Math.max(1, nch * C * (K + 1)) * 4);
      const xB: Binding = { name: "x", buffer: rt.buffer(a.x) };
      const wB: Binding = { name: "w", buffer: rt.buffer(a.weight) };
      const initB: Binding[] =
        a.initialState !== null ? [{ name: "hinit", buffer: rt.buffer(a.initialState) }] : [];

      // (1) g = dy · silu'(pre)
      if (silu) {
        const bindings: Binding[] = [xB, wB];
        if (a.bias !== null) bindings.push({ name: "bias", buffer: rt.buffer(a.bias) });
        bindings.push(...initB);
        bindings.push({ name: "dy", buffer: rt.buffer(a.dy) });
        bindings.push({ name: "g", buffer: gBuf, write: true });
        const count = R * C;
        dispatch1d(
          `conv1d_g:${K}:${bindingKey(bindings)}`,
          () => `${header(K, FIELDS, bindings)}
${extFn(hasInit)}
${preFn(a.bias !== null)}
@compute @workgroup_size(${WG})
fn main(${ENTRY_1D}) {
  let i = ${linearIndex(WG)};
  if (i < p.count) { g[i] = dy[i] * silu_grad(pre_act(i)); }
}
`,
          bindings,
          [B, L, C, count, 0, R, RC, nch],
          count,
        );
      }

      // (2) dx and dInitialState: row `row` of the extended sequence gets Σ_j g[t = row − j] w[c, j].
      {
        const withInit = a.dInitialState !== null && H > 0;
        const bindings: Binding[] = [{ name: "g", buffer: gBuf }, wB];
        bindings.push({ name: "dx", buffer: rt.buffer(a.dx), write: true });
        if (a.dInitialState !== null && withInit)
          bindings.push({ name: "dinit", buffer: rt.buffer(a.dInitialState), write: true });
        const count = withInit ? B * (H + L) * C : B * L * C;
        dispatch1d(
          `conv1d_dx:${K}:${bindingKey(bindings)}`,
          () => `${header(K, FIELDS, bindings)}
@compute @workgroup_size(${WG})
fn main(${ENTRY_1D}) {
  let i = ${linearIndex(WG)};
  if (i >= p.count) { return; }
  let c = i % p.C;
  let bi = i / p.C;
  ${
    withInit
      ? "let row = bi % (H + p.L);\n  let b = bi / (H + p.L);"
      : "let row = bi % p.L + H;\n  let b = bi / p.L;"
  }
  var acc = 0.0;
  for (var j = 0u; j < K; j++) {
    if (row >= j && row - j < p.L) { acc += g[(b * p.L + row - j) * p.C + c] * w[c * K + j]; }
  }
  ${
    withInit
      ? `if (row >= H) { dx[(b * p.L + row - H) * p.C + c] = acc; } else { dinit[(b * H + row) * p.C + c] = acc; }`
      : "dx[(b * p.L + row - H) * p.C + c] = acc;"
  }
}
`,
          bindings,
          [B, L, C, count, 0, R, RC, nch],
          count,
        );
      }

      // (3) partial sums of g · ext (per tap) and g over row chunks.
      {
        const bindings: Binding[] = [{ name: "g", buffer: gBuf }, xB, ...initB];
        bindings.push({ name: "part", buffer: part, write: true });
        const count = nch * C;
        dispatch1d(
          `conv1d_dwp:${K}:${bindingKey(bindings)}`,
          () => `${header(K, FIELDS, bindings)}
${extFn(hasInit)}
@compute @workgroup_size(${WG})
fn main(${ENTRY_1D}) {
  let i = ${linearIndex(WG)};
  if (i >= p.count) { return; }
  let c = i % p.C;
  let ch = i / p.C;
  var acc: array<f32, ${K + 1}>;
  for (var j = 0u; j <= K; j++) { acc[j] = 0.0; }
  let r1 = min(p.R, (ch + 1u) * p.RC);
  for (var r = ch * p.RC; r < r1; r++) {
    let gv = g[r * p.C + c];
    let b = r / p.L;
    let t = r % p.L;
    for (var j = 0u; j < K; j++) { acc[j] += gv * ext(b, t + j, c); }
    acc[K] += gv;
  }
  for (var j = 0u; j <= K; j++) { part[i * (K + 1u) + j] = acc[j]; }
}
`,
          bindings,
          [B, L, C, count, 0, R, RC, nch],
          count,
        );
      }

      // (4) dweight / dbias = Σ over chunks.
      {
        const bindings: Binding[] = [{ name: "part", buffer: part }];
        bindings.push({ name: "dw", buffer: rt.buffer(a.dweight), write: true });
        if (a.dbias !== null)
          bindings.push({ name: "dbias", buffer: rt.buffer(a.dbias), write: true });
        const count = C * (K + 1);
        dispatch1d(
          `conv1d_dw:${K}:${bindingKey(bindings)}`,
          () => `${header(K, FIELDS, bindings)}
@compute @workgroup_size(${WG})
fn main(${ENTRY_1D}) {
  let i = ${linearIndex(WG)};
  if (i >= p.count) { return; }
  var acc = 0.0;
  for (var ch = 0u; ch < p.nch; ch++) { acc += part[ch * p.count + i]; }
  let c = i / (K + 1u);
  let j = i % (K + 1u);
  if (j < K) { dw[c * K + j] = acc; }${a.dbias !== null ? " else { dbias[c] = acc; }" : ""}
}
`,
          bindings,
          [B, L, C, count, 0, R, RC, nch],
          count,
        );
      }
      rt.written(a.dx, a.dweight, a.dbias, a.dInitialState);
    },

    causalConv1dStep(a: CausalConv1dStepArgs): void {
      checkDtype("causalConv1dStep", a.dtype);
      const { batch: B, channels: C, kernelSize: K } = a;
      const bindings: Binding[] = [
        { name: "x", buffer: rt.buffer(a.x) },
        { name: "state", buffer: rt.buffer(a.state), write: true },
        { name: "w", buffer: rt.buffer(a.weight) },
      ];
      if (a.bias !== null) bindings.push({ name: "bias", buffer: rt.buffer(a.bias) });
      bindings.push({ name: "out", buffer: rt.buffer(a.out), write: true });
      const count = B * C;
      dispatch1d(
        `conv1d_step:${K}:${a.activation}:${bindingKey(bindings)}`,
        () => `${header(K, FIELDS, bindings)}
@compute @workgroup_size(${WG})
fn main(${ENTRY_1D}) {
  let i = ${linearIndex(WG)};
  if (i >= p.count) { return; }
  let c = i % p.C;
  let b = i / p.C;
  let cur = x[i];
  var acc = ${a.bias !== null ? "bias[c]" : "0.0"};
  for (var j = 0u; j < H; j++) { acc += w[c * K + j] * state[(b * H + j) * p.C + c]; }
  acc += w[c * K + H] * cur;
  out[i] = ${act(a.activation, "acc")};
  if (H > 0u) {
    for (var j = 0u; j + 1u < H; j++) {
      state[(b * H + j) * p.C + c] = state[(b * H + j + 1u) * p.C + c];
    }
    state[(b * H + H - 1u) * p.C + c] = cur;
  }
}
`,
        bindings,
        [B, 1, C, count, 0, 0, 0, 0],
        count,
      );
      rt.written(a.out, a.state);
    },
  };
}
