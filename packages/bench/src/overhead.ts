/**
 * The host's cost of a decode step outside the kernels. Each model decodes on a backend whose
 * kernels do nothing and whose buffers hold nothing (reads give zeros), so the time per step is
 * the JavaScript op layer alone: tensor bookkeeping, shape checks, tidy scopes and the calls up to
 * each kernel. At batch 1 on a GPU backend this time, plus the launches, bounds decode speed.
 *
 *   pnpm --filter @bmojo/bench bench:overhead -- --size small --steps 128
 *
 * There is no outside anchor for this number; it tracks our own op layer (a change that makes it
 * slower shows here without a GPU). The runs of the models are interleaved, the median and the
 * best of `--repeats` are reported, and the kernels one step calls are counted in a separate pass.
 */
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { LanguageModel, type ModelConfig, PLAN_NAMES, type PlanName, preset } from "@bmojo/model";
import {
  type Backend,
  type DType,
  Random,
  type TypedArray,
  getBackend,
  profileKernels,
  registerBackend,
  setBackend,
  tensor,
} from "@bmojo/tensor";
import { FlagError, type FlagSpecs, formatUsage, parseFlags } from "./flags.js";
import { formatNumber, machineInfo, markdownTable, writeJson } from "./report.js";
import { median } from "./stats.js";

const PACKAGE_DIR = fileURLToPath(new URL("..", import.meta.url));
const SIZES = ["tiny", "small", "130m"] as const;
type Size = (typeof SIZES)[number];

const FLAGS = {
  models: {
    kind: "string",
    default: "transformer,mamba,bmojo",
    placeholder: "LIST",
    description: `comma-separated presets (${PLAN_NAMES.join(", ")})`,
  },
  size: {
    kind: "string",
    default: "130m",
    placeholder: "SIZE",
    description: `preset size (${SIZES.join(", ")}); the op count grows with the blocks, not the width`,
  },
  prompt: {
    kind: "int",
    default: 64,
    min: 1,
    max: 1_000_000,
    placeholder: "L",
    description: "tokens prefilled before the timed steps",
  },
  steps: {
    kind: "int",
    default: 256,
    min: 1,
    max: 1_000_000,
    placeholder: "N",
    description: "decode steps per timed run",
  },
  repeats: {
    kind: "int",
    default: 8,
    min: 1,
    max: 1000,
    placeholder: "R",
    description: "timed runs of each model",
  },
  json: {
    kind: "string",
    default: "results/overhead.json",
    placeholder: "PATH",
    description: "JSON results file; a relative path is taken from packages/bench",
  },
} as const satisfies FlagSpecs;

/** A backend that stores nothing and computes nothing: every kernel returns at once. */
function nullBackend(reference: Backend): Backend {
  let next = 1;
  const zeros = (dtype: DType, size: number): TypedArray =>
    dtype === "int32"
      ? new Int32Array(size)
      : dtype === "float64"
        ? new Float64Array(size)
        : new Float32Array(size);
  const kernels = Object.fromEntries(
    Object.keys(reference.kernels).map((name) => [name, () => {}]),
  );
  return {
    name: "overhead-null",
    specVersion: reference.specVersion,
    dtypes: reference.dtypes,
    alloc: () => next++,
    free: () => {},
    write: () => {},
    read: async (_id, dtype, size) => zeros(dtype, size),
    readSync: (_id, dtype, size) => zeros(dtype, size),
    sync: async () => {},
    view: () => next++,
    numBuffers: () => 0,
    dispose: () => {},
    kernels,
  };
}

interface Row {
  model: PlanName;
  blocks: number;
  kernelsPerStep: number;
  medianUsPerStep: number;
  bestUsPerStep: number;
  usPerKernel: number;
  runsUsPerStep: number[];
}

/**
 * Prefills `prompt` tokens into a fresh cache, then times `steps` decode steps: µs per step, and
 * the kernels per step when `count` is set (the count's own overhead is then in the time).
 */
async function timeSteps(
  model: LanguageModel,
  prompt: number,
  steps: number,
  count = false,
): Promise<{ usPerStep: number; kernelsPerStep: number }> {
  const rng = new Random(1);
  const cache = model.createCache(1);
  const ids = tensor(rng.intArray(prompt, 0, model.config.vocabSize), [1, prompt], {
    dtype: "int32",
  });
  const next = tensor([1], [1], { dtype: "int32" });
  try {
    (await model.prefill(ids, cache)).dispose();
    const profiler = count ? profileKernels(getBackend()) : null;
    const started = performance.now();
    try {
      for (let s = 0; s < steps; s++) {
        const logits = await model.step(next, cache);
        await logits.data();
        logits.dispose();
      }
    } finally {
      profiler?.stop();
    }
    const usPerStep = ((performance.now() - started) * 1000) / steps;
    return { usPerStep, kernelsPerStep: (profiler?.calls ?? 0) / steps };
  } finally {
    ids.dispose();
    next.dispose();
    model.disposeCache(cache);
  }
}

function parseModels(list: string): PlanName[] {
  const names = list.split(",").map((s) => s.trim());
  for (const name of names) {
    if (!(PLAN_NAMES as readonly string[]).includes(name)) {
      throw new FlagError(
        `--models: unknown preset "${name}"; use some of ${PLAN_NAMES.join(", ")}`,
      );
    }
  }
  return names as PlanName[];
}

async function main(argv: readonly string[]): Promise<number> {
  if (argv.includes("--help") || argv.includes("-h")) {
    console.log(`Usage: bench:overhead [flags]\n\n${formatUsage(FLAGS)}`);
    return 0;
  }
  const flags = parseFlags(argv, FLAGS);
  if (!(SIZES as readonly string[]).includes(flags.size)) {
    throw new FlagError(`--size: expected one of ${SIZES.join(", ")}, got "${flags.size}"`);
  }
  const plans = parseModels(flags.models);
  const machine = machineInfo();
  const cpu = await setBackend("cpu");
  registerBackend("overhead-null", () => nullBackend(cpu));
  await setBackend("overhead-null");

  const models = plans.map((plan) => {
    const config: ModelConfig = preset(plan, flags.size as Size, {
      seed: 1,
      maxLength: flags.prompt + flags.steps + 1,
    });
    process.stderr.write(`building ${plan} ${flags.size}\n`);
    return new LanguageModel(config);
  });
  try {
    // Warm-up (JIT, stacked decode weights), then the timed runs interleaved across models.
    for (const model of models) await timeSteps(model, flags.prompt, Math.min(32, flags.steps));
    const runs: number[][] = models.map(() => []);
    for (let r = 0; r < flags.repeats; r++) {
      for (const [i, model] of models.entries()) {
        runs[i].push((await timeSteps(model, flags.prompt, flags.steps)).usPerStep);
      }
    }
    const rows: Row[] = [];
    for (const [i, model] of models.entries()) {
      const { kernelsPerStep } = await timeSteps(model, flags.prompt, flags.steps, true);
      const medianUs = median(runs[i]);
      rows.push({
        model: plans[i],
        blocks: model.config.layers.length,
        kernelsPerStep,
        medianUsPerStep: medianUs,
        bestUsPerStep: Math.min(...runs[i]),
        usPerKernel: medianUs / kernelsPerStep,
        runsUsPerStep: runs[i],
      });
    }
    console.log(`# JavaScript per decode step (kernels that do nothing), ${flags.size} presets\n`);
    console.log(
      `${machine.date} · Node ${machine.node} · ${machine.cpu} · ${machine.cores} cores · ` +
        `load ${machine.loadavg.join(" ")} · prompt ${flags.prompt}, ${flags.steps} steps × ` +
        `${flags.repeats} interleaved runs\n`,
    );
    console.log(
      markdownTable(
        [
          { header: "model" },
          { header: "blocks", align: "right" },
          { header: "kernels / step", align: "right" },
          { header: "µs / step (median)", align: "right" },
          { header: "µs / step (best)", align: "right" },
          { header: "µs / kernel call", align: "right" },
        ],
        rows.map((r) => [
          r.model,
          String(r.blocks),
          formatNumber(r.kernelsPerStep, 4),
          formatNumber(r.medianUsPerStep, 4),
          formatNumber(r.bestUsPerStep, 4),
          formatNumber(r.usPerKernel, 3),
        ]),
      ),
    );
    const jsonPath = resolve(PACKAGE_DIR, flags.json);
    writeJson(jsonPath, {
      benchmark: "overhead",
      machine,
      settings: { ...flags, models: plans },
      rows,
    });
    console.log(`\nwrote ${jsonPath}`);
    return 0;
  } finally {
    for (const model of models) model.dispose();
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    if (error instanceof FlagError) {
      console.error(`bench:overhead: ${error.message}\n\n${formatUsage(FLAGS)}`);
      process.exit(2);
    }
    console.error(error);
    process.exit(1);
  },
);
