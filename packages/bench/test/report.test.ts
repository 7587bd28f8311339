import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { type BenchSystem, measureRoundRobin } from "../src/harness.js";
import {
  formatMs,
  formatNumber,
  formatRatio,
  machineInfo,
  markdownTable,
  writeJson,
} from "../src/report.js";

describe("markdownTable", () => {
  it("pads columns, right-aligns numbers and escapes pipes", () => {
    const table = markdownTable(
      [{ header: "system" }, { header: "max |x|", align: "right" }],
      [
        ["ours", "1.5"],
        ["tfjs-wasm", "31.8"],
      ],
    );
    expect(table).toBe(
      [
        "| system    | max \\|x\\| |",
        "| --------- | --------: |",
        "| ours      |       1.5 |",
        "| tfjs-wasm |      31.8 |",
      ].join("\n"),
    );
  });

  it("rejects rows of the wrong width", () => {
    expect(() => markdownTable([{ header: "a" }], [["1", "2"]])).toThrow(/row 0 has 2 cells/);
  });
});

describe("number formatting", () => {
  it("keeps three significant digits", () => {
    expect(formatNumber(31.8234)).toBe("31.8");
    expect(formatNumber(0.85123)).toBe("0.851");
    expect(formatNumber(1234.5)).toBe("1235");
    expect(formatNumber(0)).toBe("0");
    expect(formatNumber(Number.NaN)).toBe("NaN");
    expect(formatMs(2531.7)).toBe("2532");
    expect(formatMs(67.891)).toBe("67.9");
    expect(formatRatio(0.04567)).toBe("0.0457×");
  });
});

describe("machineInfo and writeJson", () => {
  it("describes the machine", () => {
    const info = machineInfo();
    expect(info.node).toBe(process.version);
    expect(info.cores).toBeGreaterThan(0);
    expect(info.loadavg).toHaveLength(3);
    expect(Number.isNaN(Date.parse(info.date))).toBe(false);
  });

  it("creates the directory and writes pretty JSON", () => {
    const dir = mkdtempSync(join(tmpdir(), "bmojo-bench-"));
    try {
      const path = join(dir, "a", "b", "r.json");
      writeJson(path, { x: 1 });
      expect(readFileSync(path, "utf8")).toBe('{\n  "x": 1\n}\n');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("measureRoundRobin", () => {
  it("warms up, then times every system once per round, rotating the order", async () => {
    const order: string[] = [];
    const system = (name: string): BenchSystem => ({
      name,
      description: name,
      kind: "sync",
      prepare: () => {
        order.push(`prepare ${name}`);
      },
      run: () => {
        order.push(name);
      },
    });
    const asyncSystem: BenchSystem = {
      name: "c",
      description: "c",
      kind: "async",
      run: async () => {
        order.push("c");
      },
    };
    const samples: string[] = [];
    const results = await measureRoundRobin([system("a"), system("b"), asyncSystem], {
      warmup: 1,
      repeats: 2,
      onSample: (name, round) => samples.push(`${round}:${name}`),
    });
    expect(order.filter((x) => !x.startsWith("prepare"))).toEqual([
      ...["a", "b", "c"],
      ...["b", "c", "a"],
      ...["c", "a", "b"],
    ]);
    expect(order.filter((x) => x === "prepare a")).toHaveLength(3);
    expect(samples).toEqual(["0:b", "0:c", "0:a", "1:c", "1:a", "1:b"]);
    expect(results.map((r) => [r.system, r.samplesMs.length])).toEqual([
      ["a", 2],
      ["b", 2],
      ["c", 2],
    ]);
  });
});
