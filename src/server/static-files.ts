import { readFile, stat } from 'node:fs/promises';
import { extname, join, normalize, sep } from 'node:path';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.map': 'application/json',
  '.txt': 'text/plain; charset=utf-8',
};

const NOT_BUILT = `<!doctype html><meta charset="utf-8"><title>x-custom-audiences</title>
<h1>The console is not built</h1><p>Build it with <code>npx vite build web</code>; the API is at <a href="/api/v1/openapi.json">/api/v1/openapi.json</a>.</p>`;

/**
 * Serves the console build: existing files as themselves, every other path as index.html (the SPA routes on the
 * client). Returns undefined only for paths that try to leave the directory.
 */
export function serveConsole(dir: string): (path: string) => Promise<Response | undefined> {
  const root = normalize(dir);
  return async (path) => {
    let decoded: string;
    try {
      decoded = decodeURIComponent(path);
    } catch {
      return undefined;
    }
    const file = normalize(join(root, decoded));
    if (file !== root && !file.startsWith(root + sep)) return undefined;
    const asset = await tryFile(file);
    if (asset) {
      // Vite fingerprints assets, so they can be cached; index.html must not be.
      const immutable = decoded.startsWith('/assets/');
      return new Response(new Uint8Array(asset), {
        headers: {
          'content-type': TYPES[extname(file)] ?? 'application/octet-stream',
          'cache-control': immutable ? 'public, max-age=31536000, immutable' : 'no-cache',
        },
      });
    }
    const index = await tryFile(join(root, 'index.html'));
    return new Response(index ? new Uint8Array(index) : NOT_BUILT, {
      headers: { 'content-type': TYPES['.html']!, 'cache-control': 'no-cache' },
    });
  };
}

async function tryFile(file: string): Promise<Buffer | undefined> {
  try {
    const s = await stat(file);
    if (!s.isFile()) return undefined;
    return await readFile(file);
  } catch {
    return undefined;
  }
}
