/** @bmojo/nn: modules, layers, optimisers, schedules and checkpoints on @bmojo/tensor. */
export { Module, castToCompute, meetsBfloat16 } from "./module.js";
export {
  Dropout,
  Embedding,
  type InitOptions,
  Linear,
  RMSNorm,
  SwiGLU,
  assertPositiveInt,
  swigluHidden,
} from "./layers.js";
export { StackedLinears } from "./stacked.js";
export { crossEntropy, type CrossEntropyOptions } from "@bmojo/tensor";
export {
  AdamW,
  type AdamWOptions,
  type AdamWState,
  type Moments,
  type ParamGroup,
} from "./optim.js";
export {
  type CosineScheduleOptions,
  type Schedule,
  constantSchedule,
  cosineSchedule,
} from "./schedule.js";
export { type ClipResult, clipGradNorm, clipGradNormAsync } from "./clip.js";
export {
  type HostTensor,
  SAFETENSORS_DTYPE,
  decodeSafetensors,
  encodeSafetensors,
} from "./safetensors.js";
export {
  CHECKPOINT_FORMAT,
  type Checkpoint,
  type LoadOptions,
  type LoadReport,
  loadCheckpoint,
  loadParametersInto,
  readCheckpoint,
  saveCheckpoint,
} from "./checkpoint.js";
