import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHttpServer } from '../../../src/transport/http.js';

// The HTTP server's part of the ops dashboard: the token check before any page, which methods reach which page,
// and a page that throws. The pages themselves are tested against a real worker (test/integration/ops).

const token = 't'.repeat(32);
const auth = { authorization: `Basic ${Buffer.from(`ops:${token}`).toString('base64')}` };

describe('startHttpServer with ops pages', () => {
  let server: Server;
  let base: string;
  beforeAll(async () => {
    server = await startHttpServer({
      host: '127.0.0.1',
      port: 0,
      registry: new Registry(),
      readiness: async () => ({ ok: true }),
      ops: {
        token,
        pages: [
          { path: '/ops/queues', acceptsWrites: true, handle: (req, res) => void res.end(`queues ${req.method} ${req.url}`) },
          { path: '/ops/parked', acceptsWrites: false, handle: (_req, res) => void res.end('parked') },
          { path: '/ops/broken', acceptsWrites: false, handle: async () => Promise.reject(new Error('boom')) },
        ],
      },
    });
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const call = async (path: string, init: RequestInit = {}) => {
    const response = await fetch(`${base}${path}`, { redirect: 'manual', ...init });
    return { status: response.status, body: await response.text(), headers: response.headers };
  };

  it('asks for the token before anything under /ops, found or not', async () => {
    for (const path of ['/ops', '/ops/queues', '/ops/parked', '/ops/nothing']) expect((await call(path)).status, path).toBe(401);
  });

  it('hands a page everything under its path, with headers that keep it private', async () => {
    const page = await call('/ops/queues/api/queues?x=1', { method: 'PUT', headers: auth });
    expect(page).toMatchObject({ status: 200, body: 'queues PUT /ops/queues/api/queues?x=1' });
    expect(page.headers.get('cache-control')).toBe('no-store');
    expect(page.headers.get('x-frame-options')).toBe('DENY');
    expect((await call('/ops/queuesque', { headers: auth })).status).toBe(404);
    expect((await call('/ops', { headers: auth })).headers.get('location')).toBe('/ops/queues');
  });

  it('lets a read-only page take GET only, and answers 500 for a page that throws', async () => {
    expect((await call('/ops/parked', { headers: auth })).body).toBe('parked');
    expect((await call('/ops/parked', { method: 'DELETE', headers: auth })).status).toBe(405);
    expect((await call('/ops/broken', { headers: auth })).status).toBe(500);
  });

  it('keeps the other paths GET-only', async () => {
    expect((await call('/healthz', { method: 'PUT' })).status).toBe(405);
    expect((await call('/readyz')).status).toBe(200);
  });
});
