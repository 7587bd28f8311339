/**
 * Training progress on stderr. On a terminal: one line redrawn in place (a bar, step/total, the
 * loss EMA, tokens/s, ETA). Elsewhere (a pipe, a log file, CI): one plain line each time another
 * 5% of the steps is done, and at the last step. `MultiProgress` does the same for several runs at
 * once (one line per run on a terminal, labelled lines elsewhere).
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

/** Rates, ETA and report points of one run, measured over this run's steps only. */
export class StepMeter {
  private readonly now: () => number;
  private readonly started: number;

  constructor(private readonly options: ProgressOptions) {
    this.now = options.now ?? (() => performance.now());
    this.started = this.now();
  }

  /** Rates and ETA after `step`. */
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

  /** True when `step` completes another 5% of this run, or is the last step. */
  isReportPoint(step: number): boolean {
    const { total, startStep } = this.options;
    const span = total - startStep;
    if (step >= total || span <= 20) return true;
    const at = (s: number) => Math.floor(((s - startStep) * 20) / span);
    return at(step) > at(step - 1);
  }
}

function stats(s: ProgressSnapshot): string {
  const eta = s.step >= s.total ? "done" : `ETA ${duration(s.etaSeconds)}`;
  return `loss ${s.lossEma.toFixed(4)}  ${compact(s.tokensPerSecond)} tok/s  ${eta}`;
}

/** "step 15/300 (5%)  loss 4.1234  2.2k tok/s  ETA 2m15s": a line for a pipe or a log. */
export function plainProgressLine(s: ProgressSnapshot): string {
  const pct = Math.floor((100 * s.step) / s.total);
  return `step ${s.step}/${s.total} (${pct}%)  ${stats(s)}`;
}

/** A terminal's width: `columns`, or 80 when unknown (undefined, or 0 as some terminals report). */
function terminalColumns(columns: number | undefined): number {
  return columns !== undefined && columns > 0 ? columns : 80;
}

/** The terminal line: a bar sized to `columns` (0 or undefined: 80), cut to fit one row. */
export function terminalProgressLine(s: ProgressSnapshot, columns: number | undefined): string {
  const head = `step ${s.step}/${s.total}`;
  const tail = stats(s);
  const cols = terminalColumns(columns);
  // The bar's width depends on the terminal only, so it does not jitter as the numbers change.
  const width = Math.min(30, cols - 64);
  if (width < 8) return `${head}  ${tail}`.slice(0, Math.max(cols - 1, 1));
  const filled = Math.round((width * s.step) / s.total);
  const line = `${head} [${"#".repeat(filled)}${".".repeat(width - filled)}] ${tail}`;
  return line.slice(0, cols - 1); // a wrapped line could not be redrawn with \r
}

export class Progress {
  private readonly meter: StepMeter;
  private lineOpen = false;

  constructor(
    private readonly out: Output,
    options: ProgressOptions,
  ) {
    this.meter = new StepMeter(options);
  }

  /** Rates and ETA after `step` (measured over this run's steps only). */
  snapshot(step: number, lossEma: number): ProgressSnapshot {
    return this.meter.snapshot(step, lossEma);
  }

  /** Reports that `step` is done with the given loss EMA. */
  update(step: number, lossEma: number): void {
    const snap = this.snapshot(step, lossEma);
    if (this.out.isTTY === true) {
      this.out.write(`\r\x1b[K${terminalProgressLine(snap, this.out.columns)}`);
      this.lineOpen = true;
      return;
    }
    if (this.meter.isReportPoint(step)) this.out.write(`${plainProgressLine(snap)}\n`);
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
}

/**
 * Progress of several runs at once, each under a label. On a terminal: one line per run, all
 * redrawn in place (cursor up, then each line cleared and rewritten) whenever one changes.
 * Elsewhere: labelled plain lines at each run's 5% points, and one line when a run ends.
 */
export class MultiProgress {
  private readonly meters = new Map<string, StepMeter>();
  private readonly lines: Map<string, string>;
  private readonly width: number;
  private drawn = 0;

  constructor(
    private readonly out: Output,
    labels: readonly string[],
    private readonly now?: () => number,
  ) {
    this.width = Math.max(...labels.map((l) => l.length));
    this.lines = new Map(labels.map((l) => [l, "waiting"]));
    if (this.tty) this.redraw();
  }

  private get tty(): boolean {
    return this.out.isTTY === true;
  }

  /** The run under `label` starts now (its rates are measured from here). */
  start(label: string, options: Omit<ProgressOptions, "now">): void {
    this.meters.set(label, new StepMeter({ ...options, now: this.now }));
    this.set(label, `training: ${options.total - options.startStep} steps`, true);
  }

  /** The run under `label` finished `step` with the given loss EMA. */
  update(label: string, step: number, lossEma: number): void {
    const meter = this.meters.get(label);
    if (meter === undefined) throw new Error(`MultiProgress: ${label} was not started.`);
    const snap = meter.snapshot(step, lossEma);
    if (this.tty) {
      const columns = terminalColumns(this.out.columns) - this.width - 2;
      this.set(label, terminalProgressLine(snap, columns), false);
    } else if (meter.isReportPoint(step)) {
      this.set(label, plainProgressLine(snap), true);
    }
  }

  /** A status for the run under `label` (e.g. "evaluating", or its result); always printed. */
  status(label: string, text: string): void {
    this.set(label, text, true);
  }

  private set(label: string, text: string, printPlain: boolean): void {
    this.lines.set(label, text);
    if (this.tty) this.redraw();
    else if (printPlain) this.out.write(`${this.prefix(label)}${text}\n`);
  }

  private prefix(label: string): string {
    return `${label.padEnd(this.width)}  `;
  }

  private redraw(): void {
    const up = this.drawn > 0 ? `\x1b[${this.drawn}A` : "";
    const fit = terminalColumns(this.out.columns) - 1; // a wrapped line would break the redraw
    const body = [...this.lines].map(
      ([label, text]) => `\r\x1b[K${`${this.prefix(label)}${text}`.slice(0, fit)}\n`,
    );
    this.out.write(up + body.join(""));
    this.drawn = this.lines.size;
  }
}
