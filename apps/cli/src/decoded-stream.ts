/**
 * Turns generated token ids into text that can be printed as it comes: it holds back a trailing
 * incomplete UTF-8 sequence (byte tokenizers decode it as U+FFFD) and any tail that could be the
 * start of the stop text, and stops before the stop text, which is never printed.
 */
import type { Tokenizer } from "@bmojo/data";

export class DecodedStream {
  private readonly ids: number[] = [];
  /** Characters of the decoded text already handed out. */
  private emitted = 0;
  private stopAt: number | undefined;

  constructor(
    private readonly tokenizer: Pick<Tokenizer, "decode">,
    private readonly stop: string | undefined,
  ) {
    if (stop === "") this.stop = undefined;
  }

  /** True once the stop text has appeared. */
  get stopped(): boolean {
    return this.stopAt !== undefined;
  }

  /** Adds one token; returns the text that is safe to print now ("" if none). */
  push(id: number): string {
    if (this.stopped) return "";
    this.ids.push(id);
    let stable = this.tokenizer.decode(this.ids).replace(/\uFFFD+$/, "");
    const stop = this.stop;
    if (stop !== undefined) {
      const at = stable.indexOf(stop);
      if (at >= 0) {
        this.stopAt = at;
        return this.take(stable.slice(0, at));
      }
      for (let k = Math.min(stop.length - 1, stable.length); k > 0; k--) {
        if (stable.endsWith(stop.slice(0, k))) {
          stable = stable.slice(0, stable.length - k);
          break;
        }
      }
    }
    return this.take(stable);
  }

  /** The rest of the text after the last token (whatever was held back). */
  flush(): string {
    if (this.stopped) return "";
    return this.take(this.tokenizer.decode(this.ids));
  }

  /** The whole generated text, without the stop text and what follows it. */
  text(): string {
    const all = this.tokenizer.decode(this.ids);
    return this.stopAt === undefined ? all : all.slice(0, this.stopAt);
  }

  /** Generated token ids so far. */
  tokens(): readonly number[] {
    return this.ids;
  }

  private take(stable: string): string {
    if (stable.length <= this.emitted) return "";
    const out = stable.slice(this.emitted);
    this.emitted = stable.length;
    return out;
  }
}
