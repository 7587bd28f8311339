/**
 * Batched matmul: out[b] (m×n) = op(a[b]) (m×k) · op(b[b]) (k×n), row-major, float32.
 *
 * A classic shared-memory tiled SGEMM. A workgroup of 16×16 invocations computes one BM×BN tile of
 * the output (BM = 16·TM, BN = 16·TN), each invocation a TM×TN register block held as vec4
 * accumulators. The k axis is walked in slices of BK: every invocation stages a few elements of
 * the BM×BK slice of op(A) and of the BK×BN slice of op(B) into workgroup memory (k-major, so
 * the inner loop reads vec4s of consecutive rows / columns), zero-filling outside m, n and k, so
 * edges need no special path. Transposes only change how a slice is loaded: the element index of
 * the load is split so that consecutive invocations always read consecutive global addresses
 * (along k for a plain A / transposed B, along m / n otherwise). The next slice is fetched into
 * registers while the current one is multiplied (one barrier pair per slice). Invocation (tx, ty)
 * owns rows ty·4 + 64i + (0…3) and columns tx·4 + 64j + (0…3), so its workgroup-memory vec4 reads
 * are contiguous across tx and its stores cover 64 contiguous columns per row of invocations.
 *
 * Two variants: 64×64 tiles (4×4 per invocation, BK 16) for small problems, 128×128 tiles (8×8
 * per invocation, BK 8) when there are enough tiles to fill a large GPU. Both use ~8–9 KB of
 * workgroup memory. The batch index is workgroup z; grids past the per-dimension limit are split
 * into several dispatches with tile/batch offsets in the uniforms.
 */
import type { MatmulArgs } from "@bmojo/tensor";
import { type Runtime, Uniforms } from "../runtime.js";

interface Variant {
  /** Register block per invocation (multiples of 4). */
  tm: number;
  tn: number;
  /** k slice staged per step. */
  bk: number;
}

const SMALL: Variant = { tm: 4, tn: 4, bk: 16 };
const LARGE: Variant = { tm: 8, tn: 8, bk: 8 };
/** Padding of the k-major shared rows (floats), to spread the transposing stores over banks. */
const PAD = 4;

export function matmulWgsl(v: Variant, transA: boolean, transB: boolean): string {
  const { tm, tn, bk } = v;
  const bm = 16 * tm;
  const bn = 16 * tn;
  const bmp = bm + PAD;
  const bnp = bn + PAD;
  const aLoads = (bm * bk) / 256;
  const bLoads = (bn * bk) / 256;
  const tm4 = tm / 4;
  const tn4 = tn / 4;

  // Element e = li + l·256 of a slice → (row or column, k index) such that consecutive
  // invocations read consecutive global addresses; staged k-major in workgroup memory.
  const aSplit = (l: number) =>
    transA
      ? { r: `(li + ${l * 256}u) % ${bm}u`, kk: `(li + ${l * 256}u) / ${bm}u` } // a [k, m]
      : { r: `(li + ${l * 256}u) / ${bk}u`, kk: `(li + ${l * 256}u) % ${bk}u` }; // a [m, k]
  const bSplit = (l: number) =>
    transB
      ? { c: `(li + ${l * 256}u) / ${bk}u`, kk: `(li + ${l * 256}u) % ${bk}u` } // b [n, k]
      : { c: `(li + ${l * 256}u) % ${bn}u`, kk: `(li + ${l * 256}u) / ${bn}u` }; // b [k, n]

  // Global → registers (the next slice, prefetched while the current one is multiplied).
  const fetchA: string[] = [];
  const fetchB: string[] = [];
  const stage: string[] = [];
  for (let l = 0; l < aLoads; l++) {
    const { r, kk } = aSplit(l);
    fetchA.push(`{
      let gr = row0 + ${r};
      let gk = kn + ${kk};
      pa${l} = 0.0;
      if (gr < u.m && gk < u.k) { pa${l} = A[${transA ? "aBase + gk * u.m + gr" : "aBase + gr * u.k + gk"}]; }
    }`);
    stage.push(`{ let s = (${kk}) * ${bmp}u + ${r}; As[s / 4u][s % 4u] = pa${l}; }`);
  }
  for (let l = 0; l < bLoads; l++) {
    const { c, kk } = bSplit(l);
    fetchB.push(`{
      let gc = col0 + ${c};
      let gk = kn + ${kk};
      pb${l} = 0.0;
      if (gc < u.n && gk < u.k) { pb${l} = B[${transB ? "bBase + gc * u.k + gk" : "bBase + gk * u.n + gc"}]; }
    }`);
    stage.push(`{ let s = (${kk}) * ${bnp}u + ${c}; Bs[s / 4u][s % 4u] = pb${l}; }`);
  }
  const fetch = [...fetchA, ...fetchB].join("\n");
  const regs = [
    ...Array.from({ length: aLoads }, (_, l) => `var pa${l} = 0.0;`),
    ...Array.from({ length: bLoads }, (_, l) => `var pb${l} = 0.0;`),
  ].join(" ");

  // Invocation (tx, ty) owns rows ty·4 + i·64 + (0…3) and columns tx·4 + j·64 + (0…3) of the
  // tile: vec4 i of rows / j of columns. Workgroup-memory reads are then contiguous across tx.
  const inner: string[] = [];
  for (let i = 0; i < tm4; i++) inner.push(`let a${i} = As[ao + ${i * 16}u];`);
  for (let j = 0; j < tn4; j++) inner.push(`let b${j} = Bs[bo + ${j * 16}u];`);
  for (let i = 0; i < tm4; i++) {
    for (let c = 0; c < 4; c++) {
      for (let j = 0; j < tn4; j++) {
        const x = (i * 4 + c) * tn4 + j;
        inner.push(`acc[${x}] = fma(vec4<f32>(a${i}[${c}]), b${j}, acc[${x}]);`);
      }
    }
  }

  // Store, unrolled so that acc is only indexed by constants (it stays in registers).
  const store: string[] = [];
  for (let i = 0; i < tm4; i++) {
    for (let c = 0; c < 4; c++) {
      store.push(`if (row0 + ty * 4u + ${i * 64 + c}u < u.m) {`);
      store.push(`  let o = outBase + (row0 + ty * 4u + ${i * 64 + c}u) * u.n;`);
      for (let j = 0; j < tn4; j++) {
        store.push(`  store4(o, col0 + tx * 4u + ${j * 64}u, acc[${(i * 4 + c) * tn4 + j}]);`);
      }
      store.push("}");
    }
  }

  return /* wgsl */ `
struct U {
  m: u32, n: u32, k: u32, aBatchStride: u32,
  bBatchStride: u32, batchOffset: u32, rowTileOffset: u32, colTileOffset: u32,
}
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read> A: array<f32>;
@group(0) @binding(2) var<storage, read> B: array<f32>;
@group(0) @binding(3) var<storage, read_write> C: array<f32>;

// k-major slices: As[kk][row], Bs[kk][col], rows padded by ${PAD} floats, read as vec4.
var<workgroup> As: array<vec4<f32>, ${(bk * bmp) / 4}>;
var<workgroup> Bs: array<vec4<f32>, ${(bk * bnp) / 4}>;

fn store4(rowStart: u32, col: u32, a: vec4<f32>) {
  let o = rowStart + col;
  if (col + 3u < u.n) {
    C[o] = a.x; C[o + 1u] = a.y; C[o + 2u] = a.z; C[o + 3u] = a.w;
  } else {
    if (col < u.n) { C[o] = a.x; }
    if (col + 1u < u.n) { C[o + 1u] = a.y; }
    if (col + 2u < u.n) { C[o + 2u] = a.z; }
  }
}

@compute @workgroup_size(16, 16)
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

  var acc: array<vec4<f32>, ${tm * tn4}>; // zero-initialised
  ${regs}

  {
    let kn = 0u;
    ${fetch}
  }
  for (var k0 = 0u; k0 < u.k; k0 += ${bk}u) {
    ${stage.join("\n    ")}
    workgroupBarrier();
    {
      // Prefetch the next slice (zeros past k) while this one is multiplied.
      let kn = k0 + ${bk}u;
      ${fetch}
    }
    for (var kk = 0u; kk < ${bk}u; kk++) {
      let ao = kk * ${bmp / 4}u + ty;
      let bo = kk * ${bnp / 4}u + tx;
      ${inner.join("\n      ")}
    }
    workgroupBarrier();
  }

  let outBase = batch * u.m * u.n;
  ${store.join("\n  ")}
}
`;
}

/** Tiles of the large variant needed before it is preferred (enough to fill a big GPU). */
const LARGE_MIN_TILES = 264;

export function matmul(rt: Runtime, args: MatmulArgs): void {
  const { dtype, batch, m, n, k, transA, transB, aBatchStride, bBatchStride } = args;
  if (dtype !== "float32") throw new TypeError(`webgpu matmul: dtype ${dtype} is not supported`);
  rt.written(args.out);
  if (batch === 0 || m === 0 || n === 0) return;

  const largeTiles = batch * Math.ceil(m / 128) * Math.ceil(n / 128);
  const v = largeTiles >= LARGE_MIN_TILES && k >= 64 ? LARGE : SMALL;
  const bm = 16 * v.tm;
  const bn = 16 * v.tn;
  const key = `matmul:${v.tm}x${v.tn}x${v.bk}:${transA ? "T" : "N"}${transB ? "T" : "N"}`;
  const code = () => matmulWgsl(v, transA, transB);
  const buffers = [rt.buffer(args.a), rt.buffer(args.b), rt.buffer(args.out)];

  const max = rt.device.limits.maxComputeWorkgroupsPerDimension;
  const colTiles = Math.ceil(n / bn);
  const rowTiles = Math.ceil(m / bm);
  for (let b0 = 0; b0 < batch; b0 += max) {
    const bz = Math.min(max, batch - b0);
    for (let r0 = 0; r0 < rowTiles; r0 += max) {
      const ry = Math.min(max, rowTiles - r0);
      for (let c0 = 0; c0 < colTiles; c0 += max) {
        const cx = Math.min(max, colTiles - c0);
        const uniforms = new Uniforms(8)
          .u32(m)
          .u32(n)
          .u32(k)
          .u32(aBatchStride)
          .u32(bBatchStride)
          .u32(b0)
          .u32(r0)
          .u32(c0)
          .buffer();
        rt.dispatch({ key, code, buffers, uniforms, workgroups: [cx, ry, bz] });
      }
    }
  }
}
