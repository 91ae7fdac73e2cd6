import type { Knex } from 'knex';

// Work Postgres has recorded and not finished yet, as /metrics reports it at each scrape: the outbox events the
// relay has still to publish (and how long the oldest has waited: the relay's lag) and the held commands waiting
// for the command-retries queue. Read at scrape time so that the relay and the pipeline need no extra writes.

export interface PipelineBacklog {
  /** Outbox rows not published and not parked. */
  outboxPending: number;
  /** Seconds since the oldest of them was written; 0 when there is none. */
  outboxLagSeconds: number;
  /** Rows of held_commands: commands waiting behind a transient failure. */
  heldCommands: number;
}

export async function readPipelineBacklog(db: Knex | Knex.Transaction): Promise<PipelineBacklog> {
  // The oldest pending row is the one with the lowest id (ids are given at insert): read through the
  // outbox_unpublished partial index, without scanning the backlog for a min(created_at).
  const { rows } = await db.raw<{ rows: { outbox_pending: number; outbox_lag_seconds: number; held_commands: number }[] }>(
    `select (select count(*) from outbox where published_at is null and parked_at is null)::int as outbox_pending,
            coalesce((select extract(epoch from now() - created_at) from outbox
                      where published_at is null and parked_at is null order by id limit 1), 0)::float8 as outbox_lag_seconds,
            (select count(*) from held_commands)::int as held_commands`,
  );
  const row = rows[0]!;
  return { outboxPending: row.outbox_pending, outboxLagSeconds: Math.max(0, row.outbox_lag_seconds), heldCommands: row.held_commands };
}
