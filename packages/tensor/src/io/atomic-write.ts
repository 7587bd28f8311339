/**
 * Atomic file writes for checkpoints, tokenizers and run records (Node only: node:fs is imported
 * lazily, so the package still loads in a browser).
 */

/**
 * Writes `data` to a sibling temp file (`${path}.tmp-<pid>-<random>`), flushes it to disk and
 * renames it over `path`. On any failure the temp file is removed and a previous file at `path`
 * is left intact. Errors say `${owner}: could not write ${path}: …`.
 */
export async function writeFileAtomic(
  owner: string,
  path: string,
  data: Uint8Array | string,
): Promise<void> {
  const { open, rename, rm } = await import("node:fs/promises");
  const suffix = Array.from(crypto.getRandomValues(new Uint8Array(6)), (b) =>
    b.toString(16).padStart(2, "0"),
  ).join("");
  const temp = `${path}.tmp-${process.pid}-${suffix}`;
  let created = false;
  try {
    const file = await open(temp, "wx");
    created = true;
    try {
      await file.writeFile(data);
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(temp, path);
  } catch (err) {
    if (created) await rm(temp, { force: true });
    throw new Error(
      `${owner}: could not write ${path}: ${err instanceof Error ? err.message : String(err)}`,
      { cause: err },
    );
  }
}
