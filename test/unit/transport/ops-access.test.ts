import { describe, expect, it } from 'vitest';
import { OPS_COOKIE, checkOpsAccess, sessionValue } from '../../../src/transport/ops-access.js';

const token = 'a-token-long-enough-for-the-dashboard-0123';
const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
const get = (url: string, headers: Record<string, string> = {}) => checkOpsAccess(token, { method: 'GET', url, headers: { host: 'worker:9464', ...headers } });
const put = (headers: Record<string, string>) => checkOpsAccess(token, { method: 'PUT', url: '/ops/queues/api/queues/results/pause', headers: { host: 'worker:9464', ...headers } });

describe('checkOpsAccess', () => {
  it('allows the token as the Basic password (any user name) or as the session cookie', () => {
    expect(get('/ops/queues', { authorization: basic('ops', token) })).toEqual({ kind: 'allowed' });
    expect(get('/ops/queues', { authorization: basic('', token) })).toEqual({ kind: 'allowed' });
    expect(get('/ops/queues', { cookie: `other=1; ${OPS_COOKIE}=${sessionValue(token)}` })).toEqual({ kind: 'allowed' });
  });

  it.each([
    ['nothing', {}],
    ['a wrong password', { authorization: basic('ops', `${token}x`) }],
    ['a prefix of the token', { authorization: basic('ops', token.slice(0, 10)) }],
    ['the token as the user name', { authorization: basic(token, '') }],
    ['not Basic', { authorization: `Bearer ${token}` }],
    ['the token itself as the cookie', { cookie: `${OPS_COOKIE}=${token}` }],
    ['another token’s cookie', { cookie: `${OPS_COOKIE}=${sessionValue(`${token}x`)}` }],
  ])('refuses %s', (_what, headers) => {
    expect(get('/ops/queues', headers)).toEqual({ kind: 'unauthorized' });
  });

  it('?token= signs in with a strict, HttpOnly cookie holding a digest, and sends the browser to the URL without it', () => {
    expect(get(`/ops/queues/queue/replies?status=failed&token=${encodeURIComponent(token)}`)).toEqual({
      kind: 'login',
      cookie: `${OPS_COOKIE}=${sessionValue(token)}; Path=/ops; HttpOnly; SameSite=Strict`,
      location: '/ops/queues/queue/replies?status=failed',
    });
    expect(sessionValue(token)).not.toContain(token);
    expect(get('/ops/queues?token=wrong')).toEqual({ kind: 'unauthorized' });
    expect(checkOpsAccess(token, { method: 'PUT', url: `/ops/queues/api/queues/results/pause?token=${token}`, headers: {} })).toEqual({ kind: 'unauthorized' });
  });

  it('lets a change through only from the dashboard’s own origin, or from a client that is not a browser', () => {
    const auth = { authorization: basic('ops', token) };
    expect(put({ ...auth, origin: 'http://worker:9464', 'sec-fetch-site': 'same-origin' })).toEqual({ kind: 'allowed' });
    expect(put(auth)).toEqual({ kind: 'allowed' }); // curl -u
    expect(put({ ...auth, 'sec-fetch-site': 'cross-site' })).toEqual({ kind: 'cross-site' });
    expect(put({ ...auth, 'sec-fetch-site': 'same-site' })).toEqual({ kind: 'cross-site' });
    expect(put({ ...auth, origin: 'http://evil.example' })).toEqual({ kind: 'cross-site' });
    expect(put({ ...auth, origin: 'null' })).toEqual({ kind: 'cross-site' });
    expect(put({ origin: 'http://worker:9464' })).toEqual({ kind: 'unauthorized' });
    // Reading is allowed from anywhere it is authenticated (a link from another page).
    expect(get('/ops/queues', { ...auth, 'sec-fetch-site': 'cross-site' })).toEqual({ kind: 'allowed' });
  });
});
