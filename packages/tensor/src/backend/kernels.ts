/**
 * The typed kernel table: the compute half of the Backend contract (DESIGN §3).
 *
 * Every kernel works on whole, contiguous, row-major buffers named by `BufferId`, with every size
 * given explicitly. The core allocates every output buffer (of the exact size stated here) before
 * it calls a kernel; a kernel only writes. Kernels run in call order. `dtype` is the element type
 * of the floating inputs and outputs (auxiliary outputs such as rstd and lse included); index and
 * mask buffers are always int32. Backward kernels write every element of every gradient output
 * they are given: an element that receives no gradient (an unseen key, a masked slot) is 0.
 *
 * A backend may leave kernels out: the core then composes the op from other kernels where the
 * kernel is one of OPTIONAL_KERNELS, and otherwise throws `UnsupportedKernelError(kernel, backend)`.
 * The reference `cpu` backend implements all of them and is the specification.
 */
import type { DType } from "../dtype.js";

/** A handle to a backend buffer, returned by `Backend.alloc`. */
export type BufferId = number;

/** Elementwise functions of one argument. int32 supports neg, abs, sign, square. */
export const UNARY_OPS = [
  "neg",
  "abs",
  "sign",
  "exp",
  "log",
  "sqrt",
  "rsqrt",
  "square",
  "reciprocal",
  "sin",
  "cos",
  "tanh",
  "sigmoid",
  "silu",
  "softplus",
  "relu",
  "floor",
] as const;
export type UnaryOp = (typeof UNARY_OPS)[number];

/** Arithmetic binary ops keep the dtype; comparisons write int32 0/1. */
export const ARITHMETIC_OPS = ["add", "sub", "mul", "div", "pow", "maximum", "minimum"] as const;
export const COMPARISON_OPS = ["eq", "ne", "lt", "le", "gt", "ge"] as const;
export type ArithmeticOp = (typeof ARITHMETIC_OPS)[number];
export type ComparisonOp = (typeof COMPARISON_OPS)[number];
export type BinaryOp = ArithmeticOp | ComparisonOp;

export const REDUCE_OPS = ["sum", "mean", "max", "min", "argmax", "argmin"] as const;
export type ReduceOp = (typeof REDUCE_OPS)[number];

export type ConvActivation = "none" | "silu";

/** `out[i] = f(x[i])`, i < size. softplus(x) = x for x > 20, else log1p(exp(x)). */
export interface UnaryArgs {
  op: UnaryOp;
  dtype: DType;
  x: BufferId;
  out: BufferId;
  size: number;
}

/**
 * `dx[i] = dy[i] * f'(x[i])` (abs' = sign, relu' = [x > 0], sign' = floor' = 0, softplus' = 1 for
 * x > 20 where softplus is the identity). Float only.
 */
export interface UnaryBackwardArgs {
  op: UnaryOp;
  dtype: DType;
  x: BufferId;
  dy: BufferId;
  dx: BufferId;
  size: number;
}

/**
 * Broadcasting binary map. `out` is contiguous with `shape`; element at multi-index i reads
 * `a[Σ i_d * aStrides[d]]` and `b[Σ i_d * bStrides[d]]` (stride 0 on broadcast axes).
 * int32 `div` truncates toward zero (x / 0 = 0); comparisons write int32 1 or 0.
 */
export interface BinaryArgs {
  op: BinaryOp;
  dtype: DType;
  a: BufferId;
  b: BufferId;
  out: BufferId;
  shape: readonly number[];
  aStrides: readonly number[];
  bStrides: readonly number[];
}

/** `out = cond != 0 ? a : b`, broadcasting like `binary`. cond is int32; a, b, out are `dtype`. */
export interface WhereArgs {
  dtype: DType;
  cond: BufferId;
  a: BufferId;
  b: BufferId;
  out: BufferId;
  shape: readonly number[];
  condStrides: readonly number[];
  aStrides: readonly number[];
  bStrides: readonly number[];
}

/**
 * Reduce x viewed as [outer, size, inner] over the middle axis into out [outer, inner].
 * argmax/argmin write int32 and return the first index on ties. size ≥ 1.
 */
export interface ReduceArgs {
  op: ReduceOp;
  dtype: DType;
  x: BufferId;
  out: BufferId;
  outer: number;
  size: number;
  inner: number;
}

/**
 * Batched matmul: out[b] (m×n) = op(a[b]) (m×k) · op(b[b]) (k×n), out contiguous [batch, m, n].
 * a[b] starts at element b·aBatchStride and is [m, k] row-major, or [k, m] when transA;
 * b[b] starts at b·bBatchStride and is [k, n], or [n, k] when transB. A batch stride of 0
 * broadcasts one matrix over the batch.
 */
export interface MatmulArgs {
  dtype: DType;
  a: BufferId;
  b: BufferId;
  out: BufferId;
  batch: number;
  m: number;
  n: number;
  k: number;
  transA: boolean;
  transB: boolean;
  aBatchStride: number;
  bBatchStride: number;
}

/**
 * Strided copy: for every multi-index i of `shape`,
 * `out[outOffset + Σ i_d·outStrides[d]] = x[xOffset + Σ i_d·xStrides[d]]`.
 * Covers transpose, slice, pad/concat (into a region of out), and broadcast materialisation
 * (x stride 0). Elements of out not addressed are left as they are.
 */
export interface CopyArgs {
  dtype: DType;
  x: BufferId;
  out: BufferId;
  shape: readonly number[];
  xStrides: readonly number[];
  xOffset: number;
  outStrides: readonly number[];
  outOffset: number;
}

/**
 * out[o, j, i] = table[o, indices[j], i] with table viewed [outer, rows, inner], indices int32
 * [count], out [outer, count, inner]. An index outside [0, rows) is an error (RangeError naming
 * the index, its position and `rows`), raised before anything is written.
 */
export interface GatherArgs {
  dtype: DType;
  table: BufferId;
  indices: BufferId;
  out: BufferId;
  outer: number;
  rows: number;
  inner: number;
  count: number;
}

/** out[o, indices[j], i] += updates[o, j, i]; the adjoint of gather. Same index rule. */
export interface ScatterAddArgs {
  dtype: DType;
  updates: BufferId;
  indices: BufferId;
  out: BufferId;
  outer: number;
  rows: number;
  inner: number;
  count: number;
}

/**
 * out[o, indices[j], i] = updates[o, j, i], in place, with out viewed [outer, rows, inner]: the
 * rows no index names keep their values. Writing a token's key into a cache slot whose number
 * lives on the device (a captured decode step) is what it is for. The same index rule as gather;
 * a repeated index receives one of its updates (which one is unspecified: give distinct indices).
 */
export type ScatterArgs = ScatterAddArgs;

/**
 * Element type conversion; float → int32 truncates toward zero (NaN and values outside the int32
 * range are unspecified).
 */
export interface CastArgs {
  from: DType;
  to: DType;
  x: BufferId;
  out: BufferId;
  size: number;
}

/** out[i] = value, i < size. */
export interface FillArgs {
  dtype: DType;
  out: BufferId;
  value: number;
  size: number;
}

/** Row softmax of x [rows, cols] (max-subtracted). */
export interface SoftmaxArgs {
  dtype: DType;
  x: BufferId;
  out: BufferId;
  rows: number;
  cols: number;
}

/** dx = y ⊙ (dy − Σ_cols dy ⊙ y), from the softmax output y. */
export interface SoftmaxBackwardArgs {
  dtype: DType;
  y: BufferId;
  dy: BufferId;
  dx: BufferId;
  rows: number;
  cols: number;
}

/** out = x · rstd · weight with rstd[r] = 1/sqrt(mean(x[r]²) + eps); writes rstd [rows]. */
export interface RmsNormArgs {
  dtype: DType;
  x: BufferId;
  weight: BufferId;
  out: BufferId;
  rstd: BufferId;
  rows: number;
  cols: number;
  eps: number;
}

/**
 * The residual add of a pre-norm block and the RMSNorm after it, in one pass over each row:
 * sum = x + residual (rounded to dtype, as `binary` add writes it), then rmsNorm of sum into out
 * and rstd exactly as `rmsNorm` would compute them from the stored sum. x, residual, sum, out
 * [rows, cols]; weight [cols]; rstd [rows]. Optional: the core composes add + rmsNorm where a
 * backend leaves it out.
 */
export interface AddRmsNormArgs {
  dtype: DType;
  x: BufferId;
  residual: BufferId;
  weight: BufferId;
  sum: BufferId;
  out: BufferId;
  rstd: BufferId;
  rows: number;
  cols: number;
  eps: number;
}
/**
 * SwiGLU's gating: out[i] = silu(gate[i]) · up[i], i < size, with silu(gate[i]) rounded to dtype
 * before the product (as `unary` silu then `binary` mul compute it). Optional: the core composes
 * the two where a backend leaves it out.
 */
export interface SiluMulArgs {
  dtype: DType;
  gate: BufferId;
  up: BufferId;
  out: BufferId;
  size: number;
}
/** Gradients of rmsNorm; dweight [cols] is written (summed over rows), not accumulated. */
export interface RmsNormBackwardArgs {
  dtype: DType;
  x: BufferId;
  weight: BufferId;
  rstd: BufferId;
  dy: BufferId;
  dx: BufferId;
  dweight: BufferId;
  rows: number;
  cols: number;
}

/**
 * Per-row cross-entropy: lse[r] = logsumexp(logits[r]); loss[r] = lse[r] − logits[r, t_r], and
 * loss[r] = 0 where t_r == ignoreIndex. A target outside [0, classes) that is not ignoreIndex is a
 * RangeError. (The mean over non-ignored rows is taken by the core.)
 */
export interface CrossEntropyArgs {
  dtype: DType;
  logits: BufferId;
  targets: BufferId;
  loss: BufferId;
  lse: BufferId;
  rows: number;
  classes: number;
  ignoreIndex: number;
}

/** dlogits[r] = dloss[r] · (softmax(logits[r]) − onehot(t_r)); zero for ignored rows. */
export interface CrossEntropyBackwardArgs {
  dtype: DType;
  logits: BufferId;
  targets: BufferId;
  lse: BufferId;
  dloss: BufferId;
  dlogits: BufferId;
  rows: number;
  classes: number;
  ignoreIndex: number;
}

/**
 * Depthwise causal conv, channels last: x [B, L, C], weight [C, K], bias [C] or null,
 * out[b, t, c] = act(bias[c] + Σ_{j<K} weight[c, j] · x[b, t−K+1+j, c]).
 * Positions t−K+1+j < 0 read initialState [B, K−1, C] (row K−1+(t−K+1+j)), or 0 when null.
 * finalState [B, K−1, C], when not null, receives the last K−1 inputs of the extended sequence
 * [initialState; x] (so it continues the conv with causalConv1dStep).
 */
export interface CausalConv1dArgs {
  dtype: DType;
  x: BufferId;
  weight: BufferId;
  bias: BufferId | null;
  initialState: BufferId | null;
  out: BufferId;
  finalState: BufferId | null;
  batch: number;
  length: number;
  channels: number;
  kernelSize: number;
  activation: ConvActivation;
}

/** Gradients of causalConv1d. dbias / dInitialState are written when not null. */
export interface CausalConv1dBackwardArgs {
  dtype: DType;
  x: BufferId;
  weight: BufferId;
  bias: BufferId | null;
  initialState: BufferId | null;
  dy: BufferId;
  dx: BufferId;
  dweight: BufferId;
  dbias: BufferId | null;
  dInitialState: BufferId | null;
  batch: number;
  length: number;
  channels: number;
  kernelSize: number;
  activation: ConvActivation;
}

/**
 * One decode step: x [B, C] is the new input; state [B, K−1, C] holds the previous K−1 inputs
 * (oldest first) and is updated in place (shifted by one, x appended). out [B, C].
 */
export interface CausalConv1dStepArgs {
  dtype: DType;
  x: BufferId;
  state: BufferId;
  weight: BufferId;
  bias: BufferId | null;
  out: BufferId;
  batch: number;
  channels: number;
  kernelSize: number;
  activation: ConvActivation;
}

/**
 * Mamba-1 selective scan, channels last (E channels, N states):
 *   dt[b,t,e] = delta[b,t,e] + deltaBias[e] (when not null), then softplus(dt) when deltaSoftplus
 *   h[b,e,n]  = exp(dt·A[e,n]) · h[b,e,n] + dt · u[b,t,e] · B[b,t,n]     (h starts at initialState or 0)
 *   y[b,t,e]  = Σ_n C[b,t,n] · h[b,e,n] + D[e] · u[b,t,e]                (D term when D not null)
 *   out       = y · silu(z[b,t,e])                                       (when z not null)
 * u, delta, z, out: [B, L, E]; A: [E, N]; B, C: [B, L, N]; D, deltaBias: [E];
 * initialState, lastState: [B, E, N]. lastState is always written.
 */
export interface SelectiveScanArgs {
  dtype: DType;
  u: BufferId;
  delta: BufferId;
  A: BufferId;
  B: BufferId;
  C: BufferId;
  D: BufferId | null;
  z: BufferId | null;
  deltaBias: BufferId | null;
  deltaSoftplus: boolean;
  initialState: BufferId | null;
  out: BufferId;
  lastState: BufferId;
  batch: number;
  length: number;
  channels: number;
  stateSize: number;
}

/**
 * Gradients of selectiveScan given dOut [B, L, E] and, when not null, dLastState [B, E, N].
 * ddelta is the gradient with respect to the `delta` input (before bias and softplus).
 * dA [E, N], dD [E], dDeltaBias [E] are summed over batch and time. Optional outputs are written
 * when their buffer is not null (dD iff D, dz iff z, dDeltaBias iff deltaBias, dInitialState iff
 * initialState).
 */
export interface SelectiveScanBackwardArgs extends Omit<SelectiveScanArgs, "out" | "lastState"> {
  dOut: BufferId;
  dLastState: BufferId | null;
  du: BufferId;
  ddelta: BufferId;
  dA: BufferId;
  dB: BufferId;
  dC: BufferId;
  dD: BufferId | null;
  dz: BufferId | null;
  dDeltaBias: BufferId | null;
  dInitialState: BufferId | null;
}

/**
 * One decode step of selectiveScan: u, delta, z, out [B, E]; B, C [B, N]; state [B, E, N] is
 * updated in place. The state has `stateDType` when given: float32 with bfloat16 inputs (mixed
 * precision keeps h in float32; only a backend that stores bfloat16 sees it), else `dtype`.
 */
export interface SelectiveScanStepArgs {
  dtype: DType;
  stateDType?: DType;
  u: BufferId;
  delta: BufferId;
  A: BufferId;
  B: BufferId;
  C: BufferId;
  D: BufferId | null;
  z: BufferId | null;
  deltaBias: BufferId | null;
  deltaSoftplus: boolean;
  state: BufferId;
  out: BufferId;
  batch: number;
  channels: number;
  stateSize: number;
}

/**
 * Per-chunk memory keys for attention: k, v [B, Hkv, chunks, slots, Dh]; mask int32 [B, chunks,
 * slots] (nonzero = valid). A query at absolute position p sees the valid slots of chunk
 * floor(p / chunkSize).
 */
export interface AttentionMemory {
  k: BufferId;
  v: BufferId;
  mask: BufferId;
  chunks: number;
  slots: number;
  chunkSize: number;
}

/**
 * One attention for every attention in the project. q [B, H, Lq, Dh]; k, v [B, Hkv, Lk, Dh];
 * head h reads kv head floor(h / (H / Hkv)). Query i has absolute position p = queryOffset + i
 * (queryOffset + Lq ≤ Lk) and sees the in-context keys j with p − window < j ≤ p (window an
 * integer ≥ 1; the core passes at most Lk), plus its
 * chunk's valid memory slots; one softmax over the union, scores scaled by `scale`.
 * Writes out [B, H, Lq, Dh] and lse [B, H, Lq] (natural-log log-sum-exp of the scaled scores;
 * −Infinity and a zero output for a query that sees no key).
 */
export interface AttentionArgs {
  dtype: DType;
  q: BufferId;
  k: BufferId;
  v: BufferId;
  memory: AttentionMemory | null;
  out: BufferId;
  lse: BufferId;
  batch: number;
  heads: number;
  kvHeads: number;
  queryLength: number;
  keyLength: number;
  headDim: number;
  window: number;
  queryOffset: number;
  scale: number;
}

/** Gradients of attention; dMemK/dMemV [B, Hkv, chunks, slots, Dh] are written iff memory. */
export interface AttentionBackwardArgs extends Omit<AttentionArgs, "out" | "lse"> {
  out: BufferId;
  lse: BufferId;
  dOut: BufferId;
  dq: BufferId;
  dk: BufferId;
  dv: BufferId;
  dMemK: BufferId | null;
  dMemV: BufferId | null;
}

/**
 * AdamW step in place (PyTorch's formulation, step ≥ 1):
 *   m = β1 m + (1−β1) g;  v = β2 v + (1−β2) g²;  p −= lr·wd·p;
 *   p −= lr/(1−β1^step) · m / (sqrt(v)/sqrt(1−β2^step) + eps)
 */
export interface AdamwArgs {
  dtype: DType;
  param: BufferId;
  grad: BufferId;
  m: BufferId;
  v: BufferId;
  size: number;
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  step: number;
}

/**
 * Rotary position embedding in the rotate-half layout over x [rows, length, headDim] (rows =
 * batch · heads; headDim even, half = headDim / 2). With p = positionOffset + t, c = cos[p, i] and
 * s = sin[p, i] (tables [positions, half] in x's dtype, positionOffset + length ≤ positions):
 *   out[r, t, i]        = x[r, t, i] · c − x[r, t, i + half] · s
 *   out[r, t, i + half] = x[r, t, i + half] · c + x[r, t, i] · s
 * `inverse` negates s (the transposed rotation: RoPE's backward). out may not alias x.
 */
export interface RopeArgs {
  dtype: DType;
  x: BufferId;
  cos: BufferId;
  sin: BufferId;
  out: BufferId;
  rows: number;
  length: number;
  headDim: number;
  positionOffset: number;
  inverse: boolean;
}

export interface KernelTable {
  unary(args: UnaryArgs): void;
  unaryBackward(args: UnaryBackwardArgs): void;
  binary(args: BinaryArgs): void;
  where(args: WhereArgs): void;
  reduce(args: ReduceArgs): void;
  matmul(args: MatmulArgs): void;
  copy(args: CopyArgs): void;
  gather(args: GatherArgs): void;
  scatterAdd(args: ScatterAddArgs): void;
  scatter(args: ScatterArgs): void;
  cast(args: CastArgs): void;
  fill(args: FillArgs): void;
  softmax(args: SoftmaxArgs): void;
  softmaxBackward(args: SoftmaxBackwardArgs): void;
  rmsNorm(args: RmsNormArgs): void;
  rmsNormBackward(args: RmsNormBackwardArgs): void;
  addRmsNorm(args: AddRmsNormArgs): void;
  siluMul(args: SiluMulArgs): void;
  crossEntropy(args: CrossEntropyArgs): void;
  crossEntropyBackward(args: CrossEntropyBackwardArgs): void;
  causalConv1d(args: CausalConv1dArgs): void;
  causalConv1dBackward(args: CausalConv1dBackwardArgs): void;
  causalConv1dStep(args: CausalConv1dStepArgs): void;
  selectiveScan(args: SelectiveScanArgs): void;
  selectiveScanBackward(args: SelectiveScanBackwardArgs): void;
  selectiveScanStep(args: SelectiveScanStepArgs): void;
  attention(args: AttentionArgs): void;
  attentionBackward(args: AttentionBackwardArgs): void;
  adamw(args: AdamwArgs): void;
  rope(args: RopeArgs): void;
}

export type KernelName = keyof KernelTable;

export const KERNEL_NAMES: readonly KernelName[] = [
  "unary",
  "unaryBackward",
  "binary",
  "where",
  "reduce",
  "matmul",
  "copy",
  "gather",
  "scatterAdd",
  "scatter",
  "cast",
  "fill",
  "softmax",
  "softmaxBackward",
  "rmsNorm",
  "rmsNormBackward",
  "addRmsNorm",
  "siluMul",
  "crossEntropy",
  "crossEntropyBackward",
  "causalConv1d",
  "causalConv1dBackward",
  "causalConv1dStep",
  "selectiveScan",
  "selectiveScanBackward",
  "selectiveScanStep",
  "attention",
  "attentionBackward",
  "adamw",
  "rope",
];

/**
 * Kernels a backend may leave out without losing an op: the core composes them from others
 * (rope from slices and arithmetic, addRmsNorm from add and rmsNorm, siluMul from unary silu and
 * binary mul), with the same values. A backend that has one saves the launches and the passes.
 */
export const OPTIONAL_KERNELS: ReadonlySet<KernelName> = new Set<KernelName>([
  "rope",
  "addRmsNorm",
  "siluMul",
]);
