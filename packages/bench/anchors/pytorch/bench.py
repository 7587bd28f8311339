#!/usr/bin/env python3
"""PyTorch anchor benchmarks: roofline, kernels and whole models (B'MOJO, Transformer, Mamba, SWA).

  python3 bench.py --out results.json            # default run (~6 min on one H200)
  python3 bench.py --quick --out smoke.json      # small sizes, a smoke run
  python3 bench.py --only kernels --dtype bf16 --out k.json

Every measurement: untimed warm-up, then timed runs with CUDA events (perf_counter on CPU), the
median reported; the number of timed runs adapts to --budget-s (at least 3, at most --reps). Peak
GPU memory (torch.cuda.max_memory_allocated, reset before the timed runs) is recorded per
measurement. Any failure (compile error, OOM, ...) is recorded in the JSON and the run goes on.
The JSON is rewritten after every section, so an interrupted run keeps what it measured.
"""

import argparse
import datetime
import gc
import json
import math
import os
import platform
import statistics
import sys
import time
import traceback

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bmojo_torch as bt  # noqa: E402

SECTIONS = ("checks", "roofline", "kernels", "models")


def log(msg: str) -> None:
    print(msg, flush=True)


# --------------------------------------------------------------------------------------------
# Timing
# --------------------------------------------------------------------------------------------


class Bench:
    def __init__(self, device: torch.device, warmup: int, reps: int, budget_s: float):
        self.device = device
        self.cuda = device.type == "cuda"
        self.warmup = warmup
        self.reps = reps
        self.budget_s = budget_s

    def sync(self) -> None:
        if self.cuda:
            torch.cuda.synchronize(self.device)

    def time_once(self, fn) -> float:
        if self.cuda:
            start = torch.cuda.Event(enable_timing=True)
            end = torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            end.synchronize()
            return float(start.elapsed_time(end))
        t0 = time.perf_counter()
        fn()
        return (time.perf_counter() - t0) * 1000.0

    def measure(self, fn, warmup: int | None = None, reps: int | None = None, budget_s: float | None = None) -> dict:
        warmup = self.warmup if warmup is None else warmup
        reps = self.reps if reps is None else reps
        budget = self.budget_s if budget_s is None else budget_s
        for _ in range(warmup):
            fn()
        self.sync()
        if self.cuda:
            torch.cuda.reset_peak_memory_stats(self.device)
        first = self.time_once(fn)
        n = max(min(3, reps), min(reps, int(budget * 1000.0 / max(first, 1e-3))))
        samples = [first] + [self.time_once(fn) for _ in range(n - 1)]
        out = {
            "median_ms": statistics.median(samples),
            "min_ms": min(samples),
            "mean_ms": statistics.fmean(samples),
            "samples_ms": [round(s, 6) for s in samples],
            "reps": len(samples),
            "warmup": warmup,
        }
        if self.cuda:
            out["peak_mem_bytes"] = int(torch.cuda.max_memory_allocated(self.device))
        return out

    def first_call(self, fn) -> float:
        """Wall-clock seconds of one call (e.g. including a torch.compile)."""
        self.sync()
        t0 = time.perf_counter()
        fn()
        self.sync()
        return time.perf_counter() - t0


def _free(device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def run_case(bucket: list, name: str, fn, device, **labels) -> dict | None:
    """Runs fn() -> dict of metrics; records it (or the failure) in bucket with the labels."""
    entry = {"name": name, **labels}
    t0 = time.perf_counter()
    try:
        entry.update(fn())
        entry["ok"] = True
    except Exception as err:  # includes torch.OutOfMemoryError and compile errors
        entry["ok"] = False
        entry["error"] = f"{type(err).__name__}: {err}"[:4000]
        entry["traceback"] = traceback.format_exc()[-6000:]
    entry["wall_s"] = round(time.perf_counter() - t0, 3)
    bucket.append(entry)
    label = " ".join(str(v) for v in labels.values())
    if entry["ok"]:
        log(f"  {name} [{label}]: {_summary(entry)}")
    else:
        log(f"  {name} [{label}]: FAILED {entry['error'][:300]}")
        _free(device)
    return entry


def _summary(e: dict) -> str:
    parts = []
    if "median_ms" in e:
        parts.append(f"{e['median_ms']:.3f} ms")
    for key, unit in (
        ("tflops", "TFLOP/s"),
        ("gbps", "GB/s"),
        ("tokens_per_s", "tok/s"),
    ):
        if key in e:
            parts.append(f"{e[key]:,.1f} {unit}" if e[key] < 1e6 else f"{e[key]:.4g} {unit}")
    if "peak_mem_bytes" in e:
        parts.append(f"peak {e['peak_mem_bytes'] / 2**30:.2f} GiB")
    if "first_call_s" in e:
        parts.append(f"first call {e['first_call_s']:.1f} s")
    if "max_abs_diff" in e:
        parts.append(f"max|diff| {e['max_abs_diff']:.2e}")
    return ", ".join(parts) or "ok"


# --------------------------------------------------------------------------------------------
# Sections
# --------------------------------------------------------------------------------------------


def section_checks(args, device, out: dict) -> None:
    log("== checks (bmojo_torch.self_test, float64 consistency of the fast paths) ==")
    bt.set_fp32_precision("ieee")
    t0 = time.perf_counter()
    try:
        res = bt.self_test(device, verbose=False)
        for r in res:
            log(f"  [{'PASS' if r['ok'] else 'FAIL'}] {r['name']}: {r['detail'].splitlines()[0][:200]}")
        out["checks"] = res
    except Exception as err:
        out["checks"] = [{"name": "self_test", "ok": False, "detail": f"{type(err).__name__}: {err}", "traceback": traceback.format_exc()[-4000:]}]
        log(f"  self_test crashed: {err}")
    log(f"  ({time.perf_counter() - t0:.1f} s)")


def section_roofline(args, device, bench: Bench, out: list) -> None:
    log("== roofline ==")
    n = 2048 if args.quick else 8192
    for label, dtype, prec in (
        ("fp32", torch.float32, "ieee"),
        ("tf32", torch.float32, "tf32"),
        ("bf16", torch.bfloat16, "ieee"),
    ):
        def case(dtype=dtype, prec=prec):
            bt.set_fp32_precision(prec)
            try:
                a = torch.randn(n, n, device=device, dtype=dtype)
                b = torch.randn(n, n, device=device, dtype=dtype)
                c = torch.empty(n, n, device=device, dtype=dtype)
                m = bench.measure(lambda: torch.mm(a, b, out=c))
                m["tflops"] = 2 * n**3 / (m["median_ms"] * 1e-3) / 1e12
                m["shape"] = [n, n, n]
                del a, b, c
                return m
            finally:
                bt.set_fp32_precision("ieee")

        run_case(out, f"matmul {n}^3", case, device, dtype=label)

    nbytes = (64 << 20) if args.quick else (1 << 30)

    def copy_case():
        x = torch.empty(nbytes // 4, device=device, dtype=torch.float32).uniform_()
        y = torch.empty_like(x)
        m = bench.measure(lambda: y.copy_(x))
        m["gbps"] = 2 * nbytes / (m["median_ms"] * 1e-3) / 1e9
        m["bytes_moved"] = 2 * nbytes
        return m

    run_case(out, f"device copy {nbytes >> 20} MiB", copy_case, device, dtype="fp32")


def section_kernels(args, device, bench: Bench, out: list) -> None:
    log("== kernels ==")
    # -- matmul ------------------------------------------------------------------------------
    sizes = (256, 1024) if args.quick else (1024, 4096, 8192)
    for n in sizes:
        for label, prec, dtype in (
            ("fp32", "ieee", torch.float32),
            ("tf32", "tf32", torch.float32),
            ("bf16", "ieee", torch.bfloat16),
        ):
            def case(n=n, prec=prec, dtype=dtype):
                bt.set_fp32_precision(prec)
                try:
                    a = torch.randn(n, n, device=device, dtype=dtype)
                    b = torch.randn(n, n, device=device, dtype=dtype)
                    m = bench.measure(lambda: torch.matmul(a, b))
                    m["tflops"] = 2 * n**3 / (m["median_ms"] * 1e-3) / 1e12
                    m["shape"] = [n, n, n]
                    return m
                finally:
                    bt.set_fp32_precision("ieee")

            run_case(out, f"torch.matmul {n}^3", case, device, dtype=label)
    _free(device)

    # -- selective scan ------------------------------------------------------------------------
    Bsz, L, E, N = (2, 256, 256, 16) if args.quick else (8, 2048, 1536, 16)

    def scan_inputs(grad: bool):
        """The same draw on every call (seeded), so outputs can be compared across variants."""
        gen = torch.Generator(device="cpu").manual_seed(args.seed)
        x = torch.randn(Bsz, L, E, generator=gen).to(device)
        # dt as the Mamba init gives it: log-uniform in [1e-3, 0.1] per channel, with token noise
        base = torch.exp(torch.rand(E, generator=gen) * (math.log(0.1) - math.log(1e-3)) + math.log(1e-3))
        dt = (base * torch.exp(0.5 * torch.randn(Bsz, L, E, generator=gen))).to(device)
        A = -torch.arange(1, N + 1, dtype=torch.float32).repeat(E, 1).to(device)
        Bm = torch.randn(Bsz, L, N, generator=gen).to(device)
        Cm = torch.randn(Bsz, L, N, generator=gen).to(device)
        ins = [x, dt, A, Bm, Cm]
        if grad:
            for t in ins:
                t.requires_grad_()
        return ins

    shape = {"B": Bsz, "L": L, "E": E, "N": N, "chunk": bt.settings()["scan_chunk"]}
    ref_out: dict = {}

    def seq_case():
        ins = scan_inputs(False)
        with torch.no_grad():
            m = bench.measure(lambda: bt.selective_scan_ref(*ins), warmup=1, reps=3, budget_s=0.5)
            ref_out["y"] = bt.selective_scan_ref(*ins)[0]
        m["tokens_per_s"] = Bsz * L / (m["median_ms"] * 1e-3)
        m["shape"] = shape
        return m

    run_case(out, "selective scan fwd (sequential reference loop)", seq_case, device, dtype="fp32", mode="eager")

    for compiled in [False, True] if args.compile else [False]:
        mode = "compile" if compiled else "eager"

        def fwd_case(compiled=compiled):
            bt.configure(scan_compiled=compiled)
            ins = scan_inputs(False)
            with torch.no_grad():
                first = bench.first_call(lambda: bt.selective_scan(*ins))
                m = bench.measure(lambda: bt.selective_scan(*ins))
                y, _ = bt.selective_scan(*ins)
            m["first_call_s"] = first
            m["tokens_per_s"] = Bsz * L / (m["median_ms"] * 1e-3)
            m["shape"] = shape
            if "y" in ref_out:
                m["max_abs_diff"] = float((y - ref_out["y"]).abs().max())
                m["max_abs_diff_is"] = "vs the sequential reference loop"
            err = bt.settings()["scan_compile_error"]
            if compiled and err:
                m["note"] = f"compiled chunk kernels failed, eager fallback: {err[:500]}"
            return m

        def fwdbwd_case(compiled=compiled):
            bt.configure(scan_compiled=compiled)
            ins = scan_inputs(True)
            gy = torch.randn(Bsz, L, E, device=device)

            def step():
                for t in ins:
                    t.grad = None
                y, _ = bt.selective_scan(*ins)
                y.backward(gy)

            first = bench.first_call(step)
            m = bench.measure(step)
            m["first_call_s"] = first
            m["tokens_per_s"] = Bsz * L / (m["median_ms"] * 1e-3)
            m["shape"] = shape
            err = bt.settings()["scan_compile_error"]
            if compiled and err:
                m["note"] = f"compiled chunk kernels failed, eager fallback: {err[:500]}"
            return m

        run_case(out, "selective scan fwd (chunked)", fwd_case, device, dtype="fp32", mode=mode)
        run_case(out, "selective scan fwd+bwd (chunked)", fwdbwd_case, device, dtype="fp32", mode=mode)
        _free(device)
    bt.configure(scan_compiled=False)
    ref_out.clear()
    _free(device)

    # -- attention with the B'MOJO mask -----------------------------------------------------------
    Bsz, H, L, Dh, w, m_slots = (2, 4, 256, 64, 64, 8) if args.quick else (8, 12, 2048, 64, 512, 8)
    C = -(-L // w)
    for dname, dtype in _dtypes(args):
        def inputs(grad: bool, dtype=dtype):
            g = torch.Generator(device="cpu").manual_seed(args.seed + 1)
            q = torch.randn(Bsz, L, H, Dh, generator=g).to(device, dtype)
            k = torch.randn(Bsz, L, H, Dh, generator=g).to(device, dtype)
            v = torch.randn(Bsz, L, H, Dh, generator=g).to(device, dtype)
            mk = torch.randn(Bsz, C, m_slots, H, Dh, generator=g).to(device, dtype)
            mv = torch.randn(Bsz, C, m_slots, H, Dh, generator=g).to(device, dtype)
            valid = torch.ones(Bsz, C, m_slots, dtype=torch.bool, device=device)
            valid[:, 0] = False  # nothing precedes chunk 0
            ts = [q, k, v, mk, mv]
            if grad:
                for t in ts:
                    t.requires_grad_()
            return ts, valid

        ctx_pairs = sum(min(t + 1, w) for t in range(L))
        mem_pairs = sum(min(w, L - c * w) * m_slots for c in range(1, C))
        pairs = {"causal": L * (L + 1) // 2, "swa": ctx_pairs, "bmojo": ctx_pairs + mem_pairs}

        def attn_fn(kind: str, layout: str):
            def f(ts, valid):
                q, k, v, mk, mv = ts
                if kind == "causal":
                    return bt.local_attention(q, k, v, L)
                if kind == "swa":
                    return bt.local_attention(q, k, v, w, layout=layout)
                return bt.local_attention(q, k, v, w, mk, mv, valid, layout=layout)

            return f

        variants = [
            ("sdpa is_causal (full attention, flash path)", "causal", "dense"),
            ("sdpa SWA mask, dense [L, L]", "swa", "dense"),
            ("sdpa SWA mask, chunked [w, 2w]", "swa", "chunked"),
            ("sdpa B'MOJO mask, dense [L, L + C*m]", "bmojo", "dense"),
            ("sdpa B'MOJO mask, chunked [w, 2w + m]", "bmojo", "chunked"),
        ]
        outs = {}
        for title, kind, layout in variants:
            f = attn_fn(kind, layout)

            def fwd_case(f=f, kind=kind, layout=layout):
                ts, valid = inputs(False)
                with torch.no_grad():
                    m = bench.measure(lambda: f(ts, valid))
                    o = f(ts, valid).float()
                if kind == "bmojo":
                    outs[layout] = o
                    if "dense" in outs and "chunked" in outs:
                        m["max_abs_diff_dense_vs_chunked"] = float((outs["dense"] - outs["chunked"]).abs().max())
                m["tflops"] = 4 * Bsz * H * Dh * pairs[kind] / (m["median_ms"] * 1e-3) / 1e12
                m["shape"] = {"B": Bsz, "H": H, "L": L, "Dh": Dh, "window": w, "mem_slots_per_chunk": m_slots}
                return m

            def fwdbwd_case(f=f, kind=kind):
                ts, valid = inputs(True)
                go = torch.randn(Bsz, L, H, Dh, device=device, dtype=dtype)

                def step():
                    for t in ts:
                        t.grad = None
                    f(ts, valid).backward(go)

                m = bench.measure(step)
                m["tflops"] = 3.5 * 4 * Bsz * H * Dh * pairs[kind] / (m["median_ms"] * 1e-3) / 1e12
                m["shape"] = {"B": Bsz, "H": H, "L": L, "Dh": Dh, "window": w, "mem_slots_per_chunk": m_slots}
                return m

            run_case(out, f"{title} fwd", fwd_case, device, dtype=dname, mode="eager")
            run_case(out, f"{title} fwd+bwd", fwdbwd_case, device, dtype=dname, mode="eager")
        outs.clear()
        _free(device)

        if args.flex and args.compile and dname in args.flex_dtypes:
            _flex_cases(args, device, bench, out, inputs, dname, Bsz, H, L, Dh, w, C, m_slots, pairs["bmojo"])
    _free(device)


def _flex_cases(args, device, bench, out, inputs, dname, Bsz, H, L, Dh, w, C, m_slots, pairs):
    """FlexAttention with the B'MOJO mask as a block-sparse mask_mod (informational: the model
    itself uses SDPA)."""
    state = {}

    def setup():
        from torch.nn.attention.flex_attention import create_block_mask, flex_attention

        ts, valid = inputs(False)
        vflat = valid.reshape(Bsz, C * m_slots)
        S = L + C * m_slots

        def mask_mod(b, h, qi, kv):
            ctx = (kv < L) & (kv <= qi) & (qi - kv < w)
            j = torch.clamp(kv - L, 0, C * m_slots - 1)
            mem = (kv >= L) & (j // m_slots == qi // w) & vflat[b, j]
            return ctx | mem

        state["bm"] = create_block_mask(mask_mod, Bsz, None, L, S, device=device)
        state["flex"] = torch.compile(flex_attention, dynamic=False)

    def to_flex(ts):
        q, k, v, mk, mv = ts
        kk = torch.cat([k, mk.reshape(Bsz, C * m_slots, H, Dh)], 1)
        vv = torch.cat([v, mv.reshape(Bsz, C * m_slots, H, Dh)], 1)
        return q.transpose(1, 2), kk.transpose(1, 2), vv.transpose(1, 2)

    def fwd_case():
        if "bm" not in state:
            setup()
        ts, _ = inputs(False)
        q, k, v = (t.contiguous() for t in to_flex(ts))
        with torch.no_grad():
            first = bench.first_call(lambda: state["flex"](q, k, v, block_mask=state["bm"]))
            m = bench.measure(lambda: state["flex"](q, k, v, block_mask=state["bm"]))
        m["first_call_s"] = first
        m["tflops"] = 4 * Bsz * H * Dh * pairs / (m["median_ms"] * 1e-3) / 1e12
        m["note"] = "memory keys appended after the L keys; block mask built once (not timed)"
        return m

    def fwdbwd_case():
        if "bm" not in state:
            setup()
        ts, _ = inputs(False)
        q, k, v = (t.contiguous().requires_grad_() for t in to_flex(ts))
        go = torch.randn_like(q)

        def step():
            for t in (q, k, v):
                t.grad = None
            state["flex"](q, k, v, block_mask=state["bm"]).backward(go)

        first = bench.first_call(step)
        m = bench.measure(step)
        m["first_call_s"] = first
        m["tflops"] = 3.5 * 4 * Bsz * H * Dh * pairs / (m["median_ms"] * 1e-3) / 1e12
        return m

    run_case(out, "flex_attention B'MOJO block mask fwd", fwd_case, device, dtype=dname, mode="compile")
    run_case(out, "flex_attention B'MOJO block mask fwd+bwd", fwdbwd_case, device, dtype=dname, mode="compile")
    state.clear()
    _free(device)


def _dtypes(args):
    return [(d, {"fp32": torch.float32, "bf16": torch.bfloat16}[d]) for d in args.dtypes]


def _autocast(device, dname: str):
    if dname == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return torch.autocast(device_type=device.type, enabled=False)


def model_config(args, plan: str) -> bt.Config:
    over: dict = {}
    if args.width is not None:
        over["dModel"] = args.width
        over["heads"] = args.heads if args.heads is not None else max(1, args.width // 64)
    elif args.heads is not None:
        over["heads"] = args.heads
    if args.vocab is not None:
        over["vocabSize"] = args.vocab
    if args.window is not None:
        over["window"] = args.window
    if args.layers is not None:
        over["numLayers"] = args.layers
    bm = {}
    if args.eidetic is not None:
        bm["eideticTokens"] = args.eidetic
    if args.fading is not None:
        bm["fadingTokens"] = args.fading
    if bm:
        over["bmojo"] = bm
    return bt.Config.preset(plan, args.preset_size, over)


def section_models(args, device, bench: Bench, out: list) -> None:
    log("== models ==")
    bt.configure(scan_compiled=False)
    try:  # regional compilation re-traces one code object per block kind / mode / shape
        import torch._dynamo as dynamo

        dynamo.config.cache_size_limit = max(getattr(dynamo.config, "cache_size_limit", 8), 64)
        if hasattr(dynamo.config, "accumulated_cache_size_limit"):
            dynamo.config.accumulated_cache_size_limit = max(dynamo.config.accumulated_cache_size_limit, 1024)
    except Exception:
        pass
    Bsz, L = args.batch, args.length
    for plan in args.plans:
        entry: dict = {"plan": plan, "measurements": []}
        out.append(entry)
        log(f"-- plan {plan} --")
        try:
            cfg = model_config(args, plan)
            entry["config"] = cfg.to_json()
            torch.manual_seed(args.seed)
            model = bt.LanguageModel(cfg, device=device)
            entry["params"] = model.num_parameters()
            entry["settings"] = bt.settings()
            log(f"   {len(cfg.layers)} blocks, d={cfg.d_model}, heads={cfg.heads}, window={cfg.window}, "
                f"V={cfg.vocab_size}, {entry['params'] / 1e6:.1f}M parameters; batch {Bsz} x {L}")
        except Exception as err:
            entry["error"] = f"{type(err).__name__}: {err}"
            entry["traceback"] = traceback.format_exc()[-4000:]
            log(f"   model construction failed: {err}")
            continue
        _run_plan(args, device, bench, model, cfg, entry["measurements"], Bsz, L)
        entry["settings"] = bt.settings()
        del model
        bt.configure(scan_compiled=False)
        try:
            torch._dynamo.reset()
        except Exception:
            pass
        _free(device)


def _run_plan(args, device, bench: Bench, model, cfg, ms: list, Bsz: int, L: int) -> None:
    V = cfg.vocab_size
    g = torch.Generator(device="cpu").manual_seed(args.seed)
    ids = torch.randint(0, V, (Bsz, L), generator=g).to(device)
    targets = torch.randint(0, V, (Bsz, L), generator=g).to(device)
    opt = None
    try:
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=device.type == "cuda")
    except Exception:
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    modes = ["eager"] + (["compile"] if args.compile else [])
    compiled_ready = False

    for mode in modes:
        compiled = mode == "compile"
        if compiled and not compiled_ready:
            model.enable_compile()
            compiled_ready = True
        dtypes = [d for d in args.dtypes if not compiled or d in args.compile_dtypes]
        # ---- training step: forward + backward + AdamW ---------------------------------------
        for dname in dtypes:
            def train_case(dname=dname, compiled=compiled):
                bt.set_fp32_precision(args.fp32_matmul)
                bt.configure(scan_compiled=compiled)

                def step():
                    opt.zero_grad(set_to_none=True)
                    with _autocast(device, dname):
                        loss = model.loss(ids, targets, compiled=compiled)
                    loss.backward()
                    opt.step()

                first = bench.first_call(step)
                m = bench.measure(step, warmup=args.model_warmup)
                m["first_call_s"] = first
                m["tokens_per_s"] = Bsz * L / (m["median_ms"] * 1e-3)
                m["batch"], m["length"] = Bsz, L
                m["optimizer"] = "AdamW (fused)" if device.type == "cuda" else "AdamW"
                m["fp32_matmul"] = args.fp32_matmul if dname == "fp32" else "bf16 autocast"
                _note_scan(m, compiled)
                return m

            run_case(ms, "train step (fwd+bwd+AdamW)", train_case, device, dtype=dname, mode=mode)
        opt.zero_grad(set_to_none=True)
        _free(device)

        # ---- prefill: the parallel forward (logits) under no_grad ----------------------------
        for dname in dtypes:
            # eager: batch 1 and the training batch; compiled: the training batch only (one
            # compile per plan and dtype for inference; --compile-prefill-batch1 adds batch 1)
            batches = sorted({1, Bsz}) if not compiled or args.compile_prefill_batch1 else [Bsz]
            for batch in batches:
                def prefill_case(dname=dname, batch=batch, compiled=compiled):
                    bt.set_fp32_precision(args.fp32_matmul)
                    bt.configure(scan_compiled=compiled)
                    x = ids[:batch] if batch <= Bsz else torch.randint(0, V, (batch, L), device=device)

                    def fwd():
                        with torch.no_grad(), _autocast(device, dname):
                            model(x, compiled=compiled)

                    first = bench.first_call(fwd)
                    m = bench.measure(fwd, warmup=args.model_warmup)
                    m["first_call_s"] = first
                    m["tokens_per_s"] = batch * L / (m["median_ms"] * 1e-3)
                    m["batch"], m["length"] = batch, L
                    _note_scan(m, compiled)
                    return m

                run_case(ms, f"prefill {L} tokens, batch {batch}", prefill_case, device, dtype=dname, mode=mode)
        _free(device)

    # ---- decode: batch 1, eager, the recurrent form ------------------------------------------
    if args.decode_tokens > 0:
        model.disable_compile()
        P, T = args.decode_prompt, args.decode_tokens
        for dname in args.dtypes:
            def decode_case(dname=dname):
                bt.set_fp32_precision(args.fp32_matmul)
                bt.configure(scan_compiled=False)
                prompt = torch.randint(0, V, (1, P), device=device)
                warm = max(1, args.model_warmup)
                with torch.no_grad(), _autocast(device, dname):
                    t0 = time.perf_counter()
                    logits, cache = model.prefill(prompt, capacity=P + T + warm + 1)
                    bench.sync()
                    prefill_s = time.perf_counter() - t0
                    tok = logits[:, -1].argmax(-1)
                    for _ in range(warm):
                        tok = model.step(tok, cache).argmax(-1)
                    bench.sync()
                    if bench.cuda:
                        torch.cuda.reset_peak_memory_stats(device)
                    state = {"tok": tok}

                    def run_tokens():
                        t = state["tok"]
                        for _ in range(T):
                            t = model.step(t, cache).argmax(-1)
                        state["tok"] = t

                    total_ms = bench.time_once(run_tokens)
                return _decode_result(
                    bench, device, total_ms, P, T,
                    "recurrent: one step per token with a constant-size cache (Mamba conv+SSM state, "
                    "KV ring of w for windows, full KV buffer for full attention, B'MOJO memory slots + "
                    "eidetic store); greedy next token, no host sync in the loop",
                    prefill_with_cache_s=prefill_s,
                    cache_bytes=bt.cache_bytes(cache),
                )

            run_case(ms, f"decode {T} tokens after a {P}-token prompt, batch 1", decode_case, device, dtype=dname, mode="eager")
            if args.decode_graph and bench.cuda and all(spec.kind in ("mamba", "attention", "swa") for spec in cfg.layers):
                run_case(ms, f"decode {T} tokens after a {P}-token prompt, batch 1", lambda dname=dname: _decode_graph_case(args, bench, model, V, P, T, device, dname), device, dtype=dname, mode="cuda graph")
    bt.configure(scan_compiled=False)


def _decode_graph_case(args, bench: Bench, model, V: int, P: int, T: int, device, dname: str) -> dict:
    """The same greedy decode loop with one step captured as a CUDA graph (torch.cuda.graph) and
    replayed per token, the argmax fed back into the static input on the device. Mamba and
    attention plans: the step reads its position from a device tensor (LanguageModel.step_at: RoPE
    rows by index_select, the KV write by index_copy_, SDPA over the whole buffer with the mask of
    the written slots), checked against the eager step before the capture."""
    bt.set_fp32_precision(args.fp32_matmul)
    bt.configure(scan_compiled=False)
    prompt = torch.randint(0, V, (1, P), device=device)
    positions = P + T + 8
    with torch.no_grad(), _autocast(device, dname):
        _, cache = model.prefill(prompt, capacity=positions)
        tok = torch.zeros(1, dtype=torch.long, device=device)
        pos = torch.full((1,), P, dtype=torch.long, device=device)
        _check_step_at(model, cache, tok, pos, positions)
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):  # warm-up on a side stream, as torch.cuda.graph asks
            for _ in range(3):
                tok.copy_(model.step_at(tok, cache, pos, positions).argmax(-1))
                pos.add_(1)
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            logits = model.step_at(tok, cache, pos, positions)
            tok.copy_(logits.argmax(-1))
            pos.add_(1)
        bench.sync()
        if bench.cuda:
            torch.cuda.reset_peak_memory_stats(device)

        def run_tokens():
            for _ in range(T):
                graph.replay()

        total_ms = bench.time_once(run_tokens)
    return _decode_result(
        bench, device, total_ms, P, T,
        "recurrent, one CUDA graph replay per token (torch.cuda.graph), the position in a device "
        "tensor; greedy next token fed back on the device, no host sync in the loop",
    )


def _check_step_at(model, cache, tok, pos, positions: int) -> None:
    """The device-position step gives the eager step's logits (on copies of the cache)."""
    a, b = _clone_cache(cache), _clone_cache(cache)
    want = model.step(tok, a).float()
    got = model.step_at(tok, b, pos, positions).float()
    err = (got - want).abs().max().item() / max(want.abs().max().item(), 1e-30)
    if not err < 1e-3:
        raise RuntimeError(f"step_at disagrees with step: relative max error {err:.3g}")


def _clone_cache(cache):
    if isinstance(cache, torch.Tensor):
        return cache.clone()
    if isinstance(cache, dict):
        return {k: _clone_cache(v) for k, v in cache.items()}
    if isinstance(cache, (list, tuple)):
        return type(cache)(_clone_cache(v) for v in cache)
    return cache


def _decode_result(bench: Bench, device, total_ms: float, P: int, T: int, form: str, **extra) -> dict:
    """A decode measurement: T tokens after a P-token prompt at batch 1 in total_ms, and the peak
    GPU memory since the caller's reset."""
    m = {
        "median_ms": total_ms / T,
        "ms_per_token": total_ms / T,
        "tokens_per_s": T / (total_ms * 1e-3),
        "total_ms": total_ms,
        "prompt": P,
        "tokens": T,
        "batch": 1,
        **extra,
        "form": form,
    }
    if bench.cuda:
        m["peak_mem_bytes"] = int(torch.cuda.max_memory_allocated(device))
    return m


def _note_scan(m: dict, compiled: bool) -> None:
    s = bt.settings()
    m["scan"] = f"{s['scan']} (chunk {s['scan_chunk']}, {'compiled' if compiled and not s['scan_compile_error'] else 'eager'} chunk kernels)"
    m["attn_layout"] = s["attn_layout"]
    if compiled and s["scan_compile_error"]:
        m["scan_compile_error"] = s["scan_compile_error"][:500]


# --------------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------------


def write_json(path: str, data: dict) -> None:
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2, default=str)
    os.replace(tmp, path)


def print_table(data: dict) -> None:
    rows = []
    for sec in ("roofline", "kernels"):
        for e in data.get(sec, []):
            rows.append((sec, e["name"], e.get("dtype", ""), e.get("mode", ""), e))
    for plan in data.get("models", []):
        if "error" in plan:
            rows.append(("models", f"{plan['plan']}: construction failed", "", "", {"ok": False, "error": plan["error"]}))
        for e in plan.get("measurements", []):
            rows.append(("models", f"{plan['plan']}: {e['name']}", e.get("dtype", ""), e.get("mode", ""), e))
    if not rows:
        return
    w = min(72, max(len(r[1]) for r in rows))
    print()
    print(f"{'section':9} {'measurement':{w}} {'dtype':5} {'mode':7} {'median ms':>11}  result")
    print("-" * (w + 50))
    for sec, name, dt, mode, e in rows:
        if not e.get("ok", False):
            res, ms = "FAILED: " + e.get("error", "")[:60], ""
        else:
            ms = f"{e['median_ms']:.3f}" if "median_ms" in e else ""
            res = _summary({k: v for k, v in e.items() if k != "median_ms"})
        print(f"{sec:9} {name[:w]:{w}} {dt:5} {mode:7} {ms:>11}  {res}")
    checks = data.get("checks") or []
    if checks:
        failed = [c["name"] for c in checks if not c.get("ok")]
        print(f"\nchecks: {len(checks) - len(failed)}/{len(checks)} passed" + (f"; FAILED: {failed}" if failed else ""))
    sys.stdout.flush()


# --------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------


def parse_args(argv=None):
    ap = argparse.ArgumentParser(
        description="PyTorch anchor benchmarks for @bmojo (roofline, kernels, models).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    ap.add_argument("--out", default="bench-pytorch.json", help="JSON results file")
    ap.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    ap.add_argument("--only", default=None, help=f"comma-separated sections to run: {', '.join(SECTIONS)}")
    ap.add_argument("--compile", action=argparse.BooleanOptionalAction, default=True, help="also measure torch.compile variants")
    ap.add_argument("--dtype", choices=["fp32", "bf16", "both"], default="both", help="fp32 (TF32 off unless --fp32-matmul tf32) and/or bf16 autocast")
    ap.add_argument("--compile-dtypes", choices=["fp32", "bf16", "both"], default=None, help="dtypes of the compiled model runs (default: bf16 when --dtype both, else --dtype): one compile per plan and dtype")
    ap.add_argument("--compile-prefill-batch1", action="store_true", help="also time the compiled prefill at batch 1 (one more compile per plan)")
    ap.add_argument("--fp32-matmul", choices=["ieee", "tf32"], default="ieee", help="matmul precision of the fp32 model runs")
    ap.add_argument("--plans", default="bmojo,transformer,mamba,swa", help="comma-separated plans: " + ", ".join(bt.PLAN_NAMES))
    ap.add_argument("--preset-size", choices=list(bt.PRESETS), default=None, help="preset the model sizes come from (default 130m; small with --quick)")
    ap.add_argument("--batch", type=int, default=None, help="training / prefill batch (default 8; 2 with --quick)")
    ap.add_argument("--length", type=int, default=None, help="sequence length (default 2048; 256 with --quick)")
    ap.add_argument("--layers", type=int, default=None, help="blocks per model (default: the preset's count per plan)")
    ap.add_argument("--width", type=int, default=None, help="d_model (heads = width/64 unless --heads)")
    ap.add_argument("--heads", type=int, default=None)
    ap.add_argument("--vocab", type=int, default=None)
    ap.add_argument("--window", type=int, default=None, help="SWA window = B'MOJO chunk length")
    ap.add_argument("--eidetic", type=int, default=None, help="eidetic tokens per B'MOJO chunk (preset default 8)")
    ap.add_argument("--fading", type=int, default=None, help="fading tokens per B'MOJO chunk (default 1)")
    ap.add_argument("--decode-prompt", type=int, default=None, help="decode prompt length (default: --length)")
    ap.add_argument("--decode-tokens", type=int, default=None, help="tokens decoded one by one (default 64; 8 with --quick; 0 skips)")
    ap.add_argument("--decode-graph", action=argparse.BooleanOptionalAction, default=False, help="also decode Mamba and attention plans with the step captured as a CUDA graph (torch.cuda.graph)")
    ap.add_argument("--warmup", type=int, default=2, help="untimed runs before kernel timings")
    ap.add_argument("--model-warmup", type=int, default=1, help="untimed runs after the first call of a model measurement")
    ap.add_argument("--reps", type=int, default=10, help="at most this many timed runs per measurement")
    ap.add_argument("--budget-s", type=float, default=1.0, help="target seconds of timed runs per measurement (at least 3 runs)")
    ap.add_argument("--scan-chunk", type=int, default=64, help="time steps per chunk of the chunked selective scan")
    ap.add_argument("--attn-layout", choices=["chunked", "dense"], default="chunked", help="windowed attention layout of the models")
    ap.add_argument("--flex", action=argparse.BooleanOptionalAction, default=False, help="also time FlexAttention with the B'MOJO mask as a block mask (compiles; needs --compile)")
    ap.add_argument("--flex-dtypes", choices=["fp32", "bf16", "both"], default="bf16")
    ap.add_argument("--device", default=None, help="cuda (default when available) or cpu")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    def fail(msg):
        ap.error(msg)

    args.only = SECTIONS if args.only is None else tuple(s.strip() for s in args.only.split(",") if s.strip())
    for s in args.only:
        if s not in SECTIONS:
            fail(f"--only: unknown section {s!r}; use {', '.join(SECTIONS)}")
    args.plans = [p.strip() for p in args.plans.split(",") if p.strip()]
    if not args.plans:
        fail("--plans: give at least one plan")
    for p in args.plans:
        if p not in bt.PLAN_NAMES:
            fail(f"--plans: unknown plan {p!r}; use {', '.join(bt.PLAN_NAMES)}")
    args.dtypes = ["fp32", "bf16"] if args.dtype == "both" else [args.dtype]
    cd = args.compile_dtypes or ("bf16" if args.dtype == "both" else args.dtype)
    args.compile_dtypes = ["fp32", "bf16"] if cd == "both" else [cd]
    args.flex_dtypes = ["fp32", "bf16"] if args.flex_dtypes == "both" else [args.flex_dtypes]
    args.preset_size = args.preset_size or ("small" if args.quick else "130m")
    args.batch = args.batch if args.batch is not None else (2 if args.quick else 8)
    args.length = args.length if args.length is not None else (256 if args.quick else 2048)
    args.decode_prompt = args.decode_prompt if args.decode_prompt is not None else args.length
    args.decode_tokens = args.decode_tokens if args.decode_tokens is not None else (8 if args.quick else 64)
    for name in ("batch", "length", "reps", "scan_chunk", "decode_prompt"):
        if getattr(args, name) < 1:
            fail(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    for name in ("layers", "width", "heads", "vocab", "window"):
        v = getattr(args, name)
        if v is not None and v < 1:
            fail(f"--{name} must be >= 1, got {v}")
    for name in ("eidetic", "fading", "decode_tokens", "warmup", "model_warmup"):
        v = getattr(args, name)
        if v is not None and v < 0:
            fail(f"--{name.replace('_', '-')} must be >= 0, got {v}")
    if not (args.budget_s > 0):
        fail(f"--budget-s must be > 0, got {args.budget_s}")
    if "models" in args.only:
        for p in args.plans:  # validate the model configs up front, with the config's own messages
            try:
                model_config(args, p)
            except bt.ConfigError as err:
                fail(f"plan {p}: {err}")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if device.type == "cuda" and not torch.cuda.is_available():
        print("error: --device cuda requested but CUDA is not available", file=sys.stderr)
        return 2
    if device.type != "cuda":
        log("warning: no CUDA device; timings use perf_counter on the CPU (only useful as a smoke run)")
    bt.set_fp32_precision("ieee")
    bt.configure(scan_chunk=args.scan_chunk, attn_layout=args.attn_layout, scan_compiled=False)
    bench = Bench(device, args.warmup, args.reps, args.budget_s)

    meta = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "device": str(device),
        "platform": platform.platform(),
    }
    try:
        import triton  # noqa: F401

        meta["triton"] = triton.__version__
    except Exception:
        meta["triton"] = None
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        meta.update(
            gpu=props.name,
            capability=f"{props.major}.{props.minor}",
            gpu_memory_bytes=int(props.total_memory),
            sms=props.multi_processor_count,
        )
    data = {
        "schema": "bmojo-pytorch-anchor-bench/1",
        "meta": meta,
        "args": {k: v for k, v in vars(args).items()},
        "settings": bt.settings(),
        "timing": "median of CUDA-event timings after warm-up; runs adapt to --budget-s (min 3, max --reps)",
        "checks": [],
        "roofline": [],
        "kernels": [],
        "models": [],
    }
    log(f"bmojo PyTorch anchor bench: torch {torch.__version__}, {meta.get('gpu', device)}; sections {', '.join(args.only)}")
    t0 = time.perf_counter()
    for sec in SECTIONS:
        if sec not in args.only:
            continue
        ts = time.perf_counter()
        try:
            if sec == "checks":
                section_checks(args, device, data)
            elif sec == "roofline":
                section_roofline(args, device, bench, data["roofline"])
            elif sec == "kernels":
                section_kernels(args, device, bench, data["kernels"])
            else:
                section_models(args, device, bench, data["models"])
        except Exception as err:  # a bug in a section must not lose the others
            data.setdefault("errors", []).append(
                {"section": sec, "error": f"{type(err).__name__}: {err}", "traceback": traceback.format_exc()[-6000:]}
            )
            log(f"section {sec} crashed: {err}")
        data.setdefault("section_seconds", {})[sec] = round(time.perf_counter() - ts, 1)
        data["settings"] = bt.settings()
        write_json(args.out, data)
    data["total_seconds"] = round(time.perf_counter() - t0, 1)
    write_json(args.out, data)
    print_table(data)
    log(f"\nwrote {args.out} ({data['total_seconds']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
