/**
 * @bmojo/model: the B'MOJO and B'MOJO-F layers, language models built from a layer plan
 * (mamba, attention, swa, bmojo, bmojo-f), presets, generate(), memory inspection, checkpoints.
 */
export {
  type BMojoConfig,
  ConfigError,
  LAYER_KINDS,
  type LayerKind,
  type LayerSpec,
  type ModelConfig,
  PLAN_NAMES,
  POSITION_ENCODINGS,
  PRESET_SIZES,
  type PlanName,
  type PositionEncoding,
  type PresetSize,
  type ResolvedConfig,
  type SsmConfig,
  expandPlan,
  preset,
  resolveConfig,
} from "./config.js";
export {
  type BMojoCache,
  BMojoLayer,
  type BMojoLayerConfig,
  type ChunkSelection,
  type EideticSnapshot,
} from "./bmojo-layer.js";
export {
  Block,
  type MixerCache,
  type Residual,
  disposeMixerCache,
  mixerCacheBytes,
} from "./block.js";
export { LanguageModel, type LayerMemory, type ModelCache } from "./language-model.js";
export { type CompileStepOptions, CompiledStep } from "./compiled-step.js";
export {
  type GenerateOptions,
  type GenerateResult,
  type StopReason,
  generate,
  generateTokens,
  sampleToken,
} from "./generate.js";
export { loadModel, saveModel } from "./checkpoint.js";
export { inferenceStateBytes, parameterCount } from "./size.js";
