/**
 * End to end: builds the app with Vite's JS API, checks that no Node-only module reached the
 * bundle, serves it from node:http, and drives Debian's Chromium (playwright-core) with WebGPU on:
 * trains the page's default MQAR run in the training worker, checks the backend, the accuracy and
 * the memory view, streams text from the character model, and saves screenshot.png.
 */
import { existsSync } from "node:fs";
import { readFile, readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { type Browser, chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { adapterName } from "../src/backend.js";
import {
  APP,
  CHROMIUM,
  TARGET,
  buildApp,
  chromiumMissing,
  removeBuild,
  trainingResult,
} from "./e2e-support.js";
import { type StaticServer, serveDirectory } from "./static-server.js";

const skipBrowser = chromiumMissing("e2e");

describe("the built playground", () => {
  let outDir = "";

  beforeAll(async () => {
    outDir = await buildApp("bmojo-playground-");
  }, 120_000);

  afterAll(async () => {
    await removeBuild(outDir);
  });

  it("bundles no Node-only module and ships the character model", async () => {
    const files = await readdir(join(outDir, "assets"));
    const scripts = files.filter((f) => f.endsWith(".js"));
    expect(scripts.some((f) => f.startsWith("train-worker-"))).toBe(true);
    expect(scripts.some((f) => f.startsWith("generate-worker-"))).toBe(true);
    for (const file of scripts) {
      const code = await readFile(join(outDir, "assets", file), "utf8");
      // @bmojo/backend-wasm's thread pool reaches Node built-ins only under Node (behind a
      // process.versions.node check; its worker source behind `typeof require`): vite.config.ts
      // keeps them unresolved dynamic imports. Nothing else may name a node: module.
      const browserCode = code
        .replace(/import\(\s*["'`]node:(?:os|worker_threads)["'`]\s*\)/g, "")
        .replace(/require\(\s*["'`]node:worker_threads["'`]\s*\)/g, "");
      expect(browserCode, `${file} imports a node: built-in`).not.toMatch(
        /["'`]node:[a-z_/]+["'`]/,
      );
      expect(code, `${file} holds Vite's browser stub of a Node module`).not.toContain(
        "__vite-browser-external",
      );
      // The optional `webgpu` package (Dawn for Node) stays a dynamic import that is never
      // resolved in a browser; none of its code is bundled.
      expect(code).not.toMatch(/from\s*["'`]webgpu["'`]/);
      expect(code).not.toContain("dawn.node");
    }
    const worker = scripts.find((f) => f.startsWith("train-worker-")) as string;
    const workerCode = await readFile(join(outDir, "assets", worker), "utf8");
    expect(workerCode).toMatch(/import\(\s*(?:\/\*[^*]*\*\/\s*)?["'`]webgpu["'`]\s*\)/);
    expect(files.filter((f) => !f.endsWith(".js") && !f.endsWith(".css"))).toEqual([]);
    const model = await stat(join(outDir, "char-model", "model.safetensors"));
    expect(model.size).toBeLessThan(1024 * 1024);
    expect(existsSync(join(outDir, "char-model", "tokenizer.json"))).toBe(true);
  });

  describe.skipIf(skipBrowser)("in Chromium with WebGPU", () => {
    let server: StaticServer;
    let browser: Browser;

    beforeAll(async () => {
      server = await serveDirectory(outDir);
      browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: ["--enable-unsafe-webgpu", "--no-sandbox", "--headless=new"],
      });
    });

    afterAll(async () => {
      await browser?.close();
      await server?.close();
    });

    it("trains B'MOJO on WebGPU in a worker, shows its eidetic memory, and generates text", async () => {
      const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
      const pageErrors: string[] = [];
      page.on("pageerror", (error) => pageErrors.push(error.message));
      await page.goto(server.url);

      const found = await page.evaluate(async () => {
        const gpu = (navigator as Navigator & { gpu?: GPU }).gpu;
        if (gpu === undefined) return "no navigator.gpu";
        const { vendor, architecture, device, description } =
          (await gpu.requestAdapter())?.info ?? {};
        return vendor === undefined ? "no adapter" : { vendor, architecture, device, description };
      });
      if (typeof found === "string") {
        throw new Error(
          `Chromium gave no WebGPU adapter (${found}) with --enable-unsafe-webgpu; the playground would fall back to the cpu backend, which this test does not accept.`,
        );
      }
      const adapter = adapterName(found);

      const started = Date.now();
      await page.click("#train-start");
      await page.waitForSelector('#training[data-state="done"], #training[data-state="error"]', {
        timeout: 480_000,
      });
      const trainSeconds = (Date.now() - started) / 1000;
      const trainError = await page.textContent("#train-error");
      expect(trainError, "the page showed a training error").toBe("");
      expect(await page.getAttribute("#backend", "data-backend")).toBe("webgpu");
      const badge = (await page.textContent("#backend")) ?? "";
      expect(badge).toBe(`backend: webgpu (${adapter})`);
      expect(await page.isHidden("#backend-notice")).toBe(true);

      const { accuracy, reachedSeconds, tokensPerSecond } = await trainingResult(page);

      // Two B'MOJO layers, each holding m_e = 2 tokens for the last chunk.
      await expect.poll(() => page.locator(".memory-table .token").count()).toBe(2 * 12);
      expect(await page.locator(".memory-table .token.held").count()).toBe(2 * 2);
      expect(await page.locator(".memory-table .answer.correct").count()).toBeGreaterThan(0);

      await page.fill("#generate-form [name=maxTokens]", "40");
      const generationStarted = Date.now();
      await page.click("#generate-start");
      await page.waitForSelector(
        '#generation[data-state="done"], #generation[data-state="error"]',
        { timeout: 90_000 },
      );
      const generateSeconds = (Date.now() - generationStarted) / 1000;
      expect(await page.textContent("#generate-error")).toBe("");
      const text = (await page.textContent("#generate-output")) ?? "";
      expect(text.startsWith("ROMEO:")).toBe(true);
      expect(text.length).toBe("ROMEO:".length + 40);
      const decodeRate = Number(
        await page.getAttribute("#generate-status", "data-tokens-per-second"),
      );

      await page.screenshot({ path: join(APP, "screenshot.png"), fullPage: true });
      expect(pageErrors).toEqual([]);
      console.log(
        [
          `e2e: adapter ${adapter}; ${badge}`,
          `e2e: training: held-out accuracy ${(accuracy * 100).toFixed(1)}%, ≥ ${TARGET * 100}% first ${reachedSeconds.toFixed(1)} s after Start; run done in ${trainSeconds.toFixed(1)} s; ${tokensPerSecond.toFixed(0)} training tokens/s`,
          `e2e: generation: 40 tokens in ${generateSeconds.toFixed(1)} s with the model load (${decodeRate.toFixed(1)} tokens/s after it)`,
        ].join("\n"),
      );
    }, 660_000);
  });
});
