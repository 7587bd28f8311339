/**
 * A minimal static file server (node:http) for the built app, on a free port of 127.0.0.1. By
 * default every response carries the cross-origin isolation headers vite.config.ts gives the dev
 * and preview servers, so the page (and its workers) get SharedArrayBuffer for the wasm backend's
 * threads.
 */
import { readFile } from "node:fs/promises";
import { type Server, createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { extname, join, normalize, sep } from "node:path";
import { CROSS_ORIGIN_ISOLATION } from "../vite.config.js";

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json",
  ".safetensors": "application/octet-stream",
  ".png": "image/png",
  ".svg": "image/svg+xml",
};

export interface StaticServer {
  url: string;
  close(): Promise<void>;
}

/**
 * Serves the files under `root`; "/" is index.html. `crossOriginIsolated: false` leaves the
 * isolation headers out (a host that does not send them), for the wasm backend's one-thread path.
 */
export async function serveDirectory(
  root: string,
  options: { crossOriginIsolated?: boolean } = {},
): Promise<StaticServer> {
  const isolation = options.crossOriginIsolated === false ? {} : CROSS_ORIGIN_ISOLATION;
  const server: Server = createServer((request, response) => {
    const path = decodeURIComponent(new URL(request.url ?? "/", "http://localhost").pathname);
    const file = normalize(join(root, path === "/" ? "index.html" : path));
    if (!file.startsWith(root + sep)) {
      response.writeHead(403, isolation).end();
      return;
    }
    readFile(file).then(
      (body) => {
        const type = TYPES[extname(file)] ?? "application/octet-stream";
        response.writeHead(200, { ...isolation, "content-type": type }).end(body);
      },
      () => response.writeHead(404, isolation).end(`not found: ${path}`),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    close: () => new Promise((resolve, reject) => server.close((e) => (e ? reject(e) : resolve()))),
  };
}
