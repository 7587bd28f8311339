/** Output helpers shared by the benchmarks: Markdown tables, number formatting, JSON results. */
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { dirname } from "node:path";

export type Align = "left" | "right";

export interface Column {
  header: string;
  align?: Align;
}

/** A Markdown (GitHub) table, columns padded so it also reads well as plain text. */
export function markdownTable(
  columns: readonly Column[],
  rows: readonly (readonly string[])[],
): string {
  for (const [r, row] of rows.entries()) {
    if (row.length !== columns.length) {
      throw new RangeError(
        `markdownTable: row ${r} has ${row.length} cells, expected ${columns.length}`,
      );
    }
  }
  const escapePipes = (cell: string) => cell.replace(/\|/g, "\\|");
  const head = columns.map((col) => escapePipes(col.header));
  const body = rows.map((row) => row.map(escapePipes));
  const widths = columns.map((_, c) =>
    Math.max(3, head[c].length, ...body.map((row) => row[c].length)),
  );
  const pad = (cell: string, c: number) =>
    columns[c].align === "right" ? cell.padStart(widths[c]) : cell.padEnd(widths[c]);
  const line = (cells: readonly string[]) => `| ${cells.map(pad).join(" | ")} |`;
  const rule = `| ${widths
    .map((w, c) => (columns[c].align === "right" ? "-".repeat(w - 1) + ":" : "-".repeat(w)))
    .join(" | ")} |`;
  return [line(head), rule, ...body.map(line)].join("\n");
}

/** A number with `digits` significant digits, without exponent notation for everyday sizes. */
export function formatNumber(value: number, digits = 3): string {
  if (!Number.isFinite(value)) return String(value);
  if (value === 0) return "0";
  const magnitude = Math.floor(Math.log10(Math.abs(value)));
  const decimals = Math.max(0, digits - 1 - magnitude);
  return value.toFixed(Math.min(decimals, 20));
}

/** A time in ms: "1234", "56.7", "8.90". */
export function formatMs(ms: number): string {
  return ms >= 1000 ? ms.toFixed(0) : formatNumber(ms, 3);
}

/** A ratio as "2.35×". */
export function formatRatio(ratio: number): string {
  return formatNumber(ratio, 3) + "×";
}

export interface MachineInfo {
  /** ISO-8601 date and time of the run. */
  date: string;
  node: string;
  platform: string;
  arch: string;
  cpu: string;
  cores: number;
  /** 1-, 5- and 15-minute load averages when the run started (other work on the machine). */
  loadavg: number[];
}

export function machineInfo(): MachineInfo {
  const list = cpus();
  return {
    date: new Date().toISOString(),
    node: process.version,
    platform: process.platform,
    arch: process.arch,
    cpu: list[0]?.model.trim() ?? "unknown",
    cores: list.length,
    loadavg: loadavg().map((x) => Math.round(x * 100) / 100),
  };
}

/** Writes `value` as pretty JSON (with a trailing newline), creating the directory if needed. */
export function writeJson(path: string, value: unknown): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, JSON.stringify(value, null, 2) + "\n");
}
