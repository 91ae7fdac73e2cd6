import type { Knex } from 'knex';
import { markRepliesDelivered, parkReplyDelivery, undeliveredReply, type ReplyDelivery } from '../models/delivery-state.js';
import type { ReplyPublisher } from './ports.js';

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
