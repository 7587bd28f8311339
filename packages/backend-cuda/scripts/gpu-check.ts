/**
 * The GPU machine's check, as one plain-node script (bundled by scripts/bundle-gpu.mjs; no pnpm or
 * vitest there): the conformance suite on cuda-fp32, then the whole-model check of B'MOJO at each
 * preset (and every plan at the tiny preset, and Mamba at 130m) against the reference cpu backend,
 * in strict float32, with TF32 and with bf16 matmuls; where a plan compiles its decode step, the
 * replayed CUDA graph's logits too. Prints "N passed, M failed, K skipped" lines; exits 1 on any
 * failure.
 *
 *   node gpu-check.mjs [--filter TEXT] [--models TEXT] [--skip-conformance] [--skip-models] [--json FILE] [--export DIR]
 * --filter picks conformance cases by name; --models picks model rows whose "plan size variant"
 * (variant: RoPE, bf16 compute, or nothing) contains one of its comma-separated parts.
 * --export DIR writes a small B'MOJO's weights, inputs, logits and gradients on cuda-fp32 for the
 * PyTorch anchor's check_logits.py.
 */
import { writeFileSync } from "node:fs";
import { type ModelConfig, PLAN_NAMES, type PlanName, type PresetSize, preset } from "@bmojo/model";
import { type Backend, backendByName } from "@bmojo/tensor";
import { printConformance } from "@bmojo/tensor/testing";
import "../src/index.js";
import type { CudaBackend } from "../src/index.js";
import { compareWith, exportForAnchor, referenceRun } from "@bmojo/model/testing";

const argv = process.argv.slice(2);
const flagValue = (name: string): string | undefined => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
};
const filter = flagValue("--filter");
const modelFilter = flagValue("--models");
const jsonPath = flagValue("--json");

/**
 * Relative tolerance of the whole-model check: strict float32, TF32 (10-bit mantissa) and bf16
 * (8-bit mantissa) matmul inputs.
 */
const MODEL_TOLERANCE = { "cuda-fp32": 2e-3, cuda: 3e-2, "cuda-bf16": 1e-1 } as const;
/**
 * bfloat16 compute (float32 parameters, bfloat16 storage) against the cpu backend's emulation of
 * it: float32 sums in another order round to a neighbouring bfloat16 now and then, and the steps
 * carry that on: bf16's bound, as for cuda-bf16.
 */
const BF16_COMPUTE_TOLERANCE = 1e-1;

interface ModelRow {
  backend: string;
  plan: PlanName;
  size: PresetSize;
  /** "RoPE" for B'MOJO with bmojo.positions "rope", "bf16 compute" for computeDType bfloat16, else "". */
  variant: string;
  shape: [number, number];
  logitsRelError: number;
  decodeRelError: number;
  /** Decode by replaying the compiled step (a CUDA graph), where the plan compiles (Mamba). */
  replayRelError: number | null;
  gradRelError: number;
  worstGrad: string;
  loss: [number, number];
  seconds: number;
  ok: boolean;
}

async function main(): Promise<void> {
  const strict = (await backendByName("cuda-fp32")) as CudaBackend;
  const tf32 = (await backendByName("cuda")) as CudaBackend;
  const bf16 = (await backendByName("cuda-bf16")) as CudaBackend;
  const cpu = await backendByName("cpu");
  const d = strict.device;
  console.log(
    `device: ${d.name} (sm ${d.computeCapability}, ${d.multiprocessors} SMs, ${(d.totalMemory / 2 ** 30).toFixed(1)} GiB), ` +
      `CUDA runtime ${d.runtimeVersion}, driver ${d.driverVersion}`,
  );
  const result: Record<string, unknown> = { device: d };
  let failed = 0;

  if (!argv.includes("--skip-conformance")) {
    const report = await printConformance(strict, "conformance suite on backend 'cuda-fp32'", {
      filter,
    });
    failed += report.failed;
    result.conformance = { passed: report.passed, failed: report.failed, skipped: report.skipped };
  }

  if (!argv.includes("--skip-models")) {
    type Check = [PlanName, PresetSize, [number, number], Partial<ModelConfig>];
    const checks: Check[] = [
      ...PLAN_NAMES.map((plan): Check => [plan, "tiny", [2, 40], {}]),
      ["bmojo", "small", [2, 160], {}],
      ["bmojo", "small", [2, 160], { bmojo: { positions: "rope" } }],
      // 130m at its full width, depth and vocabulary; a 32-token window keeps the reference cpu fast
      // (and makes the replayed decode cross chunk boundaries: memory refreshes, admissions).
      ["bmojo", "130m", [1, 80], { window: 32 }],
      // 24 Mamba blocks: its decode step replays as one CUDA graph of about 170 nodes.
      ["mamba", "130m", [1, 40], {}],
      // Mixed precision: bfloat16 storage of every activation, state and cache (on `cuda` only:
      // bfloat16 products ignore the matmul precision).
      ...PLAN_NAMES.map((plan): Check => [plan, "tiny", [2, 40], { computeDType: "bfloat16" }]),
      ["bmojo", "small", [2, 160], { computeDType: "bfloat16" }],
      ["bmojo", "130m", [1, 80], { window: 32, computeDType: "bfloat16" }],
    ];
    const rows: ModelRow[] = [];
    const variantOf = (overrides: Partial<ModelConfig>): string =>
      overrides.bmojo?.positions === "rope"
        ? "RoPE"
        : overrides.computeDType === "bfloat16"
          ? "bf16 compute"
          : "";
    const wanted = (modelFilter ?? "").split(",");
    const picked = checks.filter(([plan, size, , overrides]) =>
      wanted.some((w) => `${plan} ${size} ${variantOf(overrides)}`.includes(w)),
    );
    for (const [plan, size, shape, overrides] of picked) {
      const config = preset(plan, size, { seed: 3, ...overrides });
      const mixed = overrides.computeDType === "bfloat16";
      const variant = variantOf(overrides);
      const ref = await referenceRun(config, cpu, shape);
      for (const backend of (mixed ? [tf32] : [strict, tf32, bf16]) as Backend[]) {
        const started = performance.now();
        const r = await compareWith(config, ref, backend);
        const tol = mixed
          ? BF16_COMPUTE_TOLERANCE
          : MODEL_TOLERANCE[backend.name as keyof typeof MODEL_TOLERANCE];
        const ok =
          r.logitsRelError <= tol &&
          r.decodeRelError <= tol &&
          (r.replayRelError ?? 0) <= tol &&
          r.gradRelError <= tol;
        const row: ModelRow = {
          backend: backend.name,
          plan,
          size,
          variant,
          shape,
          ...r,
          seconds: (performance.now() - started) / 1000,
          ok,
        };
        rows.push(row);
        console.log(
          `${ok ? "ok  " : "FAIL"} model ${backend.name} ${plan}${variant ? ` (${variant})` : ""} ${size} [${shape}]: logits rel ${r.logitsRelError.toExponential(2)}, ` +
            `decode rel ${r.decodeRelError.toExponential(2)}, ` +
            (r.replayRelError === null
              ? ""
              : `replayed rel ${r.replayRelError.toExponential(2)}, `) +
            `grads rel ${r.gradRelError.toExponential(2)} (worst ${r.worstGrad}), loss ${r.loss[0].toFixed(5)} vs ${r.loss[1].toFixed(5)}, ` +
            `tolerance ${tol} (${row.seconds.toFixed(1)} s)`,
        );
      }
    }
    const bad = rows.filter((r) => !r.ok).length;
    failed += bad;
    console.log(`model check: ${rows.length - bad} passed, ${bad} failed, 0 skipped`);
    result.models = rows;
  }
  const exportDir = flagValue("--export");
  if (exportDir !== undefined) {
    await exportForAnchor(preset("bmojo", "small", { seed: 3 }), strict, [2, 160], exportDir);
    console.log(`exported a small B'MOJO's weights, inputs, logits and gradients to ${exportDir}`);
  }
  if (jsonPath !== undefined) writeFileSync(jsonPath, `${JSON.stringify(result, null, 2)}\n`);
  process.exitCode = failed > 0 ? 1 : 0;
}

main().catch((err) => {
  console.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
  process.exit(2);
});
