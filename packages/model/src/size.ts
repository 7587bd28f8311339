/**
 * Parameter counts and bytes of inference state, computed from a config without building the
 * model (the 130M presets are reported this way; tests check them against built models). A
 * resolved config is a valid config too.
 */
import { type LayerSpec, type ModelConfig, type ResolvedConfig, resolveConfig } from "./config.js";

function mambaParameters(c: ResolvedConfig): number {
  const d = c.dModel;
  const e = c.ssm.expand * d;
  const r = Math.ceil(d / 16);
  const { dState: n, dConv: k } = c.ssm;
  return 2 * e * d + e * k + e + (r + 2 * n) * e + e * r + e + e * n + e + d * e;
}

function attentionParameters(c: ResolvedConfig): number {
  const dh = c.dModel / c.heads;
  return 2 * c.dModel * c.dModel + 2 * c.kvHeads * dh * c.dModel;
}

function blockParameters(spec: LayerSpec, c: ResolvedConfig): number {
  const mixer =
    spec.kind === "mamba"
      ? mambaParameters(c)
      : spec.kind === "bmojo" || spec.kind === "bmojo-f"
        ? mambaParameters(c) + attentionParameters(c)
        : attentionParameters(c);
  const mlp = spec.mlp ? c.dModel + 3 * c.dModel * c.mlpHidden : 0;
  return c.dModel + mixer + mlp;
}

/** Number of scalar parameters of the model a config describes. */
export function parameterCount(config: ModelConfig): number {
  const c = resolveConfig(config);
  const blocks = c.layers.reduce((acc, spec) => acc + blockParameters(spec, c), 0);
  return 2 * c.vocabSize * c.dModel + blocks + c.dModel;
}

/** Bytes of one block's recurrent state for one sequence. */
function blockStateBytes(spec: LayerSpec, c: ResolvedConfig): number {
  const bytes = c.dtype === "float64" ? 8 : 4;
  const e = c.ssm.expand * c.dModel;
  const dh = c.dModel / c.heads;
  const mamba = ((c.ssm.dConv - 1) * e + e * c.ssm.dState) * bytes;
  const kv = (slots: number) => 2 * c.kvHeads * slots * dh * bytes;
  if (spec.kind === "mamba") return mamba;
  if (spec.kind === "attention") return kv(c.maxLength);
  if (spec.kind === "swa") return kv(Math.min(c.window, c.maxLength));
  // B'MOJO: the SSM state, a ring of w keys/values, the last m_f SSM outputs, the store's
  // keys/values, the current chunk's memory slots and their int32 mask.
  const { fadingTokens: mf, eideticTokens } = c.bmojo;
  const me = spec.kind === "bmojo-f" ? 0 : eideticTokens;
  return (
    mamba +
    kv(c.window) +
    Math.max(mf, 1) * c.dModel * bytes +
    kv(Math.max(me, 1)) +
    kv(mf + me) +
    (mf + me) * 4
  );
}

/**
 * Bytes of recurrent state one sequence needs for generation: constant in the sequence length
 * for mamba, swa and B'MOJO blocks; full attention holds maxLength keys and values.
 */
export function inferenceStateBytes(config: ModelConfig): number {
  const c = resolveConfig(config);
  return c.layers.reduce((acc, spec) => acc + blockStateBytes(spec, c), 0);
}
