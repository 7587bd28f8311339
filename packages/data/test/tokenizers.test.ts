import { mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ByteTokenizer,
  CharTokenizer,
  loadTokenizer,
  saveTokenizer,
  tokenizerFromJSON,
} from "../src/index.js";

const MIXED = "Héllo, wörld! 世界 🙂\n";

describe("ByteTokenizer", () => {
  const tok = new ByteTokenizer();

  it("encodes UTF-8 bytes and round-trips ASCII and non-ASCII text", () => {
    expect(tok.kind).toBe("byte");
    expect(tok.vocabSize).toBe(256);
    expect(Array.from(tok.encode("Hi!"))).toEqual([72, 105, 33]);
    expect(Array.from(tok.encode("é"))).toEqual([0xc3, 0xa9]);
    const ids = tok.encode(MIXED);
    // 19 code points: "é", "ö" take 2 bytes, 世 and 界 3, 🙂 4.
    expect(ids).toHaveLength(Buffer.byteLength(MIXED, "utf8"));
    expect(ids).toHaveLength(28);
    for (const id of ids) expect(id >= 0 && id < 256).toBe(true);
    expect(tok.decode(ids)).toBe(MIXED);
    expect(tok.decode([])).toBe("");
  });

  it("rejects ids outside [0, 256) and decodes invalid UTF-8 as U+FFFD", () => {
    expect(() => tok.decode([65, 256])).toThrow(
      "ByteTokenizer.decode: id 256 at index 1 is not an integer in [0, 256).",
    );
    expect(() => tok.decode([-1])).toThrow(/id -1 at index 0/);
    expect(() => tok.decode([1.5])).toThrow(/id 1.5/);
    expect(tok.decode([0xc3])).toBe("\ufffd");
  });

  it("serialises as { kind: byte }", () => {
    expect(tok.toJSON()).toEqual({ kind: "byte", vocabSize: 256 });
    expect(tokenizerFromJSON(tok.toJSON())).toBeInstanceOf(ByteTokenizer);
    expect(() => tokenizerFromJSON({ kind: "byte", vocabSize: 255 })).toThrow(
      "ByteTokenizer.fromJSON: vocabSize 255 does not match the 256 tokens described.",
    );
  });
});

describe("CharTokenizer", () => {
  it("uses the sorted distinct code points of the text as ids", () => {
    const tok = CharTokenizer.fromText("hello world");
    expect(tok.kind).toBe("char");
    expect(tok.chars).toEqual([" ", "d", "e", "h", "l", "o", "r", "w"]);
    expect(tok.vocabSize).toBe(8);
    expect(Array.from(tok.encode("hello"))).toEqual([3, 2, 4, 4, 5]);
    expect(tok.decode([7, 5, 6, 4, 1])).toBe("world");
  });

  it("counts code points, not UTF-16 units, and round-trips non-ASCII text", () => {
    const tok = CharTokenizer.fromText(MIXED);
    // H é l o , space w ö r d ! 世 界 🙂 \n
    expect(tok.vocabSize).toBe(15);
    expect(tok.chars.at(-1)).toBe("🙂");
    const ids = tok.encode(MIXED);
    expect(ids).toHaveLength(Array.from(MIXED).length);
    expect(tok.decode(ids)).toBe(MIXED);
    const long = MIXED.repeat(5000);
    expect(tok.decode(tok.encode(long))).toBe(long);
  });

  it("names an unknown character when encoding, and bad ids when decoding", () => {
    const tok = CharTokenizer.fromText("abc");
    expect(() => tok.encode("abé")).toThrow(
      'CharTokenizer.encode: character "é" (U+00E9) at index 2 is not in the vocabulary (3 characters).',
    );
    expect(() => tok.encode("a🙂")).toThrow(/"🙂" \(U\+1F642\) at index 1/);
    expect(() => tok.decode([0, 3])).toThrow(
      "CharTokenizer.decode: id 3 at index 1 is not an integer in [0, 3).",
    );
    expect(() => CharTokenizer.fromText("")).toThrow(
      "CharTokenizer.fromText: text must be a non-empty string.",
    );
  });

  it("round-trips through JSON", () => {
    const tok = CharTokenizer.fromText(MIXED);
    const json = JSON.parse(JSON.stringify(tok));
    expect(json.kind).toBe("char");
    expect(json.vocabSize).toBe(15);
    expect(json.chars).toEqual(tok.chars);
    const back = tokenizerFromJSON(json);
    expect(back).toBeInstanceOf(CharTokenizer);
    expect(back.encode(MIXED)).toEqual(tok.encode(MIXED));
    expect(CharTokenizer.fromJSON({ kind: "char", chars: ["a", "b"] }).vocabSize).toBe(2);
  });

  it("validates JSON, naming the problem", () => {
    const bad: [unknown, string][] = [
      [null, "CharTokenizer.fromJSON: expected an object, got null."],
      ["abc", "CharTokenizer.fromJSON: expected an object, got string."],
      [{ kind: "byte", chars: ["a"] }, 'CharTokenizer.fromJSON: kind must be "char", got "byte".'],
      [
        { kind: "char" },
        "CharTokenizer.fromJSON: chars must be a non-empty array of one-character strings.",
      ],
      [
        { kind: "char", chars: [] },
        "CharTokenizer.fromJSON: chars must be a non-empty array of one-character strings.",
      ],
      [
        { kind: "char", chars: ["a", "bc"] },
        'CharTokenizer.fromJSON: chars[1] must be a string of exactly one code point, got "bc".',
      ],
      [
        { kind: "char", chars: ["a", 7] },
        "CharTokenizer.fromJSON: chars[1] must be a string of exactly one code point, got 7.",
      ],
      [
        { kind: "char", chars: ["a", ""] },
        'CharTokenizer.fromJSON: chars[1] must be a string of exactly one code point, got "".',
      ],
      [
        { kind: "char", chars: ["b", "a"] },
        'CharTokenizer.fromJSON: chars must be sorted by code point without duplicates, but chars[1] = "a" (U+0061) follows "b" (U+0062).',
      ],
      [
        { kind: "char", chars: ["a", "a"] },
        'CharTokenizer.fromJSON: chars must be sorted by code point without duplicates, but chars[1] = "a" (U+0061) follows "a" (U+0061).',
      ],
      [
        { kind: "char", vocabSize: 3, chars: ["a", "b"] },
        "CharTokenizer.fromJSON: vocabSize 3 does not match the 2 tokens described.",
      ],
    ];
    for (const [json, message] of bad) expect(() => CharTokenizer.fromJSON(json)).toThrow(message);
    expect(() => tokenizerFromJSON({ kind: "bpe" })).toThrow(
      'tokenizerFromJSON: expected an object with kind "byte" or "char", got kind "bpe".',
    );
    expect(() => tokenizerFromJSON(3)).toThrow(/got 3\./);
  });
});

describe("saveTokenizer / loadTokenizer", () => {
  let dir = "";
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "bmojo-data-tok-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("round-trips both kinds through a file, atomically", async () => {
    const char = CharTokenizer.fromText(MIXED);
    const path = join(dir, "char.json");
    await saveTokenizer(path, char);
    const loaded = await loadTokenizer(path);
    expect(loaded).toBeInstanceOf(CharTokenizer);
    expect(loaded.toJSON()).toEqual(char.toJSON());
    expect(loaded.decode(loaded.encode(MIXED))).toBe(MIXED);
    expect(JSON.parse(await readFile(path, "utf8"))).toEqual(char.toJSON());
    // Overwrite with the other kind; no temp file stays behind.
    await saveTokenizer(path, new ByteTokenizer());
    expect(await loadTokenizer(path)).toBeInstanceOf(ByteTokenizer);
    expect(await readdir(dir)).toEqual(["char.json"]);
  });

  it("names the file in errors", async () => {
    const missing = join(dir, "missing.json");
    await expect(loadTokenizer(missing)).rejects.toThrow(
      `loadTokenizer: could not read ${missing}`,
    );
    const broken = join(dir, "broken.json");
    await writeFile(broken, "{ not json");
    await expect(loadTokenizer(broken)).rejects.toThrow(`loadTokenizer: ${broken} is not JSON`);
    const wrong = join(dir, "wrong.json");
    await writeFile(wrong, JSON.stringify({ kind: "char", chars: ["b", "a"] }));
    await expect(loadTokenizer(wrong)).rejects.toThrow(
      `loadTokenizer: ${wrong}: CharTokenizer.fromJSON: chars must be sorted`,
    );
    const nowhere = join(dir, "no-such-dir", "tok.json");
    await expect(saveTokenizer(nowhere, new ByteTokenizer())).rejects.toThrow(
      `saveTokenizer: could not write ${nowhere}`,
    );
  });
});
