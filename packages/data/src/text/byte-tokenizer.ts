/** UTF-8 bytes as ids. */
import { type Tokenizer, checkIds, checkVocabSize, jsonRecord } from "./tokenizer.js";

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8");

/**
 * The UTF-8 bytes of the text, vocabulary 256. Any string encodes (a lone surrogate becomes
 * U+FFFD, as in TextEncoder); decoding bytes that are not valid UTF-8 gives U+FFFD for them.
 */
export class ByteTokenizer implements Tokenizer {
  readonly kind = "byte" as const;
  readonly vocabSize = 256;

  encode(text: string): Int32Array {
    return new Int32Array(encoder.encode(text));
  }

  decode(ids: ArrayLike<number>): string {
    checkIds("ByteTokenizer", ids, 256);
    return decoder.decode(Uint8Array.from(ids));
  }

  toJSON(): { kind: "byte"; vocabSize: number } {
    return { kind: "byte", vocabSize: 256 };
  }

  /** Validates `{ kind: "byte", vocabSize?: 256 }`. */
  static fromJSON(json: unknown): ByteTokenizer {
    const record = jsonRecord("ByteTokenizer.fromJSON", json, "byte");
    checkVocabSize("ByteTokenizer.fromJSON", record, 256);
    return new ByteTokenizer();
  }
}
