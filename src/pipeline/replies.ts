import type { Knex } from 'knex';
import { markRepliesDelivered, parkReplyDelivery, type ReplyDelivery } from '../models/delivery-state.js';
import type { ReplyPublisher } from './ports.js';

// What the reply queue's jobs do: publish a recorded reply, then mark it delivered. A crash in between sends it
// again (replies are at least once; the client matches them by command id).

export async function deliverReply(deps: { knex: Knex; publisher: ReplyPublisher }, delivery: ReplyDelivery): Promise<void> {
  await deps.publisher.publish(delivery);
  await markRepliesDelivered(deps.knex, [delivery.id]);
}

/** A reply whose attempts ran out: parked in Postgres, so the reconciler leaves it and an operator can see it. */
export async function parkReply(deps: { knex: Knex }, delivery: Pick<ReplyDelivery, 'id'>, error: string): Promise<void> {
  await parkReplyDelivery(deps.knex, delivery.id, error);
}
