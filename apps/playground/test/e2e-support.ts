/**
 * What the e2e tests share: building the playground into a temporary directory, Debian's Chromium,
 * and reading a finished training run off the page.
 */
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Page } from "playwright-core";
import { build } from "vite";
import { expect } from "vitest";

/** The app's root directory (apps/playground). */
export const APP = dirname(dirname(fileURLToPath(import.meta.url)));

/** Builds the app into a new directory under the system's temp dir and returns its path. */
export async function buildApp(prefix: string): Promise<string> {
  const outDir = await mkdtemp(join(tmpdir(), prefix));
  await build({
    root: APP,
    configFile: join(APP, "vite.config.ts"),
    logLevel: "warn",
    build: { outDir, emptyOutDir: true },
  });
  return outDir;
}

/** Removes a build made by `buildApp` (nothing for ""). */
export async function removeBuild(outDir: string): Promise<void> {
  if (outDir !== "") await rm(outDir, { recursive: true, force: true });
}

/** Debian's Chromium (never a downloaded browser). */
export const CHROMIUM = "/usr/bin/chromium";

/** Whether Chromium is missing; says so (and how to install it) for the test file `label`. */
export function chromiumMissing(label: string): boolean {
  const missing = !existsSync(CHROMIUM);
  if (missing) {
    console.warn(
      `${label}: the browser test is skipped: ${CHROMIUM} is missing. Install Debian's Chromium to run it: apt-get install chromium`,
    );
  }
  return missing;
}

/** The held-out accuracy the page's default run must reach. */
export const TARGET = 0.9;

/**
 * The finished run's held-out accuracy, seconds from Start to the first ≥ TARGET, training
 * tokens/s and result line, as the page shows them, after checking that the accuracy reached
 * TARGET and that the result line states it.
 */
export async function trainingResult(page: Page) {
  const result = page.locator("#train-result");
  const accuracy = Number(await result.getAttribute("data-accuracy"));
  const reachedSeconds = Number(await result.getAttribute("data-reached-seconds"));
  const tokensPerSecond = Number(
    await page.getAttribute("#train-status", "data-tokens-per-second"),
  );
  expect(accuracy).toBeGreaterThanOrEqual(TARGET);
  const text = (await result.textContent()) ?? "";
  expect(text).toContain(`held-out accuracy ${(accuracy * 100).toFixed(1)}%`);
  return { accuracy, reachedSeconds, tokensPerSecond, text };
}
