import { Random, type Tensor, softplus, tidy } from "@bmojo/tensor";
import { describe, expect, it } from "vitest";
import {
  MAMBA_PARAMETER_NAMES,
  Mamba,
  type MambaConfig,
  disposeState,
  resolveMambaConfig,
  stateBytes,
} from "../src/index.js";

const shapesOf = (m: Mamba): [string, readonly number[]][] =>
  m.namedParameters().map(([name, t]) => [name, t.shape]);

describe("Mamba parameters", () => {
  it("uses mamba_ssm's names and shapes for d = 8 (E 16, N 16, R 1, K 4)", () => {
    const m = new Mamba({ dModel: 8 }, { rng: new Random(0) });
    expect(shapesOf(m)).toEqual([
      ["in_proj.weight", [32, 8]],
      ["conv1d.weight", [16, 1, 4]],
      ["conv1d.bias", [16]],
      ["x_proj.weight", [33, 16]],
      ["dt_proj.weight", [16, 1]],
      ["dt_proj.bias", [16]],
      ["A_log", [16, 16]],
      ["D", [16]],
      ["out_proj.weight", [8, 16]],
    ]);
    expect(Object.keys(m.parameters())).toEqual([...MAMBA_PARAMETER_NAMES]);
    expect(m.numParameters()).toBe(256 + 64 + 16 + 528 + 16 + 16 + 256 + 16 + 128);
    expect(m.config).toMatchObject({ dState: 16, dConv: 4, expand: 2, dtRank: 1, dInner: 16 });
  });

  it("follows a custom config (d 40, N 5, K 3, expand 3, default R = ceil(40/16) = 3)", () => {
    const m = new Mamba({ dModel: 40, dState: 5, dConv: 3, expand: 3 }, { rng: new Random(0) });
    expect(shapesOf(m)).toEqual([
      ["in_proj.weight", [240, 40]],
      ["conv1d.weight", [120, 1, 3]],
      ["conv1d.bias", [120]],
      ["x_proj.weight", [13, 120]],
      ["dt_proj.weight", [120, 3]],
      ["dt_proj.bias", [120]],
      ["A_log", [120, 5]],
      ["D", [120]],
      ["out_proj.weight", [40, 120]],
    ]);
    const r = new Mamba({ dModel: 12, dtRank: 5 }, { rng: new Random(0), dtype: "float64" });
    expect(r.dt_proj.weight.shape).toEqual([24, 5]);
    expect(r.x_proj.weight.shape).toEqual([37, 24]);
    expect(r.namedParameters().every(([, t]) => t.dtype === "float64")).toBe(true);
  });

  it("prefixes names when nested in another module", () => {
    const m = new Mamba({ dModel: 4 }, { rng: new Random(0) });
    expect(m.namedParameters("layers.0.mixer.").map(([n]) => n)).toEqual(
      MAMBA_PARAMETER_NAMES.map((n) => `layers.0.mixer.${n}`),
    );
  });
});

describe("Mamba initialisation", () => {
  const config: MambaConfig = { dModel: 256, dState: 8 }; // E = 512, R = 16
  const m = new Mamba(config, { rng: new Random(3) });
  const host = (name: string): Float32Array => m.parameters()[name].dataSync() as Float32Array;
  const maxAbs = (a: ArrayLike<number>): number =>
    Array.from(a).reduce((m, v) => Math.max(m, Math.abs(v)), 0);

  it("A_log rows are log(1..N) (S4D-real) and D is 1", () => {
    const aLog = host("A_log");
    for (let e = 0; e < 512; e++) {
      for (let n = 0; n < 8; n++) expect(aLog[e * 8 + n]).toBeCloseTo(Math.log(n + 1), 6);
    }
    expect(Array.from(host("D")).every((v) => v === 1)).toBe(true);
  });

  it("softplus(dt_proj.bias) is log-uniform in [dtMin, dtMax]", () => {
    const dt = tidy(() => softplus(m.dt_proj.bias as Tensor).dataSync());
    const tol = 1e-6; // the bias is stored in float32
    expect(Math.min(...dt)).toBeGreaterThanOrEqual(0.001 * (1 - tol));
    expect(Math.max(...dt)).toBeLessThanOrEqual(0.1 * (1 + tol));
    // log-uniform: about half the values below sqrt(dtMin · dtMax) = 0.01, both ends reached.
    const below = Array.from(dt).filter((v) => v < 0.01).length;
    expect(below).toBeGreaterThan(200);
    expect(below).toBeLessThan(312);
    expect(Math.min(...dt)).toBeLessThan(0.0012);
    expect(Math.max(...dt)).toBeGreaterThan(0.085);
  });

  it("clamps dt to dtInitFloor", () => {
    const f = new Mamba(
      { dModel: 4, dtMin: 1e-6, dtMax: 1e-5, dtInitFloor: 1e-3 },
      { rng: new Random(0), dtype: "float64" },
    );
    const dt = tidy(() => softplus(f.dt_proj.bias as Tensor).dataSync());
    for (const v of dt) expect(v).toBeCloseTo(1e-3, 12);
  });

  it("uses PyTorch / mamba_ssm bounds for the random weights", () => {
    expect(maxAbs(host("in_proj.weight"))).toBeLessThanOrEqual(1 / Math.sqrt(256));
    expect(maxAbs(host("conv1d.weight"))).toBeLessThanOrEqual(1 / Math.sqrt(4));
    expect(maxAbs(host("conv1d.bias"))).toBeLessThanOrEqual(1 / Math.sqrt(4));
    expect(maxAbs(host("x_proj.weight"))).toBeLessThanOrEqual(1 / Math.sqrt(512));
    expect(maxAbs(host("dt_proj.weight"))).toBeLessThanOrEqual(16 ** -0.5);
    expect(maxAbs(host("dt_proj.weight"))).toBeGreaterThan(0.9 * 16 ** -0.5);
    expect(maxAbs(host("out_proj.weight"))).toBeLessThanOrEqual(1 / Math.sqrt(512));
  });

  it("is deterministic for a seed", () => {
    const a = new Mamba({ dModel: 8, dState: 4 }, { rng: new Random(11) });
    const b = new Mamba({ dModel: 8, dState: 4 }, { rng: new Random(11) });
    const c = new Mamba({ dModel: 8, dState: 4 }, { rng: new Random(12) });
    const values = (x: Mamba) => x.namedParameters().map(([, t]) => Array.from(t.dataSync()));
    expect(values(a)).toEqual(values(b));
    expect(values(a)).not.toEqual(values(c));
  });
});

describe("Mamba config validation", () => {
  const make = (config: MambaConfig) => () => new Mamba(config, { rng: new Random(0) });

  it.each([
    [{ dModel: 0 }, "Mamba: dModel must be a positive integer, got 0."],
    [{ dModel: 2.5 }, "Mamba: dModel must be a positive integer, got 2.5."],
    [{ dModel: 8, dState: 0 }, "Mamba: dState must be a positive integer, got 0."],
    [{ dModel: 8, dConv: -1 }, "Mamba: dConv must be a positive integer, got -1."],
    [{ dModel: 8, dtRank: 0 }, "Mamba: dtRank must be a positive integer, got 0."],
    [{ dModel: 8, expand: 0 }, "Mamba: expand must be a positive finite number, got 0."],
    [{ dModel: 5, expand: 1.5 }, "Mamba: expand · dModel must be an integer"],
    [{ dModel: 8, dtMin: 0 }, "Mamba: dtMin must be a positive finite number, got 0."],
    [{ dModel: 8, dtMax: Number.NaN }, "Mamba: dtMax must be a positive finite number, got NaN."],
    [{ dModel: 8, dtMin: 0.2, dtMax: 0.1 }, "Mamba: dtMax must be at least dtMin"],
    [{ dModel: 8, dtInitFloor: -1 }, "Mamba: dtInitFloor must be a non-negative finite number"],
  ])("rejects %j", (config, message) => {
    expect(make(config as MambaConfig)).toThrow(message);
  });

  it("accepts a fractional expand with an integer inner width", () => {
    expect(resolveMambaConfig({ dModel: 6, expand: 1.5 }).dInner).toBe(9);
  });

  it("stepProjected from in_proj's output equals step, token by token", () => {
    const m = new Mamba({ dModel: 8, dState: 4 }, { rng: new Random(5), dtype: "float64" });
    const rng = new Random(6);
    const [viaStep, viaProjection] = [m.createState(2), m.createState(2)];
    for (let t = 0; t < 6; t++) {
      const u = rng.normal([2, 8], { dtype: "float64" });
      const a = m.step(u, viaStep).dataSync();
      const b = m.stepProjected(m.in_proj.forward(u), viaProjection).dataSync();
      expect(Array.from(b)).toEqual(Array.from(a));
    }
    expect(Array.from(viaProjection.ssm.dataSync())).toEqual(Array.from(viaStep.ssm.dataSync()));
  });

  it("checks inputs and states with messages that say what to pass", () => {
    const m = new Mamba({ dModel: 4, dState: 2 }, { rng: new Random(0) });
    const rng = new Random(1);
    expect(() => m.forward(rng.normal([2, 3, 5]))).toThrow(
      "Mamba.forward: u must be [batch, length, dModel] with dModel 4, got [2, 3, 5].",
    );
    expect(() => m.forward(rng.normal([2, 3, 4], { dtype: "float64" }))).toThrow(
      "Mamba.forward: u is float64 but the parameters are float32",
    );
    const state = m.createState(3);
    expect(() => m.step(rng.normal([2, 4]), state)).toThrow(
      "Mamba.step: state.conv must be float32 [2, 3, 8], got float32 [3, 3, 8]",
    );
    expect(() => m.forward(rng.normal([2, 3, 4]), { state })).toThrow("Mamba.forward: state.conv");
    expect(() => m.stepProjected(rng.normal([3, 8]), state)).toThrow(
      "Mamba.stepProjected: xz must be [batch, 16] (in_proj's output), got [3, 8].",
    );
    expect(() => m.createState(0)).toThrow("Mamba: batch must be a positive integer, got 0.");
  });
});

describe("Mamba states", () => {
  it("createState gives zeros of the right shapes; stateBytes counts both tensors", () => {
    const m = new Mamba({ dModel: 8, dState: 4, dConv: 3 }, { rng: new Random(0) });
    const s = m.createState(2);
    expect(s.conv.shape).toEqual([2, 2, 16]);
    expect(s.ssm.shape).toEqual([2, 16, 4]);
    expect(Array.from(s.conv.dataSync()).every((v) => v === 0)).toBe(true);
    expect(Array.from(s.ssm.dataSync()).every((v) => v === 0)).toBe(true);
    expect(stateBytes(s)).toBe((2 * 2 * 16 + 2 * 16 * 4) * 4);
    disposeState(s);
    expect(s.conv.isDisposed && s.ssm.isDisposed).toBe(true);
    const m64 = new Mamba({ dModel: 8 }, { rng: new Random(0), dtype: "float64" });
    const s64 = m64.createState(1);
    expect(stateBytes(s64)).toBe((3 * 16 + 16 * 16) * 8);
    disposeState(s64);
  });
});
