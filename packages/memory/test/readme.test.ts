/** The README example, with its printed values asserted. */
import { tensor } from "@bmojo/tensor";
import { expect, it } from "vitest";
import { EideticStore, InnovationTracker, innovationScores, selectEidetic } from "../src/index.js";

it("the README example prints what the README says", () => {
  const rows = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11].map((t) => [t >= 3 ? 5 : 0, t >= 8 ? -7 : 0]);
  const y = tensor(rows.flat(), [1, 12, 2]);
  const eps = innovationScores(y);
  expect(Array.from(eps.dataSync(), (e) => +e.toFixed(2))).toEqual([
    0, 0, 0, 5, 3.75, 2.5, 1.25, 0, 7, 5.25, 3.5, 1.75,
  ]);
  expect(Array.from(selectEidetic(eps.dataSync(), 4, 2))).toEqual([-1, -1, 0, 3, 3, 4]);
  const tracker = new InnovationTracker(1, 2);
  const store = new EideticStore(2);
  rows.forEach((row, t) => {
    store.offer(t, tracker.score(Float32Array.from(row))[0]);
  });
  expect(store.entries()).toEqual([
    { position: 8, score: 7, slot: 0 },
    { position: 9, score: 5.25, slot: 1 },
  ]);
  y.dispose();
  eps.dispose();
});
