import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";

const PACKAGE_DIR = fileURLToPath(new URL("..", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "bmojo-bench-overhead-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs the benchmark script the way `pnpm bench:overhead` does. */
function bench(...args: string[]) {
  return spawnSync(
    process.execPath,
    ["--conditions=source", "--import", "tsx", "src/overhead.ts", ...args],
    { cwd: PACKAGE_DIR, encoding: "utf8", timeout: 120_000 },
  );
}

interface ResultFile {
  rows: { model: string; blocks: number; kernelsPerStep: number; runsUsPerStep: number[] }[];
}

function run(json: string): ResultFile {
  const args = ["--size", "tiny", "--models", "mamba,bmojo", "--steps", "6", "--repeats", "2"];
  const r = bench(...args, "--json", json);
  expect(r.status, r.stderr).toBe(0);
  expect(r.stdout).toMatch(/^\| bmojo +\| +2 \|/m);
  return JSON.parse(readFileSync(json, "utf8")) as ResultFile;
}

describe("bench:overhead (end to end, tiny presets)", () => {
  it("times decode steps on kernels that do nothing, counts the kernels and writes the JSON", () => {
    const first = run(join(dir, "a.json"));
    expect(first.rows.map((r) => r.model)).toEqual(["mamba", "bmojo"]);
    const [mamba, bmojo] = first.rows;
    // A Mamba block's step: its norm (with the previous block's residual add), in_proj, conv,
    // x_proj, dt_proj, scan, out_proj (7 kernels); two blocks, then the embedding gather, the final
    // norm (with the last add) and the logits.
    expect(mamba.kernelsPerStep).toBe(2 * 7 + 3);
    expect(mamba.runsUsPerStep).toHaveLength(2);
    expect(bmojo.kernelsPerStep).toBeGreaterThan(mamba.kernelsPerStep);
    // The same settings count the same kernels (the count is not a timing).
    const second = run(join(dir, "b.json"));
    expect(second.rows.map((r) => r.kernelsPerStep)).toEqual(
      first.rows.map((r) => r.kernelsPerStep),
    );
  });

  it("names a bad flag and exits 2", () => {
    const size = bench("--size", "huge");
    expect(size.status).toBe(2);
    expect(size.stderr).toContain('--size: expected one of tiny, small, 130m, got "huge"');
    const models = bench("--models", "bmojo,rnn");
    expect(models.status).toBe(2);
    expect(models.stderr).toContain('--models: unknown preset "rnn"');
  });
});
