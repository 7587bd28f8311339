/**
 * WGSL sources of the elementwise kernels (unary, unaryBackward, binary, where, reduce, copy,
 * gather, scatterAdd, scatter, cast, fill, adamw). Each function returns the full shader of one
 * variant; the caller caches pipelines by a key naming every choice passed here.
 *
 * Element types: `f32` (float32) and `i32` (int32); kernels that only move bits (copy, where,
 * gather, scatter, fill, same-type cast) work on `u32` so one pipeline serves both dtypes.
 */
import type { ArithmeticOp, BinaryOp, UnaryOp } from "@bmojo/tensor";
import { offsetsWgsl, stridedUniformStruct } from "./strided.js";

/** Element type of a storage array. */
export type Scalar = "f32" | "i32" | "u32";

/** Threads per workgroup of every 1-D kernel here. */
export const WG = 256;

/** Helpers shared by the float kernels (unused functions cost nothing). */
const HELPERS = /* wgsl */ `
// NaN and infinity cannot be constant expressions in WGSL: build them from runtime words.
fn nan_f32() -> f32 {
  var bits = 0x7fc00000u;
  return bitcast<f32>(bits);
}
fn inf_f32() -> f32 {
  var bits = 0x7f800000u;
  return bitcast<f32>(bits);
}
fn is_nan(x: f32) -> bool { return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u; }
// Numerically stable logistic function (no overflow of exp for large |x|).
fn sigmoid_f(x: f32) -> f32 {
  if (x >= 0.0) { return 1.0 / (1.0 + exp(-x)); }
  let e = exp(x);
  return e / (1.0 + e);
}
// log(1 + x) accurate for small x (Goldberg's trick: the rounding error of 1 + x cancels).
fn log1p_f(x: f32) -> f32 {
  let u = 1.0 + x;
  if (u == 1.0) { return x; }
  return log(u) * (x / (u - 1.0));
}
// tanh saturates to ±1 in f32 long before |x| = 15; clamping keeps exp-based lowerings finite.
fn tanh_f(x: f32) -> f32 { return select(tanh(clamp(x, -15.0, 15.0)), x, is_nan(x)); }
// Like Math.sign: NaN stays NaN.
fn sign_f(x: f32) -> f32 { return select(sign(x), x, is_nan(x)); }
`;

/** The entry point of a 1-D kernel over `u.n` elements: `e` is the element index. */
const MAIN_1D = /* wgsl */ `
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let e = (wid.y * nwg.x + wid.x) * ${WG}u + lid;
  if (e >= u.n) { return; }`;

// ---------------------------------------------------------------------------------------------
// unary, unaryBackward
// ---------------------------------------------------------------------------------------------

/** f(v) for float32 (matching the reference formulas). */
const UNARY_F32: Record<UnaryOp, string> = {
  neg: "-v",
  abs: "abs(v)",
  sign: "sign_f(v)",
  exp: "exp(v)",
  log: "log(v)",
  sqrt: "sqrt(v)",
  rsqrt: "1.0 / sqrt(v)",
  square: "v * v",
  reciprocal: "1.0 / v",
  sin: "sin(v)",
  cos: "cos(v)",
  tanh: "tanh_f(v)",
  sigmoid: "sigmoid_f(v)",
  silu: "v * sigmoid_f(v)",
  softplus: "select(log1p_f(exp(v)), v, v > 20.0)",
  // Like Math.max(v, 0): NaN stays NaN, -0 becomes 0.
  relu: "select(0.0, v, v > 0.0 || is_nan(v))",
  floor: "floor(v)",
};

/** f(v) for int32: wrapping two's-complement arithmetic (neg and abs of -2^31 give -2^31). */
const UNARY_I32: Partial<Record<UnaryOp, string>> = {
  neg: "0 - v",
  abs: "abs(v)",
  sign: "sign(v)",
  square: "v * v",
};

export function unarySupported(op: UnaryOp, t: Scalar): boolean {
  return t === "f32" ? Object.hasOwn(UNARY_F32, op) : Object.hasOwn(UNARY_I32, op);
}

export function unaryWgsl(op: UnaryOp, t: "f32" | "i32"): string {
  const expr = t === "f32" ? UNARY_F32[op] : UNARY_I32[op];
  return `${HELPERS}
struct U { n: u32, _p0: u32, _p1: u32, _p2: u32 }
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read> X: array<${t}>;
@group(0) @binding(2) var<storage, read_write> O: array<${t}>;
${MAIN_1D}
  let v = X[e];
  O[e] = ${expr};
}`;
}

/** SwiGLU's gating silu(gate) · up, silu as the unary kernel computes it. */
export function siluMulWgsl(): string {
  return `${HELPERS}
struct U { n: u32, _p0: u32, _p1: u32, _p2: u32 }
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read> G: array<f32>;
@group(0) @binding(2) var<storage, read> P: array<f32>;
@group(0) @binding(3) var<storage, read_write> O: array<f32>;
${MAIN_1D}
  let v = G[e];
  let s = ${UNARY_F32.silu};
  O[e] = s * P[e];
}`;
}

/** dx for float32 given v = x and g = dy (sign and floor are a fill with 0, not here). */
const UNARY_BACKWARD_F32: Partial<Record<UnaryOp, string>> = {
  neg: "-g",
  abs: "g * sign_f(v)",
  // Split past 80 so dy · e^x stays finite where e^x alone overflows f32 (as in doubles).
  exp: "select(g * exp(v), (g * exp(0.5 * v)) * exp(0.5 * v), v > 80.0)",
  log: "g / v",
  sqrt: "(0.5 * g) / sqrt(v)",
  rsqrt: "(-0.5 * g) / (v * sqrt(v))",
  square: "2.0 * v * g",
  reciprocal: "-g / (v * v)",
  sin: "g * cos(v)",
  cos: "-g * sin(v)",
  tanh: "g * (1.0 - tanh_f(v) * tanh_f(v))",
  sigmoid: "g * sigmoid_f(v) * (1.0 - sigmoid_f(v))",
  silu: "g * sigmoid_f(v) * (1.0 + v * (1.0 - sigmoid_f(v)))",
  softplus: "select(g * sigmoid_f(v), g, v > 20.0)",
  relu: "select(0.0, g, v > 0.0)",
};

export function unaryBackwardWgsl(op: UnaryOp): string {
  return `${HELPERS}
struct U { n: u32, _p0: u32, _p1: u32, _p2: u32 }
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read> DY: array<f32>;
@group(0) @binding(3) var<storage, read_write> DX: array<f32>;
${MAIN_1D}
  let v = X[e];
  let g = DY[e];
  DX[e] = ${UNARY_BACKWARD_F32[op]};
}`;
}

// ---------------------------------------------------------------------------------------------
// binary, where, copy (strided)
// ---------------------------------------------------------------------------------------------

/** JS `a ** b` in f32: exact small integer powers, NaN for a negative base and fractional b. */
const POW_F32 = /* wgsl */ `
fn pow_f(a: f32, b: f32) -> f32 {
  if (b == 0.0) { return 1.0; }
  if (is_nan(a) || is_nan(b)) { return nan_f32(); }
  let whole = floor(b) == b;
  // |b| < 2^24 here means b is an f32 integer whose parity fits i32.
  let odd = whole && abs(b) < 16777216.0 && (i32(b) & 1) != 0;
  if (whole && abs(b) <= 16.0) {
    // Exponentiation by squaring: a few correctly rounded multiplies, like Math.pow.
    var base = a;
    var k = u32(abs(b));
    var r = 1.0;
    loop {
      if ((k & 1u) != 0u) { r = r * base; }
      k = k >> 1u;
      if (k == 0u) { break; }
      base = base * base;
    }
    return select(r, 1.0 / r, b < 0.0);
  }
  if (a == 0.0) {
    let neg_zero = (bitcast<u32>(a) & 0x80000000u) != 0u;
    if (b > 0.0) { return select(0.0, -0.0, neg_zero && odd); }
    let inf = inf_f32();
    return select(inf, -inf, neg_zero && odd);
  }
  if (a < 0.0 && !whole) { return nan_f32(); }
  let r = pow(abs(a), b);
  return select(r, -r, a < 0.0 && odd);
}
`;

/**
 * JS \`(a ** b) | 0\` for int32, exactly: |a|^b is formed exactly in 96 bits, rounded to the 53
 * significant bits of a double (to nearest, ties to even; Math.pow is exact on integers it can
 * represent and correctly rounded here otherwise), then wrapped to int32 like ToInt32. From 2^84
 * on the double is a multiple of 2^32 (or Infinity), which wraps to 0.
 */
const POW_I32 = /* wgsl */ `
// The 64-bit product of two u32 as (low, high) words.
fn mul_wide(a: u32, b: u32) -> vec2<u32> {
  let a0 = a & 0xffffu;
  let a1 = a >> 16u;
  let b0 = b & 0xffffu;
  let b1 = b >> 16u;
  let p00 = a0 * b0;
  let p01 = a0 * b1;
  let p10 = a1 * b0;
  let mid = (p00 >> 16u) + (p01 & 0xffffu) + (p10 & 0xffffu);
  let lo = (p00 & 0xffffu) | (mid << 16u);
  let hi = a1 * b1 + (p01 >> 16u) + (p10 >> 16u) + (mid >> 16u);
  return vec2<u32>(lo, hi);
}
fn pow_i(a: i32, b: i32) -> i32 {
  let odd = (b & 1) != 0;
  if (a == 0) { return select(0, 1, b == 0); } // 0 ** negative is Infinity, which wraps to 0
  if (a == 1) { return 1; }
  if (a == -1) { return select(1, -1, odd); }
  if (b < 0) { return 0; } // |a| ≥ 2: a fraction, truncated
  if (b >= 84) { return 0; } // |a|^b ≥ 2^84
  let m = u32(abs(a)); // abs(-2^31) wraps, but u32 of it is 2^31
  var w0 = 1u;
  var w1 = 0u;
  var w2 = 0u;
  for (var k = 0; k < b; k++) {
    let p0 = mul_wide(w0, m);
    let p1 = mul_wide(w1, m);
    let p2 = mul_wide(w2, m);
    // From 2^84 on (85 bits or more) the rounded double is a multiple of 2^32: 0.
    if (p2.y != 0u || p2.x >= 0x100000u) { return 0; }
    w0 = p0.x;
    let s1 = p1.x + p0.y;
    let c1 = select(0u, 1u, s1 < p1.x);
    w1 = s1;
    w2 = p2.x + p1.y + c1; // < 2^20 + 2^31 + 1: no overflow
    if (w2 >= 0x100000u) { return 0; }
  }
  var bits = 32u - countLeadingZeros(w0);
  if (w1 != 0u) { bits = 64u - countLeadingZeros(w1); }
  if (w2 != 0u) { bits = 96u - countLeadingZeros(w2); }
  var r = w0;
  if (bits > 53u) {
    // Round away the low (bits − 53) ≤ 31 bits of w0 (bits ≤ 84), to nearest, ties to even.
    let shift = bits - 53u;
    let mask = (1u << shift) - 1u;
    let dropped = w0 & mask;
    let half = 1u << (shift - 1u);
    let up = dropped > half || (dropped == half && ((w0 >> shift) & 1u) == 1u);
    r = (w0 & ~mask) + select(0u, 1u << shift, up);
  }
  if (a < 0 && odd) { r = 0u - r; }
  return bitcast<i32>(r);
}
`;

const BINARY_F32: Record<ArithmeticOp, string> = {
  add: "a + b",
  sub: "a - b",
  mul: "a * b",
  div: "a / b",
  pow: "pow_f(a, b)",
  // Like Math.max / Math.min: NaN propagates (a + b is NaN when either is).
  maximum: "select(max(a, b), a + b, is_nan(a) || is_nan(b))",
  minimum: "select(min(a, b), a + b, is_nan(a) || is_nan(b))",
};

const BINARY_I32: Record<ArithmeticOp, string> = {
  add: "a + b",
  sub: "a - b",
  mul: "a * b",
  // Truncating division with x / 0 = 0 (-2^31 / -1 = -2^31, as WGSL defines it).
  div: "select(a / select(b, 1, b == 0), 0, b == 0)",
  pow: "pow_i(a, b)",
  maximum: "max(a, b)",
  minimum: "min(a, b)",
};

const COMPARISON: Record<string, string> = {
  eq: "==",
  ne: "!=",
  lt: "<",
  le: "<=",
  gt: ">",
  ge: ">=",
};

export function isComparison(op: BinaryOp): boolean {
  return Object.hasOwn(COMPARISON, op);
}

export function binaryWgsl(op: BinaryOp, t: "f32" | "i32", rank: number): string {
  let expr: string;
  let outT: Scalar = t;
  if (isComparison(op)) {
    expr = `select(0, 1, a ${COMPARISON[op]} b)`;
    outT = "i32";
  } else {
    expr = (t === "f32" ? BINARY_F32 : BINARY_I32)[op as ArithmeticOp];
  }
  return `${HELPERS}${t === "f32" ? POW_F32 : POW_I32}
${stridedUniformStruct(2)}
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read> A: array<${t}>;
@group(0) @binding(2) var<storage, read> B: array<${t}>;
@group(0) @binding(3) var<storage, read_write> O: array<${outT}>;
${MAIN_1D}
${offsetsWgsl(rank, 2)}
  let a = A[off0];
  let b = B[off1];
  O[u.base.z + i32(e)] = ${expr};
}`;
}

export function whereWgsl(rank: number): string {
  return `${stridedUniformStruct(3)}
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read> C: array<i32>;
@group(0) @binding(2) var<storage, read> A: array<u32>;
@group(0) @binding(3) var<storage, read> B: array<u32>;
@group(0) @binding(4) var<storage, read_write> O: array<u32>;
${MAIN_1D}
${offsetsWgsl(rank, 3)}
  if (C[off0] != 0) {
    O[u.base.w + i32(e)] = A[off1];
  } else {
    O[u.base.w + i32(e)] = B[off2];
  }
}`;
}

export function copyWgsl(rank: number): string {
  return `${stridedUniformStruct(2)}
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read> X: array<u32>;
@group(0) @binding(2) var<storage, read_write> O: array<u32>;
${MAIN_1D}
${offsetsWgsl(rank, 2)}
  O[off1] = X[off0];
}`;
}

// ---------------------------------------------------------------------------------------------
// cast, fill, adamw
// ---------------------------------------------------------------------------------------------

/** float32 → int32 (truncate, saturate, NaN → 0) or int32 → float32 (round to nearest). */
export function castWgsl(to: "f32" | "i32"): string {
  const body =
    to === "i32"
      ? `  let v = X[e];
  var r = 0;
  if (is_nan(v)) {
    r = 0;
  } else if (v >= 2147483648.0) {
    r = 2147483647;
  } else if (v <= -2147483648.0) {
    r = bitcast<i32>(0x80000000u);
  } else {
    r = i32(v);
  }
  O[e] = r;`
      : "  O[e] = f32(X[e]);";
  return `${HELPERS}
struct U { n: u32, _p0: u32, _p1: u32, _p2: u32 }
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read> X: array<${to === "i32" ? "f32" : "i32"}>;
@group(0) @binding(2) var<storage, read_write> O: array<${to}>;
${MAIN_1D}
${body}
}`;
}

export function fillWgsl(): string {
  return `struct U { n: u32, bits: u32, _p1: u32, _p2: u32 }
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read_write> O: array<u32>;
${MAIN_1D}
  O[e] = u.bits;
}`;
}

/** One AdamW step in place; bias corrections and decay come from the host. */
export function adamwWgsl(): string {
  return `struct U {
  n: u32,
  beta1: f32,
  one_minus_beta1: f32,
  beta2: f32,
  one_minus_beta2: f32,
  decay_factor: f32,
  step_size: f32,
  bias_correction2_sqrt: f32,
  eps: f32,
}
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read_write> P: array<f32>;
@group(0) @binding(2) var<storage, read> G: array<f32>;
@group(0) @binding(3) var<storage, read_write> M: array<f32>;
@group(0) @binding(4) var<storage, read_write> V: array<f32>;
${MAIN_1D}
  let g = G[e];
  let m = u.beta1 * M[e] + u.one_minus_beta1 * g;
  let v = u.beta2 * V[e] + u.one_minus_beta2 * g * g;
  M[e] = m;
  V[e] = v;
  let decayed = P[e] * u.decay_factor;
  let denominator = sqrt(v) / u.bias_correction2_sqrt + u.eps;
  P[e] = decayed - u.step_size * (m / denominator);
}`;
}

// ---------------------------------------------------------------------------------------------
// gather, scatterAdd, scatter
// ---------------------------------------------------------------------------------------------

const GATHER_UNIFORMS = "struct U { n: u32, rows: u32, inner: u32, count: u32 }";

/** Element e of an [outer, count, inner] grid: its i, j, o and r = IDX[j] (gather, the scatters). */
const ROW_INDEX = `  let i = e % u.inner;
  let t = e / u.inner;
  let j = t % u.count;
  let o = t / u.count;
  let r = IDX[j];`;

/**
 * out[o, j, i] = table[o, indices[j], i], one invocation per out element. An index outside
 * [0, rows) (possible only for indices produced on the GPU, which the host cannot check) writes 0.
 */
export function gatherWgsl(): string {
  return `${GATHER_UNIFORMS}
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read> T: array<u32>;
@group(0) @binding(2) var<storage, read> IDX: array<i32>;
@group(0) @binding(3) var<storage, read_write> O: array<u32>;
${MAIN_1D}
${ROW_INDEX}
  if (r < 0 || u32(r) >= u.rows) {
    O[e] = 0u;
    return;
  }
  O[e] = T[(o * u.rows + u32(r)) * u.inner + i];
}`;
}

/**
 * scatterAdd from a host-built index list, deterministic and in the reference's order: one
 * invocation per (o, distinct row, i) adds updates[o, j, i] for that row's positions j in
 * ascending order onto out. P packs [rows of the U distinct indices | U + 1 segment starts |
 * positions j grouped by row, ascending within a row].
 */
export function scatterAddListWgsl(t: "f32" | "i32"): string {
  return `struct U { n: u32, rows: u32, inner: u32, count: u32, distinct: u32, _p0: u32, _p1: u32, _p2: u32 }
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read> UPD: array<${t}>;
@group(0) @binding(2) var<storage, read> P: array<u32>;
@group(0) @binding(3) var<storage, read_write> O: array<${t}>;
${MAIN_1D}
  let i = e % u.inner;
  let t = e / u.inner;
  let d = t % u.distinct;
  let o = t / u.distinct;
  let row = P[d];
  let start = P[u.distinct + d];
  let end = P[u.distinct + d + 1u];
  let order = 2u * u.distinct + 1u;
  let oi = (o * u.rows + row) * u.inner + i;
  var acc = O[oi];
  for (var p = start; p < end; p++) {
    acc += UPD[(o * u.count + P[order + p]) * u.inner + i];
  }
  O[oi] = acc;
}`;
}

/**
 * scatterAdd for indices produced on the GPU (no host copy to check or group them): one
 * invocation per update element, accumulated atomically (int32: atomicAdd, wrapping; float32: a
 * compare-exchange loop, so the order of additions to one element, and the last bits of float
 * sums, may vary). An index outside [0, rows) is skipped.
 */
export function scatterAddAtomicWgsl(t: "f32" | "i32"): string {
  const add =
    t === "i32"
      ? "  atomicAdd(&O[oi], UPD[e]);"
      : `  let v = UPD[e];
  var old = atomicLoad(&O[oi]);
  loop {
    let res = atomicCompareExchangeWeak(&O[oi], old, bitcast<u32>(bitcast<f32>(old) + v));
    if (res.exchanged) { break; }
    old = res.old_value;
  }`;
  return `${GATHER_UNIFORMS}
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read> UPD: array<${t}>;
@group(0) @binding(2) var<storage, read> IDX: array<i32>;
@group(0) @binding(3) var<storage, read_write> O: array<atomic<${t === "i32" ? "i32" : "u32"}>>;
${MAIN_1D}
${ROW_INDEX}
  if (r < 0 || u32(r) >= u.rows) { return; }
  let oi = (o * u.rows + u32(r)) * u.inner + i;
${add}
}`;
}

/**
 * out[o, indices[j], i] = updates[o, j, i], one invocation per update element (a repeated index
 * keeps whichever write lands last). An index outside [0, rows) (possible only for indices
 * produced on the GPU) is skipped.
 */
export function scatterWgsl(): string {
  return `${GATHER_UNIFORMS}
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read> UPD: array<u32>;
@group(0) @binding(2) var<storage, read> IDX: array<i32>;
@group(0) @binding(3) var<storage, read_write> O: array<u32>;
${MAIN_1D}
${ROW_INDEX}
  if (r < 0 || u32(r) >= u.rows) { return; }
  O[(o * u.rows + u32(r)) * u.inner + i] = UPD[e];
}`;
}

// ---------------------------------------------------------------------------------------------
// reduce
// ---------------------------------------------------------------------------------------------

/** The reductions a pass performs (mean is a sum divided on the final write). */
export type ReducePassOp = "sum" | "max" | "min" | "argmax" | "argmin";

export interface ReduceVariant {
  op: ReducePassOp;
  t: "f32" | "i32";
  /** "loop": one invocation per (o, chunk, i); "tree": `tpr` threads per (o, chunk), inner = 1. */
  kind: "loop" | "tree";
  /** Threads per row of a tree pass (a power of two dividing WG); WG when not given. */
  tpr?: number;
  /** Indices of arg ops come from a partials buffer PI (a second pass) instead of the position. */
  indexInput: boolean;
  /** Writes out (final value or int32 index) rather than partials PV (and PI for arg ops). */
  final: boolean;
}

export function reduceKey(v: ReduceVariant): string {
  return `ew.reduce.${v.op}.${v.t}.${v.kind}${v.kind === "tree" ? (v.tpr ?? WG) : ""}${v.indexInput ? ".idx" : ""}${v.final ? ".final" : ".partial"}`;
}

function isArg(op: ReducePassOp): boolean {
  return op === "argmax" || op === "argmin";
}

/** WGSL of combine (value ops) or better (arg ops) and the identity of an empty slot. */
function reduceFns(op: ReducePassOp, t: "f32" | "i32"): { fns: string; identity: string } {
  const f = t === "f32";
  const inf = f ? "inf_f32()" : "bitcast<i32>(0x7fffffffu)";
  const ninf = f ? "-inf_f32()" : "bitcast<i32>(0x80000000u)";
  switch (op) {
    case "sum":
      return {
        fns: `fn combine(a: ${t}, b: ${t}) -> ${t} { return a + b; }`,
        identity: f ? "0.0" : "0",
      };
    case "max":
    case "min": {
      const m = op;
      const body = f
        ? `return select(${m}(a, b), a + b, is_nan(a) || is_nan(b));`
        : `return ${m}(a, b);`;
      return {
        fns: `fn combine(a: ${t}, b: ${t}) -> ${t} { ${body} }`,
        identity: op === "max" ? ninf : inf,
      };
    }
    case "argmax":
    case "argmin": {
      // b (value bv at index bi) replaces a when strictly more extreme, or equally extreme at a
      // smaller index (first index on ties); a NaN is more extreme than any number.
      const cmp = op === "argmax" ? ">" : "<";
      const body = f
        ? `let bn = is_nan(bv);
  let an = is_nan(av);
  if (bn != an) { return bn; }
  if (bn || bv == av) { return bi < ai; }
  return bv ${cmp} av;`
        : `if (bv == av) { return bi < ai; }
  return bv ${cmp} av;`;
      return {
        fns: `fn better(bv: ${t}, bi: u32, av: ${t}, ai: u32) -> bool {
  ${body}
}`,
        identity: op === "argmax" ? ninf : inf,
      };
    }
  }
}

/**
 * Uniforms: n (invocations for loop, workgroups for tree), size, inner, chunks, chunkLen,
 * divisor. The pass reduces x viewed [outer, size, inner] in chunks of chunkLen along size:
 * chunk c of (o, i) covers positions [c·chunkLen, min(size, (c+1)·chunkLen)) and lands at
 * (o·chunks + c)·inner + i (= o·inner + i for a final pass, chunks = 1).
 */
export function reduceWgsl(v: ReduceVariant): string {
  const { op, t, kind, indexInput, final } = v;
  const arg = isArg(op);
  const { fns, identity } = reduceFns(op, t);
  const decls: string[] = [
    "struct U { n: u32, size: u32, inner: u32, chunks: u32, chunk_len: u32, divisor: f32, _p0: u32, _p1: u32 }",
    "@group(0) @binding(0) var<uniform> u: U;",
    `@group(0) @binding(1) var<storage, read> X: array<${t}>;`,
  ];
  let binding = 2;
  if (arg && indexInput)
    decls.push(`@group(0) @binding(${binding++}) var<storage, read> PI: array<u32>;`);
  if (final) {
    decls.push(
      `@group(0) @binding(${binding++}) var<storage, read_write> O: array<${arg ? "i32" : t}>;`,
    );
  } else {
    decls.push(`@group(0) @binding(${binding++}) var<storage, read_write> PV: array<${t}>;`);
    if (arg)
      decls.push(`@group(0) @binding(${binding++}) var<storage, read_write> PO: array<u32>;`);
  }
  const indexAt = (p: string, r: string) => (indexInput ? `PI[${p}]` : r);
  const write = (q: string, acc: string, ai: string): string => {
    if (!final) return arg ? `PV[${q}] = ${acc};\n    PO[${q}] = ${ai};` : `PV[${q}] = ${acc};`;
    if (arg) return `O[${q}] = i32(${ai});`;
    if (op === "sum" && t === "f32") return `O[${q}] = ${acc} / u.divisor;`;
    return `O[${q}] = ${acc};`;
  };
  const fold = (v: string, idx: string, acc: string, ai: string): string =>
    arg
      ? `if (better(${v}, ${idx}, ${acc}, ${ai})) { ${acc} = ${v}; ${ai} = ${idx}; }`
      : `${acc} = combine(${acc}, ${v});`;

  if (kind === "loop") {
    return `${HELPERS}
${fns}
${decls.join("\n")}
${MAIN_1D}
  let i = e % u.inner;
  let t = e / u.inner;
  let c = t % u.chunks;
  let o = t / u.chunks;
  let r0 = c * u.chunk_len;
  let r1 = min(u.size, r0 + u.chunk_len);
  var p = (o * u.size + r0) * u.inner + i;
  var acc = X[p];
  var ai = ${indexAt("p", "r0")};
  for (var r = r0 + 1u; r < r1; r++) {
    p += u.inner;
    let v = X[p];
    ${fold("v", indexAt("p", "r"), "acc", "ai")}
  }
  ${write("(o * u.chunks + c) * u.inner + i", "acc", "ai")}
}`;
  }

  // Tree: `tpr` threads per (o, chunk) of a row (inner = 1), WG / tpr rows per workgroup;
  // strided per-thread folds, then a shared-memory tree within each row's segment. Every thread
  // reaches every barrier (inactive rows just fold nothing), so control flow stays uniform.
  const tpr = v.tpr ?? WG;
  return `${HELPERS}
${fns}
${decls.join("\n")}
var<workgroup> SV: array<${t}, ${WG}>;
${arg ? `var<workgroup> SI: array<u32, ${WG}>;` : ""}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let lane = lid % ${tpr}u;
  let g = (wid.y * nwg.x + wid.x) * ${WG / tpr}u + lid / ${tpr}u;
  let in_range = g < u.n;
  var acc: ${t} = ${identity};
  var ai = 0xffffffffu;
  if (in_range) {
    let c = g % u.chunks;
    let o = g / u.chunks;
    let r0 = c * u.chunk_len;
    let r1 = min(u.size, r0 + u.chunk_len);
    let row = o * u.size;
    for (var r = r0 + lane; r < r1; r += ${tpr}u) {
      let v = X[row + r];
      ${fold("v", indexAt("row + r", "r"), "acc", "ai")}
    }
  }
  SV[lid] = acc;
  ${arg ? "SI[lid] = ai;" : ""}
  workgroupBarrier();
  for (var s = ${tpr / 2}u; s > 0u; s = s >> 1u) {
    if (lane < s) {
      ${
        arg
          ? `if (better(SV[lid + s], SI[lid + s], SV[lid], SI[lid])) {
        SV[lid] = SV[lid + s];
        SI[lid] = SI[lid + s];
      }`
          : "SV[lid] = combine(SV[lid], SV[lid + s]);"
      }
    }
    workgroupBarrier();
  }
  if (lane == 0u && in_range) {
    ${write("g", "SV[lid]", arg ? "SI[lid]" : "0u")}
  }
}`;
}
