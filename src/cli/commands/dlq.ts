import { randomUUID } from 'node:crypto';
import type { Command } from 'commander';
import type { IHeaders, Kafka } from 'kafkajs';
import type { Redis } from 'ioredis';
import type { Config } from '../../config.js';
import { CliError, EXIT, formatTable, isoTime, parseIntOption, preview, usageError, type CliContext } from './context.js';

// `expctl dlq list|replay`: the commands DLQ topic (CONTRACT.md: original key, value and headers, plus
// x-dlq-reason and x-original-topic/partition/offset). The DLQ is read with a short-lived consumer of a
// group of its own that seeks to the wanted offsets and stops once it has reached the high watermark.

export interface DlqMessage {
  partition: number;
  offset: string;
  timestamp: string;
  key: Buffer | null;
  value: Buffer | null;
  headers: IHeaders;
}

export interface OffsetRange {
  partition: number;
  /** First offset wanted (inclusive). */
  from: bigint;
  /** End (exclusive). */
  to: bigint;
}

export interface Watermarks {
  partition: number;
  low: bigint;
  high: bigint;
}

const DLQ_HEADER = /^x-(dlq|original)-/i;
const DEFAULT_READ_TIMEOUT_MS = 20_000;

/** `P:O` (or a bare `O`, meaning partition 0) → a DLQ position. */
export function parseDlqOffset(text: string): { partition: number; offset: bigint } {
  const match = /^(?:(\d+):)?(\d+)$/.exec(text.trim());
  if (!match) throw usageError(`invalid --offset "${text}": expected <partition>:<offset>, e.g. 0:42`);
  return { partition: Number(match[1] ?? 0), offset: BigInt(match[2]!) };
}

export const replayedKey = (config: Pick<Config, 'QUEUE_PREFIX' | 'DLQ_TOPIC'>) => `${config.QUEUE_PREFIX}:expctl:dlq-replayed:${config.DLQ_TOPIC}`;
const position = (m: { partition: number; offset: string | bigint }) => `${m.partition}:${m.offset}`;

export function headerText(headers: IHeaders, name: string): string | undefined {
  const raw = headers[name];
  const first = Array.isArray(raw) ? raw[0] : raw;
  if (first === undefined) return undefined;
  return Buffer.isBuffer(first) ? first.toString('utf8') : String(first);
}

/** The headers a replayed message carries: the original ones, without what the DLQ added. */
export function replayHeaders(headers: IHeaders): IHeaders {
  return Object.fromEntries(Object.entries(headers).filter(([name, value]) => !DLQ_HEADER.test(name) && value !== undefined));
}

export function describeDlqMessage(m: DlqMessage, replayedAt?: string | null) {
  const originalTopic = headerText(m.headers, 'x-original-topic') ?? null;
  const originalPartition = headerText(m.headers, 'x-original-partition') ?? null;
  const originalOffset = headerText(m.headers, 'x-original-offset') ?? null;
  return {
    partition: m.partition,
    offset: m.offset,
    timestamp: isoTime(m.timestamp) || null,
    reason: headerText(m.headers, 'x-dlq-reason') ?? null,
    originalTopic,
    originalPartition: originalPartition === null ? null : Number(originalPartition),
    originalOffset,
    key: m.key?.toString('utf8') ?? null,
    size: m.value?.length ?? 0,
    preview: preview(m.value, 200),
    valueBase64: m.value?.toString('base64') ?? null,
    replayedAt: replayedAt === undefined ? undefined : replayedAt,
  };
}

async function watermarks(kafka: Kafka, topic: string): Promise<Watermarks[]> {
  const admin = kafka.admin();
  try {
    await admin.connect();
  } catch (error) {
    throw new CliError(EXIT.failure, `cannot reach Kafka: ${(error as Error).message}`);
  }
  try {
    const topics = await admin.listTopics();
    if (!topics.includes(topic)) throw new CliError(EXIT.failure, `the DLQ topic ${topic} does not exist (check DLQ_TOPIC; the worker creates it at start-up)`);
    const offsets = await admin.fetchTopicOffsets(topic);
    return offsets.map((o) => ({ partition: o.partition, low: BigInt(o.low), high: BigInt(o.high) })).sort((a, b) => a.partition - b.partition);
  } finally {
    await admin.disconnect().catch(() => {});
  }
}

/** Reads the given offset ranges of `topic`; `complete` is false when the time ran out first. */
export async function readRanges(
  kafka: Kafka,
  topic: string,
  ranges: OffsetRange[],
  allPartitions: number[],
  timeoutMs = DEFAULT_READ_TIMEOUT_MS,
): Promise<{ messages: DlqMessage[]; complete: boolean; missing: OffsetRange[] }> {
  const pending = new Map(ranges.filter((r) => r.from < r.to).map((r) => [r.partition, { ...r }]));
  const messages: DlqMessage[] = [];
  if (!pending.size) return { messages, complete: true, missing: [] };

  const groupId = `expctl-dlq-${randomUUID()}`;
  const consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 100, allowAutoTopicCreation: false, retry: { retries: 3 } });
  let finish!: () => void;
  let fail!: (error: Error) => void;
  const finished = new Promise<void>((resolve, reject) => {
    finish = resolve;
    fail = reject;
  });
  let timer: NodeJS.Timeout | undefined;
  let complete = false;
  try {
    await consumer.connect();
    consumer.on(consumer.events.CRASH, (event) => {
      if (!event.payload.restart) fail(event.payload.error);
    });
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: true,
      eachBatch: async ({ batch }) => {
        const range = pending.get(batch.partition);
        if (!range) return;
        for (const message of batch.messages) {
          const offset = BigInt(message.offset);
          if (offset < range.from || offset >= range.to) continue;
          messages.push({
            partition: batch.partition,
            offset: message.offset,
            timestamp: message.timestamp,
            key: message.key ?? null,
            value: message.value ?? null,
            headers: message.headers ?? {},
          });
        }
        const next = BigInt(batch.lastOffset()) + 1n;
        if (next > range.from) range.from = next;
        if (range.from >= range.to) {
          pending.delete(batch.partition);
          consumer.pause([{ topic, partitions: [batch.partition] }]);
          if (!pending.size) finish();
        }
      },
    });
    for (const r of pending.values()) consumer.seek({ topic, partition: r.partition, offset: r.from.toString() });
    const idle = allPartitions.filter((p) => !pending.has(p));
    if (idle.length) consumer.pause([{ topic, partitions: idle }]);
    const timedOut = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), timeoutMs)));
    complete = (await Promise.race([finished.then(() => 'done' as const), timedOut])) === 'done';
  } finally {
    clearTimeout(timer);
    await consumer.disconnect().catch(() => {});
    const admin = kafka.admin();
    await admin
      .connect()
      .then(() => admin.deleteGroups([groupId]))
      .catch(() => {})
      .finally(() => admin.disconnect().catch(() => {}));
  }
  messages.sort((a, b) => a.partition - b.partition || (BigInt(a.offset) < BigInt(b.offset) ? -1 : 1));
  return { messages, complete, missing: [...pending.values()] };
}

async function replayedTimes(redis: Redis, config: Config, messages: DlqMessage[]): Promise<Array<string | null>> {
  if (!messages.length) return [];
  const values = await redis.hmget(replayedKey(config), ...messages.map(position));
  return values.map((v) => (v ? v : null));
}

function incompleteError(topic: string, missing: OffsetRange[], timeoutMs: number): CliError {
  const where = missing.map((r) => `partition ${r.partition} stopped at offset ${r.from} of ${r.to}`).join(', ');
  return new CliError(EXIT.timeout, `could not read the DLQ topic ${topic} to its end within ${timeoutMs} ms (${where}); try --read-timeout`);
}

export function registerDlq(program: Command, ctx: CliContext): void {
  const dlq = program
    .command('dlq')
    .description('Look at and re-publish the messages the worker could not read as commands (the DLQ topic).')
    .addHelpText(
      'after',
      `
Messages land in DLQ_TOPIC when no command id can be read from them; they keep their original key, value
and headers, plus x-dlq-reason and x-original-topic/-partition/-offset.

Examples:
  $ expctl dlq list
  $ expctl dlq replay --offset 0:42 --dry-run
  $ expctl dlq replay --all`,
    );

  dlq
    .command('list')
    .description('Print the DLQ messages: partition:offset, time, reason, original topic/partition@offset, key, whether replayed, a preview of the bytes.')
    .option('-n, --limit <n>', 'show at most this many messages', parseIntOption('--limit', 1), 20)
    .option('--from-beginning', 'show the oldest messages (default: the most recent ones)')
    .option('--read-timeout <ms>', 'give up reading after this long (exit 3)', parseIntOption('--read-timeout', 1), DEFAULT_READ_TIMEOUT_MS)
    .addHelpText(
      'after',
      `
The REPLAYED column shows when \`expctl dlq replay\` re-published a message (recorded in Redis under QUEUE_PREFIX).
--json prints every field, including the full value as base64.

Examples:
  $ expctl dlq list
  $ expctl dlq list --from-beginning --limit 100
  $ expctl dlq list --json | jq -r '.messages[] | "\\(.partition):\\(.offset) \\(.reason)"'`,
    )
    .action(async (opts: { limit: number; fromBeginning?: boolean; readTimeout: number }, command: Command) => {
      const { json, verbose } = ctx.globals(command);
      const config = ctx.config({ requireCommandKeys: false });
      const kafka = await ctx.kafka(config, verbose);
      const marks = await watermarks(kafka, config.DLQ_TOPIC);
      const limit = BigInt(opts.limit);
      const ranges = marks.map((w) => ({
        partition: w.partition,
        from: opts.fromBeginning ? w.low : w.high - limit > w.low ? w.high - limit : w.low,
        to: opts.fromBeginning ? (w.low + limit < w.high ? w.low + limit : w.high) : w.high,
      }));
      const read = await readRanges(kafka, config.DLQ_TOPIC, ranges, marks.map((w) => w.partition), opts.readTimeout);
      const byTime = [...read.messages].sort((a, b) => Number(a.timestamp) - Number(b.timestamp) || a.partition - b.partition);
      const shown = opts.fromBeginning ? byTime.slice(0, opts.limit) : byTime.slice(-opts.limit);

      let replayed: Array<string | null | undefined> = shown.map(() => undefined);
      let redis: Redis | undefined;
      try {
        redis = await ctx.redis(config);
        replayed = await replayedTimes(redis, config, shown);
      } catch (error) {
        ctx.err(`warning: cannot tell which messages were replayed: ${(error as Error).message}`);
      } finally {
        redis?.disconnect();
      }

      const total = marks.reduce((n, w) => n + (w.high - w.low), 0n);
      const views = shown.map((m, i) => describeDlqMessage(m, replayed[i]));
      if (json) {
        ctx.json({
          topic: config.DLQ_TOPIC,
          total: Number(total),
          partitions: marks.map((w) => ({ partition: w.partition, low: w.low.toString(), high: w.high.toString() })),
          complete: read.complete,
          messages: views,
        });
      } else {
        const spans = marks.map((w) => `partition ${w.partition}: ${w.high > w.low ? `offsets ${w.low}..${w.high - 1n}` : 'empty'}`).join('; ');
        ctx.out(`DLQ topic ${config.DLQ_TOPIC}: ${total} message(s) (${spans})${views.length < Number(total) ? `; showing ${views.length}` : ''}`);
        if (views.length) {
          ctx.out(
            formatTable(
              ['OFFSET', 'TIME', 'REASON', 'ORIGINAL', 'KEY', 'REPLAYED', 'VALUE'],
              views.map((v) => [
                `${v.partition}:${v.offset}`,
                v.timestamp,
                v.reason ?? '',
                v.originalTopic ? `${v.originalTopic}[${v.originalPartition ?? '?'}]@${v.originalOffset ?? '?'}` : '',
                v.key ?? '',
                v.replayedAt === undefined ? '?' : (v.replayedAt ?? 'no'),
                `${preview(shown.find((m) => m.partition === v.partition && m.offset === v.offset)?.value, 60)} (${v.size} B)`,
              ]),
              70,
            ),
          );
        }
      }
      if (!read.complete) throw incompleteError(config.DLQ_TOPIC, read.missing, opts.readTimeout);
    });

  dlq
    .command('replay')
    .description('Re-publish DLQ messages to the commands topic (original key, value and headers, without the x-dlq-*/x-original-* ones).')
    .option('-o, --offset <partition:offset>', 'a DLQ message to replay (repeatable), e.g. 0:42', collect, [] as string[])
    .option('--all', 'replay every message in the DLQ')
    .option('--dry-run', 'only print what would be replayed')
    .option('--force', 'replay messages even if they were replayed before')
    .option('--read-timeout <ms>', 'give up reading the DLQ after this long (exit 3)', parseIntOption('--read-timeout', 1), DEFAULT_READ_TIMEOUT_MS)
    .addHelpText(
      'after',
      `
Each replayed DLQ position is recorded in Redis (${'<QUEUE_PREFIX>'}:expctl:dlq-replayed:<DLQ_TOPIC>), so a second
replay skips it unless --force is given. A message that is still unreadable lands in the DLQ again (at a new
offset). Exit 1 when a named offset is not in the DLQ, 2 when neither --offset nor --all is given.

Examples:
  $ expctl dlq replay --offset 0:42 --dry-run
  $ expctl dlq replay --offset 0:42 --offset 0:43
  $ expctl dlq replay --all
  $ expctl dlq replay --offset 0:42 --force`,
    )
    .action(async (opts: { offset: string[]; all?: boolean; dryRun?: boolean; force?: boolean; readTimeout: number }, command: Command) => {
      const { json, verbose } = ctx.globals(command);
      if (opts.offset.length && opts.all) throw usageError('dlq replay: give --offset or --all, not both');
      if (!opts.offset.length && !opts.all) throw usageError('dlq replay: give one or more --offset <partition:offset> (see `expctl dlq list`) or --all');
      const wanted = opts.offset.map(parseDlqOffset);
      const config = ctx.config({ requireCommandKeys: false });
      const kafka = await ctx.kafka(config, verbose);
      const marks = await watermarks(kafka, config.DLQ_TOPIC);

      let ranges: OffsetRange[];
      if (opts.all) ranges = marks.map((w) => ({ partition: w.partition, from: w.low, to: w.high }));
      else {
        for (const w of wanted) {
          const mark = marks.find((m) => m.partition === w.partition);
          if (!mark || w.offset < mark.low || w.offset >= mark.high) {
            const holds = mark ? (mark.high > mark.low ? `offsets ${mark.low}..${mark.high - 1n}` : 'nothing') : 'does not exist';
            throw new CliError(EXIT.failure, `DLQ message ${w.partition}:${w.offset} not found (partition ${w.partition} of ${config.DLQ_TOPIC}: ${holds})`);
          }
        }
        const byPartition = new Map<number, bigint[]>();
        for (const w of wanted) byPartition.set(w.partition, [...(byPartition.get(w.partition) ?? []), w.offset]);
        ranges = [...byPartition].map(([partition, offsets]) => ({
          partition,
          from: offsets.reduce((a, b) => (b < a ? b : a)),
          to: offsets.reduce((a, b) => (b > a ? b : a)) + 1n,
        }));
      }
      const read = await readRanges(kafka, config.DLQ_TOPIC, ranges, marks.map((w) => w.partition), opts.readTimeout);
      if (!read.complete) throw incompleteError(config.DLQ_TOPIC, read.missing, opts.readTimeout);
      let selected = read.messages;
      if (!opts.all) {
        const keys = new Set(wanted.map(position));
        selected = read.messages.filter((m) => keys.has(position(m)));
        const found = new Set(selected.map(position));
        const absent = [...keys].filter((k) => !found.has(k));
        if (absent.length) throw new CliError(EXIT.failure, `DLQ message(s) ${absent.join(', ')} not found in ${config.DLQ_TOPIC} (removed by retention or compaction?)`);
      }

      const redis = await ctx.redis(config);
      const producer = kafka.producer({ allowAutoTopicCreation: false });
      let connected = false;
      let finished = false;
      const results: Array<{ partition: number; offset: string; action: string; replayedBefore: string | null; key: string | null; preview: string }> = [];
      try {
        const hash = replayedKey(config);
        for (const message of selected) {
          const field = position(message);
          const before = await redis.hget(hash, field);
          const base = { partition: message.partition, offset: message.offset, replayedBefore: before, key: message.key?.toString('utf8') ?? null, preview: preview(message.value, 60) };
          if (opts.dryRun) {
            results.push({ ...base, action: before && !opts.force ? 'would skip (replayed before)' : 'would replay' });
            continue;
          }
          // Claim the position first (HSETNX is atomic), so two operators replaying at once do not both send it.
          const now = new Date().toISOString();
          let claimed = true;
          if (opts.force) await redis.hset(hash, field, now);
          else claimed = (await redis.hsetnx(hash, field, now)) === 1;
          if (!claimed) {
            results.push({ ...base, action: 'skipped (replayed before)' });
            continue;
          }
          try {
            if (!connected) {
              await producer.connect();
              connected = true;
            }
            await producer.send({
              topic: config.COMMANDS_TOPIC,
              acks: -1,
              messages: [{ key: message.key, value: message.value, headers: replayHeaders(message.headers) }],
            });
          } catch (error) {
            if (before) await redis.hset(hash, field, before).catch(() => {});
            else await redis.hdel(hash, field).catch(() => {});
            throw new CliError(EXIT.failure, `could not re-publish DLQ message ${field} to ${config.COMMANDS_TOPIC}: ${(error as Error).message}`);
          }
          results.push({ ...base, action: 'replayed' });
        }
        finished = true;
      } finally {
        redis.disconnect();
        if (connected) await producer.disconnect().catch(() => {});
        // On an error, still show what was re-published before it.
        if (finished || results.length) printReplay(ctx, config, results, Boolean(opts.dryRun), json);
      }
    });
}

function printReplay(
  ctx: CliContext,
  config: Config,
  results: Array<{ partition: number; offset: string; action: string; replayedBefore: string | null; key: string | null; preview: string }>,
  dryRun: boolean,
  json: boolean,
): void {
  const count = (prefix: string) => results.filter((r) => r.action.startsWith(prefix)).length;
  if (json) {
    ctx.json({ dlqTopic: config.DLQ_TOPIC, commandsTopic: config.COMMANDS_TOPIC, dryRun, results });
    return;
  }
  if (!results.length) {
    ctx.out(`nothing to replay: the DLQ topic ${config.DLQ_TOPIC} is empty`);
    return;
  }
  ctx.out(
    formatTable(
      ['DLQ OFFSET', 'ACTION', 'REPLAYED BEFORE', 'KEY', 'VALUE'],
      results.map((r) => [`${r.partition}:${r.offset}`, r.action, r.replayedBefore ?? '', r.key ?? '', r.preview]),
      70,
    ),
  );
  if (dryRun) ctx.out(`dry run: would replay ${count('would replay')}, would skip ${count('would skip')} (nothing sent)`);
  else {
    const skipped = count('skipped');
    ctx.out(`replayed ${count('replayed')} message(s) to ${config.COMMANDS_TOPIC}${skipped ? `; skipped ${skipped} replayed before (use --force to replay again)` : ''}`);
  }
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}
