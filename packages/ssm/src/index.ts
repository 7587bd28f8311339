/** @bmojo/ssm: the Mamba-1 selective state-space mixer (parallel forward and recurrent step). */
export {
  DepthwiseConv1d,
  MAMBA_PARAMETER_NAMES,
  Mamba,
  type MambaConfig,
  type MambaForwardOptions,
  type MambaForwardResult,
  type MambaState,
  type ResolvedMambaConfig,
  disposeState,
  resolveMambaConfig,
  stateBytes,
} from "./mamba.js";
