/**
 * The device-side eidetic selection (for backends without synchronous reads, e.g. WebGPU) chooses
 * the same tokens as the host rule, and a B'MOJO run through it gives the same logits and
 * gradients as the host path.
 */
import { selectEideticBatch } from "@bmojo/memory";
import { CpuBackend, Random, tensor, tidy } from "@bmojo/tensor";
import { describe, expect, it } from "vitest";
import { deviceEideticLayout } from "../src/device-selection.js";
import { preset } from "../src/index.js";
import { compareModel } from "../src/testing/backend-check.js";

describe("deviceEideticLayout", () => {
  for (const [batch, length, window, eidetic, levels] of [
    [2, 37, 8, 3, 0],
    [3, 64, 16, 8, 4],
    [1, 20, 5, 6, 2],
    [2, 9, 32, 4, 0],
  ] as const) {
    it(`chooses the host rule's set (B ${batch}, L ${length}, w ${window}, m_e ${eidetic}, ${levels ? `${levels} score levels (ties)` : "continuous scores"}, NaN)`, () => {
      const rng = new Random(length + eidetic);
      const scores = rng.uniformArray(batch * length, 0, 1, "float32") as Float32Array;
      if (levels > 0)
        for (let i = 0; i < scores.length; i++) scores[i] = Math.floor(scores[i] * levels);
      scores[3] = Number.NaN;
      const chunks = Math.ceil(length / window);
      const host = selectEideticBatch(scores, batch, length, window, eidetic);
      const { index, mask, positions } = tidy(() => {
        const r = deviceEideticLayout(tensor(scores, [batch, length]), window, eidetic);
        return {
          index: r.index.dataSync(),
          mask: r.mask.dataSync(),
          positions: r.positions().dataSync(),
        };
      });
      for (let b = 0; b < batch; b++) {
        for (let c = 0; c < chunks; c++) {
          const base = (b * chunks + c) * eidetic;
          const want = Array.from(host.subarray(base, base + eidetic))
            .filter((s) => s >= 0)
            .sort((x, y) => x - y);
          const got: number[] = [];
          for (let j = 0; j < eidetic; j++) {
            if (mask[base + j] === 1) {
              got.push(index[base + j] - batch * length - b * length);
              expect(positions[base + j]).toBe(got[got.length - 1]);
            } else {
              expect(index[base + j]).toBe(0);
              expect(positions[base + j]).toBe(0);
            }
          }
          expect(got.sort((x, y) => x - y)).toEqual(want);
        }
      }
    });
  }
});

describe("B'MOJO on a backend without synchronous reads", () => {
  for (const positions of ["none", "rope"] as const) {
    it(`gives the host path's logits and gradients (positions ${positions})`, async () => {
      const inner = new CpuBackend("cpu-async-only");
      const readSync = inner.readSync.bind(inner);
      const asyncOnly = Object.assign(inner, {
        readSync: undefined,
        read: async (id: number, dtype: "float32", size: number) => readSync(id, dtype, size),
      });
      const r = await compareModel(
        preset("bmojo", "tiny", { seed: 2, bmojo: { positions } }),
        new CpuBackend("cpu-host"),
        asyncOnly,
        [2, 40],
      );
      expect(r.logitsRelError).toBeLessThan(1e-6);
      expect(r.decodeRelError).toBeLessThan(1e-6);
      expect(r.gradRelError).toBeLessThan(1e-5);
    });
  }
});
