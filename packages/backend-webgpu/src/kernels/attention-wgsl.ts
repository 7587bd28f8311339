/**
 * WGSL of the attention kernels (attention.ts dispatches them). Every shader is specialised on
 * the head dim Dh (DH; DH4 = ceil(Dh / 4) vec4 columns, zero-padded) and on its tile sizes.
 *
 * Rows: the rows of one (batch b, kv head g) are the Lq × G query rows of the G = H / Hkv heads
 * that read kv head g, ordered query-major: row r ↔ (query i = r / G, head g·G + r % G). A
 * workgroup of consecutive rows therefore shares its keys across the heads of a GQA group.
 *
 * Scores live in the log2 domain: s2 = (scale·log2 e) · q·k, probabilities exp2(s2 − m2), and
 * the natural-log lse is (m2 + log2 l) · ln 2. No result depends on infinities: "no score yet"
 * is the finite NEG = −1e30, a row that saw no key is told by its zero sum; only the lse output
 * of such a row is −Infinity (a bitcast), and the backward maps it to BIG = 1e30 (so that every
 * probability of it, exp2(s2 − BIG), is 0).
 */

/** The uniform block shared by every attention shader (16 four-byte fields). */
export const UNIFORM_FIELDS = 16;

const UNIFORM_STRUCT = /* wgsl */ `
struct U {
  heads: u32,
  kvHeads: u32,
  group: u32,
  lq: u32,
  lk: u32,
  window: u32,
  off: u32,
  chunks: u32,
  slots: u32,
  chunkSize: u32,
  nsplit: u32,
  rows: u32,
  scaleLog2: f32,
  scale: f32,
  maskBase: u32,
  maskCount: u32,
}
@group(0) @binding(0) var<uniform> u: U;
const NEG: f32 = -1.0e30;
const BIG: f32 = 1.0e30;
const LN2: f32 = 0.6931471805599453;
const LOG2E: f32 = 1.4426950408889634;
// −Infinity's bits in a variable: a constant bitcast to −Infinity does not compile.
var<private> negInfBits: u32 = 0xff800000u;
fn hsum(a: vec4<f32>) -> f32 { return (a.x + a.y) + (a.z + a.w); }
`;

/** vec4 columns of a head dim (at least 1, so that Dh = 0 still compiles). */
export function dh4Of(dh: number): number {
  return Math.max(1, Math.ceil(dh / 4));
}

/** Whether rows of Dh floats can be read as vec4s (every row starts on a 16-byte boundary). */
export function vec4Of(dh: number): boolean {
  return dh > 0 && dh % 4 === 0;
}

interface Buf {
  name: string;
  /** float rows (vec4-able) or a flat array of "f32" / "i32" / "vec4" */
  kind: "rows" | "f32" | "i32" | "vec4";
  write: boolean;
}

/** Bindings 1.. in order, plus row load/store helpers for the "rows" buffers. */
function declare(bufs: readonly Buf[], vec4: boolean): string {
  const lines: string[] = [];
  bufs.forEach((b, i) => {
    const type =
      b.kind === "rows"
        ? vec4
          ? "array<vec4<f32>>"
          : "array<f32>"
        : b.kind === "vec4"
          ? "array<vec4<f32>>"
          : `array<${b.kind}>`;
    const access = b.write ? "read_write" : "read";
    lines.push(`@group(0) @binding(${i + 1}) var<storage, ${access}> ${b.name}: ${type};`);
    if (b.kind !== "rows") return;
    const n = b.name;
    if (b.write) {
      if (vec4) {
        lines.push(`fn st_${n}(base: u32, d4: u32, x: vec4<f32>) { ${n}[(base >> 2u) + d4] = x; }`);
      } else {
        lines.push(`fn st_${n}(base: u32, d4: u32, x: vec4<f32>) {
  let d = d4 * 4u;
  if (d < DH) { ${n}[base + d] = x.x; }
  if (d + 1u < DH) { ${n}[base + d + 1u] = x.y; }
  if (d + 2u < DH) { ${n}[base + d + 2u] = x.z; }
  if (d + 3u < DH) { ${n}[base + d + 3u] = x.w; }
}`);
      }
    } else if (vec4) {
      lines.push(`fn ld_${n}(base: u32, d4: u32) -> vec4<f32> { return ${n}[(base >> 2u) + d4]; }`);
    } else {
      lines.push(`fn ld_${n}(base: u32, d4: u32) -> vec4<f32> {
  let d = d4 * 4u;
  var r = vec4<f32>(0.0);
  if (d < DH) { r.x = ${n}[base + d]; }
  if (d + 1u < DH) { r.y = ${n}[base + d + 1u]; }
  if (d + 2u < DH) { r.z = ${n}[base + d + 2u]; }
  if (d + 3u < DH) { r.w = ${n}[base + d + 3u]; }
  return r;
}`);
    }
  });
  return lines.join("\n");
}

function header(dh: number): string {
  return `const DH: u32 = ${dh}u;\nconst DH4: u32 = ${dh4Of(dh)}u;\n${UNIFORM_STRUCT}`;
}

// ---------------------------------------------------------------------------------------------
// Row kernels: the forward pass and dq
// ---------------------------------------------------------------------------------------------

export interface RowKernelOptions {
  mode: "forward" | "dq";
  dh: number;
  /** Keys per tile staged in workgroup memory (≤ rows). */
  bk: number;
  /** Query rows (invocations) per workgroup. */
  rows: number;
  memory: boolean;
  /** Forward only: write per-split partial states (m, l, o) for the combine pass. */
  split: boolean;
}

/** Workgroup bytes of a row kernel. */
export function rowKernelShared(dh: number, bk: number, memory: boolean): number {
  return 2 * bk * dh4Of(dh) * 16 + (memory ? bk * 4 : 0);
}

/**
 * One invocation per query row (a workgroup of `rows` consecutive rows of one (b, kv head)),
 * looping over the key tiles that the workgroup's rows can see: first the memory slot tiles of
 * the chunks its rows fall in, then the in-context key tiles [pLo − window + 1, pHi]. Each tile's
 * keys and values are staged in workgroup memory and read by every row (a broadcast); each row
 * keeps q (and dOut) and its accumulators in registers and tests visibility per key.
 *
 * forward: online softmax per tile (scores of the tile first, one rescale per tile); with
 *   `split`, workgroup z of nsplit takes a contiguous share of the tile list and writes (m, l, o)
 *   to `part` [nsplit, B·H·Lq, DH4 + 1] (vec4 0 = (m, l, 0, 0)) for the combine kernel.
 * dq: p = exp2(s2 − lse2), ds = p (dOut·v − D), dq += ds k; written × scale.
 */
export function rowKernel(o: RowKernelOptions): string {
  const vec4 = vec4Of(o.dh);
  const fwd = o.mode === "forward";
  const bufs: Buf[] = [
    { name: "q", kind: "rows", write: false },
    { name: "k", kind: "rows", write: false },
    { name: "v", kind: "rows", write: false },
  ];
  if (!fwd) {
    bufs.push({ name: "dOut", kind: "rows", write: false });
    bufs.push({ name: "stats", kind: "f32", write: false });
  }
  if (o.memory) {
    bufs.push({ name: "memK", kind: "rows", write: false });
    bufs.push({ name: "memV", kind: "rows", write: false });
    if (fwd) bufs.push({ name: "mask", kind: "i32", write: false });
  }
  if (fwd) {
    if (o.split) bufs.push({ name: "part", kind: "vec4", write: true });
    else {
      bufs.push({ name: "out", kind: "rows", write: true });
      bufs.push({ name: "lse", kind: "f32", write: true });
    }
  } else {
    bufs.push({ name: "dq", kind: "rows", write: true });
  }
  const maskLoad = fwd ? "mask[mi]" : "select(0i, 1i, stats[u.maskBase + mi] != 0.0)";

  const visibility = o.memory
    ? `var vis = false;
        if (isMem) {
          vis = kk < nvalid && myChunk == c && mS[kk] != 0i;
        } else {
          let j = j0 + kk;
          vis = j <= p && p < j + u.window;
        }`
    : `let j = j0 + kk;
        let vis = j <= p && p < j + u.window;`;

  const state = fwd
    ? `var qr: array<vec4<f32>, DH4>;
  var acc: array<vec4<f32>, DH4>;
  for (var d4 = 0u; d4 < DH4; d4 += 1u) {
    qr[d4] = ld_q(rowBase, d4) * u.scaleLog2;
    acc[d4] = vec4<f32>(0.0);
  }
  var m = NEG;
  var l = 0.0;`
    : `var qr: array<vec4<f32>, DH4>;
  var dor: array<vec4<f32>, DH4>;
  var acc: array<vec4<f32>, DH4>;
  for (var d4 = 0u; d4 < DH4; d4 += 1u) {
    qr[d4] = ld_q(rowBase, d4) * u.scaleLog2;
    dor[d4] = ld_dOut(rowBase, d4);
    acc[d4] = vec4<f32>(0.0);
  }
  let lse2 = stats[2u * row];
  let dRow = stats[2u * row + 1u];`;

  const body = fwd
    ? `var sc: array<f32, BK>;
      var tmax = NEG;
      for (var kk = 0u; kk < BK; kk += 1u) {
        ${visibility}
        var s = NEG;
        if (vis) {
          var sa = vec4<f32>(0.0);
          for (var d4 = 0u; d4 < DH4; d4 += 1u) {
            sa += qr[d4] * kS[kk * DH4 + d4];
          }
          s = hsum(sa);
        }
        sc[kk] = s;
        tmax = max(tmax, s);
      }
      if (tmax > NEG) {
        let mNew = max(m, tmax);
        let alpha = exp2(m - mNew);
        l = l * alpha;
        for (var d4 = 0u; d4 < DH4; d4 += 1u) {
          acc[d4] = acc[d4] * alpha;
        }
        for (var kk = 0u; kk < BK; kk += 1u) {
          if (sc[kk] > NEG) {
            let pr = exp2(sc[kk] - mNew);
            l += pr;
            for (var d4 = 0u; d4 < DH4; d4 += 1u) {
              acc[d4] += pr * vS[kk * DH4 + d4];
            }
          }
        }
        m = mNew;
      }`
    : `for (var kk = 0u; kk < BK; kk += 1u) {
        ${visibility}
        if (vis) {
          var sa = vec4<f32>(0.0);
          var pa = vec4<f32>(0.0);
          for (var d4 = 0u; d4 < DH4; d4 += 1u) {
            sa += qr[d4] * kS[kk * DH4 + d4];
            pa += dor[d4] * vS[kk * DH4 + d4];
          }
          let pr = exp2(hsum(sa) - lse2);
          let ds = pr * (hsum(pa) - dRow);
          for (var d4 = 0u; d4 < DH4; d4 += 1u) {
            acc[d4] += ds * kS[kk * DH4 + d4];
          }
        }
      }`;

  const write = fwd
    ? o.split
      ? `let pb = (wid.z * u.rows + row) * (DH4 + 1u);
    part[pb] = vec4<f32>(m, l, 0.0, 0.0);
    for (var d4 = 0u; d4 < DH4; d4 += 1u) {
      part[pb + 1u + d4] = acc[d4];
    }`
      : `if (l > 0.0) {
      let inv = 1.0 / l;
      for (var d4 = 0u; d4 < DH4; d4 += 1u) {
        st_out(rowBase, d4, acc[d4] * inv);
      }
      lse[row] = (m + log2(l)) * LN2;
    } else {
      for (var d4 = 0u; d4 < DH4; d4 += 1u) {
        st_out(rowBase, d4, vec4<f32>(0.0));
      }
      lse[row] = bitcast<f32>(negInfBits);
    }`
    : `for (var d4 = 0u; d4 < DH4; d4 += 1u) {
      st_dq(rowBase, d4, acc[d4] * u.scale);
    }`;

  const memRanges = o.memory
    ? `let slotTiles = (u.slots + BK - 1u) / BK;
  let cLo = pLo / u.chunkSize;
  let nMemTiles = (pHi / u.chunkSize - cLo + 1u) * slotTiles;
  let myChunk = p / u.chunkSize;`
    : "let nMemTiles = 0u;";

  const tileSelect = o.memory
    ? `if (t < nMemTiles) {
      isMem = true;
      c = cLo + t / slotTiles;
      s0 = (t % slotTiles) * BK;
      nvalid = min(BK, u.slots - s0);
      gbase = ((bk * u.chunks + c) * u.slots + s0) * DH;
    } else {
      j0 = jLo + (t - nMemTiles) * BK;
      nvalid = min(BK, pHi + 1u - j0);
      gbase = (bk * u.lk + j0) * DH;
    }`
    : `j0 = jLo + t * BK;
    nvalid = min(BK, pHi + 1u - j0);
    gbase = (bk * u.lk + j0) * DH;`;

  const tileLoad = o.memory
    ? `if (isMem) {
          kx = ld_memK(base, d4);
          vx = ld_memV(base, d4);
        } else {
          kx = ld_k(base, d4);
          vx = ld_v(base, d4);
        }`
    : `kx = ld_k(base, d4);
        vx = ld_v(base, d4);`;

  const maskStage = o.memory
    ? `if (lid.x < BK) {
      var mv = 0i;
      if (isMem && lid.x < nvalid) {
        let mi = (b * u.chunks + c) * u.slots + s0 + lid.x;
        mv = ${maskLoad};
      }
      mS[lid.x] = mv;
    }`
    : "";

  return `${header(o.dh)}
const BK: u32 = ${o.bk}u;
const RW: u32 = ${o.rows}u;
${declare(bufs, vec4)}
var<workgroup> kS: array<vec4<f32>, ${o.bk * dh4Of(o.dh)}>;
var<workgroup> vS: array<vec4<f32>, ${o.bk * dh4Of(o.dh)}>;
${o.memory ? `var<workgroup> mS: array<i32, ${o.bk}>;` : ""}

@compute @workgroup_size(${o.rows})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let bk = wid.y;
  let b = bk / u.kvHeads;
  let kvh = bk % u.kvHeads;
  let G = u.group;
  let nr = u.lq * G;
  let r0 = wid.x * RW;
  let rLast = min(r0 + RW, nr) - 1u;
  let r = r0 + lid.x;
  let alive = r < nr;
  let rr = min(r, rLast);
  let i = rr / G;
  let p = u.off + i;
  let row = (b * u.heads + kvh * G + rr % G) * u.lq + i;
  let rowBase = row * DH;
  let pLo = u.off + r0 / G;
  let pHi = u.off + rLast / G;
  var jLo = 0u;
  if (pLo + 1u > u.window) {
    jLo = pLo + 1u - u.window;
  }
  let nKeyTiles = (pHi - jLo) / BK + 1u;
  ${memRanges}
  let total = nMemTiles + nKeyTiles;
  let per = (total + u.nsplit - 1u) / u.nsplit;
  let tBeg = min(total, wid.z * per);
  let tEnd = min(total, tBeg + per);

  ${state}

  for (var t = tBeg; t < tEnd; t += 1u) {
    var isMem = false;
    var c = 0u;
    var s0 = 0u;
    var j0 = 0u;
    var nvalid = 0u;
    var gbase = 0u;
    ${tileSelect}
    workgroupBarrier();
    for (var e = lid.x; e < BK * DH4; e += RW) {
      let kk = e / DH4;
      let d4 = e % DH4;
      var kx = vec4<f32>(0.0);
      var vx = vec4<f32>(0.0);
      if (kk < nvalid) {
        let base = gbase + kk * DH;
        ${tileLoad}
      }
      kS[e] = kx;
      vS[e] = vx;
    }
    ${maskStage}
    workgroupBarrier();
    if (alive) {
      ${body}
    }
  }

  if (alive) {
    ${write}
  }
}
`;
}

/** Combines the split partial states of the forward pass: one invocation per query row. */
export function combineKernel(dh: number): string {
  const bufs: Buf[] = [
    { name: "part", kind: "vec4", write: false },
    { name: "out", kind: "rows", write: true },
    { name: "lse", kind: "f32", write: true },
  ];
  return `${header(dh)}
${declare(bufs, vec4Of(dh))}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = (wid.y * nwg.x + wid.x) * 64u + lid.x;
  if (row >= u.rows) {
    return;
  }
  var mx = NEG;
  for (var z = 0u; z < u.nsplit; z += 1u) {
    let h = part[(z * u.rows + row) * (DH4 + 1u)];
    if (h.y > 0.0) {
      mx = max(mx, h.x);
    }
  }
  var l = 0.0;
  var acc: array<vec4<f32>, DH4>;
  for (var d4 = 0u; d4 < DH4; d4 += 1u) {
    acc[d4] = vec4<f32>(0.0);
  }
  for (var z = 0u; z < u.nsplit; z += 1u) {
    let pb = (z * u.rows + row) * (DH4 + 1u);
    let h = part[pb];
    if (h.y > 0.0) {
      let w = exp2(h.x - mx);
      l += h.y * w;
      for (var d4 = 0u; d4 < DH4; d4 += 1u) {
        acc[d4] += w * part[pb + 1u + d4];
      }
    }
  }
  let rowBase = row * DH;
  if (l > 0.0) {
    let inv = 1.0 / l;
    for (var d4 = 0u; d4 < DH4; d4 += 1u) {
      st_out(rowBase, d4, acc[d4] * inv);
    }
    lse[row] = (mx + log2(l)) * LN2;
  } else {
    for (var d4 = 0u; d4 < DH4; d4 += 1u) {
      st_out(rowBase, d4, vec4<f32>(0.0));
    }
    lse[row] = bitcast<f32>(negInfBits);
  }
}
`;
}

// ---------------------------------------------------------------------------------------------
// Backward preparation
// ---------------------------------------------------------------------------------------------

/**
 * stats [2·rows + maskCount]: (lse2, D) per query row, lse2 = lse · log2 e (BIG for a row that saw
 * no key) and D = Σ_d dOut · out; then the memory mask as 0/1 floats (so that the dq and memory
 * kernels need one binding fewer).
 */
export function prepKernel(dh: number, memory: boolean): string {
  const bufs: Buf[] = [
    { name: "out", kind: "rows", write: false },
    { name: "dOut", kind: "rows", write: false },
    { name: "lse", kind: "f32", write: false },
  ];
  if (memory) bufs.push({ name: "mask", kind: "i32", write: false });
  bufs.push({ name: "stats", kind: "f32", write: true });
  const maskCopy = memory
    ? `else {
    let mi = idx - u.rows;
    if (mi < u.maskCount) {
      stats[u.maskBase + mi] = select(0.0, 1.0, mask[mi] != 0i);
    }
  }`
    : "";
  return `${header(dh)}
${declare(bufs, vec4Of(dh))}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>) {
  let idx = (wid.y * nwg.x + wid.x) * 64u + lid.x;
  if (idx < u.rows) {
    let base = idx * DH;
    var a = vec4<f32>(0.0);
    for (var d4 = 0u; d4 < DH4; d4 += 1u) {
      a += ld_out(base, d4) * ld_dOut(base, d4);
    }
    let x = lse[idx];
    var l2 = x * LOG2E;
    if (!(x > -3.0e38) || bitcast<u32>(x) == 0xff800000u) {
      l2 = BIG;
    }
    stats[2u * idx] = l2;
    stats[2u * idx + 1u] = hsum(a);
  } ${maskCopy}
}
`;
}

// ---------------------------------------------------------------------------------------------
// Key kernels: dk/dv and dMemK/dMemV
// ---------------------------------------------------------------------------------------------

export interface KeyKernelOptions {
  /** "keys": in-context keys (dk, dv); "memory": memory slots (dMemK, dMemV). */
  mode: "keys" | "memory";
  dh: number;
  /** Keys (invocations) per workgroup. */
  kr: number;
  /** Query rows per staged tile (a multiple of 4). */
  bq: number;
}

/** Workgroup bytes of a key kernel. */
export function keyKernelShared(dh: number, kr: number, bq: number): number {
  const dh4 = dh4Of(dh);
  return 2 * kr * (dh4 + 1) * 16 + 2 * bq * dh4 * 16 + bq * 8;
}

/**
 * One invocation per key (or memory slot), its dk and dv in registers, its own k and v rows in
 * workgroup memory (stride DH4 + 1 against bank conflicts); the query rows that can see the
 * workgroup's keys (across the heads of the GQA group) are staged BQ at a time (q, dOut, lse2, D)
 * and read by every invocation, 4 rows at a time (each load of the invocation's own k, v serves
 * 4 query rows; invisible rows get probability 0). Deterministic: no atomics, every element
 * written once (zero where no query sees the key or the slot is masked).
 *
 * keys: workgroup x = tile of KR keys j; its queries have positions p ∈ [j0, jEnd + window − 1].
 * memory: workgroup x = (chunk c, tile of KR slots); its queries are the positions of chunk c.
 */
export function keyKernel(o: KeyKernelOptions): string {
  const vec4 = vec4Of(o.dh);
  const bufs: Buf[] = [
    { name: "q", kind: "rows", write: false },
    { name: "kx", kind: "rows", write: false },
    { name: "vx", kind: "rows", write: false },
    { name: "dOut", kind: "rows", write: false },
    { name: "stats", kind: "f32", write: false },
    { name: "dkx", kind: "rows", write: true },
    { name: "dvx", kind: "rows", write: true },
  ];
  const dh4 = dh4Of(o.dh);
  const keys = o.mode === "keys";
  const range = keys
    ? `let j0 = wid.x * KR;
  let j = j0 + lid.x;
  let alive = j < u.lk;
  let nvalid = min(KR, u.lk - j0);
  let gbase = (bk * u.lk + j0) * DH;
  let pLo = max(j0, u.off);
  let pHi = min(j0 + nvalid - 1u + u.window - 1u, u.off + u.lq - 1u);
  let live = alive;`
    : `let slotTiles = (u.slots + KR - 1u) / KR;
  let c = wid.x / slotTiles;
  let s0 = (wid.x % slotTiles) * KR;
  let slot = s0 + lid.x;
  let alive = slot < u.slots;
  let nvalid = min(KR, u.slots - s0);
  let gbase = ((bk * u.chunks + c) * u.slots + s0) * DH;
  let pLo = max(c * u.chunkSize, u.off);
  let pHi = min(c * u.chunkSize + u.chunkSize - 1u, u.off + u.lq - 1u);
  var live = false;
  if (alive) {
    live = stats[u.maskBase + (b * u.chunks + c) * u.slots + slot] != 0.0;
  }`;
  const visibility = keys
    ? `let pv = vec4<u32>(u.off) + (vec4<u32>(r0) + qi) / vec4<u32>(G);
        let vis = (qi < vec4<u32>(n)) & (vec4<u32>(j) <= pv) & (pv < vec4<u32>(j + u.window));`
    : "let vis = qi < vec4<u32>(n);";
  return `${header(o.dh)}
const KR: u32 = ${o.kr}u;
const BQ: u32 = ${o.bq}u;
const KS: u32 = DH4 + 1u;
${declare(bufs, vec4)}
var<workgroup> ownK: array<vec4<f32>, ${o.kr * (dh4 + 1)}>;
var<workgroup> ownV: array<vec4<f32>, ${o.kr * (dh4 + 1)}>;
var<workgroup> qS: array<vec4<f32>, ${o.bq * dh4}>;
var<workgroup> dS: array<vec4<f32>, ${o.bq * dh4}>;
var<workgroup> lS: array<f32, ${o.bq}>;
var<workgroup> gS: array<f32, ${o.bq}>;

@compute @workgroup_size(${o.kr})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let bk = wid.y;
  let b = bk / u.kvHeads;
  let kvh = bk % u.kvHeads;
  let G = u.group;
  ${range}

  for (var e = lid.x; e < KR * DH4; e += KR) {
    let kk = e / DH4;
    let d4 = e % DH4;
    var kv = vec4<f32>(0.0);
    var vv = vec4<f32>(0.0);
    if (kk < nvalid) {
      kv = ld_kx(gbase + kk * DH, d4);
      vv = ld_vx(gbase + kk * DH, d4);
    }
    ownK[kk * KS + d4] = kv;
    ownV[kk * KS + d4] = vv;
  }

  var dk: array<vec4<f32>, DH4>;
  var dv: array<vec4<f32>, DH4>;
  for (var d4 = 0u; d4 < DH4; d4 += 1u) {
    dk[d4] = vec4<f32>(0.0);
    dv[d4] = vec4<f32>(0.0);
  }

  var rLo = 0u;
  var rEnd = 0u;
  if (u.lq > 0u && pLo <= pHi) {
    rLo = (pLo - u.off) * G;
    rEnd = (pHi - u.off + 1u) * G;
  }
  let own = lid.x * KS;
  for (var r0 = rLo; r0 < rEnd; r0 += BQ) {
    let n = min(BQ, rEnd - r0);
    workgroupBarrier();
    for (var e = lid.x; e < BQ * DH4; e += KR) {
      let qq = e / DH4;
      let d4 = e % DH4;
      var qv = vec4<f32>(0.0);
      var dv4 = vec4<f32>(0.0);
      if (qq < n) {
        let r = r0 + qq;
        let row = (b * u.heads + kvh * G + r % G) * u.lq + r / G;
        qv = ld_q(row * DH, d4);
        dv4 = ld_dOut(row * DH, d4);
      }
      qS[e] = qv;
      dS[e] = dv4;
    }
    for (var e = lid.x; e < BQ; e += KR) {
      var l2 = 0.0;
      var dd = 0.0;
      if (e < n) {
        let r = r0 + e;
        let row = (b * u.heads + kvh * G + r % G) * u.lq + r / G;
        l2 = stats[2u * row];
        dd = stats[2u * row + 1u];
      }
      lS[e] = l2;
      gS[e] = dd;
    }
    workgroupBarrier();
    if (live) {
      for (var q0 = 0u; q0 < n; q0 += 4u) {
        let qi = vec4<u32>(q0, q0 + 1u, q0 + 2u, q0 + 3u);
        ${visibility}
        if (any(vis)) {
          let b0 = q0 * DH4;
          let b1 = b0 + DH4;
          let b2 = b1 + DH4;
          let b3 = b2 + DH4;
          var s = vec4<f32>(0.0);
          for (var d4 = 0u; d4 < DH4; d4 += 1u) {
            let kk = ownK[own + d4];
            s += vec4<f32>(
              dot(kk, qS[b0 + d4]),
              dot(kk, qS[b1 + d4]),
              dot(kk, qS[b2 + d4]),
              dot(kk, qS[b3 + d4]),
            );
          }
          let l2 = vec4<f32>(lS[q0], lS[q0 + 1u], lS[q0 + 2u], lS[q0 + 3u]);
          let dd = vec4<f32>(gS[q0], gS[q0 + 1u], gS[q0 + 2u], gS[q0 + 3u]);
          let pr = select(vec4<f32>(0.0), exp2(s * u.scaleLog2 - l2), vis);
          var pa = vec4<f32>(0.0);
          for (var d4 = 0u; d4 < DH4; d4 += 1u) {
            let vv = ownV[own + d4];
            let g0 = dS[b0 + d4];
            let g1 = dS[b1 + d4];
            let g2 = dS[b2 + d4];
            let g3 = dS[b3 + d4];
            pa += vec4<f32>(dot(vv, g0), dot(vv, g1), dot(vv, g2), dot(vv, g3));
            dv[d4] += pr.x * g0 + pr.y * g1 + pr.z * g2 + pr.w * g3;
          }
          let ds = pr * (pa - dd);
          for (var d4 = 0u; d4 < DH4; d4 += 1u) {
            dk[d4] += ds.x * qS[b0 + d4] + ds.y * qS[b1 + d4] + ds.z * qS[b2 + d4]
              + ds.w * qS[b3 + d4];
          }
        }
      }
    }
  }

  if (alive) {
    let base = gbase + lid.x * DH;
    for (var d4 = 0u; d4 < DH4; d4 += 1u) {
      st_dkx(base, d4, dk[d4] * u.scale);
      st_dvx(base, d4, dv[d4]);
    }
  }
}
`;
}
