/** The tokenizer interface and JSON dispatch. */

/** Text ↔ ids. Ids are in [0, vocabSize). */
export interface Tokenizer {
  readonly kind: "byte" | "char";
  readonly vocabSize: number;
  encode(text: string): Int32Array;
  decode(ids: ArrayLike<number>): string;
  /** A JSON-ready description that `tokenizerFromJSON` turns back into an equal tokenizer. */
  toJSON(): object;
}

/** Throws unless every id is an integer in [0, vocabSize). */
export function checkIds(owner: string, ids: ArrayLike<number>, vocabSize: number): void {
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i];
    if (!Number.isInteger(id) || id < 0 || id >= vocabSize) {
      throw new RangeError(
        `${owner}.decode: id ${id} at index ${i} is not an integer in [0, ${vocabSize}).`,
      );
    }
  }
}

/** `json` as a record with the given `kind`, or an error naming what is wrong. */
export function jsonRecord(owner: string, json: unknown, kind: string): Record<string, unknown> {
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    throw new TypeError(
      `${owner}: expected an object, got ${json === null ? "null" : typeof json}.`,
    );
  }
  const record = json as Record<string, unknown>;
  if (record.kind !== kind) {
    throw new TypeError(`${owner}: kind must be "${kind}", got ${JSON.stringify(record.kind)}.`);
  }
  return record;
}

/** Throws unless `record.vocabSize` is absent or equal to `expected`. */
export function checkVocabSize(
  owner: string,
  record: Record<string, unknown>,
  expected: number,
): void {
  if (record.vocabSize !== undefined && record.vocabSize !== expected) {
    throw new RangeError(
      `${owner}: vocabSize ${JSON.stringify(record.vocabSize)} does not match the ${expected} tokens described.`,
    );
  }
}
