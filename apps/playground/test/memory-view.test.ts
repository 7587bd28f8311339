import { describe, expect, it } from "vitest";
import { innovationColour, memoryTable } from "../src/memory-view.js";
import type { MemoryInspection } from "../src/protocol.js";

describe("innovationColour", () => {
  it("goes from pale (lowest score of the row) to deep orange (highest)", () => {
    expect(innovationColour(1, 1, 5)).toBe("hsl(24 30% 95%)");
    expect(innovationColour(5, 1, 5)).toBe("hsl(24 90% 50%)");
    expect(innovationColour(3, 1, 5)).toBe("hsl(24 60% 73%)");
  });

  it("clamps out-of-range scores, and handles flat rows and non-finite scores", () => {
    expect(innovationColour(9, 1, 5)).toBe(innovationColour(5, 1, 5));
    expect(innovationColour(2, 2, 2)).toBe("hsl(24 30% 95%)");
    expect(innovationColour(Number.NaN, 1, 5)).toBe("transparent");
  });
});

/** 8 tokens, window 4 (two chunks), one B'MOJO layer that held positions 1 and 2 for chunk 1. */
const inspection: MemoryInspection = {
  step: 10,
  tokens: [3, 12, 5, 14, 7, 9, 5, 2],
  roles: ["k", "v", "k", "v", "", "", "q", ""],
  targets: [-100, -100, -100, -100, -100, -100, 14, -100],
  predictions: [0, 0, 0, 0, 0, 0, 14, 0],
  window: 4,
  fadingTokens: 1,
  eideticTokens: 2,
  layers: [{ layer: 0, scores: [0, 4, 2, 1, 0, 0, 0, 0], held: [[], [1, 2]] }],
};

describe("memoryTable", () => {
  it("marks the tokens held for the chosen chunk and colours each by its score", () => {
    const table = memoryTable(inspection, 1);
    const [layer] = table.layers;
    expect(layer.cells.map((c) => c.held)).toEqual([
      false,
      true,
      true,
      false,
      false,
      false,
      false,
      false,
    ]);
    expect(layer.cells[1].colour).toBe(innovationColour(4, 0, 4));
    expect(layer.cells[0].colour).toBe(innovationColour(0, 0, 4));
    expect(layer.cells.map((c) => c.inChunk)).toEqual([
      false,
      false,
      false,
      false,
      true,
      true,
      true,
      true,
    ]);
    expect(table.chunkStarts).toEqual([false, false, false, false, true, false, false, false]);
    expect(layer.cells[1].title).toBe(
      "position 1, token 12, innovation 4.000; in eidetic memory for chunk(s) 2",
    );
    expect(layer.cells[3].title).toContain("never in eidetic memory");
  });

  it("holds nothing for the first chunk, and scores the answers at the queries only", () => {
    const table = memoryTable(inspection, 0);
    expect(table.layers[0].cells.some((c) => c.held)).toBe(false);
    expect(table.answers[6]).toEqual({ text: "14", correct: true });
    expect(table.answers.filter((a) => a !== null)).toHaveLength(1);
  });
});
