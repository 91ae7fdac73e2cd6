import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';

// Who may see /ops/… (the ops dashboard): whoever shows OPS_DASHBOARD_TOKEN, either as the password of HTTP Basic
// (any user name; what a browser prompts for, and what curl sends with -u) or as the session cookie that
// `/ops/…?token=…` sets, which holds a digest of the token, not the token. Both are sent by a browser on
// cross-site requests too (Basic credentials it has cached; the cookie is SameSite=Strict, which stops that), so a
// request that changes something (a retry, a clean) must also come from the dashboard's own origin.

export const OPS_COOKIE = 'expw_ops';
export const OPS_REALM = 'experimentation-worker ops';

export type OpsAccess =
  | { kind: 'allowed' }
  /** `?token=` was right: set this cookie and send the browser to `location` (the same URL without the token). */
  | { kind: 'login'; cookie: string; location: string }
  | { kind: 'unauthorized' }
  /** Authenticated, but a browser sent it from another site. */
  | { kind: 'cross-site' };

const SAFE_METHODS = new Set(['GET', 'HEAD']);

/** Equal-length digests compared in constant time, so neither the token's length nor its prefix leaks. */
function sameSecret(given: string, expected: string): boolean {
  const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();
  return timingSafeEqual(digest(given), digest(expected));
}

/** The cookie value: stands for the token without revealing it (in a browser profile, say). */
export function sessionValue(token: string): string {
  return createHmac('sha256', token).update('ops-dashboard-session').digest('base64url');
}

function basicPassword(authorization: string | undefined): string | undefined {
  const match = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(authorization ?? '');
  if (!match) return undefined;
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon < 0 ? undefined : decoded.slice(colon + 1);
}

function cookieValue(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/**
 * A browser says where a request comes from (Sec-Fetch-Site, Origin); a request with neither is not a browser's
 * (curl with -u), and cannot have been forged by another site.
 */
function fromOwnOrigin(headers: IncomingHttpHeaders): boolean {
  const site = headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin') return false;
  const origin = headers.origin;
  if (origin === undefined) return true;
  try {
    return new URL(origin).host === headers.host;
  } catch {
    return false;
  }
}

/** Decides a request to /ops/…; `url` is the request's path and query. */
export function checkOpsAccess(token: string, request: { method: string; url: string; headers: IncomingHttpHeaders }): OpsAccess {
  const { headers } = request;
  const password = basicPassword(headers.authorization);
  const cookie = cookieValue(headers.cookie, OPS_COOKIE);
  const authenticated = (password !== undefined && sameSecret(password, token)) || (cookie !== undefined && sameSecret(cookie, sessionValue(token)));
  if (authenticated) return SAFE_METHODS.has(request.method) || fromOwnOrigin(headers) ? { kind: 'allowed' } : { kind: 'cross-site' };

  const url = new URL(request.url, 'http://ops.invalid');
  const given = url.searchParams.get('token');
  if (given === null || request.method !== 'GET' || !sameSecret(given, token)) return { kind: 'unauthorized' };
  url.searchParams.delete('token');
  const cookieHeader = `${OPS_COOKIE}=${sessionValue(token)}; Path=/ops; HttpOnly; SameSite=Strict`;
  return { kind: 'login', cookie: cookieHeader, location: `${url.pathname}${url.search}` };
}
