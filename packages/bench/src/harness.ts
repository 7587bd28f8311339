/**
 * The measuring loop shared by the benchmarks: several systems doing the same work, measured
 * round-robin so that background load on the machine falls on every system alike.
 */
import { type TimingSummary, summarize, timeAsync, timeSync } from "./stats.js";

interface SystemBase {
  /** Short name used in tables and JSON, e.g. "ours", "tfjs-cpu". */
  name: string;
  /** One line saying what exactly is measured. */
  description: string;
  /** Untimed work before every run (switch the active backend, free the last output, ...). */
  prepare?(): void | Promise<void>;
}

/** A system whose timed work is a synchronous call. */
export interface SyncSystem extends SystemBase {
  kind: "sync";
  run(): void;
}

/** A system whose timed work ends when the returned promise settles. */
export interface AsyncSystem extends SystemBase {
  kind: "async";
  run(): Promise<void>;
}

/**
 * A system that times itself and resolves to the milliseconds of one run, e.g. a proxy for a
 * system running in another process (`prepare` and messaging stay outside the time).
 */
export interface SelfTimedSystem extends SystemBase {
  kind: "self-timed";
  run(): Promise<number>;
}

/** A system run in this process. */
export type LocalSystem = SyncSystem | AsyncSystem;

export type BenchSystem = LocalSystem | SelfTimedSystem;

export interface Measurement extends TimingSummary {
  system: string;
  description: string;
}

export interface MeasureOptions {
  /** Untimed runs of every system before timing. */
  warmup: number;
  /** Timed runs of every system. */
  repeats: number;
  /** Called after every timed run, e.g. for progress output. */
  onSample?(system: string, round: number, ms: number): void;
}

/** Prepares and runs a system once; resolves to the milliseconds of the run alone. */
export async function timeRun(system: BenchSystem): Promise<number> {
  await system.prepare?.();
  switch (system.kind) {
    case "sync":
      return timeSync(() => system.run());
    case "async":
      return timeAsync(() => system.run());
    case "self-timed":
      return system.run();
  }
}

/**
 * Runs `warmup` untimed rounds and then `repeats` timed rounds; each round runs every system once,
 * starting one system later each round so no system always runs first.
 */
export async function measureRoundRobin(
  systems: readonly BenchSystem[],
  options: MeasureOptions,
): Promise<Measurement[]> {
  const samples = systems.map((): number[] => []);
  const count = systems.length;
  for (let round = 0; round < options.warmup + options.repeats; round++) {
    const timed = round >= options.warmup;
    for (let j = 0; j < count; j++) {
      const s = (round + j) % count;
      const ms = await timeRun(systems[s]);
      if (timed) {
        samples[s].push(ms);
        options.onSample?.(systems[s].name, round - options.warmup, ms);
      }
    }
  }
  return systems.map((system, s) => ({
    system: system.name,
    description: system.description,
    ...summarize(samples[s]),
  }));
}
