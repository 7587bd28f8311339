/**
 * Node-only file helpers. They import node:fs lazily, so the package index still loads in a
 * browser (where only these functions are unavailable).
 */

/**
 * Writes `text` (UTF-8) to `path` atomically: to `${path}.tmp-<pid>-<random>` first, flushed, then
 * renamed over `path`; on any error the temp file is removed and a previous file is left intact.
 */
export async function writeTextAtomically(
  owner: string,
  path: string,
  text: string,
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
      await file.writeFile(text, "utf8");
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(temp, path);
  } catch (err) {
    if (created) await rm(temp, { force: true });
    throw new Error(`${owner}: could not write ${path}: ${(err as Error).message}`, { cause: err });
  }
}

/** The UTF-8 text of `path`, or an error naming the file. */
export async function readText(owner: string, path: string): Promise<string> {
  const { readFile } = await import("node:fs/promises");
  try {
    return await readFile(path, "utf8");
  } catch (err) {
    throw new Error(`${owner}: could not read ${path}: ${(err as Error).message}`, { cause: err });
  }
}
