import { readFile } from "node:fs/promises";
import { describe, expect, it, vi } from "vitest";

const here = (file: string): URL => new URL(file, import.meta.url);

describe("README", () => {
  it("shows exactly test/readme-example.ts (importing @bmojo/nn)", async () => {
    const readme = await readFile(here("../README.md"), "utf8");
    const block = /```ts\n([\s\S]*?)```/.exec(readme)?.[1];
    const example = await readFile(here("./readme-example.ts"), "utf8");
    expect(block).toBe(example.replace('from "../src/index.js"', 'from "@bmojo/nn"'));
  });

  it("runs the example: the loss falls and the restored model matches", async () => {
    const lines: string[] = [];
    const spy = vi.spyOn(console, "log").mockImplementation((line: string) => {
      lines.push(line);
    });
    try {
      await import("./readme-example.js");
    } finally {
      spy.mockRestore();
    }
    const losses = lines
      .filter((l) => l.startsWith("step"))
      .map((l) => Number(l.split("loss ")[1]));
    expect(losses).toHaveLength(3);
    expect(losses[2]).toBeLessThan(losses[0]);
    expect(losses[0]).toBeLessThan(Math.log(4)); // below chance after 20 steps
    expect(lines.at(-1)).toBe("restored model gives identical logits: true");
  });
});
