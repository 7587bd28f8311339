/**
 * The training loop: for each step, the batch of that step (a function of the seed and the step
 * number only), the loss and gradients of `model.loss` over `model.parameters()` (valueAndGrad),
 * global-norm clipping, and one AdamW update with the learning rate scaled by the schedule.
 * Periodic evaluations and checkpoints are callbacks; an AbortSignal stops it between steps.
 */
import type { LanguageModel } from "@bmojo/model";
import { AdamW, type Schedule, clipGradNormAsync, cosineSchedule } from "@bmojo/nn";
import { type Tensor, dispose, valueAndGrad } from "@bmojo/tensor";
import type { DataSource } from "./data-source.js";
import { batchTensors } from "./evaluate.js";
import { updateEma } from "./progress.js";
import type { CompareTraining } from "./compare-job.js";
import type { TrainMetrics } from "./run-dir.js";

/**
 * Parameters of the SSM (Mamba) parts: `mixer.ssm.*` inside B'MOJO blocks and the mixer of mamba
 * blocks. They form the AdamW group "ssm", trained at `--ssm-lr`.
 */
export const SSM_PARAMETERS =
  /\.ssm\.|^layers\.\d+\.mixer\.(?:in_proj|conv1d|x_proj|dt_proj|A_log|D|out_proj)(?:\.|$)/;

/** Parameters without weight decay: norm gains, biases, and the SSM's A_log and D. */
export const NO_DECAY_PARAMETERS = /(?:^|\.)norm(?:\d+|_f)?\.weight$|\.bias$|\.A_log$|\.D$/;

/**
 * AdamW groups: SSM parameters at `ssmLr`, and no weight decay on norms, biases, A_log and D
 * (the first matching group wins, so the decay split is made inside the SSM group too).
 */
export function parameterGroups(ssmLr: number) {
  return [
    {
      name: "ssm-no-decay",
      match: (n: string) => SSM_PARAMETERS.test(n) && NO_DECAY_PARAMETERS.test(n),
      lr: ssmLr,
      weightDecay: 0,
    },
    { name: "ssm", match: SSM_PARAMETERS, lr: ssmLr },
    { name: "no-decay", match: NO_DECAY_PARAMETERS, weightDecay: 0 },
  ];
}

/** AdamW moment decay rates used by every run. */
export const ADAMW_BETAS: [number, number] = [0.9, 0.95];

/** The optimiser settings a run fixes. */
export interface OptimizerSettings {
  lr: number;
  /** Peak learning rate of the SSM parameters (`parameterGroups`). */
  ssmLr: number;
  weightDecay: number;
}

/** AdamW over `model.parameters()` with `ADAMW_BETAS` and the groups of `parameterGroups`. */
export function createOptimizer(model: LanguageModel, o: OptimizerSettings): AdamW {
  return new AdamW(model.parameters(), {
    lr: o.lr,
    betas: ADAMW_BETAS,
    weightDecay: o.weightDecay,
    groups: parameterGroups(o.ssmLr),
  });
}

/** The learning-rate schedule of a run: linear warmup (at most `totalSteps`), then cosine decay. */
export function trainingSchedule(o: {
  warmup: number;
  totalSteps: number;
  minLrRatio: number;
}): Schedule {
  return cosineSchedule({
    warmupSteps: Math.min(o.warmup, o.totalSteps),
    totalSteps: o.totalSteps,
    minRatio: o.minLrRatio,
  });
}

/**
 * Trains `model` from step 0 for `t.steps` steps of `source` with its own optimizer and schedule;
 * returns where it stopped and the metrics it gathered.
 */
export async function trainFresh(
  model: LanguageModel,
  source: DataSource,
  t: CompareTraining,
  hooks: {
    onStep?: (step: number, lossEma: number) => void;
    onPeriodic?: TrainLoopOptions["onPeriodic"];
    signal?: AbortSignal;
  } = {},
): Promise<TrainLoopResult & { metrics: TrainMetrics }> {
  const optimizer = createOptimizer(model, t);
  try {
    const metrics: TrainMetrics = { losses: [], lossEma: null, tokens: 0, seconds: 0, evals: [] };
    const result = await trainLoop({
      model,
      optimizer,
      source,
      seed: t.seed,
      batch: t.batch,
      startStep: 0,
      totalSteps: t.steps,
      schedule: trainingSchedule({ ...t, totalSteps: t.steps }),
      clip: t.clip,
      metrics,
      onStep: hooks.onStep,
      onPeriodic: hooks.onPeriodic,
      signal: hooks.signal,
    });
    return { ...result, metrics };
  } finally {
    optimizer.dispose();
  }
}

/** How many parameters each group of the optimizer holds. */
export function groupSizes(optimizer: AdamW, names: readonly string[]): Record<string, number> {
  const sizes: Record<string, number> = {};
  for (const name of names) {
    const group = optimizer.groupOf(name);
    sizes[group] = (sizes[group] ?? 0) + 1;
  }
  return sizes;
}

export interface TrainLoopOptions {
  model: LanguageModel;
  optimizer: AdamW;
  source: DataSource;
  seed: number;
  batch: number;
  /** Steps already taken (0 for a fresh run). */
  startStep: number;
  /** The step to reach. */
  totalSteps: number;
  schedule: Schedule;
  /** Max global gradient norm; 0 turns clipping off. */
  clip: number;
  /** Updated in place after every step. */
  metrics: TrainMetrics;
  /** Called after every step with the step and its loss EMA (progress display). */
  onStep?: (step: number, lossEma: number) => void;
  /**
   * Called after every step but the last (periodic evaluations and saves); resolving to "stop"
   * ends the run there (early stopping at a target accuracy).
   */
  onPeriodic?: (step: number) => Promise<"stop" | undefined>;
  signal?: AbortSignal;
}

export interface TrainLoopResult {
  /** The last step taken. */
  step: number;
  interrupted: boolean;
  /** Whether onPeriodic stopped the run before totalSteps. */
  stoppedEarly: boolean;
}

/** One optimisation step on one batch; returns the loss before the update. */
async function trainStep(
  options: TrainLoopOptions,
  lossAndGrads: ReturnType<typeof makeLossAndGrads>,
  params: Record<string, Tensor>,
  step: number,
): Promise<number> {
  const { model, optimizer, source, seed, batch, clip, schedule } = options;
  const { ids, targets } = batchTensors(model, source.trainBatch(seed, step, batch));
  try {
    const { value, grads } = lossAndGrads(params, ids, targets);
    try {
      const loss = (await value.data())[0];
      if (!Number.isFinite(loss)) {
        throw new Error(
          `training diverged: the loss at step ${step} is ${loss}; try a lower --lr or a --clip value.`,
        );
      }
      const clipped = clip > 0 ? (await clipGradNormAsync(grads, clip)).grads : grads;
      try {
        optimizer.step(clipped, schedule(step));
      } finally {
        if (clipped !== grads) dispose(clipped);
      }
      return loss;
    } finally {
      dispose([value, grads]);
    }
  } finally {
    dispose([ids, targets]);
  }
}

function makeLossAndGrads(model: LanguageModel) {
  return valueAndGrad((_params: Record<string, Tensor>, ids: Tensor, targets: Tensor) =>
    model.loss(ids, targets),
  );
}

/** Resolves after pending I/O and signal callbacks have run. */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Runs steps startStep + 1 … totalSteps (or until the signal aborts). */
export async function trainLoop(options: TrainLoopOptions): Promise<TrainLoopResult> {
  const { model, metrics, totalSteps, signal } = options;
  const params = model.parameters();
  const lossAndGrads = makeLossAndGrads(model);
  let step = options.startStep;
  while (step < totalSteps) {
    // Let the event loop run (a SIGINT handler, stream writes): on the cpu backend every await in
    // a step resolves at once, so without this a signal would wait for the whole run.
    await yieldToEventLoop();
    if (signal?.aborted === true) return { step, interrupted: true, stoppedEarly: false };
    const started = performance.now();
    const loss = await trainStep(options, lossAndGrads, params, step + 1);
    step++;
    metrics.seconds += (performance.now() - started) / 1000;
    metrics.losses.push(loss);
    metrics.tokens += options.batch * options.source.length;
    metrics.lossEma = updateEma(metrics.lossEma ?? undefined, loss);
    options.onStep?.(step, metrics.lossEma);
    if (step < totalSteps && (await options.onPeriodic?.(step)) === "stop") {
      return { step, interrupted: false, stoppedEarly: true };
    }
  }
  return { step, interrupted: false, stoppedEarly: false };
}
