/**
 * Fused routines against naive compositions of primitive ops, on the backend under test:
 * attention against softmax(QKᵀ + mask)V, selectiveScan against the recurrence written with
 * elementwise ops, causalConv1d against shifted slices, the one-token step kernels against
 * the parallel forms, rmsNorm / addRmsNorm / siluMul / softmax / crossEntropy / adamw against
 * their formulas.
 */
import type { Backend } from "../backend/backend.js";
import type { DType } from "../dtype.js";
import { tidy } from "../engine.js";
import { attention } from "../ops/attention-op.js";
import { full } from "../ops/creation.js";
import * as ew from "../ops/elementwise.js";
import { gather } from "../ops/indexing.js";
import { matmul } from "../ops/matmul.js";
import { addRmsNorm, crossEntropy, logSoftmax, rmsNorm, softmax } from "../ops/nn-ops.js";
import { adamw } from "../ops/optim-ops.js";
import { max, mean, sum } from "../ops/reduction.js";
import {
  causalConv1d,
  causalConv1dStep,
  selectiveScan,
  selectiveScanStep,
} from "../ops/sequence-ops.js";
import * as so from "../ops/shape-ops.js";
import { Random } from "../random.js";
import type { Tensor } from "../tensor.js";
import { assertClose } from "./compare.js";
import { type InputSpec, drawInput, intTensor, seedOf, toTensor } from "./inputs.js";
import {
  type ConformanceCase,
  type ConformanceContext,
  TOLERANCE,
  type Tolerance,
  requireDType,
} from "./types.js";

interface FusedSpec {
  readonly name: string;
  readonly inputs: readonly InputSpec[];
  /** The fused routine and its composition; each returns the tensors to compare, in order. */
  readonly fused: (x: Record<string, Tensor>) => readonly Tensor[];
  readonly composed: (x: Record<string, Tensor>) => readonly Tensor[];
  readonly tol?: Partial<Record<DType, Tolerance>>;
}

const input = (name: string, shape: readonly number[], kind?: InputSpec["kind"]): InputSpec => ({
  name,
  shape,
  kind,
});

async function checkFused(spec: FusedSpec, dtype: DType, ctx: ConformanceContext): Promise<void> {
  requireDType(ctx, dtype);
  const rng = new Random(seedOf(spec.name));
  const host = spec.inputs.map((s) => drawInput(s, rng));
  const make = (backend: Backend): Record<string, Tensor> =>
    Object.fromEntries(spec.inputs.map((s, i) => [s.name, toTensor(s, host[i], dtype, backend)]));
  const [fused, composed] = tidy(() => [
    spec.fused(make(ctx.backend)),
    spec.composed(make(ctx.backend)),
  ]);
  try {
    if (fused.length !== composed.length)
      throw new Error(`${spec.name}: ${fused.length} vs ${composed.length} outputs`);
    const tol = spec.tol?.[dtype] ?? TOLERANCE[dtype];
    for (let i = 0; i < fused.length; i++) {
      assertClose(
        `${spec.name} output ${i} (${dtype})`,
        await fused[i].data(),
        await composed[i].data(),
        tol,
      );
    }
  } finally {
    for (const t of [...fused, ...composed]) t.dispose();
  }
}

/** silu(x) = x·sigmoid(x), composed. */
const siluComposed = (x: Tensor): Tensor => ew.mul(x, ew.sigmoid(x));
/** softplus(x) = log(1 + exp(x)), composed (inputs here stay far below the linear threshold). */
const softplusComposed = (x: Tensor): Tensor => ew.log(ew.add(ew.exp(x), 1));

/** out[b,t,c] = act(bias[c] + Σ_j w[c,j]·x[b,t−K+1+j,c]) from left-padded slices. */
function convComposed(
  x: Tensor,
  w: Tensor,
  bias: Tensor | null,
  h0: Tensor | null,
  silu: boolean,
): Tensor {
  const [batch, length, channels] = x.shape;
  const k = w.shape[1];
  const left = h0 ?? full([batch, k - 1, channels], 0, { dtype: x.dtype, backend: x.backend });
  const padded = so.concat([left, x], 1);
  let out: Tensor = bias
    ? so.broadcastTo(bias, x.shape)
    : full(x.shape, 0, { dtype: x.dtype, backend: x.backend });
  for (let j = 0; j < k; j++) {
    const tap = so.reshape(so.slice(w, [0, j], [channels, 1]), [channels]);
    out = ew.add(out, ew.mul(so.slice(padded, [0, j, 0], [batch, length, channels]), tap));
  }
  return silu ? siluComposed(out) : out;
}

/** The selective-scan recurrence, one time step at a time, with elementwise ops. */
function scanComposed(
  x: Record<string, Tensor>,
  options: { gate: boolean; softplus: boolean },
): Tensor[] {
  const { u, delta, A, B, C, D, z, bias, h0 } = x;
  const [batch, length, channels] = u.shape;
  const n = A.shape[1];
  const at = (t: Tensor, i: number, width: number) =>
    so.reshape(so.slice(t, [0, i, 0], [batch, 1, width]), [batch, width]);
  let h = h0 ?? full([batch, channels, n], 0, { dtype: u.dtype, backend: u.backend });
  const ys: Tensor[] = [];
  for (let t = 0; t < length; t++) {
    let dt = at(delta, t, channels);
    if (bias) dt = ew.add(dt, bias);
    if (options.softplus) dt = softplusComposed(dt);
    const dt3 = so.reshape(dt, [batch, channels, 1]);
    const ut = at(u, t, channels);
    const decay = ew.exp(ew.mul(dt3, A));
    const input = ew.mul(
      so.reshape(ew.mul(dt, ut), [batch, channels, 1]),
      so.reshape(at(B, t, n), [batch, 1, n]),
    );
    h = ew.add(ew.mul(decay, h), input);
    let y = sum(ew.mul(h, so.reshape(at(C, t, n), [batch, 1, n])), -1);
    if (D) y = ew.add(y, ew.mul(ut, D));
    if (options.gate) y = ew.mul(y, siluComposed(at(z, t, channels)));
    ys.push(y);
  }
  return [so.stack(ys, 1), h];
}

/**
 * Attention as softmax(scale·[QKᵀ | Q·memKᵀ] + mask)·[V | memV] with explicit masks, the kv
 * heads repeated for grouped-query attention and each query's chunk memory gathered.
 */
function attentionComposed(
  x: Record<string, Tensor>,
  window: number,
  chunkSize: number | null,
  queryOffset: number,
): Tensor {
  const { q, k, v, mk, mv, mask } = x;
  const [batch, heads, lq, dh] = q.shape;
  const [, kvHeads, lk] = k.shape;
  const groups = heads / kvHeads;
  const headIndex = intTensor(
    Array.from({ length: heads }, (_, h) => Math.floor(h / groups)),
    [heads],
    q.backend,
  );
  const kh = gather(k, headIndex, 1);
  const vh = gather(v, headIndex, 1);
  const scale = 1 / Math.sqrt(dh);
  const visible: number[] = [];
  for (let i = 0; i < lq; i++) {
    const p = queryOffset + i;
    for (let j = 0; j < lk; j++) visible.push(j <= p && j > p - window ? 1 : 0);
  }
  const ctxMask = intTensor(visible, [lq, lk], q.backend);
  const negInf = full([], Number.NEGATIVE_INFINITY, { dtype: q.dtype, backend: q.backend });
  const scores = ew.where(ctxMask, ew.mul(matmul(q, kh, { transposeB: true }), scale), negInf);
  if (chunkSize === null) return matmul(softmax(scores, -1), vh);
  const chunkOf = Array.from({ length: lq }, (_, i) => Math.floor((queryOffset + i) / chunkSize));
  const chunkIndex = intTensor(chunkOf, [lq], q.backend);
  // [B, Hkv, Lq, M, Dh] → per-head [B, H, Lq, M, Dh]
  const memK = gather(gather(mk, chunkIndex, 2), headIndex, 1);
  const memV = gather(gather(mv, chunkIndex, 2), headIndex, 1);
  const memMask = so.reshape(gather(mask, chunkIndex, 1), [batch, 1, lq, mk.shape[3]]);
  const memScores = ew.mul(sum(ew.mul(so.reshape(q, [batch, heads, lq, 1, dh]), memK), -1), scale);
  const p = softmax(so.concat([scores, ew.where(memMask, memScores, negInf)], 3), -1);
  // In-context values through a matmul; each query's memory values through a weighted sum.
  const [pCtx, pMem] = so.split(p, [lk, mk.shape[3]], 3);
  const memOut = sum(ew.mul(so.reshape(pMem, [batch, heads, lq, mk.shape[3], 1]), memV), 3);
  return ew.add(matmul(pCtx, vh), memOut);
}

function specs(): FusedSpec[] {
  const list: FusedSpec[] = [
    {
      name: "fused/softmax = exp(x − max) / Σ",
      inputs: [input("x", [4, 9])],
      fused: ({ x }) => [softmax(x)],
      composed: ({ x }) => {
        const e = ew.exp(ew.sub(x, max(x, -1, true)));
        return [ew.div(e, sum(e, -1, true))];
      },
    },
    {
      name: "fused/rmsNorm = x·rsqrt(mean(x²)+eps)·w",
      inputs: [input("x", [3, 2, 16]), input("w", [16])],
      fused: ({ x, w }) => [rmsNorm(x, w, 1e-5)],
      composed: ({ x, w }) => [
        ew.mul(ew.mul(x, ew.rsqrt(ew.add(mean(ew.square(x), -1, true), 1e-5))), w),
      ],
    },
    {
      name: "fused/addRmsNorm = (x + r, rmsNorm(x + r))",
      inputs: [input("x", [3, 2, 16]), input("r", [3, 2, 16]), input("w", [16])],
      fused: ({ x, r, w }) => {
        const { sum, out } = addRmsNorm(x, r, w, 1e-5);
        return [sum, out];
      },
      composed: ({ x, r, w }) => {
        const sum = ew.add(x, r);
        return [sum, rmsNorm(sum, w, 1e-5)];
      },
    },
    {
      name: "fused/siluMul = silu(gate)·up",
      inputs: [input("gate", [4, 33]), input("up", [4, 33])],
      fused: ({ gate, up }) => [ew.siluMul(gate, up)],
      composed: ({ gate, up }) => [ew.mul(ew.silu(gate), up)],
    },
    {
      name: "fused/crossEntropy = −mean(logSoftmax picked), ignored rows skipped",
      inputs: [
        input("logits", [5, 7]),
        input("t", [5], { values: [3, -100, 0, 6, -100], int: true }),
      ],
      fused: ({ logits, t }) => [
        crossEntropy(logits, t),
        crossEntropy(logits, t, { reduction: "none" }),
      ],
      composed: ({ logits }) => {
        // Rows 0, 2, 3 pick classes 3, 0, 6: flat indices 3, 14, 27; rows 1 and 4 are ignored.
        const picked = gather(
          so.reshape(logSoftmax(logits), [35]),
          intTensor([3, 14, 27], [3], logits.backend),
        );
        const perRow = intTensor(
          [1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0],
          [5, 3],
          logits.backend,
        );
        const rows = so.reshape(
          matmul(ew.cast(perRow, logits.dtype), so.reshape(ew.neg(picked), [3, 1])),
          [5],
        );
        return [ew.div(sum(ew.neg(picked)), 3), rows];
      },
    },
  ];
  for (const [b, l, c, k, silu, withBias, withState] of [
    [2, 7, 3, 4, true, true, true],
    [1, 5, 2, 3, false, false, false],
    [2, 2, 4, 4, true, true, false],
  ] as const) {
    const tag = `B=${b} L=${l} C=${c} K=${k}${silu ? " silu" : ""}${withBias ? " bias" : ""}${withState ? " initialState" : ""}`;
    const inputs = [
      input("x", [b, l, c]),
      input("w", [c, k]),
      input("bias", [c]),
      input("h0", [b, k - 1, c]),
    ];
    list.push({
      name: `fused/causalConv1d = Σ shifted slices, ${tag}`,
      inputs,
      fused: (x) => {
        const r = causalConv1d(x.x, x.w, {
          bias: withBias ? x.bias : null,
          initialState: withState ? x.h0 : null,
          activation: silu ? "silu" : "none",
        });
        return [r.out];
      },
      composed: (x) => [
        convComposed(x.x, x.w, withBias ? x.bias : null, withState ? x.h0 : null, silu),
      ],
    });
    list.push({
      name: `fused/causalConv1dStep loop = causalConv1d, ${tag}`,
      inputs,
      fused: (x) => {
        const opts = {
          bias: withBias ? x.bias : null,
          activation: silu ? ("silu" as const) : ("none" as const),
        };
        const state = withState
          ? ew.clone(x.h0)
          : full([b, k - 1, c], 0, { dtype: x.x.dtype, backend: x.x.backend });
        const steps: Tensor[] = [];
        for (let t = 0; t < l; t++) {
          steps.push(
            causalConv1dStep(
              so.reshape(so.slice(x.x, [0, t, 0], [b, 1, c]), [b, c]),
              state,
              x.w,
              opts,
            ),
          );
        }
        return [so.stack(steps, 1), state];
      },
      composed: (x) => {
        const r = causalConv1d(x.x, x.w, {
          bias: withBias ? x.bias : null,
          initialState: withState ? x.h0 : null,
          activation: silu ? "silu" : "none",
          returnFinalState: true,
        });
        return [r.out, r.finalState as Tensor];
      },
    });
  }
  for (const [b, l, e, n, all] of [
    [2, 9, 3, 4, true],
    [1, 6, 5, 16, false],
  ] as const) {
    const tag = `B=${b} L=${l} E=${e} N=${n}${all ? " D z deltaBias softplus initialState" : ""}`;
    const inputs = [
      input("u", [b, l, e]),
      input("delta", [b, l, e], all ? "normal" : "positive"),
      input("A", [e, n], "negative"),
      input("B", [b, l, n]),
      input("C", [b, l, n]),
      input("D", [e]),
      input("z", [b, l, e]),
      input("bias", [e]),
      input("h0", [b, e, n]),
    ];
    const pick = (x: Record<string, Tensor>) =>
      all ? x : { u: x.u, delta: x.delta, A: x.A, B: x.B, C: x.C };
    const options = (x: Record<string, Tensor>) =>
      all ? { D: x.D, z: x.z, deltaBias: x.bias, deltaSoftplus: true, initialState: x.h0 } : {};
    list.push({
      name: `fused/selectiveScan = recurrence of elementwise ops, ${tag}`,
      inputs,
      fused: (x) => {
        const r = selectiveScan(x.u, x.delta, x.A, x.B, x.C, options(x));
        return [r.out, r.lastState];
      },
      composed: (x) => scanComposed(pick(x), { gate: all, softplus: all }),
    });
    list.push({
      name: `fused/selectiveScanStep loop = selectiveScan, ${tag}`,
      inputs,
      fused: (x) => {
        const state = all
          ? ew.clone(x.h0)
          : full([b, e, n], 0, { dtype: x.u.dtype, backend: x.u.backend });
        const at = (t: Tensor, i: number, w: number) =>
          so.reshape(so.slice(t, [0, i, 0], [b, 1, w]), [b, w]);
        const outs: Tensor[] = [];
        for (let t = 0; t < l; t++) {
          const stepOptions = all
            ? { D: x.D, z: at(x.z, t, e), deltaBias: x.bias, deltaSoftplus: true }
            : {};
          outs.push(
            selectiveScanStep(
              state,
              at(x.u, t, e),
              at(x.delta, t, e),
              x.A,
              at(x.B, t, n),
              at(x.C, t, n),
              stepOptions,
            ),
          );
        }
        return [so.stack(outs, 1), state];
      },
      composed: (x) => {
        const r = selectiveScan(x.u, x.delta, x.A, x.B, x.C, options(x));
        return [r.out, r.lastState];
      },
    });
  }
  const attentionConfigs: [
    string,
    number[],
    number[],
    number,
    number | null,
    number[] | null,
    number,
  ][] = [
    ["full causal, 4 heads", [2, 4, 6, 8], [2, 4, 6, 8], 6, null, null, 0],
    ["window 3 < L, GQA 4→2", [1, 4, 9, 4], [1, 2, 9, 4], 3, null, null, 0],
    ["window ≥ L equals full", [1, 2, 5, 3], [1, 2, 5, 3], 50, null, null, 0],
    ["queries after an offset, window 4", [2, 2, 3, 4], [2, 1, 10, 4], 4, null, null, 7],
    ["window 3 + per-chunk memory, partly masked", [2, 2, 7, 4], [2, 2, 7, 4], 3, 3, [2, 3, 2], 0],
  ];
  for (const [desc, qShape, kShape, window, chunkSize, memShape, queryOffset] of attentionConfigs) {
    const [batch, , , dh] = qShape;
    const inputs = [input("q", qShape), input("k", kShape), input("v", kShape)];
    if (memShape) {
      const [chunks, slots] = [memShape[1], memShape[2]];
      const mem = [batch, kShape[1], chunks, slots, dh];
      const maskValues = Array.from({ length: batch * chunks * slots }, (_, i) =>
        i % 3 === 1 || Math.floor(i / slots) === 1 ? 0 : 1,
      );
      inputs.push(
        input("mk", mem),
        input("mv", mem),
        input("mask", [batch, chunks, slots], { values: maskValues, int: true }),
      );
    }
    list.push({
      name: `fused/attention = softmax(QKᵀ + mask)V, ${desc}`,
      inputs,
      fused: (x) => [
        attention(x.q, x.k, x.v, {
          window,
          queryOffset,
          memory: chunkSize === null ? null : { k: x.mk, v: x.mv, mask: x.mask, chunkSize },
        }).out,
      ],
      composed: (x) => [attentionComposed(x, window, chunkSize, queryOffset)],
    });
  }
  list.push({
    name: "fused/adamw = the PyTorch AdamW formula",
    inputs: [input("p", [13]), input("g", [13]), input("m", [13]), input("v", [13], "positive")],
    fused: ({ p, g, m, v }) => {
      const [pc, mc, vc] = [ew.clone(p), ew.clone(m), ew.clone(v)];
      adamw(pc, g, mc, vc, {
        lr: 0.01,
        beta1: 0.9,
        beta2: 0.99,
        eps: 1e-8,
        weightDecay: 0.1,
        step: 3,
      });
      return [pc, mc, vc];
    },
    composed: ({ p, g, m, v }) => {
      const m2 = ew.add(ew.mul(m, 0.9), ew.mul(g, 0.1));
      const v2 = ew.add(ew.mul(v, 0.99), ew.mul(ew.square(g), 0.01));
      const bc1 = 1 - 0.9 ** 3;
      const bc2 = 1 - 0.99 ** 3;
      const decayed = ew.mul(p, 1 - 0.01 * 0.1);
      const denom = ew.add(ew.div(ew.sqrt(v2), Math.sqrt(bc2)), 1e-8);
      return [ew.sub(decayed, ew.mul(ew.div(m2, denom), 0.01 / bc1)), m2, v2];
    },
  });
  return list;
}

/** Each fused routine against its composition, in float32 and (where supported) float64. */
export function fusedCases(): ConformanceCase[] {
  return specs().flatMap((spec) =>
    (["float32", "float64"] as const).map((dtype) => ({
      name: `${spec.name} ${dtype}`,
      group: "fused" as const,
      run: (ctx: ConformanceContext) => checkFused(spec, dtype, ctx),
    })),
  );
}
