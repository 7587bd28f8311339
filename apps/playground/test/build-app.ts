/** Builds the playground (vite.config.ts) into a fresh temporary directory, for the e2e tests. */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "vite";

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
