import type { Command } from 'commander';
import type { CommandKey, Config } from '../../config.js';
import type { Actor, Reply } from '../../contracts/envelope.js';
import { ExperimentationClient } from '../../client/index.js';
import { CliError, EXIT, parseIntOption, parsePayload, usageError, type CliContext, type ClientRequest, type CommandClient } from './context.js';

// `expctl send <type>`: build an envelope, sign it with a COMMAND_KEYS key, send it, print the reply.

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const TOPIC = /^[A-Za-z0-9._-]{1,249}$/;

const STATUS_TEXT: Record<number, string> = {
  200: 'OK',
  201: 'Created',
  202: 'Accepted',
  204: 'No Content',
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  429: 'Too Many Requests',
  500: 'Failed',
};

export const DEFAULT_ACTOR = 'system:expctl';
export const DEFAULT_TIMEOUT_MS = 30_000;

/** `user:42` or `system:ops` → an actor. */
export function parseActor(text: string): Actor {
  const match = /^(user|system):(.{1,255})$/.exec(text.trim());
  if (!match) throw usageError(`invalid --actor "${text}": expected user:<id> or system:<name>, e.g. user:42 or system:ops`);
  return { type: match[1] as Actor['type'], id: match[2]! };
}

/** The key named by --key-id, else the first COMMAND_KEYS key whose scope may sign for the actor. */
export function pickKey(keys: CommandKey[], actor: Actor, keyId?: string): CommandKey {
  const allows = (key: CommandKey) => key.scope === 'system' || actor.type === 'user';
  if (keyId !== undefined) {
    const key = keys.find((k) => k.keyId === keyId);
    if (!key) throw usageError(`unknown --key-id "${keyId}": COMMAND_KEYS has ${keys.map((k) => k.keyId).join(', ')}`);
    if (!allows(key)) throw usageError(`key "${keyId}" has scope user and may not sign commands for a ${actor.type} actor`);
    return key;
  }
  const key = keys.find(allows);
  if (!key) throw usageError(`no key in COMMAND_KEYS may sign for a ${actor.type} actor (it needs a key with scope system)`);
  return key;
}

export function statusText(status: number): string {
  return STATUS_TEXT[status] ?? '';
}

async function connectClient(config: Config, request: ClientRequest, ctx: CliContext): Promise<CommandClient> {
  const client = new ExperimentationClient({
    kafka: await ctx.kafka(config, request.verbose),
    keyId: request.keyId,
    secret: request.secret,
    commandsTopic: request.commandsTopic,
    replyTopic: request.replyTopic,
  });
  try {
    await client.connect();
  } catch (error) {
    await client.disconnect().catch(() => {});
    throw new CliError(EXIT.failure, `cannot reach Kafka at ${config.KAFKA_BROKERS.join(',')}: ${(error as Error).message}`);
  }
  return client;
}

interface SendOptions {
  env?: string;
  actor: string;
  payload?: string;
  keyId?: string;
  replyTo?: string;
  correlationId?: string;
  id?: string;
  messageKey?: string;
  timeout: number;
}

export function registerSend(program: Command, ctx: CliContext): void {
  program
    .command('send')
    .description('Sign and send one command envelope, wait for its reply and print it.')
    .argument('<type>', 'command type, e.g. organisation.upsert, metric.create, experiment.start')
    .option('-e, --env <key>', 'environment key (required by environment-scoped commands; also the Kafka message key)')
    .option('-a, --actor <type:id>', 'who the command is from: user:<id> or system:<name>', DEFAULT_ACTOR)
    .option('-p, --payload <json|@file>', 'the payload: inline JSON, @path/to/file.json, or @- for stdin (default {})')
    .option('--key-id <id>', 'COMMAND_KEYS key to sign with (default: the first key whose scope allows the actor)')
    .option('--reply-to <topic>', 'topic the worker replies to and expctl listens on (default REPLIES_TOPIC)')
    .option('--correlation-id <value>', 'echoed back in the reply')
    .option('--id <uuid>', 'command id (default: a new UUID); the same command sent again gets its stored reply, another command with that id a 409')
    .option('--message-key <key>', 'Kafka message key (default: the --env value; for platform commands use the organisation id)')
    .option('-t, --timeout <ms>', 'how long to wait for the reply', parseIntOption('--timeout', 1), DEFAULT_TIMEOUT_MS)
    .addHelpText(
      'after',
      `
The reply is printed as "<status> <text>  <type>  command <id>" followed by its body (or the reply as JSON
with --json). Exit code: 0 for a 2xx reply, 1 for a 4xx/5xx reply, 3 when no reply came within --timeout,
2 for a usage or configuration error (COMMAND_KEYS is required).

Examples:
  $ expctl send organisation.upsert --actor system:ops --message-key 7 \\
      --payload '{"id":7,"name":"Acme","experimentationEnabled":true}'
  $ expctl send metric.create --env env-api-key --actor user:42 --payload @metric.json
  $ expctl send experiment.get --env env-api-key --payload '{"id":3}' --json | jq .body.status
  $ echo '{"experimentId":3}' | expctl send experiment.results.refresh --env env-api-key --payload @-`,
    )
    .action(async (type: string, opts: SendOptions, command: Command) => {
      const { json, verbose } = ctx.globals(command);
      const config = ctx.config({ requireCommandKeys: true });
      if (!type.trim()) throw usageError('the command type must not be empty');
      const actor = parseActor(opts.actor);
      const payload = await parsePayload(opts.payload, ctx.io);
      const key = pickKey(config.COMMAND_KEYS, actor, opts.keyId);
      if (opts.replyTo !== undefined && !TOPIC.test(opts.replyTo)) throw usageError(`invalid --reply-to "${opts.replyTo}": not a Kafka topic name`);
      if (opts.id !== undefined && !UUID.test(opts.id)) throw usageError(`invalid --id "${opts.id}": expected a UUID`);

      const replyTopic = opts.replyTo ?? config.REPLIES_TOPIC;
      const request: ClientRequest = { verbose, keyId: key.keyId, secret: key.secret, commandsTopic: config.COMMANDS_TOPIC, replyTopic };
      const client = await (ctx.io.createClient ? ctx.io.createClient(config, request) : connectClient(config, request, ctx));
      try {
        const envelope = client.envelope({
          type,
          ...(opts.env !== undefined ? { environment: opts.env } : {}),
          actor,
          payload,
          ...(opts.id !== undefined ? { id: opts.id } : {}),
          replyTo: replyTopic,
          ...(opts.correlationId !== undefined ? { correlationId: opts.correlationId } : {}),
        });
        const replied = client.waitForReply(envelope.id, opts.timeout);
        replied.catch(() => {}); // handled below, after the send
        try {
          await client.sendRaw(Buffer.from(JSON.stringify(envelope)), { key: opts.messageKey ?? opts.env ?? null });
        } catch (error) {
          throw new CliError(EXIT.failure, `could not send to ${config.COMMANDS_TOPIC}: ${(error as Error).message}`);
        }
        if (verbose) ctx.err(`sent ${type} command ${envelope.id} (key ${key.keyId}); waiting up to ${opts.timeout} ms on ${replyTopic}`);
        let reply: Reply;
        try {
          reply = await replied;
        } catch {
          if (json) ctx.json({ commandId: envelope.id, type, timedOut: true, timeoutMs: opts.timeout });
          throw new CliError(
            EXIT.timeout,
            `no reply to ${type} command ${envelope.id} within ${opts.timeout} ms on ${replyTopic}; it may still be processed ` +
              `(send it again with --id ${envelope.id} to get its reply without applying it twice)`,
          );
        }
        printReply(ctx, reply, json);
        ctx.exitCode = reply.status >= 200 && reply.status < 300 ? EXIT.ok : EXIT.failure;
      } finally {
        await client.disconnect().catch(() => {});
      }
    });
}

function printReply(ctx: CliContext, reply: Reply, json: boolean): void {
  if (json) {
    ctx.json(reply);
    return;
  }
  const correlation = reply.correlationId !== undefined ? `  correlation ${reply.correlationId}` : '';
  ctx.out(`${reply.status} ${statusText(reply.status)}  ${reply.type}  command ${reply.commandId}${correlation}`.replace(/ {3,}/g, '  '));
  if (reply.body !== null && reply.body !== undefined) ctx.out(JSON.stringify(reply.body, null, 2));
}
