import { Option, type Command } from 'commander';
import type { Knex } from 'knex';
import type { Config } from '../../config.js';
import type { ParkedKind, ParkedMessage } from '../../models/parked.js';
import { CliError, EXIT, formatTable, parseIntOption, redactUrl, truncate, usageError, type CliContext } from './context.js';

// `expctl parked list|retry|discard`: messages parked in Postgres (DATABASE_URL) because the broker refused them
// for good or their attempts ran out: outbox events, replies, and DLQ copies of unreadable commands.

const KIND_CHOICES = ['events', 'replies', 'dead-letters', 'all'] as const;
type KindChoice = (typeof KIND_CHOICES)[number];
// The kinds of src/models/parked.ts PARKED_KINDS (checked by the type); not imported at run time so that
// --help does not load knex.
const KINDS_OF: Record<KindChoice, ParkedKind[]> = { events: ['event'], replies: ['reply'], 'dead-letters': ['dead-letter'], all: ['event', 'reply', 'dead-letter'] };

const kindOption = () => new Option('-k, --kind <kind>', 'which parked messages').choices([...KIND_CHOICES]).default('all');

const PARKED_HELP = `
Kinds and ids: event-<outbox id> (an event the broker refused; the relay skips it and goes on), reply-<id> (a reply
refused, or whose topic did not exist through its REPLY_DELIVERY_ATTEMPTS), dead-letter-<id> (an unreadable
command the DLQ topic refused, kept with its bytes). Reads DATABASE_URL; retrying replies also REDIS_URL and
QUEUE_PREFIX, retrying dead letters KAFKA_BROKERS.`;

export const formatBytes = (n: number): string => (n < 1024 ? `${n} B` : n < 1024 * 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / 1024 / 1024).toFixed(1)} MiB`);

/** Runs `fn` with a small pool on DATABASE_URL (exit 1 when Postgres cannot be reached), closed afterwards. */
export async function withDatabase<T>(ctx: CliContext, fn: (knex: Knex, config: Config) => Promise<T>): Promise<T> {
  const config = ctx.config({ requireCommandKeys: false });
  const { createKnex } = await import('../../db.js');
  const knex = createKnex(config.DATABASE_URL, 2);
  try {
    try {
      await knex.raw('select 1');
    } catch (error) {
      throw new CliError(EXIT.failure, `cannot reach Postgres at ${redactUrl(config.DATABASE_URL)}: ${(error as Error).message}`);
    }
    return await fn(knex, config);
  } finally {
    await knex.destroy().catch(() => {});
  }
}

/** What a retry or discard is about: the message named, or all those of the kinds. */
interface Selection {
  named?: string;
  rowIds: Map<ParkedKind, number[] | 'all'>;
}

async function selection(id: string | undefined, opts: { all?: boolean; kind: KindChoice }, verb: string): Promise<Selection> {
  if (id !== undefined && opts.all) throw usageError(`parked ${verb}: give an id or --all, not both`);
  if (id === undefined && !opts.all) throw usageError(`parked ${verb}: give an id (see \`expctl parked list\`) or --all`);
  if (id === undefined) return { rowIds: new Map(KINDS_OF[opts.kind].map((kind) => [kind, 'all' as const])) };
  const { parseParkedId } = await import('../../models/parked.js');
  const parsed = parseParkedId(id);
  if (!parsed) throw usageError(`parked ${verb}: "${id}" is not an id like event-12, reply-34 or dead-letter-5`);
  return { named: id, rowIds: new Map([[parsed.kind, [parsed.rowId]]]) };
}

/** Exit 1 when the one message named was not acted on. */
function checkNamed(what: Selection, done: { length: number }, errors: { length: number } = []): void {
  if (what.named && !done.length && !errors.length) throw new CliError(EXIT.failure, `${what.named} is not parked (not found, delivered, or discarded)`);
}

function printParked(ctx: CliContext, messages: ParkedMessage[]): void {
  if (!messages.length) return;
  ctx.out(
    formatTable(
      ['ID', 'TOPIC', 'KEY / COMMAND ID', 'SIZE', 'PARKED AT', 'LAST ERROR'],
      messages.map((m) => [m.id, m.topic, m.kind === 'reply' ? m.commandId : m.key, formatBytes(m.bytes), m.parkedAt, truncate(m.lastError ?? '', 80)]),
      80,
    ),
  );
}

export function registerParked(program: Command, ctx: CliContext): void {
  const parked = program
    .command('parked')
    .description('Inspect, retry or discard messages parked in Postgres (events, replies and DLQ copies Kafka refused for good).')
    .addHelpText('after', `${PARKED_HELP}\n\nExamples:\n  $ expctl parked list\n  $ expctl parked retry reply-42\n  $ expctl parked discard --all --kind events`);

  parked
    .command('list')
    .description('List parked messages: id, topic, key or command id, size, when parked, last error.')
    .addOption(kindOption())
    .option('--discarded', 'include discarded messages')
    .option('-n, --limit <n>', 'at most this many of each kind (oldest first)', parseIntOption('--limit', 1), 100)
    .addHelpText('after', `${PARKED_HELP}\n\nExamples:\n  $ expctl parked list\n  $ expctl parked list --kind replies --json`)
    .action(async (opts: { kind: KindChoice; discarded?: boolean; limit: number }, command: Command) => {
      const { json } = ctx.globals(command);
      await withDatabase(ctx, async (knex) => {
        const { listParked } = await import('../../models/parked.js');
        const messages = await listParked(knex, { kinds: KINDS_OF[opts.kind], includeDiscarded: Boolean(opts.discarded), limit: opts.limit });
        if (json) return ctx.json({ kind: opts.kind, messages });
        ctx.out(messages.length ? `${messages.length} parked message(s)` : 'no parked messages');
        printParked(ctx, messages);
      });
    });

  parked
    .command('retry')
    .description('Send parked messages again: events go back to the relay, replies get a fresh job, dead letters are sent to their DLQ topic now.')
    .argument('[id]', 'the message to retry (see `expctl parked list`)')
    .option('--all', 'retry every parked message (of --kind)')
    .addOption(kindOption())
    .addHelpText(
      'after',
      `
An event sent again leaves after the events of its key published meanwhile (consumers dedupe by event id). A
retry that fails the same way parks the message again. Exit 1 when the named message is not parked, or a dead
letter could not be sent.
${PARKED_HELP}

Examples:
  $ expctl parked retry event-12
  $ expctl parked retry --all --kind replies`,
    )
    .action(async (id: string | undefined, opts: { all?: boolean; kind: KindChoice }, command: Command) => {
      const { json, verbose } = ctx.globals(command);
      const what = await selection(id, opts, 'retry');
      await withDatabase(ctx, async (knex, config) => {
        const { retryParked } = await import('./parked-retry.js');
        const result = await retryParked(ctx, knex, config, what.rowIds, verbose);
        checkNamed(what, result.retried, result.errors);
        if (json) ctx.json({ action: 'retried', ids: result.retried, errors: result.errors, warnings: result.warnings });
        else {
          ctx.out(result.retried.length ? `retried ${result.retried.length} parked message(s):` : 'nothing to retry');
          for (const retried of result.retried) ctx.out(`  ${retried}`);
          for (const warning of result.warnings) ctx.err(`expctl: warning: ${warning}`);
        }
        if (result.errors.length) throw new CliError(EXIT.failure, `could not retry ${result.errors.length} message(s):\n  ${result.errors.join('\n  ')}`);
      });
    });

  parked
    .command('discard')
    .description('Mark parked messages discarded: never retried, no longer counted or listed (the rows stay, as a record).')
    .argument('[id]', 'the message to discard (see `expctl parked list`)')
    .option('--all', 'discard every parked message (of --kind)')
    .addOption(kindOption())
    .addHelpText(
      'after',
      `
Discarded messages are kept in Postgres with discarded_at: a parked message is the only copy of something that was
never delivered, so it stays for audit (\`expctl parked list --discarded\`). Exit 1 when the named message is not
parked.
${PARKED_HELP}

Examples:
  $ expctl parked discard reply-42
  $ expctl parked discard --all --kind dead-letters`,
    )
    .action(async (id: string | undefined, opts: { all?: boolean; kind: KindChoice }, command: Command) => {
      const { json } = ctx.globals(command);
      const what = await selection(id, opts, 'discard');
      await withDatabase(ctx, async (knex) => {
        const { discardParked, parkedId } = await import('../../models/parked.js');
        const discarded: string[] = [];
        for (const [kind, rowIds] of what.rowIds) {
          discarded.push(...(await discardParked(knex, kind, rowIds)).map((rowId) => parkedId(kind, rowId)));
        }
        checkNamed(what, discarded);
        if (json) return ctx.json({ action: 'discarded', ids: discarded });
        ctx.out(discarded.length ? `discarded ${discarded.length} parked message(s):` : 'nothing to discard');
        for (const d of discarded) ctx.out(`  ${d}`);
      });
    });
}

