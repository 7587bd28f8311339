/**
 * A dependency-free SVG bar chart: one panel, vertical bars with their values on top, labelled
 * axes. `barChart` returns a standalone `<svg>`; `stackCharts` puts several panels side by side.
 */

export interface Bar {
  label: string;
  value: number;
}

export interface BarChartOptions {
  title: string;
  /** The y-axis label, e.g. "tokens/s". */
  unit: string;
  bars: readonly Bar[];
  /** The x-axis label (default "model"). */
  xLabel?: string;
  width?: number;
  height?: number;
}

/** Escapes text for SVG/XML content and attributes. */
export function escapeXml(text: string): string {
  return text
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;");
}

/** A short number for a bar's value label: 1234.5 → "1.23k", 12.345 → "12.3". */
export function short(n: number): string {
  const abs = Math.abs(n);
  if (abs >= 1e6) return `${(n / 1e6).toPrecision(3)}M`;
  if (abs >= 1e4) return `${(n / 1e3).toPrecision(3)}k`;
  if (abs >= 100) return n.toFixed(0);
  return n.toPrecision(3);
}

/** A "nice" axis maximum ≥ max: 1, 2, 2.5 or 5 × a power of ten. */
export function niceMax(max: number): number {
  if (!(max > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(max));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= max) return m * p;
  return 10 * p;
}

export const COLORS = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1"];

/** The chart's elements (no `<svg>` wrapper), drawn at (x0, y0). */
function panel(options: BarChartOptions, x0: number, y0: number): string {
  const width = options.width ?? 420;
  const height = options.height ?? 300;
  const left = 64;
  const right = 16;
  const top = 36;
  const bottom = 56;
  const plotW = width - left - right;
  const plotH = height - top - bottom;
  const max = niceMax(Math.max(0, ...options.bars.map((b) => b.value)));
  const n = Math.max(1, options.bars.length);
  const slot = plotW / n;
  const barW = slot * 0.6;
  const out: string[] = [];
  const X = (x: number) => (x0 + x).toFixed(1);
  const Y = (y: number) => (y0 + y).toFixed(1);
  out.push(
    `<text x="${X(width / 2)}" y="${Y(20)}" text-anchor="middle" font-size="14" font-weight="bold">${escapeXml(options.title)}</text>`,
  );
  // y axis with 5 ticks
  for (let i = 0; i <= 4; i++) {
    const v = (max * i) / 4;
    const y = top + plotH - (plotH * i) / 4;
    out.push(
      `<line x1="${X(left)}" y1="${Y(y)}" x2="${X(left + plotW)}" y2="${Y(y)}" stroke="#ddd"/>`,
      `<text x="${X(left - 6)}" y="${Y(y + 4)}" text-anchor="end" font-size="10">${short(v)}</text>`,
    );
  }
  out.push(
    `<line x1="${X(left)}" y1="${Y(top)}" x2="${X(left)}" y2="${Y(top + plotH)}" stroke="#333"/>`,
    `<line x1="${X(left)}" y1="${Y(top + plotH)}" x2="${X(left + plotW)}" y2="${Y(top + plotH)}" stroke="#333"/>`,
    `<text transform="translate(${X(16)},${Y(top + plotH / 2)}) rotate(-90)" text-anchor="middle" font-size="12">${escapeXml(options.unit)}</text>`,
    `<text x="${X(left + plotW / 2)}" y="${Y(height - 8)}" text-anchor="middle" font-size="12">${escapeXml(options.xLabel ?? "model")}</text>`,
  );
  options.bars.forEach((bar, i) => {
    const h = max > 0 ? (plotH * Math.max(0, bar.value)) / max : 0;
    const x = left + slot * i + (slot - barW) / 2;
    const y = top + plotH - h;
    out.push(
      `<rect x="${X(x)}" y="${Y(y)}" width="${barW.toFixed(1)}" height="${h.toFixed(1)}" fill="${COLORS[i % COLORS.length]}"><title>${escapeXml(`${bar.label}: ${bar.value}`)}</title></rect>`,
      `<text x="${X(x + barW / 2)}" y="${Y(y - 4)}" text-anchor="middle" font-size="10">${short(bar.value)}</text>`,
      `<text x="${X(x + barW / 2)}" y="${Y(top + plotH + 16)}" text-anchor="middle" font-size="11">${escapeXml(bar.label)}</text>`,
    );
  });
  return out.join("\n");
}

function wrap(width: number, height: number, body: string): string {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" style="background:white">`,
    body,
    "</svg>",
    "",
  ].join("\n");
}

/** A standalone SVG bar chart. */
export function barChart(options: BarChartOptions): string {
  const width = options.width ?? 420;
  const height = options.height ?? 300;
  return wrap(width, height, panel(options, 0, 0));
}

/** Several bar charts side by side in one SVG (same size each). */
export function barCharts(charts: readonly BarChartOptions[]): string {
  const width = charts[0]?.width ?? 420;
  const height = charts[0]?.height ?? 300;
  return wrap(
    width * charts.length,
    height,
    charts.map((c, i) => panel({ ...c, width, height }, i * width, 0)).join("\n"),
  );
}
