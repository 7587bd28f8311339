/**
 * WGSL of the row kernels (softmax, rmsNorm, crossEntropy and their gradients) and of rope,
 * float32.
 *
 * A row kernel runs one workgroup of `wg` invocations (a power of two) per row: each invocation
 * walks the row with stride `wg` (coalesced), then the workgroup combines the per-invocation
 * partials with a tree reduction in workgroup memory (a fixed order, so results are
 * deterministic). The row index is folded over workgroups x and y (see `workgroups1d`).
 *
 * Softmax and crossEntropy use the online (max, Σexp) pair, so the row is read once for the
 * statistics and once more for the output. The running max starts at −FLT_MAX rather than −∞,
 * so −∞ entries contribute exp(−∞) = 0 without forming −∞ − (−∞); a row of only −∞ gets
 * Σ = 0 and yields NaN, as in the reference.
 */

/** Smallest float32 (the running max's start; −∞ cannot be a WGSL constant). */
const LOWEST = "-0x1.fffffep+127f";

/** Workgroup size for rows of `cols` elements: about four elements per invocation, 64…256. */
export function rowWorkgroupSize(cols: number): number {
  if (cols <= 256) return 64;
  if (cols <= 512) return 128;
  return 256;
}

function prelude(wg: number): string {
  return /* wgsl */ `
const WG: u32 = ${wg}u;

fn rowIndex(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
  return wid.y * nwg.x + wid.x;
}
`;
}

/** A tree sum over the workgroup (every invocation gets the total). */
function sumReduction(): string {
  return /* wgsl */ `
var<workgroup> red: array<f32, WG>;

fn workgroupSum(v: f32, lid: u32) -> f32 {
  red[lid] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) { red[lid] += red[lid + s]; }
    workgroupBarrier();
  }
  let total = red[0];
  workgroupBarrier();
  return total;
}
`;
}

/**
 * The row's (max, Σ exp(x − max)) by an online pass and a tree reduction; every invocation gets
 * the pair. Needs `X` and the row's `base`.
 */
function maxSumReduction(input: string): string {
  return /* wgsl */ `
var<workgroup> redMax: array<f32, WG>;
var<workgroup> redSum: array<f32, WG>;

fn rowMaxSum(base: u32, cols: u32, lid: u32) -> vec2<f32> {
  var m = ${LOWEST};
  var s = 0.0;
  for (var c = lid; c < cols; c += WG) {
    let v = ${input}[base + c];
    let mn = max(m, v);
    s = s * exp(m - mn) + exp(v - mn);
    m = mn;
  }
  redMax[lid] = m;
  redSum[lid] = s;
  workgroupBarrier();
  for (var st = WG / 2u; st > 0u; st >>= 1u) {
    if (lid < st) {
      let m1 = redMax[lid];
      let m2 = redMax[lid + st];
      let mn = max(m1, m2);
      redSum[lid] = redSum[lid] * exp(m1 - mn) + redSum[lid + st] * exp(m2 - mn);
      redMax[lid] = mn;
    }
    workgroupBarrier();
  }
  let result = vec2<f32>(redMax[0], redSum[0]);
  workgroupBarrier();
  return result;
}
`;
}

const ROW_BUILTINS = /* wgsl */ `
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,`;

export function softmaxWgsl(wg: number): string {
  return /* wgsl */ `${prelude(wg)}
struct U { rows: u32, cols: u32 }
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read_write> Out: array<f32>;
${maxSumReduction("X")}
@compute @workgroup_size(WG)
fn main(${ROW_BUILTINS}
) {
  let row = rowIndex(wid, nwg);
  if (row >= u.rows) { return; }
  let base = row * u.cols;
  let ms = rowMaxSum(base, u.cols, lid);
  for (var c = lid; c < u.cols; c += WG) {
    Out[base + c] = exp(X[base + c] - ms.x) / ms.y;
  }
}
`;
}

export function softmaxBackwardWgsl(wg: number): string {
  return /* wgsl */ `${prelude(wg)}
struct U { rows: u32, cols: u32 }
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read> Y: array<f32>;
@group(0) @binding(2) var<storage, read> DY: array<f32>;
@group(0) @binding(3) var<storage, read_write> DX: array<f32>;
${sumReduction()}
@compute @workgroup_size(WG)
fn main(${ROW_BUILTINS}
) {
  let row = rowIndex(wid, nwg);
  if (row >= u.rows) { return; }
  let base = row * u.cols;
  var acc = 0.0;
  for (var c = lid; c < u.cols; c += WG) { acc += DY[base + c] * Y[base + c]; }
  let dot = workgroupSum(acc, lid);
  for (var c = lid; c < u.cols; c += WG) {
    let i = base + c;
    DX[i] = Y[i] * (DY[i] - dot);
  }
}
`;
}

/**
 * out = x · rstd · w per row, rstd = 1/sqrt(mean(x²) + eps). With `residual` (addRmsNorm), x is
 * X + R, stored into Sum first; each invocation reads back the columns it wrote, so out equals
 * rmsNorm of the stored sum.
 */
export function rmsNormWgsl(wg: number, residual = false): string {
  const read = (binding: number, name: string) =>
    `@group(0) @binding(${binding}) var<storage, read> ${name}: array<f32>;`;
  const write = (binding: number, name: string) =>
    `@group(0) @binding(${binding}) var<storage, read_write> ${name}: array<f32>;`;
  const bindings = residual
    ? [read(1, "X"), read(2, "R"), read(3, "W"), write(4, "Sum"), write(5, "Out"), write(6, "Rstd")]
    : [read(1, "X"), read(2, "W"), write(3, "Out"), write(4, "Rstd")];
  const load = residual
    ? "let v = X[base + c] + R[base + c];\n    Sum[base + c] = v;"
    : "let v = X[base + c];";
  return /* wgsl */ `${prelude(wg)}
struct U { rows: u32, cols: u32, eps: f32 }
@group(0) @binding(0) var<uniform> u: U;
${bindings.join("\n")}
${sumReduction()}
@compute @workgroup_size(WG)
fn main(${ROW_BUILTINS}
) {
  let row = rowIndex(wid, nwg);
  if (row >= u.rows) { return; }
  let base = row * u.cols;
  var acc = 0.0;
  for (var c = lid; c < u.cols; c += WG) {
    ${load}
    acc += v * v;
  }
  let ss = workgroupSum(acc, lid);
  let rstd = 1.0 / sqrt(ss / f32(u.cols) + u.eps);
  if (lid == 0u) { Rstd[row] = rstd; }
  for (var c = lid; c < u.cols; c += WG) {
    Out[base + c] = ${residual ? "Sum" : "X"}[base + c] * rstd * W[c];
  }
}
`;
}

/** dx per row: dx = rstd·w·dy − x·rstd³·mean(x·w·dy). */
export function rmsNormBackwardDxWgsl(wg: number): string {
  return /* wgsl */ `${prelude(wg)}
struct U { rows: u32, cols: u32 }
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read> W: array<f32>;
@group(0) @binding(3) var<storage, read> Rstd: array<f32>;
@group(0) @binding(4) var<storage, read> DY: array<f32>;
@group(0) @binding(5) var<storage, read_write> DX: array<f32>;
${sumReduction()}
@compute @workgroup_size(WG)
fn main(${ROW_BUILTINS}
) {
  let row = rowIndex(wid, nwg);
  if (row >= u.rows) { return; }
  let base = row * u.cols;
  var acc = 0.0;
  for (var c = lid; c < u.cols; c += WG) {
    acc += X[base + c] * W[c] * DY[base + c];
  }
  let mean = workgroupSum(acc, lid) / f32(u.cols);
  let rstd = Rstd[row];
  let k = rstd * rstd * rstd * mean;
  for (var c = lid; c < u.cols; c += WG) {
    let i = base + c;
    DX[i] = rstd * W[c] * DY[i] - X[i] * k;
  }
}
`;
}

/**
 * dweight partial sums: invocation (column c, chunk j) writes Σ_{r in chunk j} dy[r,c]·x[r,c]·rstd[r]
 * to Out[j·cols + c] (chunk j = rows [j·rowsPerChunk, …)). With one chunk, Out is dweight itself.
 * Consecutive invocations take consecutive columns (coalesced); rows are summed in order.
 */
export function rmsNormDweightPartialWgsl(): string {
  return /* wgsl */ `
struct U { rows: u32, cols: u32, rowsPerChunk: u32, chunks: u32 }
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read> Rstd: array<f32>;
@group(0) @binding(3) var<storage, read> DY: array<f32>;
@group(0) @binding(4) var<storage, read_write> Out: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let c = wid.x * 256u + lid;
  let chunk = wid.y;
  if (c >= u.cols || chunk >= u.chunks) { return; }
  let r0 = chunk * u.rowsPerChunk;
  let r1 = min(u.rows, r0 + u.rowsPerChunk);
  var acc = 0.0;
  for (var r = r0; r < r1; r++) {
    let i = r * u.cols + c;
    acc += DY[i] * X[i] * Rstd[r];
  }
  Out[chunk * u.cols + c] = acc;
}
`;
}

/** dweight[c] = Σ_j partial[j·cols + c], chunks in order. */
export function rmsNormDweightFinalWgsl(): string {
  return /* wgsl */ `
struct U { cols: u32, chunks: u32 }
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read> P: array<f32>;
@group(0) @binding(2) var<storage, read_write> DW: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let c = (wid.y * nwg.x + wid.x) * 256u + lid;
  if (c >= u.cols) { return; }
  var acc = 0.0;
  for (var j = 0u; j < u.chunks; j++) { acc += P[j * u.cols + c]; }
  DW[c] = acc;
}
`;
}

/**
 * lse[r] = logsumexp(logits[r]); loss[r] = lse[r] − logits[r, t_r], 0 where t_r == ignoreIndex.
 * Targets are validated on the host when their host copy is known; otherwise (targets written by
 * a kernel) an out-of-range target is not read: its loss is NaN, so the error shows in the result
 * without an out-of-bounds access.
 */
export function crossEntropyWgsl(wg: number): string {
  return /* wgsl */ `${prelude(wg)}
struct U { rows: u32, classes: u32, ignoreIndex: i32 }
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read> Logits: array<f32>;
@group(0) @binding(2) var<storage, read> Targets: array<i32>;
@group(0) @binding(3) var<storage, read_write> Loss: array<f32>;
@group(0) @binding(4) var<storage, read_write> Lse: array<f32>;
${maxSumReduction("Logits")}
@compute @workgroup_size(WG)
fn main(${ROW_BUILTINS}
) {
  let row = rowIndex(wid, nwg);
  if (row >= u.rows) { return; }
  let base = row * u.classes;
  let ms = rowMaxSum(base, u.classes, lid);
  if (lid == 0u) {
    let lse = ms.x + log(ms.y);
    Lse[row] = lse;
    let t = Targets[row];
    var loss = 0.0;
    if (t != u.ignoreIndex) {
      if (t >= 0 && u32(t) < u.classes) {
        loss = lse - Logits[base + u32(t)];
      } else {
        let nanBits = 0x7fc00000u; // a let: a NaN const-expression would not compile
        loss = bitcast<f32>(nanBits);
      }
    }
    Loss[row] = loss;
  }
}
`;
}

/**
 * dlogits[r, c] = dloss[r]·(exp(logits[r, c] − lse[r]) − [c == t_r]), 0 for ignored rows; one
 * invocation per element (no reduction needed). A target out of range that the host could not
 * check never matches a class, so its row gets dloss·softmax (no out-of-bounds access).
 */
export function crossEntropyBackwardWgsl(): string {
  return /* wgsl */ `
struct U { rows: u32, classes: u32, ignoreIndex: i32, total: u32 }
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read> Logits: array<f32>;
@group(0) @binding(2) var<storage, read> Targets: array<i32>;
@group(0) @binding(3) var<storage, read> Lse: array<f32>;
@group(0) @binding(4) var<storage, read> DLoss: array<f32>;
@group(0) @binding(5) var<storage, read_write> DLogits: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * 256u + lid;
  if (i >= u.total) { return; }
  let r = i / u.classes;
  let c = i - r * u.classes;
  let t = Targets[r];
  var g = 0.0;
  if (t != u.ignoreIndex) {
    let p = exp(Logits[i] - Lse[r]);
    g = DLoss[r] * (p - select(0.0, 1.0, t >= 0 && u32(t) == c));
  }
  DLogits[i] = g;
}
`;
}

/**
 * RoPE (rotate-half) over x [rows, length, headDim]: one invocation per rotated pair p = (row · length
 * + t) · half + i; the tables [positions, half] are read at row offset + t; sign −1 for the inverse.
 */
export function ropeWgsl(): string {
  return /* wgsl */ `
struct U { pairs: u32, length: u32, half: u32, offset: u32, sign: f32 }
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read> Cos: array<f32>;
@group(0) @binding(3) var<storage, read> Sin: array<f32>;
@group(0) @binding(4) var<storage, read_write> Out: array<f32>;
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let p = (wid.y * nwg.x + wid.x) * 256u + lid;
  if (p >= u.pairs) { return; }
  let i = p % u.half;
  let rowT = p / u.half;
  let table = (u.offset + rowT % u.length) * u.half + i;
  let c = Cos[table];
  let s = u.sign * Sin[table];
  let base = rowT * 2u * u.half;
  let x1 = X[base + i];
  let x2 = X[base + i + u.half];
  Out[base + i] = x1 * c - x2 * s;
  Out[base + i + u.half] = x2 * c + x1 * s;
}
`;
}
