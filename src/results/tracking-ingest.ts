import type { Knex } from 'knex';
import { maintainResultsState, type DroppedState } from './state-ingest.js';
import { insertRows, type TrackingRow } from './tracking-store.js';

// One batch of tracking rows into the database: the rows, the results state kept from them (state-ingest.ts) and
// the topic partition's next offset, in one transaction.

/**
 * Inserts `rows` (messages of one topic partition, offsets ascending, `offsets[i]` for `rows[i]`) unless the
 * offset bookkeeping says they were written before; answers how many rows were inserted. Runs in one
 * transaction: the rows and the partition's next offset commit together. `lastOffset` is the batch's last
 * offset (rejected messages included), so the stored position moves past them too.
 */
export async function insertTrackingBatch(
  knex: Knex,
  source: { group: string; topic: string; partition: number },
  rows: TrackingRow[],
  offsets: bigint[],
  lastOffset: bigint,
  onStateDropped?: (dropped: DroppedState) => void,
): Promise<number> {
  return knex.transaction(async (trx) => {
    // Lock (or create) the partition's position: a consumer that lost the partition in a rebalance and one
    // that got it cannot interleave their writes.
    await trx.raw(
      `insert into tracking_consumer_offsets (consumer_group, topic, partition, next_offset) values (?, ?, ?, 0)
       on conflict (consumer_group, topic, partition) do nothing`,
      [source.group, source.topic, source.partition],
    );
    const { rows: positions } = await trx.raw<{ rows: { next_offset: number | string }[] }>(
      `select next_offset from tracking_consumer_offsets where consumer_group = ? and topic = ? and partition = ? for update`,
      [source.group, source.topic, source.partition],
    );
    const next = BigInt(positions[0]!.next_offset);
    if (lastOffset < next) return 0;
    const fresh: TrackingRow[] = [];
    for (let i = 0; i < rows.length; i++) if (offsets[i]! >= next) fresh.push(rows[i]!);
    if (fresh.length) {
      await insertRows(trx, fresh);
      await maintainResultsState(trx, fresh, onStateDropped);
    }
    await trx.raw(
      `update tracking_consumer_offsets set next_offset = ?, updated_at = now() where consumer_group = ? and topic = ? and partition = ?`,
      [String(lastOffset + 1n), source.group, source.topic, source.partition],
    );
    return fresh.length;
  });
}
