/** Small DOM helpers shared by the panels. */

/** The element with `id`; throws when index.html lacks it. */
export function byId<T extends HTMLElement>(id: string): T {
  const element = document.getElementById(id);
  if (element === null) throw new Error(`index.html has no element #${id}`);
  return element as T;
}

/** Shows `message` in an error paragraph, or hides it for null. */
export function showError(element: HTMLElement, message: string | null): void {
  element.hidden = message === null;
  element.textContent = message ?? "";
}

/** The message of a worker's uncaught error (a failed module load has no message). */
export function workerErrorMessage(event: ErrorEvent, worker: string): string {
  const where = event.filename ? ` (${event.filename}:${event.lineno})` : "";
  return `the ${worker} worker failed: ${event.message || "it could not be loaded"}${where}`;
}

/** A number of a form field; throws naming the field when it is not a number. */
export function numberField(form: HTMLFormElement, name: string): number {
  const field = form.elements.namedItem(name) as HTMLInputElement | null;
  if (field === null) throw new Error(`the form has no field "${name}"`);
  const value = Number(field.value);
  if (field.value.trim() === "" || !Number.isFinite(value)) {
    throw new Error(`${name}: expected a number, got "${field.value}"`);
  }
  return value;
}

/** The value of a form field (text or select). */
export function textField(form: HTMLFormElement, name: string): string {
  const field = form.elements.namedItem(name) as HTMLInputElement | HTMLSelectElement | null;
  if (field === null) throw new Error(`the form has no field "${name}"`);
  return field.value;
}

/** Whether a checkbox of the form is ticked. */
export function checkboxField(form: HTMLFormElement, name: string): boolean {
  const field = form.elements.namedItem(name) as HTMLInputElement | null;
  if (field === null) throw new Error(`the form has no field "${name}"`);
  return field.checked;
}

/** 1234 → "1.2k", 12 → "12". */
export function compactNumber(value: number): string {
  if (value >= 1e6) return `${(value / 1e6).toFixed(1)}M`;
  if (value >= 1e3) return `${(value / 1e3).toFixed(1)}k`;
  return value.toFixed(value >= 100 ? 0 : 1);
}

/** 0.953 → "95.3%". */
export function percent(fraction: number): string {
  return `${(fraction * 100).toFixed(1)}%`;
}
