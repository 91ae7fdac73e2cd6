import { Option, type Command } from 'commander';
import type { Redis } from 'ioredis';
import type { Config } from '../../config.js';
import { CliError, EXIT, formatTable, parseIntOption, preview, usageError, type CliContext } from './context.js';
import {
  DEFAULT_READ_TIMEOUT_MS,
  DLQ_SOURCES,
  describeDlqMessage,
  dlqTopics,
  incompleteError,
  parseDlqOffset,
  readRanges,
  replayHeaders,
  replayRefusal,
  watermarks,
  type DlqMessage,
  type DlqSource,
  type DlqTopics,
  type OffsetRange,
} from './dlq-messages.js';

// `expctl dlq list|replay [--topic commands|tracking]`: the commands DLQ (DLQ_TOPIC) and the tracking DLQ
// (TRACKING_DLQ_TOPIC). Reading them and what a replay may send are in dlq-messages.ts.

/** Redis hash of the positions of `dlqTopic` replayed so far (position → time). */
export const replayedKey = (config: Pick<Config, 'QUEUE_PREFIX'>, dlqTopic: string) => `${config.QUEUE_PREFIX}:expctl:dlq-replayed:${dlqTopic}`;
const position = (m: { partition: number; offset: string | bigint }) => `${m.partition}:${m.offset}`;

const topicOption = () =>
  new Option('-t, --topic <which>', 'which DLQ: commands (DLQ_TOPIC) or tracking (TRACKING_DLQ_TOPIC)').choices([...DLQ_SOURCES]).default('commands');

async function replayedTimes(redis: Redis, hash: string, messages: DlqMessage[]): Promise<Array<string | null>> {
  if (!messages.length) return [];
  const values = await redis.hmget(hash, ...messages.map(position));
  return values.map((v) => (v ? v : null));
}

export function registerDlq(program: Command, ctx: CliContext): void {
  const dlq = program
    .command('dlq')
    .description('Look at and re-publish the messages the worker rejected: unreadable commands (DLQ_TOPIC) or tracking events (TRACKING_DLQ_TOPIC).')
    .addHelpText(
      'after',
      `
A message of the commands topic lands in DLQ_TOPIC when no command id can be read from it; a rejected tracking
event lands in TRACKING_DLQ_TOPIC. Either keeps its original key, value and headers, plus x-dlq-reason and
x-original-topic/-partition/-offset. --topic commands|tracking (default commands) picks the DLQ; a replay
re-publishes a message only to the topic it came from.

Examples:
  $ expctl dlq list
  $ expctl dlq list --topic tracking
  $ expctl dlq replay --offset 0:42 --dry-run
  $ expctl dlq replay --topic tracking --all`,
    );

  dlq
    .command('list')
    .description('Print the DLQ messages: partition:offset, time, reason, original topic/partition@offset, key, whether replayed, a preview of the bytes.')
    .addOption(topicOption())
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
  $ expctl dlq list --topic tracking
  $ expctl dlq list --json | jq -r '.messages[] | "\\(.partition):\\(.offset) \\(.reason)"'`,
    )
    .action(async (opts: { topic: DlqSource; limit: number; fromBeginning?: boolean; readTimeout: number }, command: Command) => {
      const { json, verbose } = ctx.globals(command);
      const config = ctx.config({ requireCommandKeys: false });
      const topics = dlqTopics(config, opts.topic);
      const kafka = await ctx.kafka(config, verbose);
      const marks = await watermarks(kafka, topics);
      const limit = BigInt(opts.limit);
      const ranges = marks.map((w) => ({
        partition: w.partition,
        from: opts.fromBeginning ? w.low : w.high - limit > w.low ? w.high - limit : w.low,
        to: opts.fromBeginning ? (w.low + limit < w.high ? w.low + limit : w.high) : w.high,
      }));
      const read = await readRanges(kafka, topics.dlqTopic, ranges, marks.map((w) => w.partition), opts.readTimeout);
      const byTime = [...read.messages].sort((a, b) => Number(a.timestamp) - Number(b.timestamp) || a.partition - b.partition);
      const shown = opts.fromBeginning ? byTime.slice(0, opts.limit) : byTime.slice(-opts.limit);

      let replayed: Array<string | null | undefined> = shown.map(() => undefined);
      let redis: Redis | undefined;
      try {
        redis = await ctx.redis(config);
        replayed = await replayedTimes(redis, replayedKey(config, topics.dlqTopic), shown);
      } catch (error) {
        ctx.err(`warning: cannot tell which messages were replayed: ${(error as Error).message}`);
      } finally {
        redis?.disconnect();
      }

      const total = marks.reduce((n, w) => n + (w.high - w.low), 0n);
      const views = shown.map((m, i) => describeDlqMessage(m, replayed[i]));
      if (json) {
        ctx.json({
          topic: topics.dlqTopic,
          source: topics.source,
          total: Number(total),
          partitions: marks.map((w) => ({ partition: w.partition, low: w.low.toString(), high: w.high.toString() })),
          complete: read.complete,
          messages: views,
        });
      } else {
        const spans = marks.map((w) => `partition ${w.partition}: ${w.high > w.low ? `offsets ${w.low}..${w.high - 1n}` : 'empty'}`).join('; ');
        ctx.out(`DLQ topic ${topics.dlqTopic}: ${total} message(s) (${spans})${views.length < Number(total) ? `; showing ${views.length}` : ''}`);
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
      if (!read.complete) throw incompleteError(topics.dlqTopic, read.missing, opts.readTimeout);
    });

  dlq
    .command('replay')
    .description('Re-publish DLQ messages to the topic they came from (original key, value and headers, without the x-dlq-*/x-original-* ones).')
    .addOption(topicOption())
    .option('-o, --offset <partition:offset>', 'a DLQ message to replay (repeatable), e.g. 0:42', collect, [] as string[])
    .option('--all', 'replay every message in the DLQ')
    .option('--dry-run', 'only print what would be replayed')
    .option('--force', 'replay messages even if they were replayed before')
    .option('--read-timeout <ms>', 'give up reading the DLQ after this long (exit 3)', parseIntOption('--read-timeout', 1), DEFAULT_READ_TIMEOUT_MS)
    .addHelpText(
      'after',
      `
A message of the commands DLQ (DLQ_TOPIC) goes back to COMMANDS_TOPIC, one of the tracking DLQ
(TRACKING_DLQ_TOPIC, --topic tracking) to TRACKING_TOPIC, and only when its x-original-topic header names that
topic: any other message is refused and not re-published (exit 1 after replaying the rest).
Each replayed DLQ position is recorded in Redis (${'<QUEUE_PREFIX>'}:expctl:dlq-replayed:<DLQ topic>), so a second
replay skips it unless --force is given. A message that is still rejected lands in the DLQ again (at a new
offset). Exit 1 when a named offset is not in the DLQ, 2 when neither --offset nor --all is given.

Examples:
  $ expctl dlq replay --offset 0:42 --dry-run
  $ expctl dlq replay --offset 0:42 --offset 0:43
  $ expctl dlq replay --all
  $ expctl dlq replay --topic tracking --all
  $ expctl dlq replay --offset 0:42 --force`,
    )
    .action(async (opts: { topic: DlqSource; offset: string[]; all?: boolean; dryRun?: boolean; force?: boolean; readTimeout: number }, command: Command) => {
      const { json, verbose } = ctx.globals(command);
      if (opts.offset.length && opts.all) throw usageError('dlq replay: give --offset or --all, not both');
      if (!opts.offset.length && !opts.all) throw usageError('dlq replay: give one or more --offset <partition:offset> (see `expctl dlq list`) or --all');
      const wanted = opts.offset.map(parseDlqOffset);
      const config = ctx.config({ requireCommandKeys: false });
      const topics = dlqTopics(config, opts.topic);
      const kafka = await ctx.kafka(config, verbose);
      const marks = await watermarks(kafka, topics);

      let ranges: OffsetRange[];
      if (opts.all) ranges = marks.map((w) => ({ partition: w.partition, from: w.low, to: w.high }));
      else {
        for (const w of wanted) {
          const mark = marks.find((m) => m.partition === w.partition);
          if (!mark || w.offset < mark.low || w.offset >= mark.high) {
            const holds = mark ? (mark.high > mark.low ? `offsets ${mark.low}..${mark.high - 1n}` : 'nothing') : 'does not exist';
            throw new CliError(EXIT.failure, `DLQ message ${w.partition}:${w.offset} not found (partition ${w.partition} of ${topics.dlqTopic}: ${holds})`);
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
      const read = await readRanges(kafka, topics.dlqTopic, ranges, marks.map((w) => w.partition), opts.readTimeout);
      if (!read.complete) throw incompleteError(topics.dlqTopic, read.missing, opts.readTimeout);
      let selected = read.messages;
      if (!opts.all) {
        const keys = new Set(wanted.map(position));
        selected = read.messages.filter((m) => keys.has(position(m)));
        const found = new Set(selected.map(position));
        const absent = [...keys].filter((k) => !found.has(k));
        if (absent.length) throw new CliError(EXIT.failure, `DLQ message(s) ${absent.join(', ')} not found in ${topics.dlqTopic} (removed by retention or compaction?)`);
      }

      const redis = await ctx.redis(config);
      const producer = kafka.producer({ allowAutoTopicCreation: false });
      let connected = false;
      let finished = false;
      const results: ReplayResult[] = [];
      try {
        const hash = replayedKey(config, topics.dlqTopic);
        for (const message of selected) {
          const field = position(message);
          const before = await redis.hget(hash, field);
          const base = { partition: message.partition, offset: message.offset, replayedBefore: before, key: message.key?.toString('utf8') ?? null, preview: preview(message.value, 60) };
          // Checked before anything else: a refused message is neither claimed nor sent.
          const refusal = replayRefusal(message, topics.sourceTopic);
          if (refusal) {
            results.push({ ...base, action: `${opts.dryRun ? 'would refuse' : 'refused'}: ${refusal}` });
            continue;
          }
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
              topic: topics.sourceTopic,
              acks: -1,
              messages: [{ key: message.key, value: message.value, headers: replayHeaders(message.headers) }],
            });
          } catch (error) {
            if (before) await redis.hset(hash, field, before).catch(() => {});
            else await redis.hdel(hash, field).catch(() => {});
            throw new CliError(EXIT.failure, `could not re-publish DLQ message ${field} to ${topics.sourceTopic}: ${(error as Error).message}`);
          }
          results.push({ ...base, action: 'replayed' });
        }
        finished = true;
      } finally {
        redis.disconnect();
        if (connected) await producer.disconnect().catch(() => {});
        // On an error, still show what was re-published before it.
        if (finished || results.length) printReplay(ctx, topics, results, Boolean(opts.dryRun), json);
      }
      const refused = results.filter((r) => r.action.startsWith('refused'));
      if (refused.length) {
        const which = refused.map((r) => `${r.partition}:${r.offset} (${r.action.slice('refused: '.length)})`).join('; ');
        throw new CliError(EXIT.failure, `refused to replay ${refused.length} DLQ message(s) of ${topics.dlqTopic}, which may go only to ${topics.sourceTopic}: ${which}`);
      }
    });
}

interface ReplayResult {
  partition: number;
  offset: string;
  action: string;
  replayedBefore: string | null;
  key: string | null;
  preview: string;
}

function printReplay(ctx: CliContext, topics: DlqTopics, results: ReplayResult[], dryRun: boolean, json: boolean): void {
  const count = (prefix: string) => results.filter((r) => r.action.startsWith(prefix)).length;
  if (json) {
    ctx.json({ dlqTopic: topics.dlqTopic, targetTopic: topics.sourceTopic, dryRun, results });
    return;
  }
  if (!results.length) {
    ctx.out(`nothing to replay: the DLQ topic ${topics.dlqTopic} is empty`);
    return;
  }
  ctx.out(
    formatTable(
      ['DLQ OFFSET', 'ACTION', 'REPLAYED BEFORE', 'KEY', 'VALUE'],
      results.map((r) => [`${r.partition}:${r.offset}`, r.action, r.replayedBefore ?? '', r.key ?? '', r.preview]),
      70,
    ),
  );
  const refused = count('refused') + count('would refuse');
  const refusedText = refused ? `; ${dryRun ? 'would refuse' : 'refused'} ${refused} not from ${topics.sourceTopic}` : '';
  if (dryRun) ctx.out(`dry run: would replay ${count('would replay')}, would skip ${count('would skip')}${refusedText} (nothing sent)`);
  else {
    const skipped = count('skipped');
    ctx.out(`replayed ${count('replayed')} message(s) to ${topics.sourceTopic}${skipped ? `; skipped ${skipped} replayed before (use --force to replay again)` : ''}${refusedText}`);
  }
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}
