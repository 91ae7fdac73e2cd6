import type { Knex } from 'knex';
import type { Logger } from '../logger.js';
import { computeJobId } from '../contracts/results.js';
import { expireInboxReplies, heldHeads, pendingReplyDeliveries, pruneDeliveredReplies } from '../models/delivery-state.js';
import { pendingResultsRefreshes } from '../models/results.js';
import type { PipelinePorts } from './ports.js';

// Advisory-lock key of the reconciler: one worker instance reconciles at a time (per tick).
const RECONCILER_LOCK_KEY = 7_302_114_002;
/** Work younger than this is still being handed over by the pipeline itself. */
const GRACE_MS = 2000;
const BATCH = 5000;
/** Delivered replies are kept this long (for operators), then pruned. */
const KEEP_DELIVERED_MS = 3600_000;
/** Expired inbox reply bodies are dropped this often. */
const INBOX_EXPIRY_EVERY_MS = 3600_000;

export interface ReconcileReport {
  replies: number;
  heldCommands: number;
  refreshes: number;
  pruned: number;
  expiredReplies: number;
}

/**
 * Rebuilds what BullMQ should hold from what Postgres says is still to do (CONTRACT.md "Order and durability"):
 * undelivered replies, held commands, accepted results refreshes and the repeatable schedules; and once an hour it
 * drops inbox reply bodies past INBOX_REPLY_RETENTION_DAYS. It runs at
 * start-up, every RECONCILE_INTERVAL_S, and soon after the pipeline failed to hand work over. Every port call is
 * idempotent (job ids name what the job is about), so giving the queues what they already hold costs nothing.
 */
export class Reconciler {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;
  private stopped = false;
  private lastOkAt = 0;
  private lastError: string | undefined;
  private lastInboxExpiry = 0;

  constructor(
    private readonly deps: { knex: Knex; ports: PipelinePorts; logger: Logger; intervalMs: number; inboxReplyRetentionDays: number },
  ) {}

  start(): void {
    this.schedule(0);
  }

  /** Reconcile soon (the pipeline could not hand something over). */
  nudge(): void {
    if (!this.stopped && !this.running) this.schedule(1000);
  }

  /** Healthy while its ticks succeed; a tick older than three intervals means it is stuck or failing. */
  get healthy(): boolean {
    return Date.now() - this.lastOkAt < Math.max(3 * this.deps.intervalMs, 10_000);
  }

  get status(): { healthy: boolean; lastOkAt: string | null; lastError?: string } {
    return { healthy: this.healthy, lastOkAt: this.lastOkAt ? new Date(this.lastOkAt).toISOString() : null, ...(this.lastError ? { lastError: this.lastError } : {}) };
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running?.catch(() => {});
  }

  private schedule(ms: number): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.running = this.tick()
        .then((report) => {
          this.lastOkAt = Date.now();
          this.lastError = undefined;
          if (report && (report.replies || report.heldCommands || report.refreshes || report.expiredReplies)) this.deps.logger.info({ ...report }, 'reconciled queues from Postgres');
        })
        .catch((error) => {
          this.lastError = String((error as Error)?.message ?? error);
          this.deps.logger.warn({ err: error }, 'reconcile failed; trying again next interval');
        })
        .finally(() => {
          this.running = undefined;
          if (!this.stopped) this.schedule(this.deps.intervalMs);
        });
    }, ms);
    this.timer.unref();
  }

  /** One pass; null when another instance holds the reconciler's lock. */
  async tick(): Promise<ReconcileReport | null> {
    const { knex, ports } = this.deps;
    return knex.transaction(async (trx) => {
      const { rows } = await trx.raw<{ rows: { leader: boolean }[] }>('select pg_try_advisory_xact_lock(?) as leader', [RECONCILER_LOCK_KEY]);
      if (!rows[0]?.leader) return null;
      const replies = await pendingReplyDeliveries(knex, GRACE_MS, BATCH);
      await ports.replies.enqueue(replies);
      const held = await heldHeads(knex, BATCH);
      await ports.retries.schedule(held);
      const refreshes = await pendingResultsRefreshes(knex);
      await ports.jobs.enqueue(refreshes.map((experimentId) => ({ queue: 'results' as const, name: 'compute', data: { experimentId }, jobId: computeJobId(experimentId) })));
      await ports.jobs.ensureSchedules();
      const pruned = await pruneDeliveredReplies(knex, KEEP_DELIVERED_MS);
      let expiredReplies = 0;
      if (Date.now() - this.lastInboxExpiry >= INBOX_EXPIRY_EVERY_MS) {
        expiredReplies = await expireInboxReplies(knex, this.deps.inboxReplyRetentionDays);
        this.lastInboxExpiry = Date.now();
      }
      return { replies: replies.length, heldCommands: held.length, refreshes: refreshes.length, pruned, expiredReplies };
    });
  }
}
