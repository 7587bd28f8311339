import { ByteTokenizer, CharTokenizer } from "@bmojo/data";
import { LanguageModel, preset, resolveConfig } from "@bmojo/model";
import { Random } from "@bmojo/tensor";
import { describe, expect, it } from "vitest";
import { DecodedStream } from "../src/decoded-stream.js";
import { recallConfig } from "../src/experiments-recall.js";
import { markdownTable, table } from "../src/format.js";
import { REPEAT_INTERRUPT_MS, interruptHandler } from "../src/interrupt.js";
import { profileDecode } from "../src/measure.js";
import { modelConfigFromFlags } from "../src/model-flags.js";
import { MultiProgress, Progress, updateEma } from "../src/progress.js";
import { deriveSeed, evalSeed, trainSeed } from "../src/seeds.js";
import { NO_DECAY_PARAMETERS, SSM_PARAMETERS } from "../src/train-loop.js";
import { Collector } from "./helpers.js";

describe("Progress", () => {
  /** A clock that advances 100 ms per reading. */
  const clock = () => {
    let t = 0;
    return () => (t += 100);
  };

  it("on a pipe prints one line per 5% and the last step", () => {
    const out = new Collector(false);
    const progress = new Progress(out, {
      total: 100,
      startStep: 0,
      tokensPerStep: 64,
      now: clock(),
    });
    for (let step = 1; step <= 100; step++) progress.update(step, 2.5);
    progress.finish();
    const lines = out.text.trim().split("\n");
    expect(lines).toHaveLength(20);
    expect(lines[0]).toMatch(/^step 5\/100 \(5%\) {2}loss 2\.5000 {2}\d+ tok\/s {2}ETA \d+s$/);
    expect(lines.at(-1)).toMatch(/^step 100\/100 \(100%\) {2}loss 2\.5000 {2}.* done$/);
  });

  it("counts 5% of the steps left when resumed", () => {
    const out = new Collector(false);
    const progress = new Progress(out, {
      total: 200,
      startStep: 100,
      tokensPerStep: 1,
      now: clock(),
    });
    for (let step = 101; step <= 200; step++) progress.update(step, 1);
    expect(out.text.trim().split("\n")).toHaveLength(20);
  });

  it("on a terminal redraws one line with a bar, tokens/s and ETA", () => {
    const out = new Collector(true);
    const progress = new Progress(out, {
      total: 10,
      startStep: 0,
      tokensPerStep: 1000,
      now: clock(),
    });
    progress.update(5, 1.25);
    progress.note("eval @ step 5: fine");
    progress.update(10, 1);
    progress.finish();
    expect(out.text.startsWith("\r\x1b[Kstep 5/10 [")).toBe(true);
    const bar = /step 5\/10 \[(#+)(\.+)\] loss 1\.2500/.exec(out.text);
    const [filled, empty] = [bar?.[1].length ?? 0, bar?.[2].length ?? 0];
    expect(Math.abs(filled - empty)).toBeLessThanOrEqual(1); // half done
    // 5 steps × 1000 tokens in 0.6 s (six readings at 100 ms, the first at construction)
    expect(out.text).toMatch(
      /loss 1\.2500 {2}\d+(\.\d)?k tok\/s {2}ETA \d+s\neval @ step 5: fine\n/,
    );
    expect(out.text.endsWith("done\n")).toBe(true);
  });

  it("the loss EMA starts at the first loss", () => {
    expect(updateEma(undefined, 4)).toBe(4);
    expect(updateEma(4, 2)).toBeCloseTo(3.8, 12);
  });
});

describe("DecodedStream", () => {
  const chars = CharTokenizer.fromText("abcdefgh XYZ\n");
  const ids = (s: string) => Array.from(chars.encode(s));

  it("passes tokens through as they come", () => {
    const stream = new DecodedStream(chars, undefined);
    expect(ids("abc").map((id) => stream.push(id))).toEqual(["a", "b", "c"]);
    expect(stream.flush()).toBe("");
    expect(stream.text()).toBe("abc");
  });

  it("holds back a possible start of the stop text and never prints the stop text", () => {
    const stream = new DecodedStream(chars, "XY");
    const pieces = ids("abXaXYc").map((id) => stream.push(id));
    expect(pieces).toEqual(["a", "b", "", "Xa", "", "", ""]);
    expect(stream.stopped).toBe(true);
    expect(stream.text()).toBe("abXa");
    expect(stream.flush()).toBe("");
  });

  it("releases a held-back tail at the end", () => {
    const stream = new DecodedStream(chars, "XYZ");
    expect(
      ids("aXY")
        .map((id) => stream.push(id))
        .join(""),
    ).toBe("a");
    expect(stream.flush()).toBe("XY");
  });

  it("waits for the rest of a multi-byte character with a byte tokenizer", () => {
    const bytes = new ByteTokenizer();
    const stream = new DecodedStream(bytes, undefined);
    const encoded = Array.from(bytes.encode("aé"));
    expect(encoded).toHaveLength(3);
    expect(encoded.map((id) => stream.push(id))).toEqual(["a", "", "é"]);
  });
});

describe("seeds", () => {
  it("are deterministic, distinct per step and per purpose, and valid Random seeds", () => {
    expect(trainSeed(0, 1)).toBe(trainSeed(0, 1));
    const seen = new Set<number>();
    for (let step = 1; step <= 1000; step++) seen.add(trainSeed(7, step));
    expect(seen.size).toBe(1000);
    expect(evalSeed(7)).not.toBe(trainSeed(7, 0));
    expect(deriveSeed(1, 2)).not.toBe(deriveSeed(2, 1));
    expect(deriveSeed(2 ** 40)).not.toBe(deriveSeed(0));
    for (const s of seen) expect(Number.isInteger(s) && s >= 0 && s < 2 ** 32).toBe(true);
  });
});

describe("AdamW groups", () => {
  it("put every SSM parameter, and only those, in the ssm groups", () => {
    const hybrid = new LanguageModel(preset("hybrid", "tiny"));
    const bmojo = new LanguageModel(preset("bmojo", "tiny"));
    const ssm = [...Object.keys(hybrid.parameters()), ...Object.keys(bmojo.parameters())].filter(
      (n) => SSM_PARAMETERS.test(n),
    );
    expect(ssm).toContain("layers.0.mixer.in_proj.weight");
    expect(ssm).toContain("layers.0.mixer.A_log");
    expect(ssm).toContain("layers.1.mixer.ssm.dt_proj.bias");
    expect(ssm.some((n) => /q_proj|o_proj|attn|mlp|norm|embedding|lm_head/.test(n))).toBe(false);
    // 9 Mamba tensors in hybrid's mamba block, 9 in each of bmojo's two blocks
    expect(ssm).toHaveLength(27);
    expect(NO_DECAY_PARAMETERS.test("layers.0.norm1.weight")).toBe(true);
    expect(NO_DECAY_PARAMETERS.test("norm_f.weight")).toBe(true);
    expect(NO_DECAY_PARAMETERS.test("layers.0.mixer.ssm.D")).toBe(true);
    expect(NO_DECAY_PARAMETERS.test("layers.0.mixer.attn.q_proj.weight")).toBe(false);
    hybrid.dispose();
    bmojo.dispose();
  });
});

describe("model flags", () => {
  const none = {
    preset: "bmojo",
    size: "tiny",
    layers: undefined,
    dModel: undefined,
    layersCount: undefined,
    heads: undefined,
    kvHeads: undefined,
    window: undefined,
    eidetic: undefined,
    fading: undefined,
    predictor: undefined,
    dState: undefined,
    positions: "rope",
    bmojoPositions: "none",
    compute: "float32",
  } as const;

  it("apply overrides on a preset, or a plan with the sizes of --size", () => {
    const a = modelConfigFromFlags({ ...none, eidetic: 2, window: 4, dState: 8 }, new Set());
    expect(a.resolved.bmojo.eideticTokens).toBe(2);
    expect(a.resolved.window).toBe(4);
    expect(a.resolved.ssm.dState).toBe(8);
    const b = modelConfigFromFlags(
      { ...none, layers: "mamba,swa:nomlp,bmojo" },
      new Set(["layers"]),
    );
    expect(b.resolved.layers.map((l) => `${l.kind}${l.mlp ? "" : ":nomlp"}`)).toEqual([
      "mamba:nomlp",
      "swa:nomlp",
      "bmojo",
    ]);
    expect(b.resolved.dModel).toBe(32);
    const nope = modelConfigFromFlags(
      { ...none, preset: "transformer", positions: "none" },
      new Set(),
    );
    expect(nope.resolved.positions).toBe("none");
    expect(a.resolved.positions).toBe("rope");
    expect(a.resolved.bmojo.positions).toBe("none");
    const roped = modelConfigFromFlags({ ...none, bmojoPositions: "rope" }, new Set());
    expect(roped.resolved.bmojo.positions).toBe("rope");
  });

  it("report config errors against the flag behind the field", () => {
    const heads = () => modelConfigFromFlags({ ...none, heads: 3 }, new Set(["heads"]));
    expect(heads).toThrow("--heads: model config: heads: must divide dModel (32), got 3.");
    const implicit = () => modelConfigFromFlags({ ...none, dModel: 31 }, new Set(["dModel"]));
    expect(implicit).toThrow(
      "--heads: model config: heads: must divide dModel (31), got 2. (--heads was not given: the value comes from --size tiny; set --heads explicitly)",
    );
    expect(() =>
      modelConfigFromFlags({ ...none, layers: "mamba,gru" }, new Set(["layers"])),
    ).toThrow(/^--layers: model config: layers\[1\]: unknown layer kind "gru"/);
    expect(() =>
      modelConfigFromFlags({ ...none, layers: "mamba" }, new Set(["preset", "layers"])),
    ).toThrow("--preset and --layers are exclusive: give a preset or a layer plan.");
    expect(() =>
      modelConfigFromFlags({ ...none, eidetic: 0, fading: 0 }, new Set(["eidetic", "fading"])),
    ).toThrow(/^--eidetic: model config: bmojo: fadingTokens \+ eideticTokens must be ≥ 1/);
  });
});

describe("recallConfig", () => {
  it("gives the B'MOJO models the positions of --bmojo-positions, and bmojo-f no eidetic tokens", () => {
    const flags = { blocks: 2, heads: 2, window: 8, eidetic: 4, fading: 1, dState: 8, seed: 0 };
    for (const positions of ["none", "rope"] as const) {
      for (const plan of ["bmojo", "bmojo-f"] as const) {
        const config = resolveConfig(
          recallConfig(plan, 16, 32, 64, { ...flags, bmojoPositions: positions }),
        );
        expect(config.bmojo.positions).toBe(positions);
        expect(config.bmojo.eideticTokens).toBe(plan === "bmojo" ? 4 : 0);
      }
    }
  });
});

describe("table", () => {
  it("aligns numeric columns right and text left", () => {
    expect(
      table(
        ["name", "n"],
        [
          ["a", "1.5k"],
          ["bcd", "22"],
        ],
      ),
    ).toBe("name     n\n----  ----\na     1.5k\nbcd     22");
  });
});

describe("markdownTable", () => {
  it("pads the cells and right-aligns numeric columns, or the columns asked for", () => {
    const rows = [
      ["B'MOJO", "41,504", "23.2% (476/2048)"],
      ["SWA", "24,736", "3.1% (64/2048)"],
    ];
    expect(markdownTable(["model", "parameters", "accuracy"], rows)).toBe(
      [
        "| model  | parameters | accuracy         |",
        "| ------ | ---------: | ---------------- |",
        "| B'MOJO |     41,504 | 23.2% (476/2048) |",
        "| SWA    |     24,736 | 3.1% (64/2048)   |",
      ].join("\n"),
    );
    const right = markdownTable(["model", "parameters", "accuracy"], rows, [false, true, true]);
    expect(right.split("\n")[3]).toBe("| SWA    |     24,736 |   3.1% (64/2048) |");
  });
});

describe("MultiProgress", () => {
  const clock = () => {
    let t = 0;
    return () => (t += 100);
  };

  it("on a pipe prints labelled lines at each run's 5% points and its statuses", () => {
    const out = new Collector(false);
    const progress = new MultiProgress(out, ["bmojo", "swa"], clock());
    progress.start("swa", { total: 40, startStep: 0, tokensPerStep: 10 });
    progress.start("bmojo", { total: 40, startStep: 0, tokensPerStep: 10 });
    for (let step = 1; step <= 40; step++) {
      progress.update("bmojo", step, 2);
      progress.update("swa", step, 3);
    }
    progress.status("swa", "done");
    const lines = out.text.trim().split("\n");
    expect(lines[0]).toBe("swa    training: 40 steps");
    expect(lines[1]).toBe("bmojo  training: 40 steps");
    expect(lines.filter((l) => l.startsWith("bmojo  step "))).toHaveLength(20);
    expect(lines.filter((l) => l.startsWith("swa    step "))).toHaveLength(20);
    expect(lines[2]).toMatch(
      /^bmojo {2}step 2\/40 \(5%\) {2}loss 2\.0000 {2}[\d.]+ tok\/s {2}ETA \d+s$/,
    );
    expect(lines.at(-1)).toBe("swa    done");
  });

  it("on a terminal redraws one line per run in place", () => {
    const out = new Collector(true);
    out.columns = 100;
    const progress = new MultiProgress(out, ["bmojo", "swa"], clock());
    expect(out.text).toBe("\r\x1b[Kbmojo  waiting\n\r\x1b[Kswa    waiting\n");
    out.text = "";
    progress.start("bmojo", { total: 10, startStep: 0, tokensPerStep: 10 });
    progress.update("bmojo", 5, 1.5);
    const frames = out.text.split("\x1b[2A").slice(1);
    expect(frames).toHaveLength(2); // every change redraws both lines
    const [first, second] = frames.at(-1)?.split("\n") ?? [];
    expect(first.startsWith("\r\x1b[Kbmojo  step 5/10 [#")).toBe(true);
    expect(first).toContain("] loss 1.5000 ");
    expect(second).toBe("\r\x1b[Kswa    waiting");
    for (const line of out.text.split("\n")) {
      const visible = line.replaceAll("\x1b[2A", "").replaceAll("\x1b[K", "").replaceAll("\r", "");
      expect(visible.length).toBeLessThan(100);
    }
  });
});

describe("profileDecode", () => {
  it("counts the kernels of one decode step: one scan and one conv step per Mamba block", async () => {
    const model = new LanguageModel(preset("mamba", "tiny"));
    const blocks = model.config.layers.length;
    const profile = await profileDecode(model, new Random(1), 12, 1, 4);
    const calls = (kernel: string) =>
      profile.kernels.find((k) => k.kernel === kernel)?.callsPerStep;
    expect(calls("selectiveScanStep")).toBe(blocks);
    expect(calls("causalConv1dStep")).toBe(blocks);
    expect(calls("gather")).toBe(1); // the embedding of the step's token
    expect(calls("selectiveScan")).toBeUndefined(); // the prefill is not profiled
    const sum = profile.kernels.reduce((n, k) => n + k.callsPerStep, 0);
    expect(profile.kernelsPerStep).toBeCloseTo(sum, 12);
    for (const k of profile.kernels) expect(k.hostUsPerCall).toBeGreaterThanOrEqual(0);
    model.dispose();
  });
});

describe("interruptHandler", () => {
  it("aborts on the first SIGINT, takes one arriving at once as the same, exits on a later one", () => {
    const controller = new AbortController();
    let t = 0;
    const exits: number[] = [];
    const written: string[] = [];
    const handler = interruptHandler(controller, {
      write: (text) => written.push(text),
      exit: (code) => exits.push(code),
      now: () => t,
    });
    handler();
    expect(controller.signal.aborted).toBe(true);
    expect(written.join("")).toContain("Ctrl-C again to quit now");
    t = 5; // `timeout` signals the process, then its process group
    handler();
    expect(exits).toEqual([]);
    t = REPEAT_INTERRUPT_MS;
    handler();
    expect(exits).toEqual([130]);
    expect(written).toHaveLength(1);
  });
});
