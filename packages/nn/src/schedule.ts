/** Learning-rate schedules: functions from the 1-based step number to a multiplier of the lr. */

/** step (1 for the first update) → multiplier of each group's lr (pass it to `AdamW.step`). */
export type Schedule = (step: number) => number;

export interface CosineScheduleOptions {
  /** Steps of linear warmup: the multiplier is step / warmupSteps up to 1 at step = warmupSteps. 0 for none. */
  warmupSteps: number;
  /** The step at which the cosine decay reaches `minRatio`; warmupSteps ≤ totalSteps. */
  totalSteps: number;
  /** The floor, in [0, 1]: the multiplier at totalSteps and after (e.g. 0.1). */
  minRatio: number;
}

/**
 * Linear warmup then cosine decay to a floor:
 *   step ≤ warmupSteps:             step / warmupSteps            (1/warmupSteps, …, 1)
 *   warmupSteps < step ≤ totalSteps: minRatio + (1 − minRatio) · (1 + cos(π · p)) / 2,
 *                                     p = (step − warmupSteps) / (totalSteps − warmupSteps)
 *   step > totalSteps:               minRatio
 */
export function cosineSchedule(options: CosineScheduleOptions): Schedule {
  const { warmupSteps, totalSteps, minRatio } = options;
  if (!Number.isInteger(warmupSteps) || warmupSteps < 0) {
    throw new RangeError(`cosineSchedule: warmupSteps must be an integer ≥ 0, got ${warmupSteps}.`);
  }
  if (!Number.isInteger(totalSteps) || totalSteps < 1) {
    throw new RangeError(`cosineSchedule: totalSteps must be an integer ≥ 1, got ${totalSteps}.`);
  }
  if (warmupSteps > totalSteps) {
    throw new RangeError(
      `cosineSchedule: warmupSteps (${warmupSteps}) must not exceed totalSteps (${totalSteps}).`,
    );
  }
  if (!(minRatio >= 0 && minRatio <= 1)) {
    throw new RangeError(`cosineSchedule: minRatio must be in [0, 1], got ${minRatio}.`);
  }
  const decaySteps = totalSteps - warmupSteps;
  return (step: number): number => {
    assertStep("cosineSchedule", step);
    if (step <= warmupSteps) return step / warmupSteps;
    if (step >= totalSteps) return minRatio;
    const progress = (step - warmupSteps) / decaySteps;
    return minRatio + ((1 - minRatio) * (1 + Math.cos(Math.PI * progress))) / 2;
  };
}

/** The same multiplier (default 1) at every step. */
export function constantSchedule(value = 1): Schedule {
  if (!(Number.isFinite(value) && value >= 0)) {
    throw new RangeError(`constantSchedule: value must be a finite number ≥ 0, got ${value}.`);
  }
  return (step: number): number => {
    assertStep("constantSchedule", step);
    return value;
  };
}

function assertStep(owner: string, step: number): void {
  if (!Number.isInteger(step) || step < 1) {
    throw new RangeError(
      `${owner}: step must be an integer ≥ 1 (steps count from 1), got ${step}.`,
    );
  }
}
