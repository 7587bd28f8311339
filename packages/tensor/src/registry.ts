/**
 * Backend registry: `registerBackend`, `init({ backend: "auto" })`, `setBackend`, `getBackend`.
 * The reference `cpu` backend is registered by default at priority 0, so it is the fallback.
 */
import { BACKEND_SPEC_VERSION, type Backend, BackendUnavailableError } from "./backend/backend.js";

export type BackendFactory = () => Backend | Promise<Backend>;

interface Registration {
  readonly name: string;
  readonly factory: BackendFactory;
  readonly priority: number;
}

export interface SkippedBackend {
  readonly name: string;
  readonly reason: string;
}

/** What `init` chose and why the others were not used. */
export interface InitReport {
  readonly backend: string;
  readonly reason: string;
  readonly skipped: readonly SkippedBackend[];
}

const registrations = new Map<string, Registration>();
const instances = new Map<string, Backend>();
let current: Backend | null = null;
let defaultFactoryInstaller: (() => void) | null = null;

/**
 * Registers a backend factory. Higher priority wins in `init({ backend: "auto" })`. A factory
 * that cannot run here should throw `BackendUnavailableError(name, reason)` saying what is missing.
 * Registering a name again replaces the earlier factory (and disposes an instance made by it).
 */
export function registerBackend(name: string, factory: BackendFactory, priority = 1): void {
  if (typeof name !== "string" || name.length === 0) {
    throw new TypeError("registerBackend: name must be a non-empty string, e.g. 'webgpu'.");
  }
  if (typeof factory !== "function") {
    throw new TypeError(
      `registerBackend('${name}'): factory must be a function returning a Backend.`,
    );
  }
  const old = instances.get(name);
  if (old !== undefined) {
    if (current === old) current = null;
    old.dispose();
    instances.delete(name);
  }
  registrations.set(name, { name, factory, priority });
}

/** Names of registered backends, highest priority first. */
export function registeredBackends(): string[] {
  ensureDefaults();
  return [...registrations.values()].sort((a, b) => b.priority - a.priority).map((r) => r.name);
}

/** Installs the default registrations (the cpu backend); called once by the package entry. */
export function setDefaultRegistrations(install: () => void): void {
  defaultFactoryInstaller = install;
}

function ensureDefaults(): void {
  if (defaultFactoryInstaller !== null) {
    const install = defaultFactoryInstaller;
    defaultFactoryInstaller = null;
    install();
  }
}

function validate(name: string, backend: Backend): Backend {
  if (backend.specVersion !== BACKEND_SPEC_VERSION) {
    throw new BackendUnavailableError(
      name,
      `it implements backend spec v${backend.specVersion} but this @bmojo/tensor implements ` +
        `v${BACKEND_SPEC_VERSION}; install versions of the backend and @bmojo/tensor built for the same spec.`,
    );
  }
  for (const d of ["float32", "int32"] as const) {
    if (!backend.dtypes.includes(d)) {
      throw new BackendUnavailableError(name, `it does not list the required dtype '${d}'.`);
    }
  }
  return backend;
}

async function instantiate(name: string): Promise<Backend> {
  ensureDefaults();
  const cached = instances.get(name);
  if (cached !== undefined) return cached;
  const reg = registrations.get(name);
  if (reg === undefined) {
    throw new BackendUnavailableError(
      name,
      `no backend of that name is registered (registered: ${registeredBackends().join(", ")}). ` +
        `Import its package first, e.g. import "@bmojo/backend-${name}".`,
    );
  }
  let backend: Backend;
  try {
    backend = validate(name, await reg.factory());
  } catch (err) {
    if (err instanceof BackendUnavailableError) throw err;
    throw new BackendUnavailableError(name, err instanceof Error ? err.message : String(err));
  }
  instances.set(name, backend);
  return backend;
}

/**
 * Brings up a backend and makes it current. With `backend: "auto"` (the default) it tries the
 * registered backends from the highest priority down and reports which it picked and why each
 * other one was skipped.
 */
export async function init(options: { backend?: string } = {}): Promise<InitReport> {
  const wanted = options.backend ?? "auto";
  if (wanted !== "auto") {
    current = await instantiate(wanted);
    return { backend: wanted, reason: "requested explicitly", skipped: [] };
  }
  const skipped: SkippedBackend[] = [];
  for (const name of registeredBackends()) {
    try {
      current = await instantiate(name);
    } catch (err) {
      skipped.push({
        name,
        reason: err instanceof BackendUnavailableError ? err.reason : String(err),
      });
      continue;
    }
    const chosen = name;
    for (const other of registeredBackends()) {
      if (other !== chosen && !skipped.some((s) => s.name === other)) {
        skipped.push({ name: other, reason: `lower priority than '${chosen}'` });
      }
    }
    const reason =
      skipped.length === 0 ? "the only registered backend" : "highest-priority backend available";
    return { backend: chosen, reason, skipped };
  }
  throw new Error(
    `init: no backend is available: ${skipped.map((s) => `${s.name}: ${s.reason}`).join("; ")}`,
  );
}

/** Makes a registered backend current (bringing it up if needed). */
export async function setBackend(name: string): Promise<Backend> {
  current = await instantiate(name);
  return current;
}

/**
 * The current backend. Before any `init`/`setBackend`, this brings up the embedded `cpu`
 * backend synchronously.
 */
export function getBackend(): Backend {
  if (current !== null) return current;
  ensureDefaults();
  const cpu = registrations.get("cpu");
  if (cpu === undefined)
    throw new Error("getBackend: no backend is current; call `await init()` first.");
  const made = cpu.factory();
  if (made instanceof Promise) throw new Error("getBackend: call `await init()` first.");
  instances.set("cpu", validate("cpu", made));
  current = made;
  return current;
}

/** A backend instance by name, when it has been brought up. */
export function findBackend(name: string): Backend | undefined {
  return instances.get(name);
}

/** Brings up a backend by name without making it current. */
export function backendByName(name: string): Promise<Backend> {
  return instantiate(name);
}
