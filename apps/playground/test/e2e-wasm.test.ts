/**
 * End to end, without WebGPU: builds the app with Vite's JS API, serves it cross-origin isolated
 * (COOP same-origin + COEP require-corp, as vite.config.ts's servers do) from node:http, and
 * drives Debian's Chromium (playwright-core) with no WebGPU adapter (no --enable-unsafe-webgpu,
 * and --disable-gpu). The page must fall back to the wasm backend — WebAssembly SIMD kernels on
 * one thread per core, the extra threads being Web Workers nested in the training worker on a
 * shared WebAssembly.Memory — not to the reference cpu backend, and train the page's default MQAR
 * run to the same held-out accuracy bar as test/e2e.test.ts, then stream text from the character
 * model on the same backend.
 */
import { type Browser, type Page, chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  CHROMIUM,
  TARGET,
  buildApp,
  chromiumMissing,
  removeBuild,
  trainingResult,
} from "./e2e-support.js";
import { type StaticServer, serveDirectory } from "./static-server.js";

const skipBrowser = chromiumMissing("e2e-wasm");
/**
 * Start to the first held-out accuracy ≥ TARGET must take less than this. The WebGPU run of
 * test/e2e.test.ts on Chromium's SwiftShader adapter took 112–150 s on this 2-core machine (its
 * README); the wasm backend is expected to need a fraction of that, even on a loaded machine.
 */
const REACH_WITHIN_SECONDS = 90;

describe.skipIf(skipBrowser)("the built playground in Chromium without WebGPU", () => {
  let outDir = "";
  /** Sends COOP + COEP, as vite.config.ts's servers do. */
  let server: StaticServer;
  /** Sends neither: a host that does not isolate the page. */
  let plainServer: StaticServer;
  let browser: Browser;

  beforeAll(async () => {
    outDir = await buildApp("bmojo-playground-wasm-");
    server = await serveDirectory(outDir);
    plainServer = await serveDirectory(outDir, { crossOriginIsolated: false });
    // No --enable-unsafe-webgpu: on Linux, Chromium then exposes navigator.gpu without an
    // adapter; --disable-gpu keeps any GPU process out of it as well.
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ["--no-sandbox", "--headless=new", "--disable-gpu"],
    });
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    await plainServer?.close();
    await removeBuild(outDir);
  });

  /** Opens the page, checks it has no WebGPU adapter, and reads its isolation and core count. */
  async function openPage(url: string) {
    const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
    const pageErrors: string[] = [];
    page.on("pageerror", (error) => pageErrors.push(error.message));
    /** Every worker: the training and generation workers, and the wasm pools' (blob: URLs). */
    const workerUrls: string[] = [];
    page.on("worker", (worker) => workerUrls.push(worker.url()));
    await page.goto(url);
    const env = await page.evaluate(async () => {
      const gpu = (navigator as Navigator & { gpu?: GPU }).gpu;
      const adapter = gpu === undefined ? null : await gpu.requestAdapter();
      return {
        webgpu:
          gpu === undefined ? "no navigator.gpu" : adapter === null ? "no adapter" : "adapter",
        crossOriginIsolated: globalThis.crossOriginIsolated,
        sharedArrayBuffer: typeof SharedArrayBuffer === "function",
        cores: navigator.hardwareConcurrency,
      };
    });
    if (env.webgpu === "adapter") {
      throw new Error(
        "Chromium offered a WebGPU adapter although it was started without --enable-unsafe-webgpu and with --disable-gpu; this test needs a browser without WebGPU to exercise the wasm fallback. Check the launch flags against this Chromium version.",
      );
    }
    return { page, pageErrors, workerUrls, env };
  }

  /** Clicks Start with the page's defaults and waits for the run; asserts no error and the bar. */
  async function trainDefaultRun(page: Page) {
    const started = Date.now();
    await page.click("#train-start");
    await page.waitForSelector('#training[data-state="done"], #training[data-state="error"]', {
      timeout: 150_000,
    });
    const trainSeconds = (Date.now() - started) / 1000;
    expect(await page.textContent("#train-error"), "the page showed a training error").toBe("");
    const {
      accuracy,
      reachedSeconds,
      tokensPerSecond,
      text: resultText,
    } = await trainingResult(page);
    const reachedStep = /first ≥ [\d.]+% at step (\d+)/.exec(resultText)?.[1];
    expect(
      reachedStep,
      `the result line names no step that reached the bar: ${resultText}`,
    ).toBeDefined();
    expect(reachedSeconds).toBeGreaterThan(0);
    expect(
      reachedSeconds,
      `held-out accuracy ≥ ${TARGET * 100}% took ${reachedSeconds.toFixed(1)} s on wasm; the SwiftShader WebGPU run takes 112–150 s`,
    ).toBeLessThan(REACH_WITHIN_SECONDS);
    const summary = `held-out accuracy ${(accuracy * 100).toFixed(1)}%, ≥ ${TARGET * 100}% first at step ${reachedStep}, ${reachedSeconds.toFixed(1)} s after Start; run done in ${trainSeconds.toFixed(1)} s; ${tokensPerSecond.toFixed(0)} training tokens/s (last 10 steps)`;
    return { accuracy, reachedSeconds, tokensPerSecond, summary };
  }

  /** The wasm fallback notice: WebGPU has no adapter here. */
  async function expectWasmNotice(page: Page) {
    const notice = page.locator("#backend-notice");
    expect(await notice.isVisible()).toBe(true);
    const text = (await notice.textContent()) ?? "";
    expect(text).toContain("WebGPU is unavailable, so this runs on the wasm backend");
    expect(text).toContain("navigator.gpu offers no adapter");
  }

  it("falls back to the threaded wasm backend, trains MQAR to the bar, and generates text", async () => {
    const { page, pageErrors, workerUrls, env } = await openPage(server.url);
    expect(env.crossOriginIsolated, "the page is not cross-origin isolated (COOP/COEP)").toBe(true);
    expect(env.sharedArrayBuffer).toBe(true);
    // One thread per core; a 1-core machine can only give one (and the output says so).
    const expectedThreads = env.cores;
    if (expectedThreads === 1) {
      console.warn(
        "e2e-wasm: navigator.hardwareConcurrency is 1, so the wasm backend runs one thread and no pool worker is checked",
      );
    }

    const training = await trainDefaultRun(page);
    const badge = page.locator("#backend");
    expect(await badge.getAttribute("data-backend")).toBe("wasm");
    const threads = Number(await badge.getAttribute("data-threads"));
    const badgeText = (await badge.textContent()) ?? "";
    expect(threads).toBe(expectedThreads);
    if (expectedThreads > 1) {
      expect(threads).toBeGreaterThan(1);
      expect(badgeText).toBe(`backend: wasm · ${threads} threads (shared memory)`);
      // The training worker's pool: threads − 1 Web Workers from blob: URLs, nested in the
      // training worker; each instantiated the kernels on the shared memory before the backend
      // came up.
      expect(workerUrls.filter((url) => url.startsWith("blob:")).length).toBe(threads - 1);
    } else {
      expect(badgeText).toMatch(/^backend: wasm · 1 thread\b/);
    }
    await expectWasmNotice(page);

    // Two B'MOJO layers, each holding m_e = 2 tokens for the last chunk.
    await expect.poll(() => page.locator(".memory-table .token").count()).toBe(2 * 12);
    expect(await page.locator(".memory-table .token.held").count()).toBe(2 * 2);
    expect(await page.locator(".memory-table .answer.correct").count()).toBeGreaterThan(0);

    // Generation on the same fallback: record every length the output passes through, to see
    // the text stream in token by token rather than arrive at once.
    await page.evaluate(() => {
      const output = document.getElementById("generate-output") as HTMLElement;
      const lengths: number[] = [];
      (globalThis as { outputLengths?: number[] }).outputLengths = lengths;
      new MutationObserver(() => lengths.push(output.textContent?.length ?? 0)).observe(output, {
        childList: true,
        characterData: true,
        subtree: true,
      });
    });
    await page.fill("#generate-form [name=maxTokens]", "40");
    const generationStarted = Date.now();
    await page.click("#generate-start");
    await page.waitForSelector('#generation[data-state="done"], #generation[data-state="error"]', {
      timeout: 90_000,
    });
    const generateSeconds = (Date.now() - generationStarted) / 1000;
    expect(await page.textContent("#generate-error")).toBe("");
    const text = (await page.textContent("#generate-output")) ?? "";
    expect(text.startsWith("ROMEO:")).toBe(true);
    expect(text.length).toBe("ROMEO:".length + 40);
    const lengths = await page.evaluate(
      () => (globalThis as { outputLengths?: number[] }).outputLengths ?? [],
    );
    const partial = new Set(lengths.filter((n) => n > "ROMEO:".length && n < text.length));
    expect(partial.size, "the text did not stream in token by token").toBeGreaterThan(10);
    expect(await badge.getAttribute("data-backend")).toBe("wasm");
    expect(Number(await badge.getAttribute("data-threads"))).toBe(expectedThreads);
    const decodeRate = Number(
      await page.getAttribute("#generate-status", "data-tokens-per-second"),
    );
    expect(decodeRate).toBeGreaterThan(0);

    expect(pageErrors).toEqual([]);
    await page.close();
    console.log(
      [
        `e2e-wasm: Chromium without WebGPU (${env.webgpu}); crossOriginIsolated ${env.crossOriginIsolated}; hardwareConcurrency ${env.cores}; ${badgeText}`,
        `e2e-wasm: training: ${training.summary}`,
        `e2e-wasm: generation: 40 tokens in ${generateSeconds.toFixed(1)} s with the model load (${decodeRate.toFixed(1)} tokens/s after it)`,
      ].join("\n"),
    );
  }, 300_000);

  it("without the isolation headers, still trains on wasm, on one thread, and says why", async () => {
    const { page, pageErrors, workerUrls, env } = await openPage(plainServer.url);
    expect(env.crossOriginIsolated).toBe(false);
    expect(env.sharedArrayBuffer).toBe(false);

    const training = await trainDefaultRun(page);
    const badge = page.locator("#backend");
    expect(await badge.getAttribute("data-backend")).toBe("wasm");
    expect(await badge.getAttribute("data-threads")).toBe("1");
    const badgeText = (await badge.textContent()) ?? "";
    expect(badgeText).toMatch(/^backend: wasm · 1 thread: .*cross-origin isolated/);
    expect(workerUrls.filter((url) => url.startsWith("blob:"))).toEqual([]);
    await expectWasmNotice(page);
    expect(pageErrors).toEqual([]);
    await page.close();
    console.log(
      [`e2e-wasm: not isolated: ${badgeText}`, `e2e-wasm: training: ${training.summary}`].join(
        "\n",
      ),
    );
  }, 200_000);
});
