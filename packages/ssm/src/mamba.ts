/**
 * The Mamba-1 mixer (mamba_ssm's `Mamba` block, `mamba_simple.py`), channels last:
 *
 *   x, z         = split(in_proj(u), [E, E])
 *   x            = silu(causal depthwise conv1d(x))
 *   dt_low, B, C = split(x_proj(x), [R, N, N])
 *   dt           = softplus(dt_proj(dt_low))              (the bias is fused into the scan)
 *   y            = selectiveScan(x, dt, A = −exp(A_log), B, C, D) · silu(z)
 *   out          = out_proj(y)
 *
 * Parameter names, shapes and initialisation follow mamba_ssm, so checkpoints carry over. The
 * parallel `forward` takes and returns a `MambaState`, so prefill can run in chunks and `step`
 * continues exactly where a forward stopped.
 */
import {
  Linear,
  Module,
  type InitOptions,
  assertPositiveInt,
  castToCompute,
  meetsBfloat16,
} from "@bmojo/nn";
import {
  type Backend,
  type CausalConv1dResult,
  type DType,
  type Random,
  type Tensor,
  assignHost,
  cast,
  bytesPerElement,
  causalConv1d,
  causalConv1dStep,
  exp,
  formatShape,
  keep,
  matmul,
  neg,
  reshape,
  selectiveScan,
  selectiveScanStep,
  split,
  tensor,
  tidy,
  zeros,
} from "@bmojo/tensor";

/** Hyper-parameters of a Mamba mixer; every field but dModel has mamba_ssm's default. */
export interface MambaConfig {
  /** Model width d (input and output features). */
  dModel: number;
  /** SSM state size N per channel. Default 16. */
  dState?: number;
  /** Causal convolution width K. Default 4. */
  dConv?: number;
  /** Inner width E = expand · dModel (must be an integer). Default 2. */
  expand?: number;
  /** Rank R of the low-rank Δ projection. Default ceil(dModel / 16). */
  dtRank?: number;
  /** Smallest initial step size Δ. Default 0.001. */
  dtMin?: number;
  /** Largest initial step size Δ. Default 0.1. */
  dtMax?: number;
  /** Initial step sizes are clamped to at least this. Default 1e-4. */
  dtInitFloor?: number;
}

/** A MambaConfig with every default filled in, plus the inner width E. */
export interface ResolvedMambaConfig extends Required<MambaConfig> {
  /** E = expand · dModel. */
  dInner: number;
}

/**
 * The recurrent state of one Mamba mixer for a batch: enough to continue a sequence exactly.
 * Both tensors have the dtype of the inputs and the model's backend, except that bfloat16 inputs
 * (float32 parameters in mixed precision) keep the SSM state h in float32: a step adds dt·B·x
 * increments far below one bfloat16 step of a slowly decaying h (mamba_ssm keeps it float32 too).
 */
export interface MambaState {
  /** The last K−1 pre-convolution inputs x (oldest first), [B, K−1, E]. */
  conv: Tensor;
  /** The SSM state h, [B, E, N]. */
  ssm: Tensor;
}

/** Options of `Mamba.forward`. */
export interface MambaForwardOptions {
  /** The state to continue from (zeros when absent). It is read, not modified or disposed. */
  state?: MambaState;
}

/** The result of `Mamba.forward`. */
export interface MambaForwardResult {
  /** [B, L, dModel]. */
  out: Tensor;
  /**
   * The state after the last token: new tensors the caller owns (dispose with `disposeState`).
   * state.conv carries no gradient (causalConv1d's final state has none); state.ssm does.
   */
  state: MambaState;
}

/** The parameter names of a Mamba mixer, in the order of the conventions (and of `namedParameters`). */
export const MAMBA_PARAMETER_NAMES = [
  "in_proj.weight",
  "conv1d.weight",
  "conv1d.bias",
  "x_proj.weight",
  "dt_proj.weight",
  "dt_proj.bias",
  "A_log",
  "D",
  "out_proj.weight",
] as const;

const OWNER = "Mamba";

function assertPositiveFinite(field: string, value: number): void {
  if (!Number.isFinite(value) || value <= 0) {
    throw new RangeError(`${OWNER}: ${field} must be a positive finite number, got ${value}.`);
  }
}

/** Fills in the defaults and validates every field; errors name the field. */
export function resolveMambaConfig(config: MambaConfig): ResolvedMambaConfig {
  const { dModel } = config;
  assertPositiveInt(OWNER, "dModel", dModel);
  const resolved = {
    dModel,
    dState: config.dState ?? 16,
    dConv: config.dConv ?? 4,
    expand: config.expand ?? 2,
    dtRank: config.dtRank ?? Math.ceil(dModel / 16),
    dtMin: config.dtMin ?? 0.001,
    dtMax: config.dtMax ?? 0.1,
    dtInitFloor: config.dtInitFloor ?? 1e-4,
  };
  assertPositiveInt(OWNER, "dState", resolved.dState);
  assertPositiveInt(OWNER, "dConv", resolved.dConv);
  assertPositiveInt(OWNER, "dtRank", resolved.dtRank);
  assertPositiveFinite("expand", resolved.expand);
  const dInner = resolved.expand * dModel;
  if (!Number.isInteger(dInner)) {
    throw new RangeError(
      `${OWNER}: expand · dModel must be an integer (the inner width), got expand ${resolved.expand} · dModel ${dModel} = ${dInner}.`,
    );
  }
  assertPositiveFinite("dtMin", resolved.dtMin);
  assertPositiveFinite("dtMax", resolved.dtMax);
  if (resolved.dtMax < resolved.dtMin) {
    throw new RangeError(
      `${OWNER}: dtMax must be at least dtMin, got dtMin ${resolved.dtMin} and dtMax ${resolved.dtMax}.`,
    );
  }
  if (!Number.isFinite(resolved.dtInitFloor) || resolved.dtInitFloor < 0) {
    throw new RangeError(
      `${OWNER}: dtInitFloor must be a non-negative finite number, got ${resolved.dtInitFloor}.`,
    );
  }
  return { ...resolved, dInner };
}

/**
 * A depthwise causal convolution with PyTorch Conv1d's parameter layout (mamba_ssm's `conv1d`):
 * weight [C, 1, K] (tap K−1 multiplies the current token) and bias [C], both initialised
 * uniform in ±1/sqrt(K) (PyTorch's default for fan-in K).
 */
export class DepthwiseConv1d extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor;

  constructor(
    readonly channels: number,
    readonly kernelSize: number,
    options: InitOptions,
  ) {
    super();
    assertPositiveInt("DepthwiseConv1d", "channels", channels);
    assertPositiveInt("DepthwiseConv1d", "kernelSize", kernelSize);
    const bound = 1 / Math.sqrt(kernelSize);
    const init = { dtype: options.dtype, backend: options.backend, low: -bound, high: bound };
    this.weight = this.registerParameter(
      "weight",
      options.rng.uniform([channels, 1, kernelSize], init),
    );
    this.bias = this.registerParameter("bias", options.rng.uniform([channels], init));
  }

  /** x [B, L, C] → silu(conv(x)), continuing from `initialState` [B, K−1, C] when given. */
  forward(x: Tensor, initialState: Tensor | null = null): CausalConv1dResult {
    return causalConv1d(x, this.kernel(x), {
      bias: this.computeParameter(this.bias, x),
      activation: "silu",
      initialState,
      returnFinalState: true,
    });
  }

  /** One token x [B, C] → silu(conv) [B, C]; `state` [B, K−1, C] is updated in place. */
  step(x: Tensor, state: Tensor): Tensor {
    return causalConv1dStep(x, state, this.kernel(x), {
      bias: this.computeParameter(this.bias, x),
      activation: "silu",
    });
  }

  /** The weight as the [C, K] kernel the tensor ops take in x's dtype (a view: gradients flow). */
  private kernel(x: Tensor): Tensor {
    return reshape(this.computeParameter(this.weight, x), [this.channels, this.kernelSize]);
  }
}

/** Inverse of softplus: log(exp(y) − 1), written stably as y + log(−expm1(−y)). */
function inverseSoftplus(y: number): number {
  return y + Math.log(-Math.expm1(-y));
}

/**
 * The initial dt_proj bias: dt = exp(U(log dtMin, log dtMax)) clamped to ≥ dtInitFloor, stored
 * as softplus⁻¹(dt) so that softplus(bias) = dt (mamba_ssm's `dt_init`).
 */
function initialDtBias(rng: Random, c: ResolvedMambaConfig): number[] {
  const logMin = Math.log(c.dtMin);
  const logMax = Math.log(c.dtMax);
  const u = rng.uniformArray(c.dInner, 0, 1, "float64");
  return Array.from(u, (v) => {
    const dt = Math.max(Math.exp(logMin + v * (logMax - logMin)), c.dtInitFloor);
    return inverseSoftplus(dt);
  });
}

/** S4D-real: A_log[e, n] = log(n + 1), so A = −exp(A_log) = −[1 … N] for every channel. */
function s4dRealALog(c: ResolvedMambaConfig): number[] {
  const row = Array.from({ length: c.dState }, (_, n) => Math.log(n + 1));
  return Array.from({ length: c.dInner }, () => row).flat();
}

/**
 * The Mamba-1 mixer. Parameters (mamba_ssm names; E = expand·d, N = dState, R = dtRank, K = dConv):
 * in_proj.weight [2E, d], conv1d.weight [E, 1, K], conv1d.bias [E], x_proj.weight [R+2N, E],
 * dt_proj.weight [E, R], dt_proj.bias [E], A_log [E, N], D [E], out_proj.weight [d, E].
 */
export class Mamba extends Module {
  readonly config: ResolvedMambaConfig;
  readonly in_proj: Linear;
  readonly conv1d: DepthwiseConv1d;
  readonly x_proj: Linear;
  readonly dt_proj: Linear;
  readonly A_log: Tensor;
  private cachedA: { A: Tensor; version: number } | null = null;
  readonly D: Tensor;
  readonly out_proj: Linear;

  /**
   * Creates the parameters with mamba_ssm's initialisation, drawing from `init.rng` in the order
   * in_proj, conv1d (weight, bias), x_proj, dt_proj (weight, default bias, dt sample), out_proj.
   */
  constructor(config: MambaConfig, init: InitOptions) {
    super();
    const c = resolveMambaConfig(config);
    this.config = c;
    const { dModel: d, dInner: E, dState: N, dtRank: R, dConv: K } = c;
    const dtype = init.dtype ?? "float32";
    const create = { dtype, backend: init.backend };
    this.in_proj = this.registerModule("in_proj", new Linear(d, 2 * E, init));
    this.conv1d = this.registerModule("conv1d", new DepthwiseConv1d(E, K, init));
    this.x_proj = this.registerModule("x_proj", new Linear(E, R + 2 * N, init));
    // PyTorch's default Linear weight bound 1/sqrt(R) is mamba_ssm's "random" dt init R^-0.5.
    this.dt_proj = this.registerModule("dt_proj", new Linear(R, E, { ...init, bias: true }));
    assignHost(this.dt_proj.bias as Tensor, initialDtBias(init.rng, c));
    this.A_log = this.registerParameter("A_log", tensor(s4dRealALog(c), [E, N], create));
    this.D = this.registerParameter("D", tensor(new Array<number>(E).fill(1), [E], create));
    this.out_proj = this.registerModule("out_proj", new Linear(E, d, init));
  }

  /**
   * The dtype of the parameters, and of states and inputs by default; float32 parameters also
   * take bfloat16 inputs and states (mixed precision: they are cast where they meet them).
   */
  get dtype(): DType {
    return this.A_log.dtype;
  }

  /** The backend holding the parameters. */
  get backend(): Backend {
    return this.A_log.backend;
  }

  /**
   * Parameters in the conventions' order (in_proj … out_proj) rather than Module's "own
   * parameters first"; names are mamba_ssm's. Names a subclass adds come last, in their order.
   */
  override namedParameters(prefix = ""): [string, Tensor][] {
    const order: readonly string[] = MAMBA_PARAMETER_NAMES;
    const rank = (name: string): number => {
      const i = order.indexOf(name.slice(prefix.length));
      return i === -1 ? order.length : i;
    };
    return super.namedParameters(prefix).sort(([a], [b]) => rank(a) - rank(b));
  }

  /**
   * The parallel form. u [B, L, dModel] → out [B, L, dModel], continuing from `options.state`
   * (zeros when absent). Returns the state after the last token, so a later `forward` (chunked
   * prefill) or `step` continues exactly. Differentiable in u and every parameter.
   */
  forward(u: Tensor, options: MambaForwardOptions = {}): MambaForwardResult {
    this.assertInput("forward", u, 3, "[batch, length, dModel]");
    const { state } = options;
    if (state) this.assertState("forward", state, u.shape[0], u.dtype);
    return tidy(() => {
      const { dInner: E, dState: N, dtRank: R } = this.config;
      const [x, z] = split(this.in_proj.forward(u), [E, E], 2);
      const conv = this.conv1d.forward(x, state?.conv ?? null);
      const [dtLow, B, C] = split(this.x_proj.forward(conv.out), [R, N, N], 2);
      const scan = selectiveScan(conv.out, this.deltaLow(dtLow), castToCompute(this.A(), u), B, C, {
        D: this.computeParameter(this.D, u),
        z,
        deltaBias: this.computeParameter(this.dt_proj.bias as Tensor, u),
        deltaSoftplus: true,
        initialState: state ? castToCompute(state.ssm, u) : null,
      });
      const out = this.out_proj.forward(scan.out);
      return { out, state: { conv: conv.finalState as Tensor, ssm: widenState(scan.lastState) } };
    });
  }

  /**
   * The recurrent form: one token u [B, dModel] → out [B, dModel]. `state` is updated in place
   * (its tensors keep their identity). Gives the same outputs as `forward`, token by token.
   */
  step(u: Tensor, state: MambaState): Tensor {
    this.assertInput("step", u, 2, "[batch, dModel]");
    this.assertState("step", state, u.shape[0], u.dtype);
    return tidy(() => this.stepFrom(this.in_proj.forward(u), state));
  }

  /**
   * `step` from the token's input projection xz = in_proj(u) [B, 2·dInner], computed by the
   * caller: e.g. in one product with other projections of the same input, as B'MOJO's decode step
   * does with its attention's q, k and v.
   */
  stepProjected(xz: Tensor, state: MambaState): Tensor {
    const width = 2 * this.config.dInner;
    if (xz.rank !== 2 || xz.shape[1] !== width) {
      throw new RangeError(
        `${OWNER}.stepProjected: xz must be [batch, ${width}] (in_proj's output), got ${formatShape(xz.shape)}.`,
      );
    }
    this.assertComputeDType("stepProjected", "xz", xz.dtype);
    this.assertState("stepProjected", state, xz.shape[0], xz.dtype);
    return tidy(() => this.stepFrom(xz, state));
  }

  /**
   * One token from its input projection, in the input's dtype; with bfloat16 inputs the scan step
   * reads and writes the float32 SSM state (its kernel takes a float32 state with bfloat16 inputs),
   * and everything else runs in bfloat16 as the parallel form does.
   */
  private stepFrom(xz: Tensor, state: MambaState): Tensor {
    const { dInner: E, dState: N, dtRank: R } = this.config;
    const [x, z] = split(xz, [E, E], 1);
    const xc = this.conv1d.step(x, state.conv);
    const [dtLow, B, C] = split(this.x_proj.forward(xc), [R, N, N], 1);
    const y = selectiveScanStep(state.ssm, xc, this.deltaLow(dtLow), this.decodeA(xz), B, C, {
      D: this.computeParameter(this.D, xz),
      z,
      deltaBias: this.computeParameter(this.dt_proj.bias as Tensor, xz),
      deltaSoftplus: true,
    });
    return this.out_proj.forward(y);
  }

  /**
   * A zero state for `batch` sequences (the state before the first token), in `dtype` (the
   * parameters' by default; bfloat16 to step bfloat16 inputs through float32 parameters).
   */
  createState(batch: number, dtype: DType = this.dtype): MambaState {
    assertPositiveInt(OWNER, "batch", batch);
    this.assertComputeDType("createState", "dtype", dtype);
    const { dConv: K, dInner: E, dState: N } = this.config;
    const backend = this.backend;
    return {
      conv: zeros([batch, K - 1, E], { dtype, backend }),
      ssm: zeros([batch, E, N], { dtype: ssmStateDType(dtype), backend }),
    };
  }

  /** dt_low @ dt_projᵀ, without the bias (the scan adds it before softplus). */
  private deltaLow(dtLow: Tensor): Tensor {
    return matmul(dtLow, this.computeParameter(this.dt_proj.weight, dtLow), { transposeB: true });
  }

  /** A = −exp(A_log), [E, N]. */
  private A(): Tensor {
    return neg(exp(this.A_log));
  }

  /**
   * A for `step` (which records no gradient) in the dtype of the inputs `x`: computed once and
   * reused until A_log is written in place (an optimizer step, a checkpoint load: `Tensor.version`
   * changes) or the inputs' dtype changes, saving two kernels (three in bfloat16) per token.
   */
  private decodeA(x: Tensor): Tensor {
    const cached = this.cachedA;
    const dtype = meetsBfloat16(this.A_log, x) ? x.dtype : this.A_log.dtype;
    if (cached !== null && cached.version === this.A_log.version && cached.A.dtype === dtype) {
      return cached.A;
    }
    cached?.A.dispose();
    const A = keep(tidy(() => castToCompute(this.A(), x)));
    this.cachedA = { A, version: this.A_log.version };
    return A;
  }

  /** Disposes the parameters and the cached decode A. */
  override dispose(): void {
    this.cachedA?.A.dispose();
    this.cachedA = null;
    super.dispose();
  }

  private assertInput(method: string, u: Tensor, rank: number, layout: string): void {
    const { dModel } = this.config;
    if (u.rank !== rank || u.shape[rank - 1] !== dModel) {
      throw new RangeError(
        `${OWNER}.${method}: u must be ${layout} with dModel ${dModel}, got ${formatShape(u.shape)}.`,
      );
    }
    this.assertComputeDType(method, "u", u.dtype);
  }

  /** Inputs and states are the parameters' dtype, or bfloat16 with float32 parameters. */
  private assertComputeDType(method: string, name: string, dtype: DType): void {
    if (dtype === this.dtype || (dtype === "bfloat16" && this.dtype === "float32")) return;
    throw new TypeError(
      `${OWNER}.${method}: ${name} is ${dtype} but the parameters are ${this.dtype}; use ${this.dtype}` +
        `${this.dtype === "float32" ? " or bfloat16" : ""} (cast it first).`,
    );
  }

  /** The state must have the shapes for `batch` and the dtype of the inputs it meets. */
  private assertState(method: string, state: MambaState, batch: number, dtype: DType): void {
    const { dConv: K, dInner: E, dState: N } = this.config;
    const expect = (name: "conv" | "ssm", shape: number[]): void => {
      const t = state[name];
      const ok = t.rank === shape.length && t.shape.every((v, i) => v === shape[i]);
      const want = name === "ssm" ? ssmStateDType(dtype) : dtype;
      if (!ok || t.dtype !== want) {
        throw new RangeError(
          `${OWNER}.${method}: state.${name} must be ${want} ${formatShape(shape)}, got ${t.dtype} ${formatShape(t.shape)}; ` +
            "use createState(batch, dtype) or the state a forward returned.",
        );
      }
    };
    expect("conv", [batch, K - 1, E]);
    expect("ssm", [batch, E, N]);
  }
}

/** The dtype of the SSM state h for inputs of `dtype`: float32 for bfloat16 inputs. */
function ssmStateDType(dtype: DType): DType {
  return dtype === "bfloat16" ? "float32" : dtype;
}

/** A forward's last SSM state as the state keeps it (bfloat16 widened to float32). */
function widenState(h: Tensor): Tensor {
  return h.dtype === "bfloat16" ? cast(h, "float32") : h;
}

/** Bytes held by a state (both tensors). */
export function stateBytes(state: MambaState): number {
  const bytes = (t: Tensor): number => t.size * bytesPerElement(t.dtype);
  return bytes(state.conv) + bytes(state.ssm);
}

/** Disposes both tensors of a state. */
export function disposeState(state: MambaState): void {
  state.conv.dispose();
  state.ssm.dispose();
}
