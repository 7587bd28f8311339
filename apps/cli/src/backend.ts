/**
 * `--backend cpu|auto|NAME`: brings up a compute backend and says which one was picked.
 *
 * A backend package registers itself when imported (`@bmojo/backend-NAME`). For a name that is not
 * registered yet, and for `auto`, the CLI tries to import those packages first; a package that is
 * not installed is simply skipped, and `init` then reports why a backend is unavailable.
 */
import { BackendUnavailableError, type InitReport, init, registeredBackends } from "@bmojo/tensor";
import { UsageError } from "./errors.js";

/** Backend packages `auto` looks for, highest priority first as they register themselves. */
export const OPTIONAL_BACKENDS = ["cuda", "webgpu", "tfjs", "wasm"] as const;

/** The flag spec shared by every command. */
export const backendFlag = {
  kind: "enum",
  values: ["cpu", "auto"],
  open: true,
  default: "auto",
  placeholder: "NAME",
  description: "compute backend (auto: the highest-priority one available)",
} as const;

async function tryImport(name: string): Promise<void> {
  try {
    await import(/* @vite-ignore */ `@bmojo/backend-${name}`);
  } catch {
    // Not installed: init() below reports the backend as unavailable.
  }
}

/** Brings up the backend; an unavailable one is a usage error naming `--backend`. */
export async function initBackend(name: string): Promise<InitReport> {
  if (name === "auto") {
    for (const optional of OPTIONAL_BACKENDS) {
      if (!registeredBackends().includes(optional)) await tryImport(optional);
    }
  } else if (!registeredBackends().includes(name)) {
    await tryImport(name);
  }
  try {
    return await init({ backend: name });
  } catch (err) {
    if (err instanceof BackendUnavailableError) {
      throw new UsageError(
        `--backend ${name}: ${err.reason} Available: ${registeredBackends().join(", ")}, auto.`,
      );
    }
    throw err;
  }
}

/** "backend: cpu (the only registered backend)" plus why others were skipped. */
export function describeBackend(report: InitReport): string {
  const skipped = report.skipped
    .filter((s) => !s.reason.startsWith("lower priority"))
    .map((s) => `${s.name}: ${s.reason}`);
  return `backend: ${report.backend} (${report.reason})${skipped.length > 0 ? `; skipped ${skipped.join("; ")}` : ""}`;
}
