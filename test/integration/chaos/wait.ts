// Waiting on conditions, with bounds: the chaos toolkit never sleeps a fixed time hoping something happened.

export const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Polls `condition` until it holds; throws naming `what` after `timeoutMs`. */
export async function waitFor(condition: () => boolean | Promise<boolean>, what: string, timeoutMs: number, pollMs = 100): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await condition()) return;
    if (Date.now() >= deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await delay(pollMs);
  }
}

export interface ProgressWait {
  /** True when everything expected has happened. */
  done: () => boolean;
  /** Any number that grows while work is still being done (replies seen + events seen, say). */
  progress: () => number;
  /** Give up when `progress` has not changed for this long: what is missing by then is not coming. */
  stallMs: number;
  /** Hard bound on the whole wait. */
  timeoutMs: number;
  onTick?: () => void;
  tickMs?: number;
}

export type ProgressOutcome = { done: true; waitedMs: number } | { done: false; waitedMs: number; reason: 'stalled' | 'timeout' };

/**
 * Waits for `done`, for as long as something is still moving. Used where a fault may have lost work for good
 * (the verifier then counts what is missing) but slow recovery (retries, rebalances) must not be cut short.
 */
export async function waitWhileProgressing(wait: ProgressWait): Promise<ProgressOutcome> {
  const started = Date.now();
  let last = wait.progress();
  let lastChange = started;
  let lastTick = started;
  for (;;) {
    const now = Date.now();
    if (wait.done()) return { done: true, waitedMs: now - started };
    const current = wait.progress();
    if (current !== last) {
      last = current;
      lastChange = now;
    }
    if (now - lastChange >= wait.stallMs) return { done: false, waitedMs: now - started, reason: 'stalled' };
    if (now - started >= wait.timeoutMs) return { done: false, waitedMs: now - started, reason: 'timeout' };
    if (wait.onTick && now - lastTick >= (wait.tickMs ?? 5000)) {
      lastTick = now;
      wait.onTick();
    }
    await delay(200);
  }
}
