// Retry policy shared by every retry loop and queue of the worker: how long to wait, and what is worth it.

/** A delay that doubles from `baseMs` with each attempt (attempt 1 waits `baseMs`) and stops growing at `capMs`. */
export function cappedExponentialBackoff(attempt: number, baseMs: number, capMs: number): number {
  return Math.min(capMs, baseMs * 2 ** Math.max(0, attempt - 1));
}

/** Postgres refusing a prepared statement whose result columns changed since it was prepared. */
export function isStalePreparedStatement(error: unknown): boolean {
  const e = error as { code?: unknown; message?: unknown } | null | undefined;
  return e?.code === '0A000' && typeof e.message === 'string' && /cached plan must not change result type/.test(e.message);
}

/**
 * Whether a failure is worth another attempt: connection loss, timeouts, serialization failures, deadlocks,
 * lock and resource limits, cancelled statements. Data errors (an overflow, say) and bugs fail the same way
 * every time.
 */
export function isTransientError(error: unknown): boolean {
  const e = error as { code?: unknown; name?: unknown; message?: unknown } | null | undefined;
  if (!e) return false;
  const code = typeof e.code === 'string' ? e.code : '';
  if (/^(08|40|53|57)/.test(code) || code === '55P03') return true; // connection, rollback, resources, operator, lock
  if (['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH', 'EAI_AGAIN'].includes(code)) return true;
  if (e.name === 'KnexTimeoutError') return true;
  const message = typeof e.message === 'string' ? e.message : '';
  // A prepared statement that outlived a migration of its table: the next attempt sends it unnamed (db-prepared.ts).
  if (isStalePreparedStatement(error)) return true;
  return /Connection terminated|connection is closed|Client has encountered a connection error|terminating connection|timeout exceeded when trying to connect/i.test(message);
}
