import { createServer, type Server } from 'node:http';
import type { Registry } from 'prom-client';

/** /healthz (the process is up), /readyz (every dependency answers), /metrics (Prometheus text format). */
export async function startHttpServer(options: {
  host: string;
  port: number;
  registry: Registry;
  readiness: () => Promise<Record<string, boolean>>;
}): Promise<Server> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const send = (status: number, body: string, type = 'application/json') => {
      res.writeHead(status, { 'content-type': type });
      res.end(body);
    };
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
