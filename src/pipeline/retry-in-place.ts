import type { Logger } from '../logger.js';
import { cappedExponentialBackoff } from '../domain/retry.js';

/** What a consumer lends the pipeline while it works on a batch. */
export interface BatchControl {
  heartbeat: () => Promise<void>;
  isStopping: () => boolean;
  /** False once the partition has been revoked (a rebalance): its next owner redoes the work. */
  isLive: () => boolean;
}

/** Thrown when work on a batch stops early (shutdown or a lost partition); what is not done stays uncommitted. */
export class BatchStopped extends Error {}

/**
 * Waits `ms`, heartbeating every 500 ms: kafkajs sends heartbeats only between batches or when asked, and a long
 * wait must not cost the group membership. Throws BatchStopped when the worker stops or the partition moves.
 */
export async function pauseWithHeartbeat(ms: number, control: BatchControl, what: string): Promise<void> {
  for (let waited = 0; ; waited += 500) {
    if (control.isStopping()) throw new BatchStopped(`stopped while waiting to ${what}: left uncommitted`);
    if (!control.isLive()) throw new BatchStopped(`gave up on ${what}: the partition moved to another consumer`);
    if (waited >= ms) return;
    await new Promise((resolve) => setTimeout(resolve, Math.min(500, ms - waited)));
    await control.heartbeat().catch(() => {});
  }
}

/**
 * How a consumer keeps a message it cannot yet make durable: it runs the work again and again in place
 * (the offset stays uncommitted, nothing after it is skipped), backing off from 200 ms to `capMs`, heartbeating
 * meanwhile. Throws BatchStopped when the worker stops or the partition is no longer this consumer's.
 */
export async function retryInPlace<T>(
  what: string,
  work: () => Promise<T>,
  control: BatchControl & { logger: Logger; capMs?: number; beforeRetry?: () => void },
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await work();
    } catch (error) {
      const delay = cappedExponentialBackoff(attempt + 1, 200, control.capMs ?? 30_000);
      if (!control.isStopping() && control.isLive()) {
        control.logger.error({ what, attempt, delayMs: delay, err: error }, `could not ${what}; trying again`);
      }
      await pauseWithHeartbeat(delay, control, what);
      control.beforeRetry?.();
    }
  }
}
