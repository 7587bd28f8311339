import { assignHost, memory, tidy } from "@bmojo/tensor";
import { describe, expect, it } from "vitest";
import { disposeState } from "../src/index.js";
import { makeCase, stepOutputs, tokens } from "./helpers.js";
import { maxAbsDiff } from "./reference.js";

describe("Mamba.step's cached A = −exp(A_log)", () => {
  const [batch, length] = [2, 6];

  it("is recomputed after A_log is written in place", () => {
    const { mamba, u } = makeCase({ dModel: 8, dState: 4 }, "float64", batch, length, 3);
    const state = mamba.createState(batch);
    stepOutputs(mamba, u, state, 0, 3); // caches A
    // A_log changes in place (as an optimizer step or a checkpoint load would do it).
    const N = mamba.config.dState;
    assignHost(
      mamba.A_log,
      Array.from({ length: mamba.A_log.size }, (_, i) => Math.log(0.5 + (i % N))),
    );
    // The parallel form (which never caches A, and only reads the state) on the next tokens.
    const parallel = tidy(() =>
      Float64Array.from(mamba.forward(tokens(u, 3, length), { state }).out.dataSync()),
    );
    const stepped = stepOutputs(mamba, u, state, 3, length);
    expect(maxAbsDiff(stepped, parallel)).toBeLessThanOrEqual(1e-12);
    disposeState(state);
  });

  it("is freed by dispose", () => {
    const { mamba, u } = makeCase({ dModel: 4, dState: 4 }, "float32", 1, 2, 4);
    const state = mamba.createState(1);
    stepOutputs(mamba, u, state, 0, 1);
    disposeState(state);
    u.dispose();
    const before = memory().numTensors;
    const params = mamba.namedParameters().length;
    mamba.dispose();
    expect(before - memory().numTensors).toBe(params + 1);
  });
});
