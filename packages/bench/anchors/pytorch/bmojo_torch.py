"""PyTorch anchor for @bmojo/model: B'MOJO, Mamba, Transformer (RoPE), SWA and hybrid language models.

An independent implementation of shared/reference/conventions.md (the spec), written to be both a
numerical reference (it loads our safetensors checkpoints and must give the same logits) and a
strong pure-PyTorch speed baseline (vectorised, chunked, torch.compile-friendly).

Dependencies: torch, numpy (only in the CLIs), safetensors, the standard library.

Main entry points
  Config.from_json(obj)          the model config JSON (raw ModelConfig or the resolved form a
                                 checkpoint stores), same fields and defaults as resolveConfig
  Config.preset(plan, size)      the presets of packages/model/src/config.ts
  LanguageModel(config)          parameter names == safetensors keys of the conventions
  load_checkpoint(path)          -> (model, config); config from __metadata__["config"]
  save_checkpoint(model, path)
  model(ids) -> logits           the parallel form
  model.prefill(ids) / model.step(ids, cache)   recurrent decoding with a constant-size cache
  configure(scan=..., scan_chunk=..., scan_compiled=..., attn_layout=...)
  self_test()                    consistency checks (run: python3 bmojo_torch.py --self-test)

Numerics (conventions.md): y = x W^T; RMSNorm eps from the config (1e-5); SwiGLU hidden
64*max(1, floor(d/24 + 1/2)); RoPE rotate-half with float64 tables; window w = keys t-w+1..t;
Mamba-1 mixer with the scan and the gate in float32 (float64 for a float64 model) under any
autocast; B'MOJO = Mamba fading memory + innovation-selected eidetic inputs + one NoPE attention.
"""

import contextlib
import dataclasses
import json
import math
import os
import sys
import warnings
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = [
    "Config",
    "ConfigError",
    "LayerSpec",
    "LanguageModel",
    "load_checkpoint",
    "save_checkpoint",
    "configure",
    "selective_scan",
    "selective_scan_ref",
    "innovation_scores",
    "select_eidetic",
    "local_attention",
    "set_fp32_precision",
    "self_test",
]

# --------------------------------------------------------------------------------------------
# Config (mirrors packages/model/src/config.ts: resolveConfig, presets)
# --------------------------------------------------------------------------------------------

LAYER_KINDS = ("mamba", "attention", "swa", "bmojo", "bmojo-f")
PLAN_NAMES = ("transformer", "swa", "mamba", "hybrid", "bmojo-f", "bmojo")

# config.ts SIZES: d_model, vocab, window, heads and the block count per plan.
PRESETS: dict[str, dict[str, Any]] = {
    "tiny": {
        "dModel": 32,
        "vocabSize": 64,
        "window": 8,
        "heads": 2,
        "blocks": {"transformer": 2, "swa": 2, "mamba": 2, "hybrid": 2, "bmojo-f": 2, "bmojo": 2},
    },
    "small": {
        "dModel": 128,
        "vocabSize": 256,
        "window": 64,
        "heads": 4,
        "blocks": {"transformer": 4, "swa": 4, "mamba": 8, "hybrid": 4, "bmojo-f": 3, "bmojo": 3},
    },
    "130m": {
        "dModel": 768,
        "vocabSize": 32000,
        "window": 512,
        "heads": 12,
        "blocks": {
            "transformer": 12,
            "swa": 12,
            "mamba": 24,
            "hybrid": 12,
            "bmojo-f": 8,
            "bmojo": 8,
        },
    },
}


class ConfigError(ValueError):
    """An invalid config; `field` names the offending field (as resolveConfig's ConfigError)."""

    def __init__(self, field: str, message: str):
        super().__init__(f"model config: {field}: {message}")
        self.field = field


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _positive_int(field: str, value: Any) -> int:
    if not _is_number(value) or not float(value).is_integer() or value < 1:
        raise ConfigError(field, f"must be a positive integer, got {json.dumps(value)}.")
    return int(value)


def _non_negative_int(field: str, value: Any) -> int:
    if not _is_number(value) or not float(value).is_integer() or value < 0:
        raise ConfigError(field, f"must be a non-negative integer, got {json.dumps(value)}.")
    return int(value)


@dataclasses.dataclass(frozen=True)
class LayerSpec:
    kind: str
    mlp: bool


def _parse_layer(entry: Any, index: int) -> LayerSpec:
    field = f"layers[{index}]"
    if isinstance(entry, dict):
        kind = entry.get("kind")
        if kind not in LAYER_KINDS:
            raise ConfigError(
                f"{field}.kind",
                f"unknown layer kind {json.dumps(kind)}; use one of {', '.join(LAYER_KINDS)}.",
            )
        mlp = entry.get("mlp")
        return LayerSpec(kind, bool(mlp) if mlp is not None else kind != "mamba")
    if not isinstance(entry, str):
        raise ConfigError(field, "must be a layer kind string or a { kind, mlp } object.")
    parts = entry.strip().split(":")
    kind = parts[0]
    if kind not in LAYER_KINDS:
        raise ConfigError(
            field,
            f"unknown layer kind {json.dumps(kind)}; use one of {', '.join(LAYER_KINDS)}, "
            "optionally suffixed :mlp or :nomlp.",
        )
    suffix = parts[1] if len(parts) > 1 else None
    if len(parts) > 2 or (suffix is not None and suffix not in ("mlp", "nomlp")):
        raise ConfigError(field, f'unknown suffix in {json.dumps(entry)}; use ":mlp" or ":nomlp".')
    return LayerSpec(kind, (kind != "mamba") if suffix is None else suffix == "mlp")


def _plan_block(plan: str, i: int) -> LayerSpec:
    if plan == "transformer":
        return LayerSpec("attention", True)
    if plan == "swa":
        return LayerSpec("swa", True)
    if plan == "mamba":
        return LayerSpec("mamba", False)
    if plan == "hybrid":
        return LayerSpec("mamba" if i % 2 == 0 else "swa", True)
    if plan == "bmojo-f":
        return LayerSpec("bmojo-f", True)
    return LayerSpec("bmojo", True)


def _resolve_layers(config: dict) -> list[LayerSpec]:
    layers = config.get("layers")
    num_layers = config.get("numLayers")
    if isinstance(layers, str) and layers in PLAN_NAMES:
        n = _positive_int("numLayers", num_layers)
        return [_plan_block(layers, i) for i in range(n)]
    items = layers.split(",") if isinstance(layers, str) else layers
    if not isinstance(items, (list, tuple)) or len(items) == 0:
        raise ConfigError(
            "layers",
            f"must be a plan name ({', '.join(PLAN_NAMES)}) with numLayers, a comma-separated list "
            f"of layer kinds, or an array; got {json.dumps(layers)}.",
        )
    if num_layers is not None and num_layers != len(items):
        raise ConfigError(
            "numLayers",
            f"is {num_layers} but the layer list has {len(items)} entries; drop numLayers or make "
            "them agree.",
        )
    return [_parse_layer(e, i) for i, e in enumerate(items)]


@dataclasses.dataclass
class Config:
    """A resolved model config (every default filled in, the plan expanded)."""

    vocab_size: int
    d_model: int
    layers: list[LayerSpec]
    heads: int
    kv_heads: int
    window: int
    mlp_hidden: int
    d_state: int = 16
    d_conv: int = 4
    expand: int = 2
    fading_tokens: int = 1
    eidetic_tokens: int = 8
    predictor_length: int = 4
    rope_theta: float = 10000.0
    norm_eps: float = 1e-5
    max_length: int = 4096
    dtype: str = "float32"
    seed: int = 0

    # Derived sizes --------------------------------------------------------------------------
    @property
    def d_inner(self) -> int:
        return self.expand * self.d_model

    @property
    def dt_rank(self) -> int:
        return math.ceil(self.d_model / 16)

    @property
    def head_dim(self) -> int:
        return self.d_model // self.heads

    @property
    def torch_dtype(self) -> torch.dtype:
        return torch.float64 if self.dtype == "float64" else torch.float32

    # Parsing ---------------------------------------------------------------------------------
    @classmethod
    def from_json(cls, config: Any) -> "Config":
        """Parses a ModelConfig (JSON text or dict) exactly as resolveConfig does."""
        if isinstance(config, (str, bytes)):
            config = json.loads(config)
        if not isinstance(config, dict):
            raise ConfigError("config", "must be an object.")
        c = config
        vocab = _positive_int("vocabSize", c.get("vocabSize"))
        d = _positive_int("dModel", c.get("dModel"))
        layers = _resolve_layers(c)
        heads = _positive_int("heads", c["heads"] if c.get("heads") is not None else max(1, d // 64))
        if d % heads != 0:
            raise ConfigError("heads", f"must divide dModel ({d}), got {heads}.")
        kv_heads = _positive_int("kvHeads", c["kvHeads"] if c.get("kvHeads") is not None else heads)
        if heads % kv_heads != 0:
            raise ConfigError("kvHeads", f"must divide heads ({heads}), got {kv_heads}.")
        window = _positive_int("window", c["window"] if c.get("window") is not None else 512)
        uses_rope = any(l.kind in ("attention", "swa") for l in layers)
        if uses_rope and (d // heads) % 2 != 0:
            raise ConfigError("heads", f"RoPE needs an even head size, but dModel / heads = {d // heads}.")
        ssm = c.get("ssm") or {}
        bm = c.get("bmojo") or {}
        if not isinstance(ssm, dict):
            raise ConfigError("ssm", "must be an object.")
        if not isinstance(bm, dict):
            raise ConfigError("bmojo", "must be an object.")

        def opt(obj: dict, key: str, default: Any) -> Any:
            v = obj.get(key)
            return default if v is None else v

        d_state = _positive_int("ssm.dState", opt(ssm, "dState", 16))
        d_conv = _positive_int("ssm.dConv", opt(ssm, "dConv", 4))
        expand = _positive_int("ssm.expand", opt(ssm, "expand", 2))
        mf = _non_negative_int("bmojo.fadingTokens", opt(bm, "fadingTokens", 1))
        me = _non_negative_int("bmojo.eideticTokens", opt(bm, "eideticTokens", 8))
        k = _positive_int("bmojo.predictorLength", opt(bm, "predictorLength", 4))
        if any(l.kind == "bmojo" for l in layers) and mf + me == 0:
            raise ConfigError(
                "bmojo",
                "fadingTokens + eideticTokens must be ≥ 1 for a 'bmojo' block (use a 'swa' block for "
                "attention without memory).",
            )
        max_length = _positive_int("maxLength", opt(c, "maxLength", 4096))
        dtype = opt(c, "dtype", "float32")
        if dtype not in ("float32", "float64"):
            raise ConfigError("dtype", f'must be "float32" or "float64", got {json.dumps(dtype)}.')
        norm_eps = opt(c, "normEps", 1e-5)
        if not _is_number(norm_eps) or not norm_eps > 0:
            raise ConfigError("normEps", f"must be > 0, got {norm_eps}.")
        rope_theta = opt(c, "ropeTheta", 10000)
        if not _is_number(rope_theta) or not rope_theta > 1:
            raise ConfigError("ropeTheta", f"must be > 1, got {rope_theta}.")
        mlp_hidden = _positive_int(
            "mlpHidden",
            c["mlpHidden"] if c.get("mlpHidden") is not None else 64 * max(1, math.floor(d / 24 + 0.5)),
        )
        seed = _non_negative_int("seed", opt(c, "seed", 0))
        return cls(
            vocab_size=vocab,
            d_model=d,
            layers=layers,
            heads=heads,
            kv_heads=kv_heads,
            window=window,
            mlp_hidden=mlp_hidden,
            d_state=d_state,
            d_conv=d_conv,
            expand=expand,
            fading_tokens=mf,
            eidetic_tokens=me,
            predictor_length=k,
            rope_theta=float(rope_theta),
            norm_eps=float(norm_eps),
            max_length=max_length,
            dtype=dtype,
            seed=seed,
        )

    @classmethod
    def preset(cls, plan: str, size: str = "tiny", overrides: dict | None = None) -> "Config":
        """config.ts preset(plan, size, overrides): a plan at one of the preset sizes."""
        if plan not in PLAN_NAMES:
            raise ConfigError("preset", f"unknown plan {json.dumps(plan)}; use one of {', '.join(PLAN_NAMES)}.")
        if size not in PRESETS:
            raise ConfigError("preset", f"unknown size {json.dumps(size)}; use one of {', '.join(PRESETS)}.")
        s = PRESETS[size]
        raw = {
            "vocabSize": s["vocabSize"],
            "dModel": s["dModel"],
            "heads": s["heads"],
            "window": s["window"],
            "layers": plan,
            "numLayers": s["blocks"][plan],
        }
        raw.update(overrides or {})
        return cls.from_json(raw)

    def to_json(self) -> dict:
        """The resolved form, as @bmojo/model stores it in a checkpoint's metadata."""
        return {
            "vocabSize": self.vocab_size,
            "dModel": self.d_model,
            "layers": [{"kind": l.kind, "mlp": l.mlp} for l in self.layers],
            "heads": self.heads,
            "kvHeads": self.kv_heads,
            "window": self.window,
            "mlpHidden": self.mlp_hidden,
            "ssm": {"dState": self.d_state, "dConv": self.d_conv, "expand": self.expand},
            "bmojo": {
                "fadingTokens": self.fading_tokens,
                "eideticTokens": self.eidetic_tokens,
                "predictorLength": self.predictor_length,
            },
            "ropeTheta": self.rope_theta,
            "normEps": self.norm_eps,
            "maxLength": self.max_length,
            "dtype": self.dtype,
            "seed": self.seed,
        }


# --------------------------------------------------------------------------------------------
# Global settings
# --------------------------------------------------------------------------------------------

_SETTINGS: dict[str, Any] = {
    # "chunked": the vectorised chunked scan (custom op with an analytic backward);
    # "sequential": the per-time-step reference loop (autograd through plain ops).
    "scan": "chunked",
    # time steps per chunk of the chunked scan (sequential loop over chunks, carrying the state)
    "scan_chunk": 64,
    # run the per-chunk kernels through torch.compile (falls back to eager on any error)
    "scan_compiled": False,
    # "chunked": windowed attention as per-chunk SDPA calls batched over chunks ([w, 2w + m] masks);
    # "dense": one SDPA call with one [L, L + C*m] boolean mask (the literal formulation).
    "attn_layout": "chunked",
}
_COMPILE_STATE: dict[str, Any] = {"fns": None, "error": None}


def configure(
    scan: str | None = None,
    scan_chunk: int | None = None,
    scan_compiled: bool | None = None,
    attn_layout: str | None = None,
) -> dict:
    """Sets the implementation choices (module-wide); returns the current settings."""
    if scan is not None:
        if scan not in ("chunked", "sequential"):
            raise ValueError(f"scan must be 'chunked' or 'sequential', got {scan!r}.")
        _SETTINGS["scan"] = scan
    if scan_chunk is not None:
        if not isinstance(scan_chunk, int) or scan_chunk < 1:
            raise ValueError(f"scan_chunk must be a positive integer, got {scan_chunk!r}.")
        _SETTINGS["scan_chunk"] = scan_chunk
    if scan_compiled is not None:
        _SETTINGS["scan_compiled"] = bool(scan_compiled)
    if attn_layout is not None:
        if attn_layout not in ("chunked", "dense"):
            raise ValueError(f"attn_layout must be 'chunked' or 'dense', got {attn_layout!r}.")
        _SETTINGS["attn_layout"] = attn_layout
    return dict(_SETTINGS, scan_compile_error=_COMPILE_STATE["error"])


def settings() -> dict:
    return dict(_SETTINGS, scan_compile_error=_COMPILE_STATE["error"])


def set_fp32_precision(mode: str) -> None:
    """'ieee' (strict float32 matmuls and convolutions: TF32 off) or 'tf32'.

    Uses the legacy setters torch.backends.cuda.matmul.allow_tf32 / cudnn.allow_tf32: in torch
    >= 2.9 they write both the legacy state and the new fp32_precision state consistently
    (at::Context::setAllowTF32CuBLAS / setAllowTF32CuDNN), whereas setting only the new
    fp32_precision attributes leaves the legacy state behind and later reads (e.g. by Inductor)
    fail with 'mix of the legacy and new APIs'. Falls back to the new API if the legacy setters
    are gone."""
    if mode not in ("ieee", "tf32"):
        raise ValueError(f"mode must be 'ieee' or 'tf32', got {mode!r}.")
    tf32 = mode == "tf32"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            torch.backends.cuda.matmul.allow_tf32 = tf32
            torch.backends.cudnn.allow_tf32 = tf32
            return
        except Exception:
            pass
        torch.backends.cuda.matmul.fp32_precision = mode
        for target in (getattr(torch.backends.cudnn, "conv", None), getattr(torch.backends.cudnn, "rnn", None)):
            if target is not None and hasattr(target, "fp32_precision"):
                target.fp32_precision = mode


def _scan_dtype(dtype: torch.dtype) -> torch.dtype:
    """float32 for float32/bf16/fp16 models, float64 for float64 ones."""
    return torch.float64 if dtype == torch.float64 else torch.float32


@contextlib.contextmanager
def _no_autocast():
    with contextlib.ExitStack() as stack:
        for dev in ("cuda", "cpu"):
            try:
                stack.enter_context(torch.autocast(device_type=dev, enabled=False))
            except Exception:  # a device type without autocast support
                pass
        yield


# --------------------------------------------------------------------------------------------
# Selective scan
# --------------------------------------------------------------------------------------------


def selective_scan_ref(x, dt, A, B, C, h0=None):
    """Reference: a plain loop over time. x, dt [B,L,E]; A [E,N]; B, C [B,L,N] (all one float dtype).
    h_t = exp(dt_t A) h_{t-1} + (dt_t x_t) B_t;  y_t = sum_n C_t[n] h_t[:, n]. Returns (y, h_L)."""
    Bsz, L, E = x.shape
    N = A.shape[1]
    h = x.new_zeros(Bsz, E, N) if h0 is None else h0
    ys = []
    for t in range(L):
        a = torch.exp(dt[:, t, :, None] * A)
        h = a * h + (dt[:, t] * x[:, t])[:, :, None] * B[:, t, None, :]
        ys.append((h * C[:, t, None, :]).sum(-1))
    y = torch.stack(ys, 1) if ys else x.new_zeros(Bsz, 0, E)
    return y, h


def _linear_scan_chunk(dt, A, v, h0):
    """Within one chunk: h_t = exp(dt_t A) h_{t-1} + v_t for t = 0..T-1, h_{-1} = h0.
    dt [B,T,E] (>= 0), A [E,N] (< 0), v [B,T,E,N], h0 [B,E,N] -> h [B,T,E,N].

    Log space (no overflow whatever the decay): with S_t = A * cumsum(dt)_t <= 0,
      h_t = exp(S_t) h0 + sum_{tau<=t} exp(S_t - S_tau) v_tau
          = exp(S_t) h0 + exp(S_t + LCSE+_t) - exp(S_t + LCSE-_t),
    LCSE± = logcumsumexp over tau of (log|v_tau| - S_tau) restricted to v_tau > 0 (< 0).
    """
    S = torch.cumsum(dt, dim=1).unsqueeze(-1) * A  # [B,T,E,N], <= 0
    logv = torch.log(v.abs()).sub_(S)  # -inf where v == 0 (NaN stays NaN in both halves)
    lp = torch.logcumsumexp(logv.masked_fill(v <= 0, float("-inf")), dim=1)
    ln = torch.logcumsumexp(logv.masked_fill_(v >= 0, float("-inf")), dim=1)
    h = lp.add_(S).exp_().sub_(ln.add_(S).exp_())
    return h.addcmul_(S.exp_(), h0.unsqueeze(1))


def _fwd_chunk(x, dt, A, B, C, h0):
    """One chunk of the forward scan: -> (y [B,T,E], h_last [B,E,N])."""
    u = dt * x
    v = u.unsqueeze(-1) * B.unsqueeze(2)
    h = _linear_scan_chunk(dt, A, v, h0)
    y = torch.matmul(h, C.unsqueeze(-1)).squeeze(-1)
    return y, h[:, -1].clone()


def _bwd_chunk(x, dt, A, B, C, h0, gy, carry):
    """One chunk of the backward scan, recomputing the chunk's states from h0.
    carry = dL/dh_{T-1} coming from later chunks (already multiplied by their first decay).
    Returns (gx, gdt, gA, gB, gC, carry for the previous chunk)."""
    u = dt * x
    v = u.unsqueeze(-1) * B.unsqueeze(2)
    h = _linear_scan_chunk(dt, A, v, h0)
    # gH_t = C_t gy_t + exp(dt_{t+1} A) gH_{t+1}: the same recurrence run backwards in time.
    cv = gy.unsqueeze(-1) * C.unsqueeze(2)
    dt_rev = torch.cat([torch.zeros_like(dt[:, :1]), dt[:, 1:].flip(1)], 1)
    gH = _linear_scan_chunk(dt_rev, A, cv.flip(1), carry).flip(1)
    gC = torch.matmul(gy.unsqueeze(2), h).squeeze(2)  # [B,T,N]
    gu = torch.matmul(gH, B.unsqueeze(-1)).squeeze(-1)  # [B,T,E]
    gB = torch.matmul(u.unsqueeze(2), gH).squeeze(2)  # [B,T,N]
    h_prev = torch.cat([h0.unsqueeze(1), h[:, :-1]], 1)
    a = torch.exp(dt.unsqueeze(-1) * A)
    q = gH * h_prev * a  # dL/d(dt_t A) [B,T,E,N]
    gdt = gu * x + (q * A).sum(-1)
    gx = gu * dt
    gA = (q * dt.unsqueeze(-1)).sum((0, 1))
    carry_prev = a[:, 0] * gH[:, 0]
    return gx, gdt, gA, gB, gC, carry_prev


def _chunk_kernels():
    """(fwd, bwd) chunk functions: eager, or torch.compile'd when configured and working."""
    if not _SETTINGS["scan_compiled"] or _COMPILE_STATE["error"] is not None:
        return _fwd_chunk, _bwd_chunk, False
    if _COMPILE_STATE["fns"] is None:
        _COMPILE_STATE["fns"] = (
            torch.compile(_fwd_chunk, dynamic=False),
            torch.compile(_bwd_chunk, dynamic=False),
        )
    f, b = _COMPILE_STATE["fns"]
    return f, b, True


def _call_chunk(which: int, *args):
    fns = _chunk_kernels()
    if fns[2]:
        try:
            return fns[which](*args)
        except Exception as err:  # compile failure: record it and fall back to eager
            _COMPILE_STATE["error"] = f"{type(err).__name__}: {err}"[:2000]
            warnings.warn(f"bmojo_torch: compiled scan kernels failed, using eager ones ({err})")
    return (_fwd_chunk, _bwd_chunk)[which](*args)


def _scan_fwd_impl(x, dt, A, B, C, chunk):
    with torch.no_grad(), _no_autocast():
        x, dt, A, B, C = [t.contiguous() for t in (x, dt, A, B, C)]
        Bsz, L, E = x.shape
        N = A.shape[1]
        n_chunks = -(-L // chunk)
        y = torch.empty_like(x)
        h_starts = x.new_empty(n_chunks, Bsz, E, N)
        h = x.new_zeros(Bsz, E, N)
        for c in range(n_chunks):
            s, e = c * chunk, min(L, (c + 1) * chunk)
            h_starts[c] = h
            y_c, h = _call_chunk(0, x[:, s:e], dt[:, s:e], A, B[:, s:e], C[:, s:e], h)
            y[:, s:e] = y_c
        return y, h.clone(memory_format=torch.contiguous_format), h_starts


def _scan_bwd_impl(x, dt, A, B, C, h_starts, gy, gh_last, chunk):
    with torch.no_grad(), _no_autocast():
        x, dt, A, B, C, gy = [t.contiguous() for t in (x, dt, A, B, C, gy)]
        Bsz, L, E = x.shape
        n_chunks = -(-L // chunk)
        gx = torch.empty_like(x)
        gdt = torch.empty_like(dt)
        gB = torch.empty_like(B)
        gC = torch.empty_like(C)
        gA = torch.zeros_like(A)
        carry = gh_last.to(x.dtype).clone()
        for c in reversed(range(n_chunks)):
            s, e = c * chunk, min(L, (c + 1) * chunk)
            out = _call_chunk(
                1, x[:, s:e], dt[:, s:e], A, B[:, s:e], C[:, s:e], h_starts[c], gy[:, s:e], carry
            )
            gx[:, s:e], gdt[:, s:e], gA_c, gB[:, s:e], gC[:, s:e], carry = out
            gA += gA_c
        return gx, gdt, gA, gB, gC


def _register_scan_ops():
    """torch.library custom ops: opaque to torch.compile (no graph break, no tracing of the chunk
    loop), with an analytic backward that recomputes states per chunk (memory O(B·L·E) instead of
    O(B·L·E·N))."""
    ns = "bmojo_anchor"
    suffix = 0
    while hasattr(torch.ops, ns) and hasattr(getattr(torch.ops, ns), f"scan_fwd{suffix or ''}"):
        suffix += 1  # the module was imported twice (e.g. as __main__ and by name)
    tag = str(suffix or "")

    @torch.library.custom_op(f"{ns}::scan_fwd{tag}", mutates_args=())
    def scan_fwd(
        x: torch.Tensor, dt: torch.Tensor, A: torch.Tensor, B: torch.Tensor, C: torch.Tensor, chunk: int
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return _scan_fwd_impl(x, dt, A, B, C, chunk)

    @scan_fwd.register_fake
    def _(x, dt, A, B, C, chunk):
        Bsz, L, E = x.shape
        N = A.shape[1]
        n_chunks = -(-L // chunk)
        return x.new_empty((Bsz, L, E)), x.new_empty((Bsz, E, N)), x.new_empty((n_chunks, Bsz, E, N))

    @torch.library.custom_op(f"{ns}::scan_bwd{tag}", mutates_args=())
    def scan_bwd(
        x: torch.Tensor,
        dt: torch.Tensor,
        A: torch.Tensor,
        B: torch.Tensor,
        C: torch.Tensor,
        h_starts: torch.Tensor,
        gy: torch.Tensor,
        gh_last: torch.Tensor,
        chunk: int,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        return _scan_bwd_impl(x, dt, A, B, C, h_starts, gy, gh_last, chunk)

    @scan_bwd.register_fake
    def _(x, dt, A, B, C, h_starts, gy, gh_last, chunk):
        # contiguous, like the real outputs (the fake must match the real strides)
        return tuple([t.new_empty(t.shape) for t in (x, dt, A, B, C)])

    def setup_context(ctx, inputs, output):
        x, dt, A, B, C, chunk = inputs
        ctx.save_for_backward(x, dt, A, B, C, output[2])
        ctx.chunk = chunk

    def backward(ctx, gy, gh_last, _g_starts):
        x, dt, A, B, C, h_starts = ctx.saved_tensors
        if gy is None:
            gy = torch.zeros_like(x)
        if gh_last is None:
            gh_last = x.new_zeros((x.shape[0], A.shape[0], A.shape[1]))
        gx, gdt, gA, gB, gC = scan_bwd(
            x, dt, A, B, C, h_starts, gy.contiguous(), gh_last.contiguous(), ctx.chunk
        )
        return gx, gdt, gA, gB, gC, None

    scan_fwd.register_autograd(backward, setup_context=setup_context)
    return scan_fwd


_SCAN_OP = _register_scan_ops()


def selective_scan(x, dt, A, B, C, impl: str | None = None, chunk: int | None = None):
    """(y, h_last) of the Mamba-1 selective scan (without D and the gate). All inputs one float
    dtype (float32, or float64). impl 'chunked' (default, see configure) or 'sequential'."""
    impl = impl or _SETTINGS["scan"]
    if impl == "sequential":
        return selective_scan_ref(x, dt, A, B, C)
    if impl != "chunked":
        raise ValueError(f"unknown scan implementation {impl!r}")
    x, dt, A, B, C = [t.contiguous() for t in (x, dt, A, B, C)]
    y, h_last, _ = _SCAN_OP(x, dt, A, B, C, int(chunk or _SETTINGS["scan_chunk"]))
    return y, h_last


# --------------------------------------------------------------------------------------------
# Innovation scores and eidetic selection
# --------------------------------------------------------------------------------------------


def innovation_scores(y, predictor_length: int):
    """eps [B, L] of SSM outputs y [B, L, d] (no gradient), in float32 (float64 for float64 y):
    yhat_t = (y_{t-1} + ... + y_{t-k'}) / k', k' = min(k, t), yhat_0 = 0; eps_t = ||y_t - yhat_t||_2.
    Summation order as @bmojo/memory (shift 1 first); squares summed in float64, rounded once."""
    sdt = _scan_dtype(y.dtype)
    yf = y.detach().to(sdt)
    Bsz, L, d = yf.shape
    shifts = min(predictor_length, L - 1)
    if shifts <= 0:
        pred = torch.zeros_like(yf)
    else:
        acc = None
        for j in range(1, shifts + 1):
            sh = F.pad(yf[:, : L - j], (0, 0, j, 0))
            acc = sh if acc is None else acc + sh
        cnt = torch.arange(L, device=yf.device).clamp(min=1, max=predictor_length).to(sdt)
        pred = acc / cnt[None, :, None]
    diff = yf - pred
    return torch.sqrt((diff * diff).sum(-1, dtype=torch.float64).to(sdt))


def select_eidetic(scores, window: int, capacity: int, chunks: int | None = None, bounds=None):
    """Vectorised eidetic selection. For each bound s0 (default: chunk starts c*window), the
    positions s < s0 with the top-`capacity` non-NaN scores, ranked by (score descending, position
    ascending) — exactly the set @bmojo/memory's EideticStore holds after being offered 0..s0-1
    (strictly-greater admission, ties keep the earlier position). Returns (pos [B, C, capacity]
    int64 ascending with -1 for empty slots, valid [B, C, capacity] bool).

    One stable sort per row by -score (ties keep position order), then per bound a cumulative
    count of the candidates (< s0, not NaN) in that order; the first `capacity` are taken."""
    Bsz, L = scores.shape
    dev = scores.device
    if bounds is None:
        n = chunks if chunks is not None else -(-L // window)
        bounds = torch.arange(n, device=dev) * window
    else:
        bounds = torch.as_tensor(bounds, device=dev)
    n_b = bounds.shape[0]
    if capacity == 0 or L == 0:
        pos = torch.full((Bsz, n_b, capacity), -1, dtype=torch.long, device=dev)
        return pos, pos >= 0
    s = scores + 0.0  # -0.0 -> +0.0 (equal scores must tie)
    order = torch.sort(-s, dim=1, stable=True).indices  # [B, L]
    ok = ~torch.isnan(torch.gather(s, 1, order))
    cand = (order[:, None, :] < bounds[None, :, None]) & ok[:, None, :]  # [B, C, L]
    rank = torch.cumsum(cand.to(torch.int32), dim=-1)
    take = cand & (rank <= capacity)
    big = torch.where(take, order[:, None, :], torch.full_like(order[:, None, :], L))
    k = min(capacity, L)
    sel = torch.topk(big, k, dim=-1, largest=False, sorted=True).values
    if k < capacity:
        sel = torch.cat([sel, sel.new_full((Bsz, n_b, capacity - k), L)], -1)
    valid = sel < L
    return torch.where(valid, sel, torch.full_like(sel, -1)), valid


def eidetic_reference(scores: list[float], window: int, capacity: int, chunks: int) -> list[list[int]]:
    """The EideticStore rule, literally (for tests): per chunk the sorted held positions."""
    entries: list[list[float]] = []
    out, nxt = [], 0
    for c in range(chunks):
        end = min(c * window, len(scores))
        while nxt < end:
            sc = scores[nxt]
            if not math.isnan(sc) and capacity > 0:
                if len(entries) < capacity:
                    entries.append([nxt, sc])
                else:
                    mn = min(e[1] for e in entries)
                    if sc > mn:
                        victim = max((e for e in entries if e[1] == mn), key=lambda e: e[0])
                        entries.remove(victim)
                        entries.append([nxt, sc])
            nxt += 1
        out.append(sorted(int(e[0]) for e in entries))
    return out


# --------------------------------------------------------------------------------------------
# Attention helpers
# --------------------------------------------------------------------------------------------

_ROPE_CACHE: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}


def rope_tables(length: int, head_dim: int, theta: float, device) -> tuple[torch.Tensor, torch.Tensor]:
    """cos, sin [length, head_dim/2] in float64 of pos * theta^(-2i/Dh) (computed on the host in
    float64, like @bmojo/attention's table)."""
    key = (head_dim, float(theta), str(torch.device(device)))
    cached = _ROPE_CACHE.get(key)
    if cached is None or cached[0].shape[0] < length:
        size = max(length, 64, 2 * (cached[0].shape[0] if cached is not None else 0))
        half = head_dim // 2
        i = torch.arange(half, dtype=torch.float64)
        inv = torch.pow(torch.tensor(float(theta), dtype=torch.float64), -2.0 * i / head_dim)
        ang = torch.arange(size, dtype=torch.float64)[:, None] * inv[None, :]
        cached = (ang.cos().to(device), ang.sin().to(device))
        _ROPE_CACHE[key] = cached
    return cached[0][:length], cached[1][:length]


def apply_rope(x, cos, sin):
    """Rotate-half RoPE on x [B, L, H, Dh] with cos/sin [L, Dh/2]; computed in float32 (float64)."""
    half = x.shape[-1] // 2
    cdt = _scan_dtype(x.dtype)
    xf = x.to(cdt)
    c = cos.to(cdt)[:, None, :]
    s = sin.to(cdt)[:, None, :]
    x1, x2 = xf[..., :half], xf[..., half:]
    return torch.cat([x1 * c - x2 * s, x2 * c + x1 * s], -1).to(x.dtype)


def _expand_kv(t, heads: int, dim: int):
    rep = heads // t.shape[dim]
    return t if rep == 1 else t.repeat_interleave(rep, dim=dim)


def _sdpa(q, k, v, mask=None, causal=False):
    """SDPA on [B, L, H, Dh] layouts (transposed views) -> [B, L, H, Dh]."""
    out = F.scaled_dot_product_attention(
        q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), attn_mask=mask, is_causal=causal
    )
    return out.transpose(1, 2)


def local_attention(q, k, v, window: int, mem_k=None, mem_v=None, mem_valid=None, layout: str | None = None):
    """Causal attention where query t sees keys t-window+1..t plus (optionally) the valid memory
    slots of its chunk floor(t/window), all in one softmax (scale 1/sqrt(Dh)).

    q [B, L, H, Dh]; k, v [B, L, Hkv, Dh]; mem_k, mem_v [B, C, m, Hkv, Dh] with C = ceil(L/window);
    mem_valid [B, C, m] bool. Returns [B, L, H, Dh].

    layout 'dense': one SDPA call, keys = [in-context L ; C*m memory], one boolean mask
      [B, 1, L, L + C*m] (padded to a multiple of 16 keys with masked zero keys).
    layout 'chunked': chunk c's w queries against [chunk c-1 ; chunk c ; chunk c's m slots] with a
      [w, 2w + m] mask, all chunks batched into one SDPA call (same result, ~L/(2w) fewer FLOPs).
    Without memory and window >= L: is_causal=True (the flash path)."""
    Bsz, L, H, Dh = q.shape
    layout = layout or _SETTINGS["attn_layout"]
    k = _expand_kv(k, H, 2)
    v = _expand_kv(v, H, 2)
    has_mem = mem_k is not None and mem_k.shape[2] > 0
    if has_mem:
        mem_k = _expand_kv(mem_k, H, 3)
        mem_v = _expand_kv(mem_v, H, 3)
    if window >= L and not has_mem:
        return _sdpa(q, k, v, causal=True)
    n_chunks = -(-L // window)
    if layout == "dense" or n_chunks == 1:
        return _dense_local_attention(q, k, v, window, mem_k if has_mem else None, mem_v, mem_valid)
    return _chunked_local_attention(q, k, v, window, mem_k if has_mem else None, mem_v, mem_valid)


def _dense_local_attention(q, k, v, w, mem_k, mem_v, mem_valid):
    Bsz, L, H, Dh = q.shape
    dev = q.device
    t = torch.arange(L, device=dev)
    ctx = (t[None, :] <= t[:, None]) & ((t[:, None] - t[None, :]) < w)  # [L, L]
    keys, vals = [k], [v]
    S = L
    if mem_k is not None:
        C, m = mem_k.shape[1], mem_k.shape[2]
        keys.append(mem_k.reshape(Bsz, C * m, H, Dh))
        vals.append(mem_v.reshape(Bsz, C * m, H, Dh))
        slot_chunk = torch.arange(C * m, device=dev) // m
        mem_ok = ((t // w)[:, None] == slot_chunk[None, :])[None] & mem_valid.reshape(Bsz, 1, C * m)
        masks = [ctx.expand(Bsz, L, L), mem_ok]
        S += C * m
    else:
        masks = [ctx]
    pad = (-S) % 16
    if pad:
        keys.append(k.new_zeros(Bsz, pad, H, Dh))
        vals.append(v.new_zeros(Bsz, pad, H, Dh))
        masks.append(torch.zeros(masks[0].shape[:-1] + (pad,), dtype=torch.bool, device=dev))
    mask = torch.cat(masks, -1)
    if mask.dim() == 3:
        mask = mask[:, None]
    return _sdpa(q, torch.cat(keys, 1), torch.cat(vals, 1), mask=mask)


def _chunked_local_attention(q, k, v, w, mem_k, mem_v, mem_valid):
    Bsz, L, H, Dh = q.shape
    dev = q.device
    C = -(-L // w)
    pad_l = C * w - L
    if pad_l:
        q, k, v = [F.pad(t, (0, 0, 0, 0, 0, pad_l)) for t in (q, k, v)]
    qc = q.reshape(Bsz * C, w, H, Dh)
    kc = k.reshape(Bsz, C, w, H, Dh)
    vc = v.reshape(Bsz, C, w, H, Dh)
    keys = [torch.cat([torch.zeros_like(kc[:, :1]), kc[:, :-1]], 1), kc]
    vals = [torch.cat([torch.zeros_like(vc[:, :1]), vc[:, :-1]], 1), vc]
    j = torch.arange(w, device=dev)[:, None]
    i = torch.arange(2 * w, device=dev)[None, :]
    ctx = (i > j) & (i <= j + w)  # key i <-> position (c-1)w + i; query j <-> cw + j
    ctx_c = torch.where(torch.arange(C, device=dev)[:, None, None] == 0, ctx & (i >= w), ctx)
    masks = [ctx_c[None].expand(Bsz, C, w, 2 * w)]
    S = 2 * w
    if mem_k is not None:
        m = mem_k.shape[2]
        keys.append(mem_k)
        vals.append(mem_v)
        masks.append(mem_valid[:, :, None, :].expand(Bsz, C, w, m))
        S += m
    pad = (-S) % 16
    if pad:
        keys.append(kc.new_zeros(Bsz, C, pad, H, Dh))
        vals.append(vc.new_zeros(Bsz, C, pad, H, Dh))
        masks.append(torch.zeros(Bsz, C, w, pad, dtype=torch.bool, device=dev))
        S += pad
    K = torch.cat(keys, 2).reshape(Bsz * C, S, H, Dh)
    V = torch.cat(vals, 2).reshape(Bsz * C, S, H, Dh)
    mask = torch.cat(masks, -1).reshape(Bsz * C, 1, w, S)
    out = _sdpa(qc, K, V, mask=mask)  # [B*C, w, H, Dh]
    return out.reshape(Bsz, C * w, H, Dh)[:, :L]


# --------------------------------------------------------------------------------------------
# Layers
# --------------------------------------------------------------------------------------------


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        cdt = _scan_dtype(x.dtype)
        xf = x.to(cdt)
        out = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight.to(cdt)
        return out.to(x.dtype)


class SwiGLU(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.w_gate = nn.Linear(dim, hidden, bias=False)
        self.w_up = nn.Linear(dim, hidden, bias=False)
        self.w_down = nn.Linear(hidden, dim, bias=False)

    def forward(self, x):
        return self.w_down(F.silu(self.w_gate(x)) * self.w_up(x))


class Mamba(nn.Module):
    """Mamba-1 mixer with mamba_ssm's parameter names."""

    def __init__(self, cfg: Config):
        super().__init__()
        d, E, N, R, K = cfg.d_model, cfg.d_inner, cfg.d_state, cfg.dt_rank, cfg.d_conv
        self.d_inner, self.d_state, self.dt_rank, self.d_conv = E, N, R, K
        self.in_proj = nn.Linear(d, 2 * E, bias=False)
        self.conv1d = nn.Conv1d(E, E, K, groups=E, padding=K - 1, bias=True)
        self.x_proj = nn.Linear(E, R + 2 * N, bias=False)
        self.dt_proj = nn.Linear(R, E, bias=True)
        self.A_log = nn.Parameter(torch.empty(E, N))
        self.D = nn.Parameter(torch.empty(E))
        self.out_proj = nn.Linear(E, d, bias=False)

    def _ssm_inputs(self, xc):
        """x_proj -> dt (softplus, float32), B, C (float32), A."""
        sdt = _scan_dtype(self.A_log.dtype)
        dt_low, Bm, Cm = self.x_proj(xc).split([self.dt_rank, self.d_state, self.d_state], -1)
        dt = F.softplus(F.linear(dt_low, self.dt_proj.weight).to(sdt) + self.dt_proj.bias.to(sdt))
        A = -torch.exp(self.A_log.to(sdt))
        return dt, A, Bm.to(sdt), Cm.to(sdt)

    def forward(self, u, rope=None, want_state: bool = False):
        Bsz, L, _ = u.shape
        E, K = self.d_inner, self.d_conv
        sdt = _scan_dtype(self.A_log.dtype)
        x, z = self.in_proj(u).split([E, E], -1)
        xc = F.conv1d(x.transpose(1, 2), self.conv1d.weight, self.conv1d.bias, padding=K - 1, groups=E)
        xc = F.silu(xc[..., :L]).transpose(1, 2)
        dt, A, Bm, Cm = self._ssm_inputs(xc)
        xs = xc.to(sdt)
        y, h_last = selective_scan(xs, dt, A, Bm, Cm)
        y = (y + xs * self.D.to(sdt)) * F.silu(z.to(sdt))
        out = self.out_proj(y)
        if not want_state:
            return out
        conv = x.to(sdt)[:, max(0, L - (K - 1)) :]
        if conv.shape[1] < K - 1:
            conv = F.pad(conv, (0, 0, K - 1 - conv.shape[1], 0))
        return out, {"conv": conv.contiguous(), "ssm": h_last.to(sdt).contiguous()}

    def prefill(self, u, rope=None, capacity=None):
        return self.forward(u, want_state=True)

    def step(self, u, state, rope=None):
        """One token u [B, d] -> [B, d]; state {'conv' [B,K-1,E], 'ssm' [B,E,N]} updated in place."""
        E, K = self.d_inner, self.d_conv
        sdt = _scan_dtype(self.A_log.dtype)
        x, z = self.in_proj(u).split([E, E], -1)
        win = torch.cat([state["conv"], x.to(sdt)[:, None]], 1)  # [B, K, E], oldest first
        w = self.conv1d.weight.to(sdt).reshape(E, K)
        xc = F.silu((win * w.t()[None]).sum(1) + self.conv1d.bias.to(sdt))
        state["conv"].copy_(win[:, 1:])
        dt, A, Bm, Cm = self._ssm_inputs(xc)
        h = state["ssm"]
        h.mul_(torch.exp(dt[..., None] * A)).add_((dt * xc)[..., None] * Bm[:, None, :])
        y = torch.matmul(h, Cm[..., None]).squeeze(-1) + self.D.to(sdt) * xc
        return self.out_proj(y * F.silu(z.to(sdt)))


class Attention(nn.Module):
    """Multi-head / grouped-query attention (no biases); window None = full causal attention."""

    def __init__(self, cfg: Config, window: int | None, rope: bool):
        super().__init__()
        d, H, Hkv, Dh = cfg.d_model, cfg.heads, cfg.kv_heads, cfg.head_dim
        self.heads, self.kv_heads, self.head_dim = H, Hkv, Dh
        self.window = window
        self.rope = rope
        self.q_proj = nn.Linear(d, H * Dh, bias=False)
        self.k_proj = nn.Linear(d, Hkv * Dh, bias=False)
        self.v_proj = nn.Linear(d, Hkv * Dh, bias=False)
        self.o_proj = nn.Linear(H * Dh, d, bias=False)

    def project(self, x, rope=None):
        """x [B, L, d] -> q [B, L, H, Dh], k, v [B, L, Hkv, Dh], RoPE (tables for these positions)."""
        Bsz, L, _ = x.shape
        q = self.q_proj(x).view(Bsz, L, self.heads, self.head_dim)
        k = self.k_proj(x).view(Bsz, L, self.kv_heads, self.head_dim)
        v = self.v_proj(x).view(Bsz, L, self.kv_heads, self.head_dim)
        if self.rope:
            if rope is None:
                raise ValueError("Attention with RoPE needs the cos/sin tables.")
            q = apply_rope(q, *rope)
            k = apply_rope(k, *rope)
        return q, k, v

    def project_kv(self, tokens):
        """Memory tokens [..., d] -> k, v [..., Hkv, Dh] (NoPE)."""
        shape = tokens.shape[:-1] + (self.kv_heads, self.head_dim)
        return self.k_proj(tokens).view(shape), self.v_proj(tokens).view(shape)

    def forward(self, x, rope=None):
        Bsz, L, _ = x.shape
        q, k, v = self.project(x, rope)
        window = L if self.window is None else self.window
        return self.o_proj(local_attention(q, k, v, window).reshape(Bsz, L, -1))

    def prefill(self, x, rope=None, capacity=None):
        Bsz, L, _ = x.shape
        q, k, v = self.project(x, rope)
        window = L if self.window is None else self.window
        out = self.o_proj(local_attention(q, k, v, window).reshape(Bsz, L, -1))
        return out, _kv_cache_from(k, v, self.window, capacity)

    def step(self, u, cache, rope=None):
        """One token u [B, d] at position cache['pos'] -> [B, d]; rope: tables for that position."""
        Bsz = u.shape[0]
        q, k, v = self.project(u[:, None], rope)
        n = _kv_cache_append(cache, k[:, 0], v[:, 0])
        keys = _expand_kv(cache["k"][:, :n], self.heads, 2)
        vals = _expand_kv(cache["v"][:, :n], self.heads, 2)
        out = _sdpa(q, keys, vals)
        return self.o_proj(out.reshape(Bsz, -1))

    def step_at(self, u, cache, rope, pos):
        """`step` at the position held by the 1-element long tensor pos, with no Python-side
        position (so torch.cuda.graph can capture it): the key/value go to slot pos (pos mod
        window in a ring) by index_copy_, and SDPA runs over the whole buffer with the mask of the
        slots written so far (slot j <= pos, in a full buffer and in a ring alike)."""
        Bsz = u.shape[0]
        q, k, v = self.project(u[:, None], rope)
        size = cache["k"].shape[1]
        slot = pos % size if cache["ring"] else pos
        cache["k"].index_copy_(1, slot, k.to(cache["k"].dtype))
        cache["v"].index_copy_(1, slot, v.to(cache["v"].dtype))
        mask = (torch.arange(size, device=pos.device) <= pos).view(1, 1, 1, size)
        keys = _expand_kv(cache["k"], self.heads, 2)
        vals = _expand_kv(cache["v"], self.heads, 2)
        out = _sdpa(q, keys, vals, mask=mask)
        return self.o_proj(out.reshape(Bsz, -1))


def _kv_cache_from(k, v, window: int | None, capacity: int | None):
    """A KV cache after a prefill: a buffer of `capacity` positions (full attention) or a ring of
    `window` slots (slot = position mod window)."""
    Bsz, L, Hkv, Dh = k.shape
    ring = window is not None and (capacity is None or window < capacity)
    size = window if ring else max(capacity or 0, L)
    kb = k.new_zeros(Bsz, size, Hkv, Dh)
    vb = v.new_zeros(Bsz, size, Hkv, Dh)
    if ring:
        pos = torch.arange(max(0, L - window), L, device=k.device)
        kb[:, pos % window] = k[:, pos]
        vb[:, pos % window] = v[:, pos]
    else:
        kb[:, :L] = k
        vb[:, :L] = v
    return {"k": kb, "v": vb, "ring": ring, "pos": L}


def _kv_cache_append(cache, k, v) -> int:
    """Writes one token's k, v [B, Hkv, Dh]; returns the number of valid leading slots."""
    p = cache["pos"]
    size = cache["k"].shape[1]
    if cache["ring"]:
        slot, n = p % size, min(p + 1, size)
    else:
        if p >= size:
            raise RuntimeError(f"KV cache full ({size} positions); prefill with a larger capacity.")
        slot, n = p, p + 1
    cache["k"][:, slot] = k
    cache["v"][:, slot] = v
    cache["pos"] = p + 1
    return n


class BMojoLayer(nn.Module):
    """B'MOJO mixer: Mamba fading memory y; innovation-selected eidetic inputs; one NoPE attention
    over the last w inputs plus the chunk's fading (y_{s0-m_f..s0-1}) and eidetic tokens."""

    def __init__(self, cfg: Config, eidetic_tokens: int):
        super().__init__()
        self.ssm = Mamba(cfg)
        self.attn = Attention(cfg, window=cfg.window, rope=False)
        self.window = cfg.window
        self.mf = cfg.fading_tokens
        self.me = eidetic_tokens
        self.k = cfg.predictor_length

    @property
    def slots(self) -> int:
        return self.mf + self.me

    def _parallel(self, u, want_state: bool):
        Bsz, L, d = u.shape
        w, mf, me = self.window, self.mf, self.me
        C = -(-L // w)
        dev = u.device
        if want_state:
            y, ssm_state = self.ssm(u, want_state=True)
        else:
            y, ssm_state = self.ssm(u), None
        eps = innovation_scores(y, self.k) if me > 0 else None
        q, k, v = self.attn.project(u)
        mk = mv = valid = None
        if mf + me > 0:
            toks, valids = [], []
            if mf > 0:
                idx = torch.arange(C, device=dev)[:, None] * w - mf + torch.arange(mf, device=dev)[None, :]
                toks.append(y[:, idx.clamp(min=0)].to(u.dtype))  # [B, C, mf, d]
                valids.append((idx >= 0)[None].expand(Bsz, C, mf))
            if me > 0:
                pos, ok = select_eidetic(eps, w, me, C)  # [B, C, me]
                bidx = torch.arange(Bsz, device=dev)[:, None, None]
                toks.append(u[bidx, pos.clamp(min=0)])
                valids.append(ok)
            mk, mv = self.attn.project_kv(torch.cat(toks, 2))  # [B, C, m, Hkv, Dh]
            valid = torch.cat(valids, 2)
        att = local_attention(q, k, v, w, mk, mv, valid)
        out = self.attn.o_proj(att.reshape(Bsz, L, -1))
        return out, dict(y=y, eps=eps, k=k, v=v, mk=mk, mv=mv, valid=valid, ssm=ssm_state)

    def forward(self, u, rope=None):
        return self._parallel(u, False)[0]

    def prefill(self, u, rope=None, capacity=None):
        """The parallel form that also returns the recurrent cache exactly as L steps leave it."""
        Bsz, L, d = u.shape
        w, mf, me, m = self.window, self.mf, self.me, self.slots
        out, it = self._parallel(u, True)
        dev = u.device
        sdt = _scan_dtype(self.ssm.A_log.dtype)
        k, v = it["k"], it["v"]
        Hkv, Dh = k.shape[2], k.shape[3]
        hist_len = max(self.k, mf, 1)
        hist = torch.zeros(Bsz, hist_len, d, dtype=sdt, device=dev)
        hpos = torch.arange(max(0, L - hist_len), L, device=dev)
        hist[:, hpos % hist_len] = it["y"][:, hpos].to(sdt)
        cache = {
            "ssm": it["ssm"],
            "kv": _kv_cache_from(k, v, w, None),
            "hist": hist,
            "memK": k.new_zeros(Bsz, m, Hkv, Dh),
            "memV": v.new_zeros(Bsz, m, Hkv, Dh),
            "memValid": torch.zeros(Bsz, m, dtype=torch.bool, device=dev),
            "pos": L,
        }
        if me > 0:
            pos, ok = select_eidetic(it["eps"], w, me, bounds=[L])
            pos, ok = pos[:, 0], ok[:, 0]  # [B, me]
            pc = pos.clamp(min=0)
            bidx = torch.arange(Bsz, device=dev)[:, None]
            cache["storePos"] = pos.clone()
            cache["storeScore"] = torch.where(ok, torch.gather(it["eps"], 1, pc), 0.0)
            cache["storeK"] = k[bidx, pc].clone()
            cache["storeV"] = v[bidx, pc].clone()
        if m > 0 and L % w != 0:  # the chunk the next token falls in is already under way
            c = L // w
            cache["memK"].copy_(it["mk"][:, c])
            cache["memV"].copy_(it["mv"][:, c])
            cache["memValid"].copy_(it["valid"][:, c])
        return out, cache

    def _refresh(self, cache):
        """At a chunk boundary: fading slots from the last m_f SSM outputs, eidetic slots from the
        store as it is now (positions < p)."""
        p, mf, me = cache["pos"], self.mf, self.me
        hist = cache["hist"]
        if mf > 0:
            src = [p - mf + j for j in range(mf)]
            idx = torch.tensor([s % hist.shape[1] if s >= 0 else 0 for s in src], device=hist.device)
            toks = hist[:, idx].to(self.attn.k_proj.weight.dtype)
            fk, fv = self.attn.project_kv(toks)
            cache["memK"][:, :mf] = fk
            cache["memV"][:, :mf] = fv
            cache["memValid"][:, :mf] = torch.tensor([s >= 0 for s in src], device=hist.device)
        if me > 0:
            cache["memK"][:, mf:] = cache["storeK"]
            cache["memV"][:, mf:] = cache["storeV"]
            cache["memValid"][:, mf:] = cache["storePos"] >= 0

    def _offer(self, cache, p: int, eps, k, v):
        """The EideticStore rule for one position, vectorised over the batch, no host sync."""
        pos, sc = cache["storePos"], cache["storeScore"]
        me = pos.shape[1]
        filled = pos >= 0
        not_full = ~filled.all(1)
        free = (~filled).to(torch.int32).argmax(1)  # first free slot
        mn = sc.min(1).values  # meaningful when full
        evict = torch.where(sc == mn[:, None], pos, torch.full_like(pos, -1)).argmax(1)  # latest tie
        slot = torch.where(not_full, free, evict)
        admit = ~torch.isnan(eps) & (not_full | (eps > mn))
        hot = (torch.arange(me, device=pos.device)[None] == slot[:, None]) & admit[:, None]
        sc.copy_(torch.where(hot, eps[:, None].to(sc.dtype), sc))
        pos.copy_(torch.where(hot, torch.full_like(pos, p), pos))
        h4 = hot[:, :, None, None]
        cache["storeK"].copy_(torch.where(h4, k[:, None].to(cache["storeK"].dtype), cache["storeK"]))
        cache["storeV"].copy_(torch.where(h4, v[:, None].to(cache["storeV"].dtype), cache["storeV"]))

    def step(self, u, cache, rope=None):
        Bsz, d = u.shape
        p, w, me, m = cache["pos"], self.window, self.me, self.slots
        hist = cache["hist"]
        hl = hist.shape[1]
        if m > 0 and p % w == 0:
            self._refresh(cache)
        y = self.ssm.step(u, cache["ssm"])
        yf = y.to(hist.dtype)
        eps = None
        if me > 0:
            kk = min(self.k, p)
            if kk == 0:
                pred = torch.zeros_like(yf)
            else:
                acc = hist[:, (p - 1) % hl]
                for j in range(2, kk + 1):
                    acc = acc + hist[:, (p - j) % hl]
                pred = acc / kk
            diff = yf - pred
            eps = torch.sqrt((diff * diff).sum(-1, dtype=torch.float64).to(hist.dtype))
        q, k, v = self.attn.project(u[:, None])
        n = _kv_cache_append(cache["kv"], k[:, 0], v[:, 0])
        keys, vals = cache["kv"]["k"][:, :n], cache["kv"]["v"][:, :n]
        mask = None
        if m > 0:
            keys = torch.cat([keys, cache["memK"]], 1)
            vals = torch.cat([vals, cache["memV"]], 1)
            ones = torch.ones(Bsz, n, dtype=torch.bool, device=u.device)
            mask = torch.cat([ones, cache["memValid"]], 1)[:, None, None, :]
        H = self.attn.heads
        out = _sdpa(q, _expand_kv(keys, H, 2), _expand_kv(vals, H, 2), mask=mask)
        if me > 0:
            self._offer(cache, p, eps, k[:, 0], v[:, 0])
        hist[:, p % hl] = yf
        cache["pos"] = p + 1
        return self.attn.o_proj(out.reshape(Bsz, -1))


def _make_mixer(spec: LayerSpec, cfg: Config) -> nn.Module:
    if spec.kind == "mamba":
        return Mamba(cfg)
    if spec.kind == "attention":
        return Attention(cfg, window=None, rope=True)
    if spec.kind == "swa":
        return Attention(cfg, window=cfg.window, rope=True)
    return BMojoLayer(cfg, 0 if spec.kind == "bmojo-f" else cfg.eidetic_tokens)


class Block(nn.Module):
    """h = x + mixer(RMSNorm(x)); out = h + SwiGLU(RMSNorm(h)) (no MLP: out = h)."""

    def __init__(self, spec: LayerSpec, cfg: Config):
        super().__init__()
        self.kind = spec.kind
        self.norm1 = RMSNorm(cfg.d_model, cfg.norm_eps)
        self.mixer = _make_mixer(spec, cfg)
        self.norm2 = RMSNorm(cfg.d_model, cfg.norm_eps) if spec.mlp else None
        self.mlp = SwiGLU(cfg.d_model, cfg.mlp_hidden) if spec.mlp else None

    def _mlp(self, h):
        return h if self.mlp is None else h + self.mlp(self.norm2(h))

    def forward(self, x, rope=None):
        return self._mlp(x + self.mixer(self.norm1(x), rope))

    def prefill(self, x, rope, capacity):
        mixed, cache = self.mixer.prefill(self.norm1(x), rope, capacity)
        return self._mlp(x + mixed), cache

    def step(self, x, cache, rope):
        return self._mlp(x + self.mixer.step(self.norm1(x), cache, rope))

    def step_at(self, x, cache, rope, pos):
        """`step` with the position in the device tensor pos (Attention.step_at; Mamba reads none)."""
        if isinstance(self.mixer, Attention):
            return self._mlp(x + self.mixer.step_at(self.norm1(x), cache, rope, pos))
        if isinstance(self.mixer, Mamba):
            return self.step(x, cache, rope)
        raise ValueError(f"a '{self.kind}' block has no step at a device position")


# --------------------------------------------------------------------------------------------
# Language model
# --------------------------------------------------------------------------------------------


class LanguageModel(nn.Module):
    """embedding -> blocks -> RMSNorm -> untied lm_head; state_dict keys == conventions.md."""

    def __init__(self, config: "Config | dict | str", device=None, dtype: torch.dtype | None = None):
        super().__init__()
        cfg = config if isinstance(config, Config) else Config.from_json(config)
        self.config = cfg
        dev = torch.device(device) if device is not None else torch.device("cpu")
        with dev:
            self.embedding = nn.Embedding(cfg.vocab_size, cfg.d_model)
            self.layers = nn.ModuleList([Block(spec, cfg) for spec in cfg.layers])
            self.norm_f = RMSNorm(cfg.d_model, cfg.norm_eps)
            self.lm_head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        self.uses_rope = any(s.kind in ("attention", "swa") for s in cfg.layers)
        self._compiled: list | None = None
        self.reset_parameters(cfg.seed)
        self.to(dtype or cfg.torch_dtype)

    # Initialisation (the distributions of @bmojo/model; not its random stream) ----------------
    @torch.no_grad()
    def reset_parameters(self, seed: int = 0) -> None:
        dev = self.lm_head.weight.device
        g = torch.Generator(device=dev)
        g.manual_seed(seed)
        for mod in self.modules():
            if isinstance(mod, nn.Linear):
                b = 1.0 / math.sqrt(mod.in_features)
                mod.weight.uniform_(-b, b, generator=g)
                if mod.bias is not None:
                    mod.bias.uniform_(-b, b, generator=g)
            elif isinstance(mod, nn.Conv1d):
                b = 1.0 / math.sqrt(mod.kernel_size[0])
                mod.weight.uniform_(-b, b, generator=g)
                mod.bias.uniform_(-b, b, generator=g)
            elif isinstance(mod, RMSNorm):
                mod.weight.fill_(1.0)
        self.embedding.weight.normal_(0.0, 0.02, generator=g)
        for mod in self.modules():
            if isinstance(mod, Mamba):
                E, N = mod.A_log.shape
                r = torch.rand(E, generator=g, device=dev, dtype=torch.float64)
                dt = torch.exp(r * (math.log(0.1) - math.log(0.001)) + math.log(0.001)).clamp(min=1e-4)
                mod.dt_proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))
                mod.A_log.copy_(torch.log(torch.arange(1, N + 1, dtype=torch.float64, device=dev)).expand(E, N))
                mod.D.fill_(1.0)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    # Loading ------------------------------------------------------------------------------
    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        """As nn.Module.load_state_dict; a conv1d.weight stored [E, K] is accepted ([E, 1, K])."""
        sd = dict(state_dict)
        for key, t in list(sd.items()):
            if key.endswith("conv1d.weight") and t.dim() == 2:
                sd[key] = t.unsqueeze(1)
        return super().load_state_dict(sd, strict=strict, assign=assign)

    # Compilation ----------------------------------------------------------------------------
    def enable_compile(self, **kwargs) -> None:
        """Regional compilation: torch.compile each block (identical blocks share one compiled
        graph, so a 24-block model compiles as fast as one block). Embedding, final norm and
        lm_head stay eager (one gather and one GEMM)."""
        kwargs.setdefault("dynamic", False)
        self._compiled = [torch.compile(b, **kwargs) for b in self.layers]

    def disable_compile(self) -> None:
        self._compiled = None

    def _blocks(self, compiled: bool | None):
        use = self._compiled is not None if compiled is None else compiled
        if use and self._compiled is None:
            raise RuntimeError("call enable_compile() first")
        return self._compiled if use else list(self.layers)

    def _rope(self, length: int, device):
        if not self.uses_rope:
            return None
        cfg = self.config
        return rope_tables(length, cfg.head_dim, cfg.rope_theta, device)

    def _check_ids(self, ids, rank: int):
        if ids.dim() != rank:
            raise ValueError(f"ids must have rank {rank}, got shape {tuple(ids.shape)}")
        if ids.dtype not in (torch.int32, torch.int64):
            raise TypeError(f"ids must be integer token ids, got {ids.dtype}")

    # Forward --------------------------------------------------------------------------------
    def hidden(self, ids, compiled: bool | None = None):
        self._check_ids(ids, 2)
        h = self.embedding(ids)
        rope = self._rope(ids.shape[1], ids.device)
        for blk in self._blocks(compiled):
            h = blk(h, rope)
        return self.norm_f(h)

    def forward(self, ids, compiled: bool | None = None):
        """ids [B, L] -> logits [B, L, vocab] (the parallel form)."""
        return self.lm_head(self.hidden(ids, compiled))

    def loss(self, ids, targets, ignore_index: int = -100, compiled: bool | None = None):
        """Mean next-token cross-entropy over the targets != ignore_index (0 if there are none)."""
        logits = self.forward(ids, compiled)
        flat = targets.reshape(-1).long()
        total = F.cross_entropy(
            logits.float().reshape(-1, logits.shape[-1]), flat, ignore_index=ignore_index, reduction="sum"
        )
        count = (flat != ignore_index).sum().clamp(min=1)
        return total / count.to(total.dtype)

    # Recurrent decoding ---------------------------------------------------------------------
    def prefill(self, ids, capacity: int | None = None):
        """The parallel form over a prompt ids [B, L] that also returns the recurrent cache;
        capacity = positions a full-attention KV buffer holds (default max(maxLength, L + 1))."""
        self._check_ids(ids, 2)
        Bsz, L = ids.shape
        capacity = capacity or max(self.config.max_length, L + 1)
        h = self.embedding(ids)
        rope = self._rope(L, ids.device)
        caches = []
        for blk in self.layers:
            h, c = blk.prefill(h, rope, capacity)
            caches.append(c)
        logits = self.lm_head(self.norm_f(h))
        return logits, {"layers": caches, "pos": L, "batch": Bsz}

    def step_at(self, ids, cache, pos, positions: int):
        """`step` at the position held by the 1-element long tensor pos (< positions, which sizes
        the RoPE tables), reading no Python-side position, so that torch.cuda.graph can capture
        it; advancing pos (and cache["pos"]) is the caller's. Mamba and attention blocks only."""
        self._check_ids(ids, 1)
        rope = None
        if self.uses_rope:
            cos, sin = self._rope(positions, ids.device)
            rope = (cos.index_select(0, pos), sin.index_select(0, pos))
        h = self.embedding(ids)
        for blk, c in zip(self.layers, cache["layers"]):
            h = blk.step_at(h, c, rope, pos)
        return self.lm_head(self.norm_f(h))

    def step(self, ids, cache):
        """One token per sequence ids [B] -> logits [B, vocab]; updates the cache in place."""
        self._check_ids(ids, 1)
        p = cache["pos"]
        rope = None
        if self.uses_rope:
            cos, sin = self._rope(p + 1, ids.device)
            rope = (cos[p : p + 1], sin[p : p + 1])
        h = self.embedding(ids)
        for blk, c in zip(self.layers, cache["layers"]):
            h = blk.step(h, c, rope)
        cache["pos"] = p + 1
        return self.lm_head(self.norm_f(h))


def _mixer_cache_bytes(cache) -> int:
    total = 0
    stack = [cache]
    while stack:
        c = stack.pop()
        if isinstance(c, torch.Tensor):
            total += c.numel() * c.element_size()
        elif isinstance(c, dict):
            stack.extend(c.values())
        elif isinstance(c, (list, tuple)):
            stack.extend(c)
    return total


def cache_bytes(cache) -> int:
    """Bytes of the tensors a decoding cache holds."""
    return _mixer_cache_bytes(cache)


# --------------------------------------------------------------------------------------------
# Checkpoints
# --------------------------------------------------------------------------------------------


def read_checkpoint_config(path: str) -> tuple[Config, dict]:
    from safetensors import safe_open

    with safe_open(path, framework="pt") as f:
        meta = f.metadata() or {}
    if "config" not in meta:
        raise ValueError(
            f"{path}: no model config in the safetensors __metadata__ (expected JSON under 'config')."
        )
    try:
        raw = json.loads(meta["config"])
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: __metadata__.config is not valid JSON ({err}).") from err
    return Config.from_json(raw), meta


def load_checkpoint(path: str, device=None, dtype: torch.dtype | None = None):
    """-> (model, config): builds the model from __metadata__['config'] and loads the tensors
    (strict: every key must match, shapes must agree)."""
    from safetensors.torch import load_file

    if not os.path.isfile(path):
        raise FileNotFoundError(f"checkpoint not found: {path}")
    cfg, _ = read_checkpoint_config(path)
    dev = torch.device(device) if device is not None else torch.device("cuda" if torch.cuda.is_available() else "cpu")
    tensors = load_file(path)  # host; load_state_dict copies into the device parameters
    model = LanguageModel(cfg, device=dev, dtype=dtype)
    model.load_state_dict(tensors, strict=True)
    return model, cfg


def save_checkpoint(model: LanguageModel, path: str) -> None:
    """Writes the parameters and the resolved config (as @bmojo/model's saveCheckpoint does)."""
    from safetensors.torch import save_file

    tensors = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    meta = {"config": json.dumps(model.config.to_json()), "format": "bmojo"}
    save_file(tensors, path, metadata=meta)


# --------------------------------------------------------------------------------------------
# Self-test (consistency of the fast paths with the references)
# --------------------------------------------------------------------------------------------


def _maxdiff(a, b) -> float:
    return float((a.double() - b.double()).abs().max()) if a.numel() else 0.0


def self_test(device=None, verbose: bool = True) -> list[dict]:
    """Runs the consistency checks; returns [{'name', 'ok', 'detail'}]. float64 where it matters, so
    tolerances are tight (the fast paths must equal the references, not just be close)."""
    dev = torch.device(device) if device is not None else torch.device("cuda" if torch.cuda.is_available() else "cpu")
    saved = dict(_SETTINGS)
    results: list[dict] = []

    def record(name, ok, detail):
        results.append({"name": name, "ok": bool(ok), "detail": detail})
        if verbose:
            print(f"[{'PASS' if ok else 'FAIL'}] {name}: {detail}", flush=True)

    def run(name, fn):
        try:
            fn(name)
        except Exception as err:  # a crash is a failure, not the end of the test run
            import traceback

            record(name, False, f"{type(err).__name__}: {err}\n{traceback.format_exc()}")

    gen = torch.Generator(device="cpu").manual_seed(1234)

    def rnd(*shape, dtype=torch.float64):
        return torch.randn(*shape, generator=gen, dtype=dtype).to(dev)

    def scan_inputs(Bsz, L, E, N, dtype):
        x = rnd(Bsz, L, E, dtype=dtype)
        dt = F.softplus(rnd(Bsz, L, E, dtype=dtype) - 1.0)
        A = -torch.exp(rnd(E, N, dtype=dtype) * 0.5 + 1.0)
        B = rnd(Bsz, L, N, dtype=dtype)
        C = rnd(Bsz, L, N, dtype=dtype)
        return [t.requires_grad_() for t in (x, dt, A, B, C)]

    def t_scan(name):
        for dtype, tol in ((torch.float64, 1e-9), (torch.float32, 2e-4)):
            ins = scan_inputs(2, 77, 6, 4, dtype)
            gy = rnd(2, 77, 6, dtype=dtype)
            y1, h1 = selective_scan_ref(*ins)
            g1 = torch.autograd.grad((y1 * gy).sum() + h1.sum(), ins)
            y2, h2 = selective_scan(*ins, impl="chunked", chunk=16)
            g2 = torch.autograd.grad((y2 * gy).sum() + h2.sum(), ins)
            scale = max(1.0, float(y1.abs().max()))
            errs = [_maxdiff(y1, y2) / scale, _maxdiff(h1, h2) / scale]
            errs += [_maxdiff(a, b) / max(1.0, float(a.abs().max())) for a, b in zip(g1, g2)]
            record(f"{name} {str(dtype)[6:]}", max(errs) < tol, f"max rel err {max(errs):.3g} (tol {tol})")

    def t_select(name):
        g = torch.Generator().manual_seed(7)
        bad = 0
        trials = 0
        for trial in range(30):
            L = int(torch.randint(1, 60, (1,), generator=g))
            w = int(torch.randint(1, 12, (1,), generator=g))
            cap = int(torch.randint(0, 6, (1,), generator=g))
            sc = torch.randint(0, 4, (3, L), generator=g).double()  # many ties
            sc[torch.rand(3, L, generator=g) < 0.1] = float("nan")
            sc[torch.rand(3, L, generator=g) < 0.05] = float("inf")
            sc[torch.rand(3, L, generator=g) < 0.05] = float("-inf")
            C = -(-L // w)
            pos, valid = select_eidetic(sc.to(dev), w, cap, C)
            for b in range(3):
                ref = eidetic_reference(sc[b].tolist(), w, cap, C)
                for c in range(C):
                    got = [int(p) for p in pos[b, c].tolist() if p >= 0]
                    trials += 1
                    if got != ref[c]:
                        bad += 1
        record(name, bad == 0, f"{trials - bad}/{trials} chunk selections equal the EideticStore rule")

    def t_layouts(name):
        Bsz, L, H, Hkv, Dh, w, m = 2, 45, 4, 2, 8, 8, 3
        q, k, v = rnd(Bsz, L, H, Dh), rnd(Bsz, L, Hkv, Dh), rnd(Bsz, L, Hkv, Dh)
        C = -(-L // w)
        mk, mv = rnd(Bsz, C, m, Hkv, Dh), rnd(Bsz, C, m, Hkv, Dh)
        valid = torch.rand(Bsz, C, m, generator=gen).to(dev) < 0.7
        valid[:, 0] = False
        # brute force
        kk, vv = _expand_kv(k, H, 2), _expand_kv(v, H, 2)
        mkk, mvv = _expand_kv(mk, H, 3), _expand_kv(mv, H, 3)
        ref = torch.empty_like(q)
        for t in range(L):
            lo = max(0, t - w + 1)
            vals = [vv[:, lo : t + 1]]
            c = t // w
            s = torch.einsum("bhd,bjhd->bhj", q[:, t], kk[:, lo : t + 1]) / math.sqrt(Dh)
            sm = torch.einsum("bhd,bjhd->bhj", q[:, t], mkk[:, c]) / math.sqrt(Dh)
            sm = sm.masked_fill(~valid[:, c, None, :], float("-inf"))
            p = torch.softmax(torch.cat([s, sm], -1), -1)
            ref[:, t] = torch.einsum("bhj,bjhd->bhd", p, torch.cat(vals + [mvv[:, c]], 1))
        errs = {}
        for layout in ("dense", "chunked"):
            out = local_attention(q, k, v, w, mk, mv, valid, layout=layout)
            errs[layout] = _maxdiff(out, ref)
        out_swa = local_attention(q, k, v, w, layout="chunked")
        out_swa_d = local_attention(q, k, v, w, layout="dense")
        errs["swa chunked-vs-dense"] = _maxdiff(out_swa, out_swa_d)
        record(name, max(errs.values()) < 1e-10, ", ".join(f"{k}: {v:.2g}" for k, v in errs.items()))

    def t_decode(name):
        for plan in ("transformer", "swa", "mamba", "hybrid", "bmojo-f", "bmojo"):
            cfg = Config.preset(plan, "tiny", {"dtype": "float64", "seed": 3, "bmojo": {"eideticTokens": 3, "fadingTokens": 2}})
            model = LanguageModel(cfg, device=dev)
            model.eval()
            L, P = 29, 13  # window 8: crosses chunk boundaries mid-chunk and on one
            ids = torch.randint(0, cfg.vocab_size, (2, L), generator=gen).to(dev)
            worst = 0.0
            with torch.no_grad():
                full = model(ids)
                for prompt in (P, 16):
                    logits, cache = model.prefill(ids[:, :prompt])
                    worst = max(worst, _maxdiff(logits, full[:, :prompt]))
                    for t in range(prompt, L):
                        out = model.step(ids[:, t], cache)
                        worst = max(worst, _maxdiff(out, full[:, t]))
            record(f"{name} {plan}", worst < 1e-9, f"max |step - parallel| = {worst:.3g}")

    def t_dense_model(name):
        cfg = Config.preset("bmojo", "tiny", {"dtype": "float64", "bmojo": {"eideticTokens": 3}})
        model = LanguageModel(cfg, device=dev)
        ids = torch.randint(0, cfg.vocab_size, (2, 37), generator=gen).to(dev)
        with torch.no_grad():
            configure(attn_layout="dense", scan="sequential")
            a = model(ids)
            configure(attn_layout="chunked", scan="chunked")
            b = model(ids)
        err = _maxdiff(a, b)
        record(name, err < 1e-9, f"dense+sequential vs chunked+chunked logits: {err:.3g}")

    def t_checkpoint(name):
        import tempfile

        cfg = Config.preset("bmojo", "tiny", {"seed": 5})
        model = LanguageModel(cfg, device=dev)
        ids = torch.randint(0, cfg.vocab_size, (1, 20), generator=gen).to(dev)
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "m.safetensors")
            save_checkpoint(model, path)
            loaded, cfg2 = load_checkpoint(path, device=dev)
            from safetensors.torch import load_file, save_file
            from safetensors import safe_open

            # a [E, K] conv weight must be accepted too
            t = load_file(path)
            with safe_open(path, framework="pt") as f:
                meta = f.metadata()
            for key in list(t):
                if key.endswith("conv1d.weight"):
                    t[key] = t[key][:, 0, :].contiguous()
            path2 = os.path.join(tmp, "m2.safetensors")
            save_file(t, path2, metadata=meta)
            loaded2, _ = load_checkpoint(path2, device=dev)
        with torch.no_grad():
            e1 = _maxdiff(model(ids), loaded(ids))
            e2 = _maxdiff(model(ids), loaded2(ids))
        ok = e1 == 0 and e2 == 0 and cfg2.to_json() == cfg.to_json()
        record(name, ok, f"round trip diff {e1}, [E,K] conv diff {e2}")

    def t_config(name):
        c = Config.preset("hybrid", "130m")
        ok = [l.kind for l in c.layers[:4]] == ["mamba", "swa", "mamba", "swa"] and c.mlp_hidden == 2048
        c2 = Config.from_json(c.to_json())
        ok = ok and c2 == c
        c3 = Config.from_json({"vocabSize": 10, "dModel": 64, "layers": "mamba,swa:nomlp,bmojo"})
        ok = ok and [(l.kind, l.mlp) for l in c3.layers] == [("mamba", False), ("swa", False), ("bmojo", True)]
        ok = ok and c3.mlp_hidden == 192 and c3.heads == 1
        try:
            Config.from_json({"vocabSize": 10, "dModel": 64, "layers": "bmojo", "numLayers": 1, "bmojo": {"fadingTokens": 0, "eideticTokens": 0}})
            ok = False
        except ConfigError as err:
            ok = ok and err.field == "bmojo"
        record(name, ok, "presets, resolved-form round trip, layer lists, validation")

    try:
        run("scan chunked == sequential (fwd, grads)", t_scan)
        run("eidetic selection == store rule", t_select)
        run("attention layouts == brute force", t_layouts)
        run("B'MOJO dense/sequential == chunked/chunked", t_dense_model)
        run("decode step == parallel", t_decode)
        run("checkpoint round trip", t_checkpoint)
        run("config parsing", t_config)
    finally:
        _SETTINGS.update(saved)
    return results


def _main(argv: list[str]) -> int:
    import argparse

    ap = argparse.ArgumentParser(description="bmojo_torch: PyTorch anchor of @bmojo/model")
    ap.add_argument("--self-test", action="store_true", help="run the consistency checks")
    ap.add_argument("--device", default=None, help="cpu or cuda (default: cuda if available)")
    ap.add_argument("--scan-compiled", action="store_true", help="also use compiled scan kernels")
    args = ap.parse_args(argv)
    if not args.self_test:
        ap.print_help()
        return 0
    set_fp32_precision("ieee")
    if args.scan_compiled:
        configure(scan_compiled=True)
    res = self_test(args.device)
    failed = [r["name"] for r in res if not r["ok"]]
    print(f"{len(res) - len(failed)}/{len(res)} passed" + (f"; failed: {failed}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
