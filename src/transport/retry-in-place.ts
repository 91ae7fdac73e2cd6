import type { Logger } from '../logger.js';
import { cappedExponentialBackoff } from '../domain/retry.js';

/**
 * How a consumer keeps a message it cannot yet make durable: it runs the work again and again in place
 * (the offset stays uncommitted, nothing after it is skipped), backing off from 200 ms to 30 s. While waiting
 * it heartbeats every 500 ms, since kafkajs sends heartbeats only between batches or when asked: a long outage
 * must not cost the group membership. It stops early only when the worker is stopping (throws the error from
 * `stopped`) or the partition is no longer this consumer's (returns `{ done: false }`).
 */
export async function retryInPlace<T>(
  what: string,
  work: () => Promise<T>,
  control: {
    heartbeat: () => Promise<void>;
    isStopping: () => boolean;
    /** False once the partition has been revoked (a rebalance): its next owner redoes the work. */
    isLive: () => boolean;
    stopped: () => Error;
    logger: Logger;
    /** Runs before each new attempt. */
    beforeRetry?: () => void;
  },
): Promise<{ done: true; value: T } | { done: false }> {
  for (let attempt = 1; ; attempt++) {
    try {
      return { done: true, value: await work() };
    } catch (error) {
      if (control.isStopping()) throw control.stopped();
      if (!control.isLive()) return { done: false };
      const delay = cappedExponentialBackoff(attempt + 1, 200, 30_000);
      control.logger.error({ what, attempt, delayMs: delay, err: error }, `could not ${what}; trying again`);
      for (let waited = 0; waited < delay; waited += 500) {
        await new Promise((resolve) => setTimeout(resolve, Math.min(500, delay - waited)));
        await control.heartbeat().catch(() => {});
        if (control.isStopping()) throw control.stopped();
        if (!control.isLive()) return { done: false };
      }
      control.beforeRetry?.();
    }
  }
}
