/**
 * WGSL of the batched float32 matmul, C[b] (m×n) = op(A[b]) (m×k) · op(B[b]) (k×n), row-major.
 *
 * A register-blocked shared-memory SGEMM, generated per tile (`MatmulTile`, the tuning knobs)
 * and per shape class (`MatmulClass`):
 *
 * - A workgroup of (bn/tn) × (bm/tm) invocations computes one bm×bn tile of C; each invocation a
 *   tm×tn block held in scalar registers (`cI_J`), so accumulators are never indexed dynamically.
 * - k is walked in slices of bk. Global reads are vec4s along the contiguous axis, consecutive
 *   across invocations (coalesced 128-bit loads). An operand contiguous along m or n ("k-major":
 *   transposed A, plain B) is stored as read, [k][row/4]. One contiguous along k ("k-minor": plain
 *   A, transposed B) is either stored as read, [row][k/4] with an odd row stride in vec4s (8
 *   consecutive rows hit 8 different 16-byte bank groups), or with `stageKMajor` transposed into
 *   [k][row/4] through registers: an invocation reads a 4×4 block (4 rows × 4 k) and stores its 4
 *   columns as vec4s. Shared stores are whole vec4s; no vector component is indexed dynamically.
 * - The multiply, per 4 values of k: an invocation reads tm + tn vec4s of workgroup memory (one
 *   per owned row of a [row][k/4] slice, one per 4 owned rows and k of a [k][row/4] slice) for
 *   4·tm·tn FMAs. Rows and columns are assigned so that those reads are broadcasts or
 *   consecutive vec4s across a warp: invocation (tx, ty) owns rows ty + i·bm/tm of a [row][k/4]
 *   A slice, rows 4ty + 4i'·bm/tm + c (c < 4) of a [k][row/4] one, and columns likewise with tx.
 *   With `unroll` the bk/4 steps are unrolled in the WGSL, else they are a loop (the driver may
 *   unroll it; lavapipe's LLVM compiles the loop 2–4× faster).
 * - Shared indices are a constant (or the loop's step) plus a term that only depends on the
 *   invocation, so the bounds clamps WebGPU implementations add can be hoisted out of the k loop.
 * - With `prefetch`, the next slice is loaded into registers while the current one is multiplied
 *   (one barrier pair per slice).
 * - Shape classes: an operand is read as vec4 when its rows and batch stride are multiples of 4
 *   (`vecA`, `vecB`), else as 4 scalars; C is written as vec4s when n is a multiple of 4 (`vecC`)
 *   and each invocation owns runs of 4 columns (B staged k-major); bounds checks are emitted only for the dimensions
 *   that are not multiples of the tile (`edgeM`, `edgeN`, `edgeK`), zero-filling past m, n and k.
 *
 * Batch index = workgroup z; tile and batch offsets in the uniforms let the host split grids past
 * the per-dimension limit.
 */

/** One tile configuration. */
export interface MatmulTile {
  /** Output rows and columns per workgroup. */
  bm: number;
  bn: number;
  /** k slice staged in workgroup memory per step (a multiple of 4). */
  bk: number;
  /** Output rows and columns per invocation (multiples of 4): the workgroup is (bn/tn) × (bm/tm). */
  tm: number;
  tn: number;
  /** Load the next k slice into registers while the current one is multiplied. */
  prefetch: boolean;
  /**
   * Stage k-minor operands (plain A, transposed B) k-major in workgroup memory, transposing 4×4
   * blocks through registers: the multiply then holds tm/4 + tn/4 vec4s per k instead of tm (or
   * tn) vec4s per 4 k, at the cost of a quarter of the invocations staging that operand.
   */
  stageKMajor: boolean;
  /** Unroll the multiply's bk/4 steps in the WGSL (else a loop, for the driver to unroll or not). */
  unroll: boolean;
}

/** Compile-time facts about one call besides the tile (see the file comment). */
export interface MatmulClass {
  transA: boolean;
  transB: boolean;
  vecA: boolean;
  vecB: boolean;
  vecC: boolean;
  edgeM: boolean;
  edgeN: boolean;
  edgeK: boolean;
}

const XYZW = ["x", "y", "z", "w"];

/** vec4s per staged row of a k-minor slice: bk/4 rounded up to odd, for conflict-free row reads. */
function kMinorStride(bk: number): number {
  return (bk / 4) | 1;
}

/** How an operand is staged: as laid out globally, or k-minor in global memory but k-major in workgroup memory. */
type Staging = "kMinor" | "kMajor" | "transposed";

function stagingOf(globalKMinor: boolean, t: MatmulTile): Staging {
  if (!globalKMinor) return "kMajor";
  return t.stageKMajor ? "transposed" : "kMinor";
}

/** [rows, vec4s per row] of an operand's staged slice. */
function sharedDims(staging: Staging, outer: number, bk: number): [number, number] {
  if (staging === "kMinor") return [outer, kMinorStride(bk)];
  // Transposing stores write 4 rows of k at once: one vec4 of padding spreads them over banks.
  return [bk, outer / 4 + (staging === "transposed" ? 1 : 0)];
}

/** Workgroup-memory bytes of a tile's staged slices, given the transpose flags. */
export function matmulSharedBytes(t: MatmulTile, transA: boolean, transB: boolean): number {
  const bytes = (s: Staging, outer: number) => {
    const [rows, vecs] = sharedDims(s, outer, t.bk);
    return rows * vecs * 16;
  };
  return bytes(stagingOf(!transA, t), t.bm) + bytes(stagingOf(transB, t), t.bn);
}

/** One operand as the generator sees it. */
interface Operand {
  /** "A" or "B": the binding, shared array `As`/`Bs`, prefetch registers `pA0`… */
  name: "A" | "B";
  /** Contiguous along k in global memory (A plain, B transposed). */
  kMinor: boolean;
  staging: Staging;
  vec: boolean;
  /** Tile extent along m (A) or n (B). */
  outer: number;
  edgeOuter: boolean;
  /** WGSL: the tile's first row / column, the extent along m / n, the batch base. */
  start: string;
  extent: string;
  base: string;
  /** The invocation coordinate along the operand's outer axis, invocations along it, and values per invocation. */
  lane: "tx" | "ty";
  lanes: number;
  per: number;
}

/**
 * Sets `reg` to the 4 elements of an operand that are contiguous in global memory from outer
 * index `o`, k index `kk` (along k for k-minor operands, along m / n otherwise); zeros outside.
 */
function loadVec4(p: Operand, reg: string, o: string, kk: string, edgeK: boolean): string {
  const elem = p.kMinor
    ? `${p.base} + (${o}) * u.k + ${kk}`
    : `${p.base} + (${kk}) * ${p.extent} + ${o}`;
  const along = p.kMinor
    ? { idx: kk, edge: edgeK, ext: "u.k" }
    : { idx: o, edge: p.edgeOuter, ext: p.extent };
  const across = p.kMinor
    ? { idx: o, edge: p.edgeOuter, ext: p.extent }
    : { idx: kk, edge: edgeK, ext: "u.k" };
  const common: string[] = [];
  if (across.edge) common.push(`${across.idx} < ${across.ext}`);
  // Aligned vec4s never straddle the extent; scalar reads check each element.
  if (along.edge && p.vec) common.push(`${along.idx} < ${along.ext}`);
  const perElem = along.edge && !p.vec;
  let load: string;
  if (p.vec) {
    load = `${reg} = ${p.name}[(${elem}) / 4u];`;
  } else if (!perElem) {
    load = `let e = ${elem}; ${reg} = vec4<f32>(${XYZW.map((_, c) => `${p.name}[e + ${c}u]`).join(", ")});`;
  } else {
    const parts = XYZW.map(
      (x, c) => `if (${along.idx} + ${c}u < ${along.ext}) { ${reg}.${x} = ${p.name}[e + ${c}u]; }`,
    );
    load = `let e = ${elem}; ${parts.join(" ")}`;
  }
  const zero = common.length > 0 || perElem ? `${reg} = vec4<f32>(0.0); ` : "";
  return `{ ${zero}${common.length > 0 ? `if (${common.join(" && ")}) { ${load} }` : load} }`;
}

/**
 * Code staging one k slice of an operand: register declarations, global loads (into registers),
 * and shared stores. Slot e = li + l·threads covers one vec4, or with "transposed" staging one
 * 4×4 block (4 rows × 4 k, stored as 4 vec4s along the rows). Consecutive invocations read
 * consecutive vec4s of a global row.
 */
function staging(p: Operand, bk: number, threads: number, edgeK: boolean) {
  const transposed = p.staging === "transposed";
  const rowVecs = p.kMinor ? bk / 4 : p.outer / 4;
  const total = (p.outer * bk) / (transposed ? 16 : 4);
  const decl: string[] = [];
  const fetch: string[] = [];
  const stage: string[] = [];
  for (let l = 0; l * threads < total; l++) {
    const reg = `p${p.name}${l}`;
    const row = `${p.name}r${l}`;
    const v = `${p.name}v${l}`;
    const partial = (l + 1) * threads > total;
    const guard = (s: string) => (partial ? `if (li + ${l * threads}u < ${total}u) { ${s} }` : s);
    decl.push(
      `let ${row} = (li + ${l * threads}u) / ${rowVecs}u;`,
      `let ${v} = (li + ${l * threads}u) % ${rowVecs}u;`,
    );
    if (transposed) {
      // Rows 4·row + rr (rr < 4) at k = 4·v…4·v + 3, stored as Xs[4·v + c][row] = column c.
      const regs = [0, 1, 2, 3].map((rr) => `${reg}_${rr}`);
      decl.push(...regs.map((r) => `var ${r}: vec4<f32>;`));
      const loads = regs.map((r, rr) =>
        loadVec4(p, r, `${p.start} + 4u * ${row} + ${rr}u`, `k0 + 4u * ${v}`, edgeK),
      );
      fetch.push(guard(loads.join(" ")));
      const stores = XYZW.map(
        (x, c) =>
          `${p.name}s[4u * ${v} + ${c}u][${row}] = vec4<f32>(${regs.map((r) => `${r}.${x}`).join(", ")});`,
      );
      stage.push(guard(stores.join(" ")));
    } else {
      decl.push(`var ${reg}: vec4<f32>;`);
      const o = p.kMinor ? `${p.start} + ${row}` : `${p.start} + 4u * ${v}`;
      const kk = p.kMinor ? `k0 + 4u * ${v}` : `k0 + ${row}`;
      fetch.push(guard(loadVec4(p, reg, o, kk, edgeK)));
      stage.push(guard(`${p.name}s[${row}][${v}] = ${reg};`));
    }
  }
  return { decl, fetch, stage };
}

/** Workgroup array of an operand's staged slice. */
function sharedDecl(p: Operand, bk: number): string {
  const [rows, vecs] = sharedDims(p.staging, p.outer, bk);
  return `var<workgroup> ${p.name}s: array<array<vec4<f32>, ${vecs}>, ${rows}>;`;
}

/**
 * The multiply of one staged slice, per 4 values of k (kq): `value(p, idx, q)` names the register
 * holding element idx (along the outer axis) of the operand at k = 4kq + q; k-minor operands load
 * one vec4 per owned row per kq (components = k), k-major ones one vec4 per 4 owned rows per k
 * (components = rows). The kq steps are unrolled in the WGSL (`unroll`) or a loop.
 */
function multiply(a: Operand, b: Operand, t: MatmulTile): string {
  const read = (p: Operand, kq: string, q: number | null): string[] => {
    const lines: string[] = [];
    const letter = p.name.toLowerCase();
    const kMinor = p.staging === "kMinor";
    if (kMinor && q === null) {
      for (let i = 0; i < p.per; i++)
        lines.push(`let ${letter}${i} = ${p.name}s[${p.lane} + ${p.lanes * i}u][${kq}];`);
    } else if (!kMinor && q !== null) {
      for (let i = 0; i < p.per / 4; i++)
        lines.push(
          `let ${letter}${i} = ${p.name}s[4u * ${kq} + ${q}u][${p.lane} + ${p.lanes * i}u];`,
        );
    }
    return lines;
  };
  const value = (p: Operand, idx: number, q: number) => {
    const letter = p.name.toLowerCase();
    return p.staging === "kMinor"
      ? `${letter}${idx}.${XYZW[q]}`
      : `${letter}${idx >> 2}.${XYZW[idx & 3]}`;
  };
  const step = (kq: string): string[] => {
    const out = ["{", ...read(a, kq, null), ...read(b, kq, null)];
    for (let q = 0; q < 4; q++) {
      out.push("{", ...read(a, kq, q), ...read(b, kq, q));
      for (let i = 0; i < t.tm; i++)
        for (let j = 0; j < t.tn; j++)
          out.push(`c${i}_${j} = fma(${value(a, i, q)}, ${value(b, j, q)}, c${i}_${j});`);
      out.push("}");
    }
    out.push("}");
    return out;
  };
  const steps = t.bk / 4;
  const lines = t.unroll
    ? Array.from({ length: steps }, (_, kq) => step(`${kq}u`)).flat()
    : [`for (var kq = 0u; kq < ${steps}u; kq++)`, ...step("kq")];
  return lines.join("\n      ");
}

/** The tile offset of owned row / column idx (k-minor: lane + lanes·idx; k-major: runs of 4). */
function owned(p: Operand, idx: number): string {
  return p.staging === "kMinor"
    ? `${p.lane} + ${p.lanes * idx}u`
    : `4u * ${p.lane} + ${4 * p.lanes * (idx >> 2) + (idx & 3)}u`;
}

export function matmulWgsl(t: MatmulTile, c: MatmulClass): string {
  const { bm, bn, bk, tm, tn } = t;
  const wx = bn / tn;
  const wy = bm / tm;
  const threads = wx * wy;
  const a: Operand = {
    name: "A",
    kMinor: !c.transA,
    staging: stagingOf(!c.transA, t),
    vec: c.vecA,
    outer: bm,
    edgeOuter: c.edgeM,
    start: "row0",
    extent: "u.m",
    base: "aBase",
    lane: "ty",
    lanes: wy,
    per: tm,
  };
  const b: Operand = {
    name: "B",
    kMinor: c.transB,
    staging: stagingOf(c.transB, t),
    vec: c.vecB,
    outer: bn,
    edgeOuter: c.edgeN,
    start: "col0",
    extent: "u.n",
    base: "bBase",
    lane: "tx",
    lanes: wx,
    per: tn,
  };
  const sa = staging(a, bk, threads, c.edgeK);
  const sb = staging(b, bk, threads, c.edgeK);
  const fetch = [...sa.fetch, ...sb.fetch].join("\n    ");
  const stage = [...sa.stage, ...sb.stage].join("\n    ");
  const accs: string[] = [];
  for (let i = 0; i < tm; i++) for (let j = 0; j < tn; j++) accs.push(`var c${i}_${j} = 0.0;`);

  // Store: runs of 4 owned columns as vec4s (B staged k-major, n % 4 = 0) or single elements.
  const vecC = c.vecC && b.staging !== "kMinor";
  const store: string[] = [];
  for (let i = 0; i < tm; i++) {
    store.push(`{ let r = row0 + ${owned(a, i)};`);
    if (c.edgeM) store.push("if (r < u.m) {");
    store.push("let o = outBase + r * u.n;");
    if (vecC) {
      for (let j = 0; j < tn; j += 4) {
        const col = `col0 + ${owned(b, j)}`;
        const v = `vec4<f32>(c${i}_${j}, c${i}_${j + 1}, c${i}_${j + 2}, c${i}_${j + 3})`;
        store.push(
          c.edgeN
            ? `if (${col} < u.n) { C[(o + ${col}) / 4u] = ${v}; }`
            : `C[(o + ${col}) / 4u] = ${v};`,
        );
      }
    } else {
      for (let j = 0; j < tn; j++) {
        const col = `col0 + ${owned(b, j)}`;
        store.push(
          c.edgeN
            ? `if (${col} < u.n) { C[o + ${col}] = c${i}_${j}; }`
            : `C[o + ${col}] = c${i}_${j};`,
        );
      }
    }
    if (c.edgeM) store.push("}");
    store.push("}");
  }
  const elem = (vec: boolean) => (vec ? "vec4<f32>" : "f32");
  const mul = multiply(a, b, t);
  const loop = t.prefetch
    ? `if (nt > 0u) {
    let k0 = 0u;
    ${fetch}
  }
  for (var t = 0u; t < nt; t++) {
    ${stage}
    workgroupBarrier();
    if (t + 1u < nt) {
      let k0 = (t + 1u) * ${bk}u;
      ${fetch}
    }
    ${mul}
    workgroupBarrier();
  }`
    : `for (var t = 0u; t < nt; t++) {
    {
      let k0 = t * ${bk}u;
      ${fetch}
    }
    ${stage}
    workgroupBarrier();
    ${mul}
    workgroupBarrier();
  }`;

  return /* wgsl */ `
struct U {
  m: u32, n: u32, k: u32, aBatchStride: u32,
  bBatchStride: u32, batchOffset: u32, rowTileOffset: u32, colTileOffset: u32,
}
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read> A: array<${elem(c.vecA)}>;
@group(0) @binding(2) var<storage, read> B: array<${elem(c.vecB)}>;
@group(0) @binding(3) var<storage, read_write> C: array<${elem(vecC)}>;

${sharedDecl(a, bk)}
${sharedDecl(b, bk)}

@compute @workgroup_size(${wx}, ${wy})
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(local_invocation_id) lid: vec3<u32>,
  @builtin(local_invocation_index) li: u32,
) {
  let batch = wid.z + u.batchOffset;
  let row0 = (wid.y + u.rowTileOffset) * ${bm}u;
  let col0 = (wid.x + u.colTileOffset) * ${bn}u;
  let aBase = batch * u.aBatchStride;
  let bBase = batch * u.bBatchStride;
  let tx = lid.x;
  let ty = lid.y;
  let nt = (u.k + ${bk - 1}u) / ${bk}u;
  ${accs.join("\n  ")}
  ${[...sa.decl, ...sb.decl].join("\n  ")}

  ${loop}

  let outBase = batch * u.m * u.n;
  ${store.join("\n  ")}
}
`;
}
