import type { Knex } from 'knex';
import { DAY_MS, droppableDays, type NeededTracking } from '../domain/tracking-retention.js';

// Writing tracking events: daily partitions of tracking_events (created on demand), the batched insert with
// its per-partition offset bookkeeping, and retention. See migrations/20261123000003_tracking_and_results.ts.

const PARTITION_LOCK_KEY = 7_302_114_002;

/** One row of tracking_events. */
export interface TrackingRow {
  environmentId: number;
  event: string;
  identifier: string;
  feature: string | null;
  valueText: string | null;
  valueNum: number | null;
  occurredAt: Date;
}

/** Start of the UTC day of `date`, in ms. */
export const dayStart = (date: Date | number): number => Math.floor(new Date(date).getTime() / DAY_MS) * DAY_MS;

/** Name of the partition holding the UTC day starting at `dayMs`: tracking_events_pYYYYMMDD. */
export function partitionName(dayMs: number): string {
  return `tracking_events_p${new Date(dayMs).toISOString().slice(0, 10).replaceAll('-', '')}`;
}

/** Day start (ms) of a partition name, or null when the name is not one of ours. */
export function partitionDay(name: string): number | null {
  const m = /^tracking_events_p(\d{4})(\d{2})(\d{2})$/.exec(name);
  if (!m) return null;
  const ms = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
  return Number.isNaN(ms) ? null : ms;
}

/**
 * Knows which daily partitions exist and creates the missing ones. A partition is created stand-alone and then
 * attached (SHARE UPDATE EXCLUSIVE on the parent: running results queries are not blocked), under an advisory
 * lock so that instances racing for the same day do it once.
 */
export class PartitionManager {
  private known = new Set<number>();
  private loaded = false;

  constructor(private readonly knex: Knex) {}

  async existing(): Promise<number[]> {
    const { rows } = await this.knex.raw<{ rows: { name: string }[] }>(
      `select c.relname as name from pg_inherits i
         join pg_class c on c.oid = i.inhrelid
         join pg_class p on p.oid = i.inhparent
        where p.relname = 'tracking_events' and p.relnamespace = to_regnamespace(current_schema())`,
    );
    return rows.map((r) => partitionDay(r.name)).filter((d): d is number => d !== null);
  }

  /** Makes sure a partition exists for each of the days (day starts in ms). */
  async ensure(days: Iterable<number>): Promise<void> {
    if (!this.loaded) {
      for (const d of await this.existing()) this.known.add(d);
      this.loaded = true;
    }
    const missing = [...new Set(days)].filter((d) => !this.known.has(d)).sort((a, b) => a - b);
    for (const day of missing) {
      await this.create(day);
      this.known.add(day);
    }
  }

  private async create(day: number): Promise<void> {
    const name = partitionName(day);
    const from = new Date(day).toISOString();
    const to = new Date(day + DAY_MS).toISOString();
    await this.knex.transaction(async (trx) => {
      await trx.raw('select pg_advisory_xact_lock(?)', [PARTITION_LOCK_KEY]);
      const attached = await trx.raw<{ rows: unknown[] }>(
        `select 1 from pg_inherits i join pg_class c on c.oid = i.inhrelid
          where c.relname = ? and c.relnamespace = to_regnamespace(current_schema())`,
        [name],
      );
      if (attached.rows.length) return;
      // The check constraint lets ATTACH skip its validation scan (the table is empty anyway).
      await trx.raw(`create table if not exists ?? (like tracking_events including defaults)`, [name]);
      await trx.raw(`alter table ?? add constraint ?? check (occurred_at >= '${from}' and occurred_at < '${to}')`, [name, `${name}_range`]);
      await trx.raw(`set local lock_timeout = '10s'`);
      await trx.raw(`alter table tracking_events attach partition ?? for values from ('${from}') to ('${to}')`, [name]);
    });
  }

  /**
   * Drops the partitions past retention (`retentionDays` before `now`) that hold none of the tracking still
   * `needed` (domain/tracking-retention.ts); answers their names. Each drop is its own short transaction with a
   * lock timeout: a long results query delays a drop to the next run rather than queueing every other query
   * behind it.
   */
  async dropPastRetention(retentionDays: number, now: Date, needed: readonly NeededTracking[]): Promise<string[]> {
    const dropped: string[] = [];
    for (const day of droppableDays(await this.existing(), retentionCutoff(retentionDays, now), needed)) {
      const name = partitionName(day);
      try {
        await this.knex.transaction(async (trx) => {
          await trx.raw(`set local lock_timeout = '5s'`);
          await trx.raw('drop table if exists ??', [name]);
        });
        this.known.delete(day);
        dropped.push(name);
      } catch (error) {
        if ((error as { code?: string }).code !== '55P03') throw error; // lock_not_available: next run
      }
    }
    return dropped;
  }

  /** Forgets what it knows (after partitions were dropped by someone else). */
  reset(): void {
    this.known.clear();
    this.loaded = false;
  }
}

/** Retention's cutoff at `now`: the partitions of days ending at or before it are past retention. */
export const retentionCutoff = (retentionDays: number, now: Date): number => dayStart(now.getTime() - retentionDays * DAY_MS);

/** Earliest event time the store accepts at `now`: older days are past retention (and may be dropped). */
export const oldestAccepted = (retentionDays: number, now: Date): number => retentionCutoff(retentionDays, now) + DAY_MS;

/** How far ahead of the worker's clock an event may be (SDK clocks drift; a year-3000 event is a bug). */
export const FUTURE_TOLERANCE_MS = DAY_MS;

/** One multi-row insert: seven arrays unnested into rows (a single round trip, a single statement). */
export async function insertRows(db: Knex | Knex.Transaction, rows: TrackingRow[]): Promise<void> {
  const n = rows.length;
  const env = new Array<number>(n);
  const event = new Array<string>(n);
  const identifier = new Array<string>(n);
  const feature = new Array<string | null>(n);
  const valueText = new Array<string | null>(n);
  const valueNum = new Array<number | null>(n);
  const occurredAt = new Array<string>(n);
  for (let i = 0; i < n; i++) {
    const r = rows[i]!;
    env[i] = r.environmentId;
    event[i] = r.event;
    identifier[i] = r.identifier;
    feature[i] = r.feature;
    valueText[i] = r.valueText;
    valueNum[i] = r.valueNum;
    occurredAt[i] = r.occurredAt.toISOString();
  }
  // Array literals are built here: knex would expand a JS array binding into a list of placeholders.
  await db.raw(
    `insert into tracking_events (environment_id, occurred_at, identity_key, value_num, event, identifier, feature, value_text)
     select u.environment_id, u.occurred_at, hashtextextended(u.identifier, 0), u.value_num, u.event, u.identifier, u.feature, u.value_text
       from unnest(?::bigint[], ?::text[], ?::text[], ?::text[], ?::text[], ?::float8[], ?::timestamptz[])
         as u(environment_id, event, identifier, feature, value_text, value_num, occurred_at)`,
    [numberArray(env), textArray(event), textArray(identifier), textArray(feature), textArray(valueText), numberArray(valueNum), textArray(occurredAt)],
  );
}

/** A Postgres array literal of texts: every element quoted, backslashes and quotes escaped, null as NULL. */
export function textArray(values: readonly (string | null)[]): string {
  const parts = new Array<string>(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    parts[i] = v === null || v === undefined ? 'NULL' : `"${v.replace(/[\\"]/g, '\\$&')}"`;
  }
  return `{${parts.join(',')}}`;
}

/** A Postgres array literal of finite numbers, null as NULL. */
export function numberArray(values: readonly (number | null)[]): string {
  const parts = new Array<string>(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v === null || v === undefined) parts[i] = 'NULL';
    else if (Number.isFinite(v)) parts[i] = String(v);
    else throw new Error(`not a finite number: ${v}`);
  }
  return `{${parts.join(',')}}`;
}
