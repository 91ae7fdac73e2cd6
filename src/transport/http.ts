import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Registry } from 'prom-client';
import { OPS_REALM, checkOpsAccess } from './ops-access.js';

/** A page of the ops dashboard, mounted under /ops by the server (which checks the token first). */
export interface OpsPage {
  /** Where it is mounted: this path and everything under it, e.g. `/ops/queues`. */
  path: string;
  /** Whether it takes methods other than GET (the queue dashboard's retry, clean, …). */
  acceptsWrites: boolean;
  handle(req: IncomingMessage, res: ServerResponse): void | Promise<void>;
}

export interface OpsOptions {
  token: string;
  pages: OpsPage[];
  /** Reports a page that threw (the request is answered 500). */
  onError?: (error: unknown) => void;
}

/**
 * /healthz (the process is up), /readyz (every dependency answers), /metrics (Prometheus text format); and, with
 * `ops` (OPS_DASHBOARD_TOKEN set), the ops pages under /ops behind the token. Without it /ops/… is 404 like any
 * other unknown path.
 */
export async function startHttpServer(options: {
  host: string;
  port: number;
  registry: Registry;
  readiness: () => Promise<Record<string, boolean>>;
  ops?: OpsOptions;
}): Promise<Server> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    const send = (status: number, body: string, type = 'application/json') => {
      res.writeHead(status, { 'content-type': type });
      res.end(body);
    };
    if (options.ops && (path === '/ops' || path.startsWith('/ops/'))) return serveOps(options.ops, req, res, path);
    if (req.method !== 'GET') return send(405, JSON.stringify({ detail: 'Method not allowed.' }));
    if (path === '/healthz') return send(200, JSON.stringify({ status: 'ok' }));
    if (path === '/readyz') {
      options
        .readiness()
        .then((checks) => {
          const ready = Object.values(checks).every(Boolean);
          send(ready ? 200 : 503, JSON.stringify({ status: ready ? 'ready' : 'not ready', checks }));
        })
        .catch((err: Error) => send(503, JSON.stringify({ status: 'not ready', error: err.message })));
      return;
    }
    if (path === '/metrics') {
      options.registry
        .metrics()
        .then((text) => send(200, text, options.registry.contentType))
        .catch((err: Error) => send(500, err.message, 'text/plain'));
      return;
    }
    send(404, JSON.stringify({ detail: 'Not found.' }));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, resolve);
  });
  return server;
}

function serveOps(ops: OpsOptions, req: IncomingMessage, res: ServerResponse, path: string): void {
  const text = (status: number, body: string, headers: Record<string, string> = {}) => {
    res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', ...headers });
    res.end(`${body}\n`);
  };
  // Nothing of /ops is cached, framed by another site (its buttons act) or leaks its URL (a ?token=) onwards.
  res.setHeader('cache-control', 'no-store');
  res.setHeader('x-frame-options', 'DENY');
  res.setHeader('content-security-policy', "frame-ancestors 'none'");
  res.setHeader('referrer-policy', 'no-referrer');

  const access = checkOpsAccess(ops.token, { method: req.method ?? 'GET', url: req.url ?? '/', headers: req.headers });
  if (access.kind === 'unauthorized') return text(401, 'Unauthorized: give OPS_DASHBOARD_TOKEN as the password (any user name), or open the page once with ?token=.', { 'www-authenticate': `Basic realm="${OPS_REALM}", charset="UTF-8"` });
  if (access.kind === 'cross-site') return text(403, 'Forbidden: a request that changes something must come from the dashboard itself.');
  if (access.kind === 'login') return text(303, 'Signed in.', { location: access.location, 'set-cookie': access.cookie });

  if (path === '/ops' || path === '/ops/') return text(302, 'See /ops/queues.', { location: '/ops/queues' });
  const page = ops.pages.find((p) => path === p.path || path.startsWith(`${p.path}/`));
  if (!page) return text(404, 'Not found.');
  if (!page.acceptsWrites && req.method !== 'GET' && req.method !== 'HEAD') return text(405, 'Method not allowed.');
  Promise.resolve()
    .then(() => page.handle(req, res))
    .catch((error: unknown) => {
      ops.onError?.(error);
      if (!res.headersSent) text(500, 'Internal error.');
      else res.end();
    });
}
