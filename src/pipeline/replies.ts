import type { Knex } from 'knex';
import { markRepliesDelivered, parkReplyDelivery, undeliveredReply, type ReplyDelivery } from '../models/delivery-state.js';
import type { Logger } from '../logger.js';
import type { ReplyBatchPublisher, ReplyPublisher, ReplySink } from './ports.js';

// What the reply queue's jobs do: publish a recorded reply, then mark it delivered. A crash in between sends it
// again (replies are at least once; the client matches them by command id). A job names a delivery; what is sent
// comes from Postgres.

/**
 * Why a publisher could not hand a reply over, as it tells the reply worker:
 * - `refused`: the broker refuses it for good (too large for its topic, an invalid or forbidden topic): parked now;
 * - `missing-topic`: its topic does not exist (the worker never creates one): tried again a few times, then parked;
 * - `unreachable`: Kafka cannot be reached or is electing leaders: not this reply's fault, tried again as long as
 *   it lasts, without using up its attempts;
 * - `other`: anything else: tried again, using up its attempts.
 */
export type ReplyFailure = 'refused' | 'missing-topic' | 'unreachable' | 'other';

export class ReplyNotPublished extends Error {
  constructor(
    readonly failure: ReplyFailure,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ReplyNotPublished';
  }
}

/**
 * Publishes the reply Postgres holds for the delivery a job names, then marks it delivered. False when there is
 * nothing to send (delivered or parked meanwhile, or a job that names no delivery of that command).
 */
export async function deliverReply(deps: { knex: Knex; publisher: ReplyPublisher }, job: Pick<ReplyDelivery, 'id' | 'commandId'>): Promise<boolean> {
  const delivery = await undeliveredReply(deps.knex, job.id, job.commandId);
  if (!delivery) return false;
  await deps.publisher.publish(delivery);
  await markRepliesDelivered(deps.knex, [delivery.id]);
  return true;
}

/** A reply whose attempts ran out: parked in Postgres, so the reconciler leaves it and an operator can see it. */
export async function parkReply(deps: { knex: Knex }, delivery: Pick<ReplyDelivery, 'id'>, error: string): Promise<void> {
  await parkReplyDelivery(deps.knex, delivery.id, error);
}

/** How long a topic whose direct send failed goes by the queue only (a missing topic costs a send ~1 s). */
const DIRECT_AVOID_MS = 30_000;
/** Replies waiting for their direct publish beyond which `enqueue` waits too (Kafka slow or away). */
const MAX_WAITING_REPLIES = 2000;

/**
 * The reply sink of the pipeline: a stretch's replies are published straight away, in one produce request per
 * 512 KiB, and marked delivered in one statement; only when that fails do they go to `fallback` (the reply queue,
 * one job per reply, with attempts and parking). Postgres has every reply before this runs, and the reconciler
 * queues any still undelivered, so a crash between commit and publish still delivers (at least once). A topic
 * whose direct send failed (a missing reply topic, say) is sent by the queue only for a while, so it delays no
 * stretch again; the queue gives it its attempts and parks it.
 *
 * Neither the publish nor the delivered mark is waited for: the replies are durable already, so the stretch's
 * partitions go on to their next messages while its replies are on the wire. Publishes run one at a time, in the
 * order the stretches ended (so replies keep their order), the replies of stretches ending meanwhile sharing the
 * next request; marks likewise share one UPDATE (measured: 2–5 ms of each stretch at 500 commands/s, and a
 * statement per stretch). Past MAX_WAITING_REPLIES waiting, `enqueue` waits for the publish in flight. `flush`
 * waits for every publish and mark still to be done (shutdown).
 */
export function directReplySink(deps: {
  publisher: ReplyBatchPublisher;
  /** Marks published deliveries delivered (markRepliesDelivered on the commands' pool). */
  markDelivered: (ids: number[]) => Promise<void>;
  fallback: ReplySink;
  logger: Logger;
  /** Something was left to the reconciler (a mark or a queue hand-over failed): it should look soon. */
  onMarkFailure?: () => void;
}): ReplySink & { flush(): Promise<void> } {
  const marks = serialBatches<number>((ids) =>
    deps.markDelivered(ids).catch((error: unknown) => {
      // Published but not marked: the reconciler queues them again (a second copy; replies are at least once).
      deps.logger.warn({ err: error, replies: ids.length }, 'could not mark published replies delivered');
      deps.onMarkFailure?.();
    }),
  );
  const avoidUntil = new Map<string, number>();
  const lastOk = new Map<string, number>();
  const toQueue = async (deliveries: ReplyDelivery[]): Promise<void> => {
    try {
      await deps.fallback.enqueue(deliveries);
    } catch (error) {
      deps.logger.warn({ err: error, replies: deliveries.length }, 'could not queue replies; the reconciler will, from Postgres');
      deps.onMarkFailure?.();
    }
  };
  const publish = async (direct: ReplyDelivery[]): Promise<void> => {
    const now = Date.now();
    try {
      await deps.publisher.publishAll(direct);
      for (const d of direct) lastOk.set(d.topic, now);
      if (lastOk.size > 10_000) lastOk.clear();
      marks.add(direct.map((d) => d.id));
    } catch (error) {
      const failure = error instanceof ReplyNotPublished ? error.failure : 'other';
      if (failure !== 'unreachable') {
        // Topics not sent to lately are the likely culprits; when there are none, all of them are suspect.
        const topics = [...new Set(direct.map((d) => d.topic))];
        const suspects = topics.filter((t) => now - (lastOk.get(t) ?? 0) > DIRECT_AVOID_MS);
        for (const t of suspects.length ? suspects : topics) avoidUntil.set(t, now + DIRECT_AVOID_MS);
      }
      if (avoidUntil.size > 10_000) avoidUntil.clear();
      deps.logger.debug({ err: error, replies: direct.length }, 'direct reply publish failed; the reply queue sends them');
      await toQueue(direct);
    }
  };
  const publishing = serialBatches(publish);
  return {
    async enqueue(deliveries) {
      if (!deliveries.length) return;
      const now = Date.now();
      const queued: ReplyDelivery[] = [];
      const direct: ReplyDelivery[] = [];
      for (const d of deliveries) ((avoidUntil.get(d.topic) ?? 0) > now ? queued : direct).push(d);
      if (direct.length) publishing.add(direct);
      if (queued.length) await deps.fallback.enqueue(queued);
      if (publishing.waiting > MAX_WAITING_REPLIES) await publishing.settled();
    },
    async flush() {
      await publishing.flush();
      await marks.flush();
    },
  };
}

/**
 * Runs `work` for the items added, one call at a time and in order; items added while a call runs go, together,
 * in the next one. The first call starts within `add`.
 */
function serialBatches<T>(work: (items: T[]) => Promise<void>) {
  let pending: T[] = [];
  let inFlight: Promise<void> | undefined;
  const run = (): Promise<void> => {
    const items = pending;
    pending = [];
    inFlight = work(items).finally(() => {
      inFlight = undefined;
      if (pending.length) void run();
    });
    return inFlight;
  };
  return {
    add(items: T[]): void {
      pending.push(...items);
      if (!inFlight) void run();
    },
    /** Items added and not yet taken by a call. */
    get waiting(): number {
      return pending.length;
    },
    /** Settles when the call in flight does. */
    settled: (): Promise<void> => inFlight ?? Promise.resolve(),
    async flush(): Promise<void> {
      while (inFlight || pending.length) await (inFlight ?? run());
    },
  };
}
