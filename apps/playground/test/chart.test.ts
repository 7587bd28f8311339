import { describe, expect, it } from "vitest";
import { chartSvg, linearScale, niceTicks, pathOf, thinPoints } from "../src/chart.js";

describe("linearScale", () => {
  it("maps the domain's ends onto the range's ends, inverted axes included", () => {
    const y = linearScale([0, 4], [200, 10]);
    expect(y(0)).toBe(200);
    expect(y(4)).toBe(10);
    expect(y(1)).toBe(152.5);
  });

  it("maps a degenerate domain to the range's start", () => {
    expect(linearScale([3, 3], [10, 20])(3)).toBe(10);
  });
});

describe("niceTicks", () => {
  it("steps by 1, 2 or 5 × 10^k from 0 and ends at or above the maximum", () => {
    expect(niceTicks(3.7)).toEqual([0, 1, 2, 3, 4]);
    expect(niceTicks(4.2)).toEqual([0, 2, 4, 6]);
    expect(niceTicks(0.33)).toEqual([0, 0.1, 0.2, 0.3, 0.4]);
    expect(niceTicks(300, 5)).toEqual([0, 100, 200, 300]);
  });

  it("falls back to [0, 1] for an empty or invalid maximum", () => {
    expect(niceTicks(0)).toEqual([0, 1]);
    expect(niceTicks(Number.NaN)).toEqual([0, 1]);
  });
});

describe("thinPoints", () => {
  it("keeps short series whole and long ones to about the limit, last point included", () => {
    const points = Array.from({ length: 1001 }, (_, i) => [i + 1, i] as const);
    expect(thinPoints(points.slice(0, 10), 400)).toHaveLength(10);
    const thinned = thinPoints(points, 400);
    expect(thinned.length).toBeLessThanOrEqual(401);
    expect(thinned[0]).toEqual([1, 0]);
    expect(thinned[thinned.length - 1]).toEqual([1001, 1000]);
  });
});

describe("chartSvg", () => {
  it("draws each series through its scaled points", () => {
    const svg = chartSvg({
      steps: 100,
      loss: [
        [1, 3],
        [100, 1],
      ],
      batchAccuracy: [[1, 0.5]],
      heldOutAccuracy: [[100, 1]],
    });
    // x: 0…100 → 48…592; loss axis 0…3 (ticks 0,1,2,3) → 226…16; accuracy 0…1 → 226…16.
    expect(svg).toContain('class="series loss" d="M53.4,16.0L592.0,156.0"');
    expect(svg).toContain('class="series batch-accuracy" d="M53.4,121.0"');
    expect(svg).toContain('<circle class="held-out-accuracy" cx="592.0" cy="16.0" r="3"/>');
    expect(svg.startsWith("<svg")).toBe(true);
    expect(svg.endsWith("</svg>")).toBe(true);
  });

  it("writes paths as move-then-line commands", () => {
    const x = (s: number) => s * 2;
    const y = (v: number) => 10 - v;
    expect(
      pathOf(
        [
          [1, 1],
          [2, 4],
        ],
        x,
        y,
      ),
    ).toBe("M2.0,9.0L4.0,6.0");
  });
});
