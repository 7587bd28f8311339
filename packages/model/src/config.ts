/**
 * Model configuration: plain JSON. A `layers` plan names each block's mixer; the rest are sizes
 * and the open choices of the B'MOJO layer, each with the documented default.
 */

export const LAYER_KINDS = ["mamba", "attention", "swa", "bmojo", "bmojo-f"] as const;
export type LayerKind = (typeof LAYER_KINDS)[number];

/** One block of the plan: its mixer and whether it has a SwiGLU MLP. */
export interface LayerSpec {
  kind: LayerKind;
  mlp: boolean;
}

export const POSITION_ENCODINGS = ["rope", "none"] as const;
/** How an attention sees positions: RoPE, or none (NoPE). */
export type PositionEncoding = (typeof POSITION_ENCODINGS)[number];

export const PLAN_NAMES = ["transformer", "swa", "mamba", "hybrid", "bmojo-f", "bmojo"] as const;
export type PlanName = (typeof PLAN_NAMES)[number];

export interface SsmConfig {
  /** N (16). */
  dState: number;
  /** K (4). */
  dConv: number;
  /** E = expand·d (2). */
  expand: number;
}

export interface BMojoConfig {
  /** m_f: SSM outputs before each chunk used as fading tokens (1). */
  fadingTokens: number;
  /** m_e: eidetic tokens per chunk, the top inputs by innovation (8; 0 gives B'MOJO-F). */
  eideticTokens: number;
  /** k: the predictor's running-mean length (4). */
  predictorLength: number;
  /**
   * Positions in the B'MOJO attention: "none" (the default, the paper's NoPE) or "rope" (queries
   * and window keys rotated to their positions, each memory key to the position its token was
   * read at).
   */
  positions: PositionEncoding;
}

/** Everything needed to build a model; `resolveConfig` fills the defaults and validates. */
export interface ModelConfig {
  vocabSize: number;
  dModel: number;
  /** A plan name, a comma-separated list ("mamba,swa:nomlp,bmojo"), or an array of kinds/specs. */
  layers: PlanName | string | readonly (LayerKind | string | LayerSpec)[];
  /** Number of blocks when `layers` is a plan name. */
  numLayers?: number;
  /** Attention heads (default max(1, dModel / 64)). */
  heads?: number;
  /** Key/value heads for grouped-query attention (default: heads). */
  kvHeads?: number;
  /** The sliding window w of 'swa' blocks and the window = chunk length of B'MOJO blocks (512). */
  window?: number;
  /** SwiGLU hidden width (default 8/3·d rounded half-up to a multiple of 64). */
  mlpHidden?: number;
  ssm?: Partial<SsmConfig>;
  bmojo?: Partial<BMojoConfig>;
  /**
   * How 'attention' and 'swa' blocks see positions: "rope" (the default) rotates q and k,
   * "none" is NoPE (order only through the causal mask). B'MOJO blocks: `bmojo.positions`.
   */
  positions?: PositionEncoding;
  /** RoPE theta of 'attention' and 'swa' blocks, and of B'MOJO blocks with RoPE (10000). */
  ropeTheta?: number;
  /** RMSNorm epsilon (1e-5). */
  normEps?: number;
  /** Longest sequence a full-attention cache holds during generation (4096). */
  maxLength?: number;
  /** Parameter dtype (float32; float64 for gradient checks on the cpu backend). */
  dtype?: "float32" | "float64";
  /**
   * The dtype activations, states and caches are stored in (default: `dtype`). "bfloat16" with
   * float32 parameters is mixed precision: each parameter is cast to bfloat16 where it is used
   * (its gradient comes back float32, for the optimizer), kernels compute in float32 and store
   * bfloat16, and the loss is taken on float32 logits — PyTorch's bf16 autocast. Needs a backend
   * that stores bfloat16 (cuda; the cpu backend emulates it).
   */
  computeDType?: "float32" | "float64" | "bfloat16";
  /** Seed of the parameter initialisation (0). */
  seed?: number;
}

/** A config with every default filled in and the plan expanded to one spec per block. */
export interface ResolvedConfig {
  vocabSize: number;
  dModel: number;
  layers: LayerSpec[];
  heads: number;
  kvHeads: number;
  window: number;
  mlpHidden: number;
  ssm: SsmConfig;
  bmojo: BMojoConfig;
  positions: PositionEncoding;
  ropeTheta: number;
  normEps: number;
  maxLength: number;
  dtype: "float32" | "float64";
  computeDType: "float32" | "float64" | "bfloat16";
  seed: number;
}

/** Thrown for an invalid config; `field` names the offending field. */
export class ConfigError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`model config: ${field}: ${message}`);
    this.name = "ConfigError";
  }
}

function positiveInt(field: string, value: unknown): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < 1) {
    throw new ConfigError(field, `must be a positive integer, got ${JSON.stringify(value)}.`);
  }
  return value;
}

function nonNegativeInt(field: string, value: unknown): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < 0) {
    throw new ConfigError(field, `must be a non-negative integer, got ${JSON.stringify(value)}.`);
  }
  return value;
}

function positionEncoding(field: string, value: unknown): PositionEncoding {
  if (!(POSITION_ENCODINGS as readonly unknown[]).includes(value)) {
    throw new ConfigError(
      field,
      `must be one of ${POSITION_ENCODINGS.map((p) => JSON.stringify(p)).join(", ")}, got ${JSON.stringify(value)}.`,
    );
  }
  return value as PositionEncoding;
}

/** One entry of a layer list: "bmojo", "swa:nomlp", "mamba:mlp" or a spec object. */
function parseLayer(entry: LayerKind | string | LayerSpec, index: number): LayerSpec {
  const field = `layers[${index}]`;
  if (typeof entry === "object" && entry !== null) {
    if (!(LAYER_KINDS as readonly string[]).includes(entry.kind)) {
      throw new ConfigError(
        `${field}.kind`,
        `unknown layer kind ${JSON.stringify(entry.kind)}; use one of ${LAYER_KINDS.join(", ")}.`,
      );
    }
    return { kind: entry.kind, mlp: entry.mlp ?? entry.kind !== "mamba" };
  }
  if (typeof entry !== "string")
    throw new ConfigError(field, `must be a layer kind string or a { kind, mlp } object.`);
  const [kind, suffix, extra] = entry.trim().split(":");
  if (!(LAYER_KINDS as readonly string[]).includes(kind)) {
    throw new ConfigError(
      field,
      `unknown layer kind ${JSON.stringify(kind)}; use one of ${LAYER_KINDS.join(", ")}, optionally suffixed :mlp or :nomlp.`,
    );
  }
  if (extra !== undefined || (suffix !== undefined && suffix !== "mlp" && suffix !== "nomlp")) {
    throw new ConfigError(
      field,
      `unknown suffix in ${JSON.stringify(entry)}; use ":mlp" or ":nomlp".`,
    );
  }
  return {
    kind: kind as LayerKind,
    mlp: suffix === undefined ? kind !== "mamba" : suffix === "mlp",
  };
}

/** The block at index i of each plan (conventions.md "Plans"). */
const PLAN_BLOCKS: Record<PlanName, (i: number) => LayerSpec> = {
  transformer: () => ({ kind: "attention", mlp: true }),
  swa: () => ({ kind: "swa", mlp: true }),
  mamba: () => ({ kind: "mamba", mlp: false }),
  hybrid: (i) => ({ kind: i % 2 === 0 ? "mamba" : "swa", mlp: true }),
  "bmojo-f": () => ({ kind: "bmojo-f", mlp: true }),
  bmojo: () => ({ kind: "bmojo", mlp: true }),
};

/** Expands a plan name into blocks. */
export function expandPlan(plan: PlanName, numLayers: number): LayerSpec[] {
  return Array.from({ length: numLayers }, (_, i) => PLAN_BLOCKS[plan](i));
}

function resolveLayers(config: ModelConfig): LayerSpec[] {
  const { layers } = config;
  if (typeof layers === "string" && (PLAN_NAMES as readonly string[]).includes(layers)) {
    return expandPlan(layers as PlanName, positiveInt("numLayers", config.numLayers));
  }
  const list = typeof layers === "string" ? layers.split(",") : layers;
  if (!Array.isArray(list) || list.length === 0) {
    throw new ConfigError(
      "layers",
      `must be a plan name (${PLAN_NAMES.join(", ")}) with numLayers, a comma-separated list of layer kinds, or an array; got ${JSON.stringify(layers)}.`,
    );
  }
  if (config.numLayers !== undefined && config.numLayers !== list.length) {
    throw new ConfigError(
      "numLayers",
      `is ${config.numLayers} but the layer list has ${list.length} entries; drop numLayers or make them agree.`,
    );
  }
  return list.map(parseLayer);
}

/** Fills defaults and validates; errors name the field. */
export function resolveConfig(config: ModelConfig): ResolvedConfig {
  if (typeof config !== "object" || config === null)
    throw new ConfigError("config", "must be an object.");
  const vocabSize = positiveInt("vocabSize", config.vocabSize);
  const dModel = positiveInt("dModel", config.dModel);
  const layers = resolveLayers(config);
  const heads = positiveInt("heads", config.heads ?? Math.max(1, Math.floor(dModel / 64)));
  if (dModel % heads !== 0)
    throw new ConfigError("heads", `must divide dModel (${dModel}), got ${heads}.`);
  const kvHeads = positiveInt("kvHeads", config.kvHeads ?? heads);
  if (heads % kvHeads !== 0)
    throw new ConfigError("kvHeads", `must divide heads (${heads}), got ${kvHeads}.`);
  const window = positiveInt("window", config.window ?? 512);
  const positions = positionEncoding("positions", config.positions ?? "rope");
  const bmojoPositions = positionEncoding("bmojo.positions", config.bmojo?.positions ?? "none");
  const positionsOf = (kind: LayerKind) =>
    kind === "bmojo" || kind === "bmojo-f" ? bmojoPositions : positions;
  const usesRope = layers.some((l) => positionsOf(l.kind) === "rope");
  if (usesRope && (dModel / heads) % 2 !== 0) {
    throw new ConfigError(
      "heads",
      `RoPE needs an even head size, but dModel / heads = ${dModel / heads}.`,
    );
  }
  const ssm: SsmConfig = {
    dState: positiveInt("ssm.dState", config.ssm?.dState ?? 16),
    dConv: positiveInt("ssm.dConv", config.ssm?.dConv ?? 4),
    expand: positiveInt("ssm.expand", config.ssm?.expand ?? 2),
  };
  const bmojo: BMojoConfig = {
    fadingTokens: nonNegativeInt("bmojo.fadingTokens", config.bmojo?.fadingTokens ?? 1),
    eideticTokens: nonNegativeInt("bmojo.eideticTokens", config.bmojo?.eideticTokens ?? 8),
    predictorLength: positiveInt("bmojo.predictorLength", config.bmojo?.predictorLength ?? 4),
    positions: bmojoPositions,
  };
  const hasBMojo = layers.some((l) => l.kind === "bmojo");
  if (hasBMojo && bmojo.fadingTokens + bmojo.eideticTokens === 0) {
    throw new ConfigError(
      "bmojo",
      "fadingTokens + eideticTokens must be ≥ 1 for a 'bmojo' block (use a 'swa' block for attention without memory).",
    );
  }
  const maxLength = positiveInt("maxLength", config.maxLength ?? 4096);
  const dtype = config.dtype ?? "float32";
  if (dtype !== "float32" && dtype !== "float64")
    throw new ConfigError("dtype", `must be "float32" or "float64", got ${JSON.stringify(dtype)}.`);
  const computeDType = config.computeDType ?? dtype;
  if (computeDType !== dtype && !(computeDType === "bfloat16" && dtype === "float32")) {
    throw new ConfigError(
      "computeDType",
      `must be the parameter dtype (${dtype})${dtype === "float32" ? ' or "bfloat16"' : ""}, got ${JSON.stringify(computeDType)}.`,
    );
  }
  const normEps = config.normEps ?? 1e-5;
  if (!(normEps > 0)) throw new ConfigError("normEps", `must be > 0, got ${normEps}.`);
  const ropeTheta = config.ropeTheta ?? 10000;
  if (!(ropeTheta > 1)) throw new ConfigError("ropeTheta", `must be > 1, got ${ropeTheta}.`);
  return {
    vocabSize,
    dModel,
    layers,
    heads,
    kvHeads,
    window,
    mlpHidden: positiveInt(
      "mlpHidden",
      config.mlpHidden ?? 64 * Math.max(1, Math.floor(dModel / 24 + 0.5)),
    ),
    ssm,
    bmojo,
    positions,
    ropeTheta,
    normEps,
    maxLength,
    dtype,
    computeDType,
    seed: nonNegativeInt("seed", config.seed ?? 0),
  };
}

export const PRESET_SIZES = ["tiny", "small", "130m"] as const;
export type PresetSize = (typeof PRESET_SIZES)[number];

/**
 * Sizes per preset. "130m" follows the paper's smallest scale (d 768, vocab 32000, window 512);
 * the block counts put every plan near 130M parameters (see the README table).
 */
const SIZES: Record<
  PresetSize,
  {
    dModel: number;
    vocabSize: number;
    window: number;
    heads: number;
    blocks: Record<PlanName, number>;
  }
> = {
  tiny: {
    dModel: 32,
    vocabSize: 64,
    window: 8,
    heads: 2,
    blocks: { transformer: 2, swa: 2, mamba: 2, hybrid: 2, "bmojo-f": 2, bmojo: 2 },
  },
  small: {
    dModel: 128,
    vocabSize: 256,
    window: 64,
    heads: 4,
    blocks: { transformer: 4, swa: 4, mamba: 8, hybrid: 4, "bmojo-f": 3, bmojo: 3 },
  },
  "130m": {
    dModel: 768,
    vocabSize: 32000,
    window: 512,
    heads: 12,
    blocks: { transformer: 12, swa: 12, mamba: 24, hybrid: 12, "bmojo-f": 8, bmojo: 8 },
  },
};

/** A preset config: one of the plans at one of the sizes, with overrides applied on top. */
export function preset(
  plan: PlanName,
  size: PresetSize = "tiny",
  overrides: Partial<ModelConfig> = {},
): ModelConfig {
  if (!(PLAN_NAMES as readonly string[]).includes(plan)) {
    throw new ConfigError(
      "preset",
      `unknown plan ${JSON.stringify(plan)}; use one of ${PLAN_NAMES.join(", ")}.`,
    );
  }
  if (!(PRESET_SIZES as readonly string[]).includes(size)) {
    throw new ConfigError(
      "preset",
      `unknown size ${JSON.stringify(size)}; use one of ${PRESET_SIZES.join(", ")}.`,
    );
  }
  const s = SIZES[size];
  return {
    vocabSize: s.vocabSize,
    dModel: s.dModel,
    heads: s.heads,
    window: s.window,
    layers: plan,
    numLayers: s.blocks[plan],
    ...overrides,
  };
}
