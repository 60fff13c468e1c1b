#!/usr/bin/env node
// A tiny zero-dependency static file server for the production build, used by
// browser tests and for a quick look at dist/ without nginx.
//
//   node scripts/static-server.mjs [dir=dist] [--port 3000] [--host 127.0.0.1]
//   (PORT and HOST environment variables work too.)
//
// Unknown paths without a file extension get index.html, like a typical SPA host.
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer } from 'node:http';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const CONTENT_TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
  '.woff2': 'font/woff2',
};

// Hashed assets never change under the same name; everything else must be revalidated.
function cacheControl(urlPath) {
  return /\/assets\/[^/]+-[A-Z0-9]{8}\.\w+$/.test(urlPath) ? 'public, max-age=31536000, immutable' : 'no-cache';
}

export function createStaticServer(root) {
  const base = resolve(root);

  async function findFile(urlPath) {
    const relative = normalize(decodeURIComponent(urlPath)).replace(/^([/\\])+/, '');
    const file = join(base, relative);
    if (file !== base && !file.startsWith(base + sep)) return null; // ../ escapes
    const info = await stat(file).catch(() => null);
    if (info?.isFile()) return file;
    if (info?.isDirectory()) return findFile(join(urlPath, 'index.html'));
    return extname(relative) ? null : join(base, 'index.html');
  }

  return createServer(async (req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain; charset=utf-8' }).end('Method not allowed\n');
      return;
    }
    let urlPath;
    try {
      urlPath = new URL(req.url, 'http://localhost').pathname;
      decodeURIComponent(urlPath);
    } catch {
      res.writeHead(400, { 'Content-Type': 'text/plain; charset=utf-8' }).end('Bad request\n');
      return;
    }
    const file = await findFile(urlPath);
    const info = file && (await stat(file).catch(() => null));
    if (!info?.isFile()) {
      res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' }).end('Not found\n');
      return;
    }
    res.writeHead(200, {
      'Content-Type': CONTENT_TYPES[extname(file).toLowerCase()] || 'application/octet-stream',
      'Content-Length': info.size,
      'Cache-Control': cacheControl(urlPath),
      'X-Content-Type-Options': 'nosniff',
    });
    if (req.method === 'HEAD') res.end();
    else createReadStream(file).pipe(res);
  });
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { port: { type: 'string' }, host: { type: 'string' } },
  });
  const root = positionals[0] || fileURLToPath(new URL('../dist', import.meta.url));
  const port = Number(values.port || process.env.PORT || 3000);
  const host = values.host || process.env.HOST || '127.0.0.1';
  const server = createStaticServer(root);
  server.listen(port, host, () => console.log(`Serving ${resolve(root)} on http://${host}:${port}/`));
  for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => server.close(() => process.exit(0)));
}
