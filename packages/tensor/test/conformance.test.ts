/**
 * The conformance suite's gradient and fused-routine checks on the reference cpu backend (float64
 * finite differences), on a float32-only view of it (the float32 tolerances), and on deliberately
 * broken backends (the checks can fail). Kernel-level cases run in kernel-cases.test.ts.
 */
import { describe, expect, it } from "vitest";
import type { Backend } from "../src/backend/backend.js";
import type { KernelTable } from "../src/backend/kernels.js";
import { CpuBackend } from "../src/backends/cpu/index.js";
import { fusedCases } from "../src/testing/fused-cases.js";
import { gradientCases } from "../src/testing/gradient-cases.js";
import { conformanceCases, runConformance, summaryLine } from "../src/testing/index.js";

const specCases = [...gradientCases(), ...fusedCases()];

describe("gradient and fused cases on the reference cpu backend (float64)", () => {
  const ctx = { backend: new CpuBackend(), reference: new CpuBackend("cpu-reference") };
  for (const c of specCases) {
    it(c.name, async () => {
      await c.run(ctx);
    });
  }
});

describe("the suite as a whole", () => {
  it("covers every group and has unique names", () => {
    const all = conformanceCases();
    expect(new Set(all.map((c) => c.name)).size).toBe(all.length);
    expect(new Set(all.map((c) => c.group))).toEqual(new Set(["kernel", "gradient", "fused"]));
  });

  it("passes on a float32-only backend, skipping float64 cases with a reason", async () => {
    const f32 = Object.assign(new CpuBackend("cpu-f32"), { dtypes: ["float32", "int32"] as const });
    const report = await runConformance(f32, { cases: specCases });
    const failures = report.results
      .filter((r) => r.status === "failed")
      .map((r) => `${r.name}: ${r.message}`);
    expect(failures).toEqual([]);
    expect(report.skipped).toBeGreaterThan(0);
    expect(report.results.find((r) => r.status === "skipped")?.message).toBe(
      "backend 'cpu-f32' does not support float64",
    );
    expect(summaryLine(report)).toMatch(/^\d+ passed, 0 failed, \d+ skipped$/);
  });

  it("fails a backend whose attention backward or selective scan is slightly wrong", async () => {
    const cpu = new CpuBackend("broken");
    type Fused = "attentionBackward" | "selectiveScan";
    const perturb = <K extends Fused>(
      name: K,
      out: (a: Parameters<KernelTable[K]>[0]) => number,
    ) => {
      const original = cpu.kernels[name] as (a: Parameters<KernelTable[K]>[0]) => void;
      return (a: Parameters<KernelTable[K]>[0]) => {
        original(a);
        const id = out(a);
        const view = cpu.readSync(id, a.dtype, 2);
        view[1] += 1e-3;
        cpu.write(id, view);
      };
    };
    const broken: Backend = Object.assign(cpu, {
      kernels: {
        ...cpu.kernels,
        attentionBackward: perturb("attentionBackward", (a) => a.dq),
        selectiveScan: perturb("selectiveScan", (a) => a.out),
      },
    });
    const report = await runConformance(broken, { cases: specCases });
    const failed = report.results.filter((r) => r.status === "failed").map((r) => r.name);
    expect(failed.some((n) => n.startsWith("grad/attention"))).toBe(true);
    expect(failed.some((n) => n.startsWith("fused/selectiveScan = recurrence"))).toBe(true);
    expect(failed.every((n) => n.includes("attention") || n.includes("selectiveScan"))).toBe(true);
  });
});
