/** Unicode code points as ids, over the characters of a text. */
import { type Tokenizer, checkIds, checkVocabSize, jsonRecord } from "./tokenizer.js";

const DECODE_CHUNK = 8192;

/** "é" (U+00E9) */
function describeChar(codePoint: number): string {
  const hex = codePoint.toString(16).toUpperCase().padStart(4, "0");
  return `${JSON.stringify(String.fromCodePoint(codePoint))} (U+${hex})`;
}

/**
 * One id per distinct code point of a text: id i is the i-th smallest code point. Encoding a
 * character outside the vocabulary throws an error naming it and its index (there is no
 * unknown id). JSON: `{ kind: "char", vocabSize, chars: ["\n", " ", "!", …] }`.
 */
export class CharTokenizer implements Tokenizer {
  readonly kind = "char" as const;
  readonly vocabSize: number;
  private readonly codePoints: Int32Array;
  private readonly idOf: Map<number, number>;

  /** From strictly increasing code points (use `fromText` or `fromJSON`). */
  private constructor(codePoints: Int32Array) {
    this.codePoints = codePoints;
    this.vocabSize = codePoints.length;
    this.idOf = new Map();
    for (let i = 0; i < codePoints.length; i++) this.idOf.set(codePoints[i], i);
  }

  /** The sorted distinct code points of `text` (which must not be empty). */
  static fromText(text: string): CharTokenizer {
    if (typeof text !== "string" || text.length === 0) {
      throw new RangeError("CharTokenizer.fromText: text must be a non-empty string.");
    }
    const seen = new Set<number>();
    for (let i = 0; i < text.length; i++) {
      const cp = text.codePointAt(i)!;
      if (cp > 0xffff) i++;
      seen.add(cp);
    }
    return new CharTokenizer(Int32Array.from(seen).sort());
  }

  /**
   * Validates `{ kind: "char", vocabSize?, chars }`: chars is a non-empty array of strings of one
   * code point each, strictly increasing by code point; vocabSize, if present, is its length.
   */
  static fromJSON(json: unknown): CharTokenizer {
    const owner = "CharTokenizer.fromJSON";
    const record = jsonRecord(owner, json, "char");
    const chars = record.chars;
    if (!Array.isArray(chars) || chars.length === 0) {
      throw new TypeError(`${owner}: chars must be a non-empty array of one-character strings.`);
    }
    const codePoints = new Int32Array(chars.length);
    for (let i = 0; i < chars.length; i++) {
      const c: unknown = chars[i];
      const cp = typeof c === "string" ? c.codePointAt(0) : undefined;
      if (cp === undefined || c !== String.fromCodePoint(cp)) {
        throw new TypeError(
          `${owner}: chars[${i}] must be a string of exactly one code point, got ${JSON.stringify(c)}.`,
        );
      }
      if (i > 0 && cp <= codePoints[i - 1]) {
        throw new RangeError(
          `${owner}: chars must be sorted by code point without duplicates, but chars[${i}] = ${describeChar(cp)} follows ${describeChar(codePoints[i - 1])}.`,
        );
      }
      codePoints[i] = cp;
    }
    checkVocabSize(owner, record, chars.length);
    return new CharTokenizer(codePoints);
  }

  /** The character of each id, in id order. */
  get chars(): string[] {
    return Array.from(this.codePoints, (cp) => String.fromCodePoint(cp));
  }

  encode(text: string): Int32Array {
    const out = new Int32Array(text.length);
    let n = 0;
    for (let i = 0; i < text.length; i++) {
      const cp = text.codePointAt(i)!;
      const id = this.idOf.get(cp);
      if (id === undefined) {
        throw new RangeError(
          `CharTokenizer.encode: character ${describeChar(cp)} at index ${i} is not in the vocabulary (${this.vocabSize} characters).`,
        );
      }
      if (cp > 0xffff) i++;
      out[n++] = id;
    }
    return n === out.length ? out : out.slice(0, n);
  }

  decode(ids: ArrayLike<number>): string {
    checkIds("CharTokenizer", ids, this.vocabSize);
    const parts: string[] = [];
    const chunk: number[] = new Array(Math.min(ids.length, DECODE_CHUNK));
    for (let start = 0; start < ids.length; start += DECODE_CHUNK) {
      const end = Math.min(start + DECODE_CHUNK, ids.length);
      chunk.length = end - start;
      for (let i = start; i < end; i++) chunk[i - start] = this.codePoints[ids[i]];
      parts.push(String.fromCodePoint(...chunk));
    }
    return parts.join("");
  }

  toJSON(): { kind: "char"; vocabSize: number; chars: string[] } {
    return { kind: "char", vocabSize: this.vocabSize, chars: this.chars };
  }
}
