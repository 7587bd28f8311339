import { readFile } from "node:fs/promises";
import { describe, expect, it, vi } from "vitest";

const here = (file: string): URL => new URL(file, import.meta.url);

describe("README", () => {
  it("shows exactly test/readme-example.ts (importing @bmojo/data)", async () => {
    const readme = await readFile(here("../README.md"), "utf8");
    const block = /```ts\n([\s\S]*?)```/.exec(readme)?.[1];
    const example = await readFile(here("./readme-example.ts"), "utf8");
    expect(block).toBe(example.replace('from "../src/index.js"', 'from "@bmojo/data"'));
  });

  it("runs the example and prints what the README says", async () => {
    const lines: string[] = [];
    const spy = vi.spyOn(console, "log").mockImplementation((line: string) => {
      lines.push(line);
    });
    try {
      await import("./readme-example.js");
    } finally {
      spy.mockRestore();
    }
    expect(lines).toEqual([
      "mqar: 1024 scored, previous-occurrence accuracy 0.995",
      "noisy-mqar: 2822 scored, previous-occurrence accuracy 1.000",
      "fuzzy-mqar: 274 scored, previous-occurrence accuracy 0.215",
      "selective-copy: 1024 scored, previous-occurrence accuracy 0.000",
      "induction-heads: 64 scored, previous-occurrence accuracy 1.000",
      "random logits: 0 of 32 correct",
      "65 characters, 1003855 train, 111539 validation",
      `a batch of 8×64: " be none;\\nWe'll keep him"…`,
      "validation: 435 windows of 256",
      "reloaded tokenizer decodes: To be, or not to be",
    ]);
  });
});
