/** The checked-in binaries match the WAT sources (run `pnpm --filter @bmojo/backend-wasm gen`). */
import { readFileSync } from "node:fs";
import { expect, it } from "vitest";
import { GENERATED_FILE, assemble, generatedModule } from "../scripts/assemble.js";

it("src/generated/kernels.ts is up to date with src/wat/*.wat", async () => {
  const fresh = generatedModule(await assemble());
  expect(
    readFileSync(GENERATED_FILE, "utf8") === fresh,
    "src/generated/kernels.ts is stale: run `pnpm --filter @bmojo/backend-wasm gen`",
  ).toBe(true);
});
