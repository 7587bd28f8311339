/**
 * Node-only file helpers. They import node:fs lazily, so the package index still loads in a
 * browser (where only these functions are unavailable).
 */

/** The UTF-8 text of `path`, or an error naming the file. */
export async function readText(owner: string, path: string): Promise<string> {
  const { readFile } = await import("node:fs/promises");
  try {
    return await readFile(path, "utf8");
  } catch (err) {
    throw new Error(`${owner}: could not read ${path}: ${(err as Error).message}`, { cause: err });
  }
}
