/** Tokenizers to and from JSON and files. */
import { ByteTokenizer } from "./byte-tokenizer.js";
import { CharTokenizer } from "./char-tokenizer.js";
import { writeFileAtomic } from "@bmojo/tensor";
import { readText } from "./io.js";
import type { Tokenizer } from "./tokenizer.js";

/** The tokenizer a `toJSON()` result describes (dispatch on `kind`, then validation). */
export function tokenizerFromJSON(json: unknown): Tokenizer {
  const kind =
    typeof json === "object" && json !== null ? (json as Record<string, unknown>).kind : undefined;
  if (kind === "byte") return ByteTokenizer.fromJSON(json);
  if (kind === "char") return CharTokenizer.fromJSON(json);
  throw new TypeError(
    `tokenizerFromJSON: expected an object with kind "byte" or "char", got ${
      typeof json === "object" && json !== null ? `kind ${JSON.stringify(kind)}` : String(json)
    }.`,
  );
}

/** Writes `tokenizer.toJSON()` to `path` as JSON, atomically (temp file + rename). Node only. */
export async function saveTokenizer(path: string, tokenizer: Tokenizer): Promise<void> {
  const text = `${JSON.stringify(tokenizer.toJSON())}\n`;
  await writeFileAtomic("saveTokenizer", path, text);
}

/** The tokenizer saved at `path`; errors name the file. Node only. */
export async function loadTokenizer(path: string): Promise<Tokenizer> {
  const text = await readText("loadTokenizer", path);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new SyntaxError(`loadTokenizer: ${path} is not JSON: ${(err as Error).message}`);
  }
  try {
    return tokenizerFromJSON(json);
  } catch (err) {
    throw new TypeError(`loadTokenizer: ${path}: ${(err as Error).message}`, { cause: err });
  }
}
