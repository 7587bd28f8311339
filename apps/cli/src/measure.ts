/**
 * Timing of prefill and decode on random weights and random tokens, shared by `bmojo bench` and
 * `bmojo experiment speed`: prefill one batch into a fresh recurrent cache (timed), then time
 * one-token decode steps after it; the median of several measurements after an untimed warm-up.
 * The prefill is timed up to its last position's logits on the host (what generation reads next).
 */
import type { LanguageModel, ModelCache } from "@bmojo/model";
import {
  type Backend,
  type KernelProfiler,
  type KernelStats,
  Random,
  type Tensor,
  bytesPerElement,
  memory,
  profileKernels,
  resetPeakMemory,
  slice,
  tensor,
} from "@bmojo/tensor";

/** The middle value (the mean of the two middle ones for an even count). */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

async function readAndDispose(t: Tensor): Promise<void> {
  await t.data();
  t.dispose();
}

/** Reads the last position's logits [B, V] of prefill logits [B, L, V], as generation does. */
async function readLastAndDispose(logits: Tensor): Promise<void> {
  const [batch, length, vocab] = logits.shape;
  const last = slice(logits, [0, length - 1, 0], [batch, 1, vocab]);
  logits.dispose();
  await readAndDispose(last);
}

/** One prefill + decode measurement. */
export interface Measurement {
  prefillMs: number;
  decodeMs: number;
  /** Bytes of inference state in the cache right after the prefill. */
  prefillStateBytes: number;
  /** Bytes of inference state after the prefill and the decode steps. */
  stateBytes: number;
  /**
   * The most bytes of tensor buffers the backend held during the prefill, and during the decode
   * steps, above what it held when the measurement began (`memory().peakBytes` of @bmojo/tensor
   * minus `numBytes` then): this run's tokens, cache and activations, not the weights.
   */
  prefillPeakBytes: number;
  decodePeakBytes: number;
  /** The replayed decode steps after the eager ones, where the model compiles its step. */
  replay: ReplayMeasurement | null;
}

/** Decode steps replayed from a compiled step (`LanguageModel.compileStep`). */
export interface ReplayMeasurement {
  /** compileStep: a warm-up step on a scratch cache and the capture. */
  compileMs: number;
  /** `steps` replays, each given random tokens and its logits read to the host. */
  decodeMs: number;
  /**
   * `steps` greedy replays, each fed the previous one's argmax on the device, with no host read
   * until the last (the loop of the PyTorch anchor's decode benchmark).
   */
  greedyMs: number;
  /** Kernel launches (graph nodes on cuda) per replayed step, the argmax feedback included. */
  programSize: number;
}

/**
 * Times `steps` replayed decode steps on `cache`, reading each step's logits as step's loop does,
 * then `steps` greedy ones that read no logits until the end (B'MOJO layers still read their SSM
 * outputs each step, for the eidetic admission).
 */
async function measureReplay(
  model: LanguageModel,
  cache: ModelCache,
  rng: Random,
  steps: number,
): Promise<ReplayMeasurement> {
  const vocab = model.config.vocabSize;
  const compileStart = performance.now();
  const compiled = await model.compileStep(cache, { feedback: "argmax" });
  const compileMs = performance.now() - compileStart;
  try {
    const start = performance.now();
    for (let s = 0; s < steps; s++)
      await (await compiled.run(rng.intArray(cache.batch, 0, vocab))).data();
    const decodeMs = performance.now() - start;
    const greedyStart = performance.now();
    for (let s = 0; s < steps - 1; s++) await compiled.replayGreedy();
    await (await compiled.replayGreedy()).data();
    const greedyMs = performance.now() - greedyStart;
    return { compileMs, decodeMs, greedyMs, programSize: compiled.size };
  } finally {
    compiled.dispose();
  }
}

/**
 * Prefills `length` random tokens into a fresh cache, then runs `steps` decode steps, and twice as
 * many replayed ones after them (with reads, then greedy) where the model compiles its step and
 * its replay limit leaves room. With a `profiler` factory (given the model's backend), the eager
 * decode steps run under the profiler it starts (their timing then includes its overhead) and none
 * are replayed; it is stopped before returning.
 */
export async function measureOnce(
  model: LanguageModel,
  rng: Random,
  length: number,
  batch: number,
  steps: number,
  profiler?: (backend: Backend) => KernelProfiler,
): Promise<Measurement> {
  // The replays follow the eager steps: 2·steps positions more, all below the replay limit.
  const replay =
    profiler === undefined &&
    model.compileStepBlocker() === null &&
    length + 3 * steps <= model.replayLimit;
  const vocab = model.config.vocabSize;
  const held = memory().numBytes;
  const ids = tensor(rng.intArray(batch * length, 0, vocab), [batch, length], { dtype: "int32" });
  const cache = model.createCache(batch);
  let profiling: KernelProfiler | null = null;
  const backend = ids.backend;
  try {
    resetPeakMemory(backend);
    const started = performance.now();
    await readLastAndDispose(await model.prefill(ids, cache));
    const prefillMs = performance.now() - started;
    const prefillPeakBytes = memory(backend).peakBytes - held;
    const prefillStateBytes = model.cacheBytes(cache);
    profiling = profiler?.(backend) ?? null;
    resetPeakMemory(backend);
    const decodeStart = performance.now();
    for (let s = 0; s < steps; s++) {
      const next = tensor(rng.intArray(batch, 0, vocab), [batch], { dtype: "int32" });
      await readAndDispose(await model.step(next, cache));
      next.dispose();
    }
    const decodeMs = performance.now() - decodeStart;
    const stateBytes = model.cacheBytes(cache);
    const decodePeakBytes = memory(backend).peakBytes - held;
    return {
      prefillMs,
      decodeMs,
      prefillStateBytes,
      stateBytes,
      prefillPeakBytes,
      decodePeakBytes,
      replay: replay ? await measureReplay(model, cache, rng, steps) : null,
    };
  } finally {
    profiling?.stop();
    ids.dispose();
    model.disposeCache(cache);
  }
}

/** One kernel's share of a decode step. */
export interface DecodeKernel {
  kernel: KernelStats["kernel"];
  callsPerStep: number;
  /** Host microseconds per call (marshalling and launch on GPU backends; the work on CPU ones). */
  hostUsPerCall: number;
}

/** The kernels one decode step runs, from a profiled pass (not the timed ones). */
export interface DecodeProfile {
  kernelsPerStep: number;
  /** Host milliseconds per step spent inside kernel calls. */
  kernelHostMsPerStep: number;
  kernels: DecodeKernel[];
}

/**
 * Profiles `steps` decode steps after a prefill of `length` tokens: the kernels each step runs and
 * the host time inside them. A separate pass, so the profiler's overhead stays out of the timings.
 */
export async function profileDecode(
  model: LanguageModel,
  rng: Random,
  length: number,
  batch: number,
  steps: number,
): Promise<DecodeProfile> {
  let profiler: KernelProfiler | null = null;
  await measureOnce(model, rng, length, batch, steps, (backend) => {
    profiler = profileKernels(backend);
    return profiler;
  });
  const done = profiler as KernelProfiler | null;
  if (done === null) throw new Error("profileDecode: the decode steps did not run");
  return {
    kernelsPerStep: done.calls / steps,
    kernelHostMsPerStep: done.hostMs / steps,
    kernels: done.stats().map((s) => ({
      kernel: s.kernel,
      callsPerStep: s.calls / steps,
      hostUsPerCall: (s.hostMs * 1000) / s.calls,
    })),
  };
}

/** Bytes of a model's parameter buffers. */
function parameterBytes(model: LanguageModel): number {
  return model.namedParameters().reduce((sum, [, t]) => sum + t.size * bytesPerElement(t.dtype), 0);
}

/** The replayed decode of measurements whose models compiled their step (else null). */
function replaySpeed(runs: readonly Measurement[], tokens: number): ReplaySpeed | null {
  const replays = runs.flatMap((r) => (r.replay === null ? [] : [r.replay]));
  if (replays.length === 0) return null;
  const perSecond = replays.map((r) => (tokens * 1000) / r.decodeMs);
  const greedy = replays.map((r) => (tokens * 1000) / r.greedyMs);
  return {
    decodeTokensPerSecond: median(perSecond),
    decodeTokensPerSecondRuns: perSecond,
    greedyTokensPerSecond: median(greedy),
    greedyTokensPerSecondRuns: greedy,
    compileMs: median(replays.map((r) => r.compileMs)),
    programSize: replays[0].programSize,
  };
}

/** Medians over `repeats` measurements, after a short untimed warm-up (JIT, buffer pools). */
export interface SpeedResult {
  prefillMs: number;
  prefillTokensPerSecond: number;
  decodeMsPerStep: number;
  decodeTokensPerSecond: number;
  /** Decode tokens/s of every timed run, in run order (the median is decodeTokensPerSecond). */
  decodeTokensPerSecondRuns: number[];
  prefillStateBytes: number;
  stateBytes: number;
  /**
   * Peak bytes of tensor buffers during the prefill and the decode steps (maxima over runs): the
   * model's own resident bytes (weights, and what its warm-up kept, e.g. stacked decode weights)
   * plus each run's peak above what the backend held before it, so that other models alive in the
   * same process do not count.
   */
  prefillPeakBytes: number;
  decodePeakBytes: number;
  /** What one decode step runs (a separate profiled pass). */
  decodeProfile: DecodeProfile;
  /** Replayed decode (medians over the same runs), where the model compiles its step. */
  replay: ReplaySpeed | null;
}

export interface ReplaySpeed {
  /** Replays given host tokens, each step's logits read to the host. */
  decodeTokensPerSecond: number;
  decodeTokensPerSecondRuns: number[];
  /** Greedy replays fed on the device, nothing read until the last (see ReplayMeasurement). */
  greedyTokensPerSecond: number;
  greedyTokensPerSecondRuns: number[];
  /** Median milliseconds of compileStep (a warm-up step on a scratch cache and the capture). */
  compileMs: number;
  /** Kernel launches (graph nodes on cuda) per replayed step, the argmax feedback included. */
  programSize: number;
}

/**
 * Measures each model `repeats` times, interleaved (run r of every model before run r + 1 of
 * any), so that a slow stretch of the machine lands on every model alike rather than on one; each
 * model is warmed up first, and profiled in a separate pass after its timed runs.
 */
export async function measureSpeed(
  models: readonly LanguageModel[],
  options: { length: number; batch: number; decodeSteps: number; repeats: number; seed: number },
): Promise<SpeedResult[]> {
  const { length, batch, decodeSteps, repeats } = options;
  const rng = new Random(options.seed);
  const shortLength = (model: LanguageModel) => Math.min(length, 2 * model.config.window);
  // Warm-ups one model at a time: what each one keeps is its own resident memory.
  const resident: number[] = [];
  for (const model of models) {
    const before = memory().numBytes;
    await measureOnce(model, rng, shortLength(model), batch, 2);
    resident.push(parameterBytes(model) + memory().numBytes - before);
  }
  const runs: Measurement[][] = models.map(() => []);
  for (let r = 0; r < repeats; r++) {
    for (const [i, model] of models.entries()) {
      runs[i].push(await measureOnce(model, rng, length, batch, decodeSteps));
    }
  }
  const results: SpeedResult[] = [];
  for (const [i, model] of models.entries()) {
    const decodeProfile = await profileDecode(model, rng, shortLength(model), batch, decodeSteps);
    const own = runs[i];
    const prefillMs = median(own.map((x) => x.prefillMs));
    const decodeMs = median(own.map((x) => x.decodeMs));
    results.push({
      prefillMs,
      prefillTokensPerSecond: (batch * length * 1000) / prefillMs,
      decodeMsPerStep: decodeMs / decodeSteps,
      decodeTokensPerSecond: (batch * decodeSteps * 1000) / decodeMs,
      decodeTokensPerSecondRuns: own.map((x) => (batch * decodeSteps * 1000) / x.decodeMs),
      prefillStateBytes: own[0].prefillStateBytes,
      stateBytes: own[0].stateBytes,
      prefillPeakBytes: resident[i] + Math.max(...own.map((x) => x.prefillPeakBytes)),
      decodePeakBytes: resident[i] + Math.max(...own.map((x) => x.decodePeakBytes)),
      decodeProfile,
      replay: replaySpeed(own, batch * decodeSteps),
    });
  }
  return results;
}
