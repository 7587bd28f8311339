/** Small formatting helpers shared by the commands: numbers, durations, tables. */

/** 1234 → "1.2k", 1234567 → "1.2M". */
export function compact(n: number): string {
  const abs = Math.abs(n);
  if (abs >= 1e9) return `${(n / 1e9).toFixed(1)}G`;
  if (abs >= 1e6) return `${(n / 1e6).toFixed(1)}M`;
  if (abs >= 1e3) return `${(n / 1e3).toFixed(1)}k`;
  return abs >= 100 || Number.isInteger(n) ? n.toFixed(0) : n.toPrecision(3);
}

/** Seconds → "42s", "3m05s", "1h02m". */
export function duration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return "?";
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}

/** A percentage with one decimal: 0.8765 → "87.7%". */
export function percent(fraction: number): string {
  return `${(100 * fraction).toFixed(1)}%`;
}

/**
 * An aligned text table. Columns whose cells all look numeric are right-aligned.
 *
 *   preset  size  parameters
 *   ------  ----  ----------
 *   bmojo   tiny       44.6k
 */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const { widths, line } = columns(header, rows);
  const row = (cells: readonly string[]) => line(cells).join("  ").trimEnd();
  return [row(header), row(widths.map((w) => "-".repeat(w))), ...rows.map(row)].join("\n");
}

/**
 * A Markdown table, padded so it also reads as a table in a terminal. Columns are right-aligned
 * (`---:`) where `right[c]` says so, or by default where every cell is a plain number.
 *
 *   | model | parameters |
 *   | ----- | ---------: |
 *   | bmojo |     44,576 |
 */
export function markdownTable(
  header: readonly string[],
  rows: readonly (readonly string[])[],
  right?: readonly boolean[],
): string {
  const { widths, numeric, line } = columns(header, rows, right);
  const row = (cells: readonly string[]) => `| ${line(cells).join(" | ")} |`;
  const rule = widths.map((w, c) => (numeric[c] ? `${"-".repeat(w - 1)}:` : "-".repeat(w)));
  return [row(header), `| ${rule.join(" | ")} |`, ...rows.map(row)].join("\n");
}

/**
 * Column widths, which columns are right-aligned (`right`, or those whose cells all look
 * numeric), and a cell padder.
 */
function columns(
  header: readonly string[],
  rows: readonly (readonly string[])[],
  right?: readonly boolean[],
) {
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c].length)));
  const numeric =
    right ?? header.map((_, c) => rows.every((r) => /^[-+]?[\d.,]+[kMG%]?$/.test(r[c])));
  const line = (cells: readonly string[]) =>
    cells.map((cell, c) => (numeric[c] ? cell.padStart(widths[c]) : cell.padEnd(widths[c])));
  return { widths, numeric, line };
}

/** An integer with thousands separators: 44576 → "44,576". */
export function grouped(n: number): string {
  return Math.round(n).toLocaleString("en-US");
}

/** Seconds since `start` (a `performance.now()` value). */
export function secondsSince(start: number): number {
  return (performance.now() - start) / 1000;
}
