import { Random } from "@bmojo/tensor";
import { describe, expect, it } from "vitest";
import { inductionHeads } from "../src/index.js";
import { row, scored } from "./helpers.js";

describe("induction-heads", () => {
  it("defaults to vocab 16, length 256, one token to copy", () => {
    const task = inductionHeads();
    expect(task.options).toEqual({ vocabSize: 16, length: 256, inductionLength: 1 });
  });

  for (const m of [1, 3]) {
    it(`scores the last ${m} position(s): the tokens after the first trigger`, () => {
      const L = 256;
      const trigger = 14;
      const batch = inductionHeads({ inductionLength: m }).sample(new Random(m), 300);
      const firstTriggers: number[] = [];
      for (let r = 0; r < batch.batch; r++) {
        const { inputs, targets } = row(batch, r);
        expect(Math.max(...inputs)).toBeLessThanOrEqual(trigger); // id 15 is never used
        const triggers = scored(inputs.map((t) => (t === trigger ? 1 : -100)));
        expect(triggers).toHaveLength(2);
        const [p, last] = triggers;
        expect(last).toBe(L - m);
        expect(p).toBeLessThan(L - 2 * m - 1);
        firstTriggers.push(p);
        const copied = inputs.slice(p + 1, p + 1 + m);
        expect(scored(targets)).toEqual(Array.from({ length: m }, (_, j) => L - m + j));
        expect(targets.slice(L - m)).toEqual(copied);
        expect(inputs.slice(L - m + 1)).toEqual(copied.slice(0, m - 1));
      }
      const mean = firstTriggers.reduce((a, b) => a + b, 0) / firstTriggers.length;
      expect(Math.abs(mean - (L - 2 * m - 2) / 2)).toBeLessThan(15); // uniform position
    });
  }

  it("validates its parameters", () => {
    expect(() => inductionHeads({ length: 7, inductionLength: 3 })).toThrow(
      "induction-heads: length (7) must be ≥ 2·inductionLength + 2 (8)",
    );
    expect(() => inductionHeads({ length: 8, inductionLength: 3 })).not.toThrow();
  });
});
