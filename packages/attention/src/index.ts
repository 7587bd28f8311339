/**
 * @bmojo/attention: multi-head and grouped-query attention (causal full or sliding window, RoPE or
 * none, per-chunk memory keys) with full and ring-buffer KV caches for recurrent decoding.
 */
export { DEFAULT_ROPE_THETA, applyRope, applyRopeAt, ropeAngle } from "./rope.js";
export {
  type AttentionConfig,
  type ResolvedAttentionConfig,
  resolveAttentionConfig,
} from "./config.js";
export { DevicePosition, type DeviceSlots } from "./device-position.js";
export { mergeHeads, splitHeads, splitMemoryHeads } from "./heads.js";
export {
  FullKVCache,
  type KVCache,
  KVCacheBase,
  type KVCacheOptions,
  RingKVCache,
} from "./kv-cache.js";
export {
  Attention,
  type AttentionForwardOptions,
  type AttentionPrefillOptions,
  type AttentionStepOptions,
  type AttentionStepResult,
  type StepMemory,
} from "./attention-layer.js";
export type { AttentionMemoryInput } from "@bmojo/tensor";
