/**
 * The model flags shared by `train` and `bench`: a preset (plan × size) or a layer plan, and size
 * overrides. They become a `ModelConfig`; config errors are reported against the flag responsible.
 */
import {
  ConfigError,
  type ModelConfig,
  PLAN_NAMES,
  POSITION_ENCODINGS,
  PRESET_SIZES,
  type PlanName,
  type PositionEncoding,
  type PresetSize,
  preset,
  resolveConfig,
  type ResolvedConfig,
} from "@bmojo/model";
import { UsageError } from "./errors.js";
import { flagName } from "./flags.js";

const GROUP = "Model";

/** The dtype of activations, states and caches (`ModelConfig.computeDType`). */
export const computeFlag = {
  kind: "enum",
  values: ["float32", "bfloat16"],
  default: "float32",
  group: GROUP,
  description:
    "dtype of activations, states and caches: bfloat16 is mixed precision (float32 parameters; a backend that stores bfloat16: cuda, or the cpu's emulation)",
} as const;

/** Flag specs of the model shape. */
export const modelFlags = {
  preset: {
    kind: "enum",
    values: PLAN_NAMES,
    default: "bmojo",
    group: GROUP,
    description: "model preset (layer plan)",
  },
  size: {
    kind: "enum",
    values: PRESET_SIZES,
    default: "tiny",
    group: GROUP,
    description: "preset size: d_model, heads, window, blocks",
  },
  layers: {
    kind: "string",
    placeholder: "PLAN",
    group: GROUP,
    description:
      'a layer plan instead of --preset, e.g. "mamba,swa:nomlp,bmojo" (kinds: mamba, attention, swa, bmojo, bmojo-f; :mlp/:nomlp); sizes from --size',
  },
  dModel: { kind: "int", min: 1, group: GROUP, description: "model width d_model" },
  layersCount: {
    kind: "int",
    min: 1,
    group: GROUP,
    description: "number of blocks (numLayers) of a --preset plan",
  },
  heads: { kind: "int", min: 1, group: GROUP, description: "attention heads" },
  kvHeads: {
    kind: "int",
    min: 1,
    group: GROUP,
    description: "key/value heads (grouped-query attention when < --heads)",
  },
  window: {
    kind: "int",
    min: 1,
    group: GROUP,
    description: "sliding window of swa blocks; window = chunk length of B'MOJO blocks",
  },
  eidetic: {
    kind: "int",
    min: 0,
    group: GROUP,
    description: "eidetic tokens m_e per chunk (B'MOJO)",
  },
  fading: {
    kind: "int",
    min: 0,
    group: GROUP,
    description: "fading tokens m_f per chunk (B'MOJO)",
  },
  predictor: {
    kind: "int",
    min: 1,
    group: GROUP,
    description: "innovation predictor length k (B'MOJO)",
  },
  dState: { kind: "int", min: 1, group: GROUP, description: "SSM state size N (Mamba)" },
  positions: {
    kind: "enum",
    values: POSITION_ENCODINGS,
    default: "rope",
    group: GROUP,
    description: "positions of attention and swa blocks: rope, or none (NoPE)",
  },
  bmojoPositions: {
    kind: "enum",
    values: POSITION_ENCODINGS,
    default: "none",
    group: GROUP,
    description:
      "positions in B'MOJO blocks: none (the paper's NoPE), or rope (memory keys at their tokens' positions)",
  },
  compute: computeFlag,
} as const;

/** The values of the model flags after parsing. */
export interface ModelFlagValues {
  preset: PlanName;
  size: PresetSize;
  layers: string | undefined;
  dModel: number | undefined;
  layersCount: number | undefined;
  heads: number | undefined;
  kvHeads: number | undefined;
  window: number | undefined;
  eidetic: number | undefined;
  fading: number | undefined;
  predictor: number | undefined;
  dState: number | undefined;
  positions: PositionEncoding;
  bmojoPositions: PositionEncoding;
  compute: "float32" | "bfloat16";
}

/** Keys of the model flags, e.g. to compare them with a checkpoint's. */
export const MODEL_FLAG_KEYS = Object.keys(modelFlags) as (keyof ModelFlagValues)[];

/** Which flag sets each config field (for error messages). */
const FIELD_FLAGS: Readonly<Record<string, keyof ModelFlagValues>> = {
  dModel: "dModel",
  numLayers: "layersCount",
  heads: "heads",
  kvHeads: "kvHeads",
  window: "window",
  layers: "layers",
  "bmojo.eideticTokens": "eidetic",
  "bmojo.fadingTokens": "fading",
  bmojo: "eidetic",
  "bmojo.predictorLength": "predictor",
  "ssm.dState": "dState",
  positions: "positions",
  "bmojo.positions": "bmojoPositions",
  computeDType: "compute",
};

/**
 * A model config from the flags: `preset(plan, size)` with the overrides on top, or, with
 * `--layers`, the sizes of `--size` with that plan. Checked with `resolveConfig`; a config error
 * becomes a UsageError naming the flag behind the field.
 */
export function modelConfigFromFlags(
  flags: ModelFlagValues,
  given: ReadonlySet<string>,
  extra: Partial<ModelConfig> = {},
): { config: ModelConfig; resolved: ResolvedConfig } {
  if (given.has("preset") && flags.layers !== undefined) {
    throw new UsageError("--preset and --layers are exclusive: give a preset or a layer plan.");
  }
  const overrides: Partial<ModelConfig> = { ...extra };
  if (flags.dModel !== undefined) overrides.dModel = flags.dModel;
  if (flags.layersCount !== undefined) overrides.numLayers = flags.layersCount;
  if (flags.heads !== undefined) overrides.heads = flags.heads;
  if (flags.kvHeads !== undefined) overrides.kvHeads = flags.kvHeads;
  if (flags.window !== undefined) overrides.window = flags.window;
  const bmojo = {
    ...(flags.eidetic !== undefined ? { eideticTokens: flags.eidetic } : {}),
    ...(flags.fading !== undefined ? { fadingTokens: flags.fading } : {}),
    ...(flags.predictor !== undefined ? { predictorLength: flags.predictor } : {}),
    ...(flags.bmojoPositions !== "none" ? { positions: flags.bmojoPositions } : {}),
  };
  if (Object.keys(bmojo).length > 0) overrides.bmojo = bmojo;
  if (flags.dState !== undefined) overrides.ssm = { dState: flags.dState };
  if (flags.positions !== "rope") overrides.positions = flags.positions;
  if (flags.compute !== "float32") overrides.computeDType = flags.compute;
  const config =
    flags.layers !== undefined
      ? preset("bmojo", flags.size, { numLayers: undefined, ...overrides, layers: flags.layers })
      : preset(flags.preset, flags.size, overrides);
  try {
    return { config, resolved: resolveConfig(config) };
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    const base = err.field.replace(/\[\d+\].*$/, "");
    const key = FIELD_FLAGS[err.field] ?? FIELD_FLAGS[base];
    if (key === undefined) throw new UsageError(err.message);
    const hint = given.has(key)
      ? ""
      : ` (${flagName(key)} was not given: the value comes from --size ${flags.size}; set ${flagName(key)} explicitly)`;
    throw new UsageError(`${flagName(key)}: ${err.message}${hint}`);
  }
}

/** "bmojo tiny", or the plan for `--layers`: a short name of the model for summaries. */
export function modelLabel(flags: Pick<ModelFlagValues, "preset" | "size" | "layers">): string {
  return flags.layers !== undefined
    ? `"${flags.layers}" (${flags.size} sizes)`
    : `${flags.preset} ${flags.size}`;
}

/** The kinds of the blocks, e.g. "bmojo, bmojo", or "attention, attention; NoPE attention". */
export function layerKinds(config: ResolvedConfig): string {
  const kinds = config.layers.map((l) => l.kind);
  const notes: string[] = [];
  if (config.positions === "none" && kinds.some((k) => k === "attention" || k === "swa"))
    notes.push("NoPE attention");
  if (config.bmojo.positions === "rope" && kinds.some((k) => k === "bmojo" || k === "bmojo-f"))
    notes.push("B'MOJO with RoPE");
  return [kinds.join(", "), ...notes].join("; ");
}
