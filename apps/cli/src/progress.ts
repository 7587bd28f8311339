/**
 * Training progress on stderr. On a terminal: one line redrawn in place (a bar, step/total, the
 * loss EMA, tokens/s, ETA). Elsewhere (a pipe, a log file, CI): one plain line each time another
 * 5% of the steps is done, and at the last step.
 */
import { compact, duration } from "./format.js";
import type { Output } from "./io.js";

/** Decay of the loss EMA shown in the progress line. */
export const LOSS_EMA_DECAY = 0.9;

/** The loss EMA after one more loss (the first loss starts it). */
export function updateEma(ema: number | undefined, loss: number): number {
  return ema === undefined || !Number.isFinite(ema)
    ? loss
    : LOSS_EMA_DECAY * ema + (1 - LOSS_EMA_DECAY) * loss;
}

export interface ProgressOptions {
  /** The step to reach. */
  total: number;
  /** The step before the first update of this run (0, or the resumed checkpoint's step). */
  startStep: number;
  /** Tokens processed per step (batch × length), for tokens/s. */
  tokensPerStep: number;
  /** Clock in milliseconds (tests inject one); default `performance.now`. */
  now?: () => number;
}

/** What one update reports (also what `--json` summaries reuse). */
export interface ProgressSnapshot {
  step: number;
  total: number;
  lossEma: number;
  tokensPerSecond: number;
  etaSeconds: number;
}

export class Progress {
  private readonly now: () => number;
  private readonly started: number;
  private lineOpen = false;

  constructor(
    private readonly out: Output,
    private readonly options: ProgressOptions,
  ) {
    this.now = options.now ?? (() => performance.now());
    this.started = this.now();
  }

  /** Rates and ETA after `step` (measured over this run's steps only). */
  snapshot(step: number, lossEma: number): ProgressSnapshot {
    const { total, startStep, tokensPerStep } = this.options;
    const seconds = (this.now() - this.started) / 1000;
    const done = step - startStep;
    const perStep = done > 0 ? seconds / done : Number.NaN;
    return {
      step,
      total,
      lossEma,
      tokensPerSecond: seconds > 0 ? (done * tokensPerStep) / seconds : 0,
      etaSeconds: (total - step) * perStep,
    };
  }

  /** Reports that `step` is done with the given loss EMA. */
  update(step: number, lossEma: number): void {
    const snap = this.snapshot(step, lossEma);
    if (this.out.isTTY === true) {
      this.out.write(`\r\x1b[K${this.ttyLine(snap)}`);
      this.lineOpen = true;
      return;
    }
    if (this.crossesReportPoint(step)) this.out.write(`${this.plainLine(snap)}\n`);
  }

  /** Prints a message on its own line without breaking the progress line. */
  note(message: string): void {
    this.closeLine();
    this.out.write(`${message}\n`);
  }

  /** Ends the progress line (terminal mode). */
  finish(): void {
    this.closeLine();
  }

  private closeLine(): void {
    if (this.lineOpen) {
      this.out.write("\n");
      this.lineOpen = false;
    }
  }

  /** True when `step` completes another 5% of this run, or is the last step. */
  private crossesReportPoint(step: number): boolean {
    const { total, startStep } = this.options;
    const span = total - startStep;
    if (step >= total || span <= 20) return true;
    const at = (s: number) => Math.floor(((s - startStep) * 20) / span);
    return at(step) > at(step - 1);
  }

  private stats(s: ProgressSnapshot): string {
    const eta = s.step >= s.total ? "done" : `ETA ${duration(s.etaSeconds)}`;
    return `loss ${s.lossEma.toFixed(4)}  ${compact(s.tokensPerSecond)} tok/s  ${eta}`;
  }

  private plainLine(s: ProgressSnapshot): string {
    const pct = Math.floor((100 * s.step) / s.total);
    return `step ${s.step}/${s.total} (${pct}%)  ${this.stats(s)}`;
  }

  private ttyLine(s: ProgressSnapshot): string {
    const head = `step ${s.step}/${s.total}`;
    const tail = this.stats(s);
    const known = this.out.columns;
    const columns = known !== undefined && known > 0 ? known : 80; // 0 when the size is unknown
    // The bar's width depends on the terminal only, so it does not jitter as the numbers change.
    const width = Math.min(30, columns - 64);
    if (width < 8) return `${head}  ${tail}`.slice(0, Math.max(columns - 1, 1));
    const filled = Math.round((width * s.step) / s.total);
    const line = `${head} [${"#".repeat(filled)}${".".repeat(width - filled)}] ${tail}`;
    return line.slice(0, columns - 1); // a wrapped line could not be redrawn with \r
  }
}
