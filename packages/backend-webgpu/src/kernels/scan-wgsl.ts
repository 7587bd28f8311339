/**
 * WGSL for the sequence kernels (selective scan and causal conv): binding and uniform helpers,
 * shared math, and the shader generators of the Mamba-1 selective scan.
 *
 * Every shader here declares the same uniform struct `Params` (all u32 fields, named by the
 * caller) at binding 0 and its storage buffers, all `array<f32>`, at bindings 1, 2, … in the order
 * of the `Binding` list the dispatch passes. A pipeline key includes the binding list, so a
 * variant (optional buffers present or not) is its own pipeline.
 */
import { Uniforms } from "../runtime.js";

/** A storage buffer of a dispatch: its WGSL name, the buffer, and whether the shader writes it. */
export interface Binding {
  name: string;
  buffer: GPUBuffer;
  write?: boolean;
}

/** The part of a pipeline key that names the bindings (their names and access). */
export function bindingKey(bindings: readonly Binding[]): string {
  return bindings.map((b) => (b.write === true ? `${b.name}!` : b.name)).join(",");
}

/** The uniform block `p: Params` of u32 fields and the storage declarations, bindings 1… */
export function declarations(fields: readonly string[], bindings: readonly Binding[]): string {
  const lines = [`struct Params {\n${fields.map((f) => `  ${f}: u32,`).join("\n")}\n}`];
  lines.push("@group(0) @binding(0) var<uniform> p: Params;");
  bindings.forEach((b, i) => {
    const access = b.write === true ? "read_write" : "read";
    lines.push(`@group(0) @binding(${i + 1}) var<storage, ${access}> ${b.name}: array<f32>;`);
  });
  return lines.join("\n");
}

/** The uniform block data for `declarations(fields, …)`: the values in field order. */
export function params(values: readonly number[]): ArrayBuffer {
  const u = new Uniforms(values.length);
  for (const v of values) u.u32(v);
  return u.buffer();
}

/** The linear invocation index of a 1-D kernel folded into 2-D by `workgroups1d`. */
export function linearIndex(size: number): string {
  return `(wid.y * nwg.x + wid.x) * ${size}u + lid.x`;
}

/** Builtins of a 1-D kernel's entry point (use with `linearIndex`). */
export const ENTRY_1D =
  "@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>";

/**
 * Shared math. log1p is computed with the (w − 1) correction so that softplus of very negative
 * arguments keeps its relative precision; softplus(x) = x above 20, as in the reference.
 */
export const MATH_WGSL = /* wgsl */ `
fn sigmoid_(v: f32) -> f32 { return 1.0 / (1.0 + exp(-v)); }
fn silu_(v: f32) -> f32 { return v * sigmoid_(v); }
fn silu_grad(v: f32) -> f32 { let s = sigmoid_(v); return s * (1.0 + v * (1.0 - s)); }
fn log1p_(y: f32) -> f32 {
  let w = 1.0 + y;
  if (w == 1.0) { return y; }
  return log(w) * (y / (w - 1.0));
}
fn softplus_(v: f32) -> f32 { if (v > 20.0) { return v; } return log1p_(exp(v)); }
fn softplus_grad(v: f32) -> f32 { if (v > 20.0) { return 1.0; } return sigmoid_(v); }
`;

// ---------------------------------------------------------------------------------------------
// Selective scan
// ---------------------------------------------------------------------------------------------

/**
 * Uniform fields of every selective-scan shader:
 *   E, L: channels, length; NC: checkpoint chunks per batch element; nblk: channel blocks;
 *   oA, oD, oDB: offsets of A, D, deltaBias in the parameter buffer (P or W);
 *   oCk, oDh, oPBC, oPAD: offsets of the backward scratch regions in W (see scan.ts);
 *   count: the element count of 1-D kernels; B: batch; N: state size; flags: FLAG_* bits.
 * deltaSoftplus is a uniform flag (not a shader variant) so fewer pipelines get compiled.
 */
export const SCAN_FIELDS = [
  "E",
  "L",
  "NC",
  "nblk",
  "oA",
  "oD",
  "oDB",
  "oCk",
  "oDh",
  "oPBC",
  "oPAD",
  "count",
  "B",
  "N",
  "flags",
] as const;

/** Bit of `flags`: dt = softplus(delta + deltaBias). */
export const FLAG_SOFTPLUS = 1;

/** Compile-time choices of the scan shaders. */
export interface ScanShape {
  /** State size N (the private arrays and loops are sized by it). */
  N: number;
  /** Time steps per staged chunk (and per checkpoint in the backward). */
  T: number;
  /** Channels per workgroup. */
  WG: number;
  hasD: boolean;
  hasZ: boolean;
  hasDB: boolean;
}

/** The channel-block and state arrays shared by the forward and reverse scans. */
function scanPrelude(s: ScanShape): string {
  const n = Math.max(1, s.N);
  return `${MATH_WGSL}
const N: u32 = ${s.N}u;
const T: u32 = ${s.T}u;
const WG: u32 = ${s.WG}u;
var<workgroup> sB: array<f32, ${s.T * n}>;
fn step_size(x: f32) -> f32 {
  if ((p.flags & ${FLAG_SOFTPLUS}u) != 0u) { return softplus_(x); }
  return x;
}
`;
}

/**
 * The forward scan, one invocation per (b, e) channel holding h[e, :] in registers; workgroup
 * (channel block, b); B[b, t, :] and C[b, t, :] are staged in workgroup memory T steps at a time.
 *
 * mode "fwd": reads h0 from binding `h0` (zeros when null), writes `out` (gated by silu(z)) and
 *   the final state into `last`. A/D/deltaBias come from bindings A / Dv / dbias, or from the
 *   packed buffer `par.packed` at offsets oA / oD / oDB.
 * mode "ckpt": the backward's recompute: h0 is W[oCk + …chunk 0], the state before each chunk k ≥ 1
 *   is stored at W[oCk + ((b·NC + k)·E + e)·N], and with z the ungated y goes to `yb`.
 */
export function scanForwardWgsl(
  s: ScanShape,
  mode: "fwd" | "ckpt",
  par: { packed: string | null },
  h0: string | null,
  bindingsDecl: string,
): string {
  const useC = mode === "fwd" || s.hasZ;
  const ld = (field: "A" | "D" | "DB", i: string): string => {
    if (par.packed !== null) return `${par.packed}[p.o${field} + ${i}]`;
    return field === "A" ? `A[${i}]` : field === "D" ? `Dv[${i}]` : `dbias[${i}]`;
  };
  const h0Expr =
    mode === "ckpt"
      ? "W[p.oCk + (b * p.NC * p.E + ec) * N + n]"
      : h0 === null
        ? "0.0"
        : `${h0}[(b * p.E + ec) * N + n]`;
  let perStep: string;
  if (mode === "fwd") {
    perStep = s.hasZ ? "out[idx] = y * silu_(zz);" : "out[idx] = y;";
  } else {
    perStep = s.hasZ ? "yb[idx] = y;" : "";
  }
  const needY = mode === "fwd" || s.hasZ;
  const zFwd = mode === "fwd" && s.hasZ;
  return `${bindingsDecl}
${scanPrelude(s)}
${useC ? `var<workgroup> sC: array<f32, ${s.T * Math.max(1, s.N)}>;` : ""}

@compute @workgroup_size(${s.WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let b = wid.y;
  let e = wid.x * WG + lid.x;
  let valid = e < p.E;
  let ec = min(e, p.E - 1u);
  var a: array<f32, ${Math.max(1, s.N)}>;
  var h: array<f32, ${Math.max(1, s.N)}>;
  for (var n = 0u; n < N; n++) {
    a[n] = ${ld("A", "ec * N + n")};
    h[n] = ${h0Expr};
  }
  ${s.hasD && needY ? `let dv = ${ld("D", "ec")};` : ""}
  ${s.hasDB ? `let dbv = ${ld("DB", "ec")};` : ""}
  for (var t0 = 0u; t0 < p.L; t0 += T) {
    let cnt = min(T, p.L - t0);
    workgroupBarrier();
    let base = (b * p.L + t0) * N;
    for (var i = lid.x; i < cnt * N; i += WG) {
      sB[i] = bmat[base + i];
      ${useC ? "sC[i] = cmat[base + i];" : ""}
    }
    workgroupBarrier();
    if (valid) {
      ${
        mode === "ckpt"
          ? `if (t0 > 0u) {
        let ck = p.oCk + ((b * p.NC + t0 / T) * p.E + e) * N;
        for (var n = 0u; n < N; n++) { W[ck + n] = h[n]; }
      }`
          : ""
      }
      // The next step's inputs are loaded one step ahead to hide their latency.
      let row0 = (b * p.L + t0) * p.E + e;
      var uN = u[row0];
      var dN = delta[row0];
      ${zFwd ? "var zN = z[row0];" : ""}
      for (var st = 0u; st < cnt; st++) {
        let idx = row0 + st * p.E;
        let uu = uN;
        let dd = dN;
        ${zFwd ? "let zz = zN;" : ""}
        let nx = row0 + min(st + 1u, cnt - 1u) * p.E;
        uN = u[nx];
        dN = delta[nx];
        ${zFwd ? "zN = z[nx];" : ""}
        let dt = step_size(dd${s.hasDB ? " + dbv" : ""});
        let dtu = dt * uu;
        ${needY ? "var y = 0.0;" : ""}
        for (var n = 0u; n < N; n++) {
          let hn = exp(dt * a[n]) * h[n] + dtu * sB[st * N + n];
          h[n] = hn;
          ${needY ? "y += sC[st * N + n] * hn;" : ""}
        }
        ${s.hasD && needY ? "y += dv * uu;" : ""}
        ${perStep}
      }
    }
  }
  ${
    mode === "fwd"
      ? `if (valid) {
    for (var n = 0u; n < N; n++) { last[(b * p.E + e) * N + n] = h[n]; }
  }`
      : ""
  }
}
`;
}

/**
 * The backward's reverse pass: one invocation per (b, e) channel carrying dh[e, :] in registers,
 * walking the checkpoint chunks from last to first. Per chunk it recomputes the chunk's states
 * from its checkpoint into a private array, then runs the reverse recurrence. dB[b, t, :] and
 * dC[b, t, :] (sums over e) are reduced over the workgroup's channels in workgroup memory each
 * step and stored as per-block partials at W[oPBC + ((b·L + t)·nblk + blk)·2N + (n | N + n)];
 * dA, dD, dDeltaBias are summed over t in registers and stored per (b, e) at
 * W[oPAD + (b·E + e)·(N + 2) + (n | N | N + 1)]; dh starts as W[oDh + (b·E + e)·N + n] (dLastState
 * or 0) and its value after t = 0 is stored back there. g (dOut·silu(z), or dOut) is read from
 * `ddelta`, where the gate pass left it; each invocation overwrites its own element with ddelta.
 */
export function scanReverseWgsl(shape: ScanShape, bindingsDecl: string): string {
  // D and deltaBias are read from W (zeros when absent); g always comes from ddelta.
  const s: ScanShape = { ...shape, hasD: true, hasDB: true, hasZ: true };
  const n1 = Math.max(1, s.N);
  const mask = s.WG - 1;
  return `${bindingsDecl}
${scanPrelude(s)}
var<workgroup> sC: array<f32, ${s.T * n1}>;
var<workgroup> red: array<f32, ${2 * n1 * s.WG}>;

@compute @workgroup_size(${s.WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let b = wid.y;
  let blk = wid.x;
  let e = blk * WG + lid.x;
  let valid = e < p.E;
  let ec = min(e, p.E - 1u);
  var a: array<f32, ${n1}>;
  var dh: array<f32, ${n1}>;
  var dA: array<f32, ${n1}>;
  var hs: array<f32, ${(s.T + 1) * n1}>;
  for (var n = 0u; n < N; n++) {
    a[n] = W[p.oA + ec * N + n];
    dh[n] = W[p.oDh + (b * p.E + ec) * N + n];
    dA[n] = 0.0;
  }
  ${s.hasD ? "let dv = W[p.oD + ec];\n  var dDacc = 0.0;" : ""}
  ${s.hasDB ? "let dbv = W[p.oDB + ec];" : ""}
  var dDBacc = 0.0;
  for (var k = p.NC; k > 0u; k--) {
    let t0 = (k - 1u) * T;
    let cnt = min(T, p.L - t0);
    workgroupBarrier();
    let base = (b * p.L + t0) * N;
    for (var i = lid.x; i < cnt * N; i += WG) {
      sB[i] = bmat[base + i];
      sC[i] = cmat[base + i];
    }
    workgroupBarrier();
    // Recompute the chunk's states: hs[0] = h before the chunk, hs[st + 1] = h after step st.
    let ck = p.oCk + ((b * p.NC + k - 1u) * p.E + ec) * N;
    for (var n = 0u; n < N; n++) { hs[n] = W[ck + n]; }
    // Inputs are loaded one step ahead (in walking order) to hide their latency.
    let row0 = (b * p.L + t0) * p.E + ec;
    let rowL = row0 + (max(cnt, 1u) - 1u) * p.E;
    var uN = 0.0;
    var dN = 0.0;
    if (cnt > 0u) {
      uN = u[row0];
      dN = delta[row0];
    }
    for (var st = 0u; st < cnt; st++) {
      let dt = step_size(dN${s.hasDB ? " + dbv" : ""});
      let dtu = dt * uN;
      let nx = row0 + min(st + 1u, cnt - 1u) * p.E;
      uN = u[nx];
      dN = delta[nx];
      for (var n = 0u; n < N; n++) {
        hs[(st + 1u) * N + n] = exp(dt * a[n]) * hs[st * N + n] + dtu * sB[st * N + n];
      }
    }
    var gN = 0.0;
    if (cnt > 0u) {
      uN = u[rowL];
      dN = delta[rowL];
      gN = ${s.hasZ ? "ddelta[rowL]" : "dout[rowL]"};
    }
    for (var s1 = cnt; s1 > 0u; s1--) {
      let st = s1 - 1u;
      let t = t0 + st;
      let idx = row0 + st * p.E;
      let uu = uN;
      let x = dN${s.hasDB ? " + dbv" : ""};
      let g = gN;
      let nx = row0 + (max(st, 1u) - 1u) * p.E;
      uN = u[nx];
      dN = delta[nx];
      gN = ${s.hasZ ? "ddelta[nx]" : "dout[nx]"};
      let dt = step_size(x);
      ${s.hasD ? "var duE = g * dv;\n      dDacc += g * uu;" : "var duE = 0.0;"}
      let dtu = dt * uu;
      var ddt = 0.0;
      for (var n = 0u; n < N; n++) {
        let hp = hs[st * N + n];
        let bn = sB[st * N + n];
        let dhi = dh[n] + g * sC[st * N + n];
        let ab = exp(dt * a[n]);
        let abhp = ab * hp;
        let hc = abhp + dtu * bn; // h_t, as the recompute formed it
        ddt += dhi * (a[n] * abhp + uu * bn);
        let dtdh = dhi * dt;
        dA[n] += dtdh * abhp;
        duE += dtdh * bn;
        dh[n] = dhi * ab;
        red[n * WG + lid.x] = select(0.0, dtdh * uu, valid);
        red[(N + n) * WG + lid.x] = select(0.0, g * hc, valid);
      }
      var dx = ddt;
      if ((p.flags & ${FLAG_SOFTPLUS}u) != 0u) { dx = ddt * softplus_grad(x); }
      dDBacc += dx;
      if (valid) {
        ddelta[idx] = dx;
        du[idx] = duE;
      }
      workgroupBarrier();
      let pb = p.oPBC + ((b * p.L + t) * p.nblk + blk) * 2u * N;
      for (var o = lid.x; o < 2u * N; o += WG) {
        // Four accumulators (WG is a multiple of 4); rotated start so the rows hit distinct banks.
        var acc = vec4<f32>(0.0);
        for (var i = 0u; i < WG; i += 4u) {
          let r = o * WG;
          acc += vec4<f32>(
            red[r + ((i + o) & ${mask}u)],
            red[r + ((i + 1u + o) & ${mask}u)],
            red[r + ((i + 2u + o) & ${mask}u)],
            red[r + ((i + 3u + o) & ${mask}u)],
          );
        }
        W[pb + o] = (acc.x + acc.y) + (acc.z + acc.w);
      }
      workgroupBarrier();
    }
  }
  if (valid) {
    let pa = p.oPAD + (b * p.E + e) * (N + 2u);
    for (var n = 0u; n < N; n++) {
      W[pa + n] = dA[n];
      W[p.oDh + (b * p.E + e) * N + n] = dh[n];
    }
    W[pa + N] = ${s.hasD ? "dDacc" : "0.0"};
    W[pa + N + 1u] = dDBacc;
  }
}
`;
}

/**
 * Packs A, D, deltaBias into `dst` at oA / oD / oDB (when `packParams`; with `zeroFill`, absent D /
 * deltaBias are written as zeros), copies the initial state into `hdst` (the h0 destination: `last`
 * at (b·E + e)·N + n in the forward, or W's checkpoint 0 at oCk + b·NC·E·N + … in the backward;
 * zeros without an initial state when `zeroFill`), and in the backward writes dLastState (or
 * zeros) to W[oDh + i]. One invocation per element of the largest range.
 */
export function scanPrepWgsl(
  o: {
    packParams: boolean;
    hasD: boolean;
    hasDB: boolean;
    dst: string;
    h0: string | null;
    hdst: string | null;
    backward: boolean;
    dLast: boolean;
  },
  bindingsDecl: string,
): string {
  const zero = o.backward;
  const hIndex = o.backward ? "p.oCk + (i / en) * p.NC * en + (i % en)" : "i";
  const lines: string[] = [];
  if (o.packParams) {
    lines.push(`if (i < en) { ${o.dst}[p.oA + i] = A[i]; }`);
    if (o.hasD || zero) {
      lines.push(`if (i < p.E) { ${o.dst}[p.oD + i] = ${o.hasD ? "Dv[i]" : "0.0"}; }`);
    }
    if (o.hasDB || zero) {
      lines.push(`if (i < p.E) { ${o.dst}[p.oDB + i] = ${o.hasDB ? "dbias[i]" : "0.0"}; }`);
    }
  }
  if (o.hdst !== null && (o.h0 !== null || zero)) {
    lines.push(
      `if (i < p.B * en) { ${o.hdst}[${hIndex}] = ${o.h0 !== null ? `${o.h0}[i]` : "0.0"}; }`,
    );
  }
  if (o.backward) {
    lines.push(`if (i < p.B * en) { W[p.oDh + i] = ${o.dLast ? "dlast[i]" : "0.0"}; }`);
  }
  return `${bindingsDecl}
@compute @workgroup_size(256)
fn main(${ENTRY_1D}) {
  let i = ${linearIndex(256)};
  let en = p.E * p.N;
  ${lines.join("\n  ")}
}
`;
}

/**
 * The backward's gate: with z, g = dOut · silu(z) into ddelta (which held y) and
 * dz = dOut · y · silu'(z); without z, g = dOut is copied into ddelta.
 */
export function scanGateWgsl(hasZ: boolean, bindingsDecl: string): string {
  const body = hasZ
    ? `let y = ddelta[i];
  let zz = z[i];
  let g0 = dout[i];
  dz[i] = g0 * y * silu_grad(zz);
  ddelta[i] = g0 * silu_(zz);`
    : "ddelta[i] = dout[i];";
  return `${bindingsDecl}
${MATH_WGSL}
@compute @workgroup_size(256)
fn main(${ENTRY_1D}) {
  let i = ${linearIndex(256)};
  if (i >= p.count) { return; }
  ${body}
}
`;
}

/** dB[b, t, n], dC[b, t, n] = Σ over channel blocks of the reverse pass's partials. */
export function scanReduceBCWgsl(N: number, bindingsDecl: string): string {
  return `${bindingsDecl}
const N: u32 = ${N}u;
@compute @workgroup_size(256)
fn main(${ENTRY_1D}) {
  let i = ${linearIndex(256)};
  if (i >= p.count) { return; }
  let bt = i / (2u * N);
  let o = i % (2u * N);
  var acc = 0.0;
  for (var k = 0u; k < p.nblk; k++) { acc += W[p.oPBC + (bt * p.nblk + k) * 2u * N + o]; }
  if (o < N) { dB[bt * N + o] = acc; } else { dC[bt * N + o - N] = acc; }
}
`;
}

/** dA, dD, dDeltaBias = Σ_b of the per-(b, e) partials; dInitialState copied out of W. */
export function scanReduceParamsWgsl(
  N: number,
  o: { dD: boolean; dDB: boolean; dInit: boolean },
  bindingsDecl: string,
): string {
  return `${bindingsDecl}
const N: u32 = ${N}u;
@compute @workgroup_size(256)
fn main(${ENTRY_1D}) {
  let i = ${linearIndex(256)};
  let en = p.E * N;
  if (i < en) {
    let e = i / N;
    let n = i % N;
    var acc = 0.0;
    for (var b = 0u; b < p.B; b++) { acc += W[p.oPAD + (b * p.E + e) * (N + 2u) + n]; }
    dA[i] = acc;
  }
  ${
    o.dD || o.dDB
      ? `if (i < p.E) {
    var accD = 0.0;
    var accB = 0.0;
    for (var b = 0u; b < p.B; b++) {
      let pa = p.oPAD + (b * p.E + i) * (N + 2u) + N;
      accD += W[pa];
      accB += W[pa + 1u];
    }
    ${o.dD ? "dD[i] = accD;" : ""}
    ${o.dDB ? "ddb[i] = accB;" : ""}
  }`
      : ""
  }
  ${o.dInit ? "if (i < p.B * en) { dinit[i] = W[p.oDh + i]; }" : ""}
}
`;
}
