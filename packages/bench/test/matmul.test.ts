import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";

const PACKAGE_DIR = fileURLToPath(new URL("..", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "bmojo-bench-matmul-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs the benchmark script the way `pnpm bench` does. */
function bench(...args: string[]) {
  return spawnSync(
    process.execPath,
    ["--conditions=source", "--import", "tsx", "src/matmul.ts", ...args],
    { cwd: PACKAGE_DIR, encoding: "utf8", timeout: 60_000 },
  );
}

interface ResultFile {
  size: number;
  repeats: number;
  results: { system: string; medianMs: number; bestMs: number; gflops: number }[];
  ratios: Record<string, number>;
  correctness: { actual: string; reference: string; pass: boolean }[];
}

describe("bench:matmul (end to end, tiny size)", () => {
  it("measures the three systems, checks correctness and writes the JSON", () => {
    const json = join(dir, "out", "matmul.json");
    const run = bench("--size", "24", "--repeats", "2", "--warmup", "0", "--json", json);
    expect(run.stderr).not.toMatch(/Error/);
    expect(run.status).toBe(0);
    expect(run.stdout).toContain("| tfjs-wasm |");
    expect(run.stdout).toContain("ours/tfjs-cpu");

    const result = JSON.parse(readFileSync(json, "utf8")) as ResultFile;
    expect(result.size).toBe(24);
    expect(result.results.map((r) => r.system)).toEqual(["ours", "tfjs-cpu", "tfjs-wasm"]);
    for (const r of result.results) {
      expect(r.gflops).toBeGreaterThan(0);
      expect(r.bestMs).toBeLessThanOrEqual(r.medianMs);
    }
    expect(Object.keys(result.ratios)).toEqual(["ours/tfjs-cpu", "ours/tfjs-wasm"]);
    expect(result.correctness.every((c) => c.pass)).toBe(true);
  });

  it("runs without the anchors", () => {
    const json = join(dir, "ours.json");
    const run = bench("--size", "8", "--repeats", "1", "--no-anchors", "--json", json);
    expect(run.status).toBe(0);
    const result = JSON.parse(readFileSync(json, "utf8")) as ResultFile;
    expect(result.results.map((r) => r.system)).toEqual(["ours"]);
    expect(result.ratios).toEqual({});
  });

  it("exits with code 2 and names the flag on a bad command line", () => {
    const run = bench("--repeats", "many");
    expect(run.status).toBe(2);
    expect(run.stderr).toContain('--repeats expects an integer in [1, 1000], got "many".');
    expect(run.stderr).toContain("Usage: bench:matmul");
  });
});
