/**
 * The live training chart, drawn as SVG markup with no chart library: the training loss against
 * the left axis; the accuracy of each fresh training batch (before its update) and the held-out
 * accuracy against the right axis (0–100%). Pure functions, so the scaling is unit-tested in Node.
 */

/** A point of a series: the step and the value. */
export type Point = readonly [step: number, value: number];

export interface ChartData {
  /** The last step of the run (the x axis spans 0 … steps). */
  steps: number;
  loss: readonly Point[];
  /** Fractions in [0, 1]. */
  batchAccuracy: readonly Point[];
  heldOutAccuracy: readonly Point[];
}

/** Maps [d0, d1] linearly onto [r0, r1] (a degenerate domain maps to r0). */
export function linearScale(
  [d0, d1]: readonly [number, number],
  [r0, r1]: readonly [number, number],
): (value: number) => number {
  const span = d1 - d0;
  return (value) => (span === 0 ? r0 : r0 + ((value - d0) / span) * (r1 - r0));
}

/**
 * Round tick values from 0 up to at least `max`: about `count` steps of 1, 2 or 5 × 10^k.
 * The last tick is the top of the axis.
 */
export function niceTicks(max: number, count = 4): number[] {
  if (!(max > 0) || !Number.isFinite(max)) return [0, 1];
  const raw = max / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * magnitude).find((s) => s >= raw) ?? 10 * magnitude;
  const ticks: number[] = [];
  for (let i = 0; ; i++) {
    const value = Number((i * step).toPrecision(12));
    ticks.push(value);
    if (value >= max) return ticks;
  }
}

/** Every `stride`-th point, plus the last, so long runs draw at most about `limit` points. */
export function thinPoints(points: readonly Point[], limit = 400): readonly Point[] {
  if (points.length <= limit) return points;
  const stride = Math.ceil(points.length / limit);
  const kept = points.filter((_, i) => i % stride === 0);
  if (kept[kept.length - 1] !== points[points.length - 1]) kept.push(points[points.length - 1]);
  return kept;
}

/** An SVG path through the points. */
export function pathOf(
  points: readonly Point[],
  x: (step: number) => number,
  y: (value: number) => number,
): string {
  return points
    .map(([s, v], i) => `${i === 0 ? "M" : "L"}${x(s).toFixed(1)},${y(v).toFixed(1)}`)
    .join("");
}

const SIZE = { width: 640, height: 260, left: 48, right: 48, top: 16, bottom: 34 };

/** The whole chart as an <svg> element's markup. */
export function chartSvg(data: ChartData): string {
  const { width, height, left, right, top, bottom } = SIZE;
  const x = linearScale([0, Math.max(1, data.steps)], [left, width - right]);
  const maxLoss = Math.max(0, ...data.loss.map(([, v]) => v));
  const lossTicks = niceTicks(maxLoss);
  const yLoss = linearScale([0, lossTicks[lossTicks.length - 1]], [height - bottom, top]);
  const yAcc = linearScale([0, 1], [height - bottom, top]);
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${height}" role="img" aria-label="training loss and accuracy">`,
  ];
  for (const tick of lossTicks) {
    const ty = yLoss(tick).toFixed(1);
    parts.push(
      `<line class="grid" x1="${left}" x2="${width - right}" y1="${ty}" y2="${ty}"/>`,
      `<text class="tick loss" x="${left - 6}" y="${ty}" text-anchor="end" dominant-baseline="middle">${tick}</text>`,
    );
  }
  for (const fraction of [0, 0.25, 0.5, 0.75, 1]) {
    const ty = yAcc(fraction).toFixed(1);
    parts.push(
      `<text class="tick accuracy" x="${width - right + 6}" y="${ty}" dominant-baseline="middle">${fraction * 100}%</text>`,
    );
  }
  for (const tick of niceTicks(Math.max(1, data.steps), 5)) {
    if (tick > data.steps) break;
    parts.push(
      `<text class="tick" x="${x(tick).toFixed(1)}" y="${height - bottom + 16}" text-anchor="middle">${tick}</text>`,
    );
  }
  parts.push(
    `<text class="axis-label" x="${(left + width - right) / 2}" y="${height - 2}" text-anchor="middle">step</text>`,
    `<path class="series loss" d="${pathOf(thinPoints(data.loss), x, yLoss)}"/>`,
    `<path class="series batch-accuracy" d="${pathOf(thinPoints(data.batchAccuracy), x, yAcc)}"/>`,
    `<path class="series held-out-accuracy" d="${pathOf(data.heldOutAccuracy, x, yAcc)}"/>`,
  );
  for (const [s, v] of data.heldOutAccuracy) {
    parts.push(
      `<circle class="held-out-accuracy" cx="${x(s).toFixed(1)}" cy="${yAcc(v).toFixed(1)}" r="3"/>`,
    );
  }
  parts.push("</svg>");
  return parts.join("");
}
