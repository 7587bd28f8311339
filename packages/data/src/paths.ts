/**
 * Paths of the data files shipped in this package. This module must stay directly under src/ (as
 * the bundle stays directly under dist/): both sit one level below the package root, next to data/.
 */

const TINY_SHAKESPEARE = new URL("../data/tinyshakespeare.txt", import.meta.url);

/**
 * The absolute path of data/tinyshakespeare.txt in this package (Karpathy's char-rnn
 * tinyshakespeare, public domain, 1,115,394 characters). Node only: read it with
 * `TextDataset.fromFile(tinyShakespearePath())`.
 */
export function tinyShakespearePath(): string {
  return fileUrlToPath(TINY_SHAKESPEARE);
}

/** node:url's fileURLToPath for the cases that arise here, without importing node:url. */
function fileUrlToPath(url: URL): string {
  if (url.protocol !== "file:") {
    throw new Error(`tinyShakespearePath: the package is not loaded from a file (${url.href}).`);
  }
  const path = decodeURIComponent(url.pathname);
  const windows = typeof process !== "undefined" && process.platform === "win32";
  if (!windows) return path;
  const local = path.replace(/^\/([A-Za-z]:)/, "$1").replaceAll("/", "\\");
  return url.hostname ? `\\\\${url.hostname}${local}` : local;
}
