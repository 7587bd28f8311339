/**
 * A dependency-free SVG line chart for `bmojo experiment length`: one line per series over a
 * log₂ x axis (the contexts), a linear y axis from 0, a legend and labelled axes.
 */
import { COLORS, escapeXml, niceMax, short } from "./svg-chart.js";

export interface LineSeries {
  label: string;
  values: readonly number[];
}

export interface LineChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  /** x values (positive; drawn on a log₂ scale). */
  x: readonly number[];
  series: readonly LineSeries[];
  width?: number;
  height?: number;
}

/** A standalone SVG line chart. */
export function lineChart(o: LineChartOptions): string {
  const width = o.width ?? 560;
  const height = o.height ?? 340;
  const left = 64;
  const right = 130;
  const top = 36;
  const bottom = 52;
  const plotW = width - left - right;
  const plotH = height - top - bottom;
  const finite = o.series.flatMap((s) => s.values.filter((v) => Number.isFinite(v)));
  const max = niceMax(Math.max(0, ...finite));
  const logs = o.x.map((v) => Math.log2(v));
  const lo = Math.min(...logs);
  const hi = Math.max(...logs);
  const X = (i: number) => left + (hi > lo ? ((logs[i] - lo) / (hi - lo)) * plotW : plotW / 2);
  const Y = (v: number) => top + plotH - (plotH * Math.min(Math.max(v, 0), max)) / max;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" style="background:white">`,
    `<text x="${(left + plotW / 2).toFixed(1)}" y="20" text-anchor="middle" font-size="14" font-weight="bold">${escapeXml(o.title)}</text>`,
  ];
  for (let i = 0; i <= 4; i++) {
    const v = (max * i) / 4;
    const y = Y(v).toFixed(1);
    out.push(
      `<line x1="${left}" y1="${y}" x2="${left + plotW}" y2="${y}" stroke="#ddd"/>`,
      `<text x="${left - 6}" y="${(Y(v) + 4).toFixed(1)}" text-anchor="end" font-size="10">${short(v)}</text>`,
    );
  }
  o.x.forEach((v, i) => {
    out.push(
      `<text x="${X(i).toFixed(1)}" y="${top + plotH + 16}" text-anchor="middle" font-size="10">${v}</text>`,
    );
  });
  out.push(
    `<line x1="${left}" y1="${top}" x2="${left}" y2="${top + plotH}" stroke="#333"/>`,
    `<line x1="${left}" y1="${top + plotH}" x2="${left + plotW}" y2="${top + plotH}" stroke="#333"/>`,
    `<text transform="translate(16,${(top + plotH / 2).toFixed(1)}) rotate(-90)" text-anchor="middle" font-size="12">${escapeXml(o.yLabel)}</text>`,
    `<text x="${(left + plotW / 2).toFixed(1)}" y="${height - 10}" text-anchor="middle" font-size="12">${escapeXml(o.xLabel)}</text>`,
  );
  o.series.forEach((s, k) => {
    const color = COLORS[k % COLORS.length];
    const points = s.values
      .map((v, i) => (Number.isFinite(v) ? `${X(i).toFixed(1)},${Y(v).toFixed(1)}` : null))
      .filter((p): p is string => p !== null);
    out.push(
      `<polyline points="${points.join(" ")}" fill="none" stroke="${color}" stroke-width="2"/>`,
    );
    s.values.forEach((v, i) => {
      if (!Number.isFinite(v)) return;
      out.push(
        `<circle cx="${X(i).toFixed(1)}" cy="${Y(v).toFixed(1)}" r="3" fill="${color}"><title>${escapeXml(`${s.label} @ ${o.x[i]}: ${v}`)}</title></circle>`,
      );
    });
    const ly = top + 12 + k * 18;
    out.push(
      `<line x1="${left + plotW + 12}" y1="${ly}" x2="${left + plotW + 32}" y2="${ly}" stroke="${color}" stroke-width="2"/>`,
      `<text x="${left + plotW + 38}" y="${ly + 4}" font-size="11">${escapeXml(s.label)}</text>`,
    );
  });
  out.push("</svg>", "");
  return out.join("\n");
}
