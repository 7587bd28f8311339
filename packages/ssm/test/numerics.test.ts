import { memory, tidy } from "@bmojo/tensor";
import { describe, expect, it } from "vitest";
import { type Mamba, type MambaConfig, disposeState } from "../src/index.js";
import { type FloatDType, hostTokens, makeCase, stepOutputs, tokens } from "./helpers.js";
import { type HostParams, maxAbsDiff, referenceMamba } from "./reference.js";

/** Prints a measured error when SSM_REPORT is set (for the package report). */
function report(name: string, value: number): void {
  if (process.env.SSM_REPORT) console.log(`[ssm] ${name}: ${value.toExponential(3)}`);
}

const TOL: Record<FloatDType, number> = { float32: 1e-4, float64: 1e-10 };

const hostParams = (m: Mamba): HostParams =>
  Object.fromEntries(m.namedParameters().map(([name, t]) => [name, t.dataSync()]));

/** The whole-sequence forward from a zero state, as a host array. */
function forwardAll(m: Mamba, u: Parameters<Mamba["forward"]>[0]): Float64Array {
  return tidy(() => Float64Array.from(m.forward(u).out.dataSync()));
}

describe("Mamba.forward against an independent float64 implementation", () => {
  it.each<[string, MambaConfig, number, number]>([
    ["d 8 defaults", { dModel: 8 }, 2, 11],
    ["d 20, N 5, K 3, expand 3, R 2", { dModel: 20, dState: 5, dConv: 3, expand: 3 }, 3, 9],
    ["d 6, K 1, R 4", { dModel: 6, dState: 3, dConv: 1, dtRank: 4 }, 1, 7],
    ["d 4, K 6 longer than a short sequence", { dModel: 4, dState: 2, dConv: 6 }, 2, 4],
  ])("%s", (name, config, batch, length) => {
    const { mamba, u } = makeCase(config, "float64", batch, length, 5);
    const c = mamba.config;
    const expected = referenceMamba(
      hostParams(mamba),
      { d: c.dModel, E: c.dInner, N: c.dState, R: c.dtRank, K: c.dConv },
      u.dataSync(),
      batch,
      length,
    );
    const diff = maxAbsDiff(forwardAll(mamba, u), expected);
    report(`forward vs reference (${name})`, diff);
    expect(diff).toBeLessThanOrEqual(1e-10);
    // The outputs are not trivially small.
    expect(Math.max(...Array.from(expected, Math.abs))).toBeGreaterThan(1e-3);
  });
});

describe.each<FloatDType>(["float32", "float64"])("recurrent and chunked forms (%s)", (dtype) => {
  const config: MambaConfig = { dModel: 8 }; // E 16, N 16, R 1, K 4
  const [batch, length] = [2, 37];
  const { mamba, u } = makeCase(config, dtype, batch, length, 1);
  const whole = forwardAll(mamba, u);

  it("step by step equals the parallel forward over 37 tokens", () => {
    const state = mamba.createState(batch);
    const diff = maxAbsDiff(stepOutputs(mamba, u, state, 0, length), whole);
    report(`${dtype} step vs forward`, diff);
    expect(diff).toBeLessThanOrEqual(TOL[dtype]);
    // The final states agree too.
    const final = mamba.forward(u).state;
    expect(maxAbsDiff(state.conv.dataSync(), final.conv.dataSync())).toBeLessThanOrEqual(
      TOL[dtype],
    );
    expect(maxAbsDiff(state.ssm.dataSync(), final.ssm.dataSync())).toBeLessThanOrEqual(TOL[dtype]);
    disposeState(state);
    disposeState(final);
  });

  it("forward on [0, 20) then [20, 37) with the returned state equals one forward", () => {
    const first = mamba.forward(tokens(u, 0, 20));
    const second = mamba.forward(tokens(u, 20, 37), { state: first.state });
    const diffA = maxAbsDiff(first.out.dataSync(), hostTokens(whole, u.shape, 0, 20));
    const diffB = maxAbsDiff(second.out.dataSync(), hostTokens(whole, u.shape, 20, 37));
    report(`${dtype} chunked [0,20)+[20,37) vs whole`, Math.max(diffA, diffB));
    expect(diffA).toBeLessThanOrEqual(TOL[dtype]);
    expect(diffB).toBeLessThanOrEqual(TOL[dtype]);
    // Not vacuous: without the state the second chunk differs.
    const fresh = tidy(() => mamba.forward(tokens(u, 20, 37)).out.dataSync());
    expect(maxAbsDiff(fresh, hostTokens(whole, u.shape, 20, 37))).toBeGreaterThan(1e-3);
    // The input state is read, not consumed.
    expect(first.state.conv.isDisposed || first.state.ssm.isDisposed).toBe(false);
    disposeState(first.state);
    disposeState(second.state);
  });

  it("chunks shorter than K − 1 carry the conv state through", () => {
    const bounds = [0, 1, 3, 5, 6, 20, 37];
    let state = mamba.createState(batch);
    let diff = 0;
    for (let i = 0; i + 1 < bounds.length; i++) {
      const [begin, end] = [bounds[i], bounds[i + 1]];
      const res = mamba.forward(tokens(u, begin, end), { state });
      diff = Math.max(diff, maxAbsDiff(res.out.dataSync(), hostTokens(whole, u.shape, begin, end)));
      disposeState(state);
      state = res.state;
    }
    report(`${dtype} chunks 1,2,2,1,14,17 vs whole`, diff);
    expect(diff).toBeLessThanOrEqual(TOL[dtype]);
    disposeState(state);
  });

  it("step after a forward continues exactly", () => {
    const prefill = mamba.forward(tokens(u, 0, 30));
    const stepped = stepOutputs(mamba, u, prefill.state, 30, length);
    const diff = maxAbsDiff(stepped, hostTokens(whole, u.shape, 30, length));
    // Not vacuous: from a zero state the steps differ.
    const zero = mamba.createState(batch);
    const fromZero = stepOutputs(mamba, u, zero, 30, length);
    expect(maxAbsDiff(fromZero, hostTokens(whole, u.shape, 30, length))).toBeGreaterThan(1e-3);
    disposeState(zero);
    report(`${dtype} forward [0,30) then step vs whole`, diff);
    expect(diff).toBeLessThanOrEqual(TOL[dtype]);
    disposeState(prefill.state);
  });

  it("forward and step leave no tensors behind", () => {
    const state = mamba.createState(batch);
    stepOutputs(mamba, u, state, 0, 1); // the first step caches A = −exp(A_log) (one tensor)
    const before = memory().numTensors;
    stepOutputs(mamba, u, state, 0, 3);
    tidy(() => mamba.forward(u, { state }).out.dataSync());
    expect(memory().numTensors).toBe(before);
    const res = mamba.forward(u, { state });
    expect(memory().numTensors).toBe(before + 3); // out, state.conv, state.ssm
    res.out.dispose();
    disposeState(res.state);
    disposeState(state);
  });
});
