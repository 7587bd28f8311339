/**
 * `capture(backend, fn)`: runs `fn` with the backend recording instead of computing, and returns
 * what fn returned with the program that replays its kernels (see Backend.beginCapture).
 */
import type { Backend, CapturedProgram } from "./backend/backend.js";
import { dispose } from "./engine.js";

/** Whether `backend` can capture programs. */
export function canCapture(backend: Backend): boolean {
  return backend.beginCapture !== undefined && backend.endCapture !== undefined;
}

/**
 * Records the kernels `fn` issues on `backend` into a program. The tensors fn returns are the
 * buffers a replay writes: their values are the replay's results, valid after each replay. On an
 * error from fn, or a capture the backend could not finish, the capture is discarded, the tensors
 * fn returned are disposed, and the error is thrown.
 */
export async function capture<T>(
  backend: Backend,
  fn: () => T | Promise<T>,
): Promise<{ value: T; program: CapturedProgram }> {
  if (backend.beginCapture === undefined || backend.endCapture === undefined) {
    throw new Error(
      `capture: backend '${backend.name}' cannot capture programs (it has no beginCapture); run the work eagerly, or use a built-in backend (cpu, wasm, tfjs, webgpu and cuda capture).`,
    );
  }
  backend.beginCapture();
  let value: T;
  try {
    value = await fn();
  } catch (error) {
    try {
      backend.endCapture().dispose();
    } catch {
      // The capture failed too; fn's error says why.
    }
    throw error;
  }
  try {
    return { value, program: backend.endCapture() };
  } catch (error) {
    dispose(value);
    throw error;
  }
}
