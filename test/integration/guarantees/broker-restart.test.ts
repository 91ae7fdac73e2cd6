import { execFile } from 'node:child_process';
import { randomInt, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { Kafka } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { ExperimentationClient } from '../../../src/client/index.js';
import { loadConfig, type Config } from '../../../src/config.js';
import type { Reply } from '../../../src/contracts/envelope.js';
import { createLogger } from '../../../src/logger.js';
import { createKafka, ensureTopics, workerTopics } from '../../../src/transport/kafka.js';
import { systemActor, testWorkerEnv, eventually } from '../harness.js';
import { testKeys } from '../env.js';
import { WorkerProcess, freePort } from '../worker-process.js';
import { deleteQueueKeys, sleep, testPool } from './helpers.js';

// README "Delivery and ordering guarantees" across a broker stop and start in the middle of a stream: every
// command applied exactly once and answered, and each key's events in command order. The test runs a broker of
// its own (scripts/kafka.sh on free ports, its state in a temporary KAFKA_RUN_DIR: the shared broker is never
// stopped), a worker process on it (`npm run worker`), and streams 300 commands over 10 keys, one key's
// commands one after the other (each sent once the broker has acknowledged the one before, so the produced
// order is the command order). While the broker is down, sends fail and are retried; once it is back, the
// commands in doubt (sent before the outage, unanswered when it began) and later any command still unanswered
// are resent with the same id, the contract's way to ask again. Exactly once is read from Postgres: one
// processed_commands row and one audit row per command id.
//
// Checked that it can fail: with the inbox insert in recordOutcome made `on conflict do nothing`
// (src/pipeline/execute-command.ts), the resent commands are applied again and the audit counts fail; with the
// outbox relay publishing each batch in reverse id order (src/transport/outbox-relay.ts), the per-key event
// order fails.
//
// Known failure (a bug, not a flake): about one run in four, the outbox relay's idempotent producer is left
// with a sequence number the broker refuses ("The broker received an out of order sequence number", every
// second, forever) and no event is published again until the process restarts; the wait for the events then
// fails, naming the unpublished outbox rows. Likely mechanism: kafkajs rolls a partition's sequence back when a
// produce request fails, also when the broker had written the batch before it went away, and a kafkajs producer
// never asks for a new producer id by itself (reconnecting does not either).
//
// Diagnosis knobs: GUARANTEES_DOWN_MS (how long the broker stays stopped before it is started again, default
// 6000), GUARANTEES_CLIENT_LOG_LEVEL (the test's own kafkajs clients, default fatal), GUARANTEES_WORKER_LOG
// (a file the worker's whole log is written to when the test fails).

const root = fileURLToPath(new URL('../../..', import.meta.url));
const run = promisify(execFile);
const KEYS = 10;
const PER_KEY = 30;
const PACE_MS = 150;

// kafkajs logs every refused connection while the broker is down: only fatal lines from the test's own clients.
const logger = createLogger((process.env.GUARANTEES_CLIENT_LOG_LEVEL ?? 'fatal') as 'fatal');
const db = testPool(`guarantees-broker-${randomUUID().slice(0, 8)}`);
const runDir = mkdtempSync(join(tmpdir(), 'guarantees-kafka-'));
let kafkaEnv: NodeJS.ProcessEnv;
let brokerStarted = false;
let worker: WorkerProcess | undefined;
let client: ExperimentationClient | undefined;
let config: Config;
let kafka: Kafka;

let clientConsumerDead = false;

/**
 * The test's client (its own reply topic). When the outage outlasts kafkajs' retries, a consumer crashes and
 * rejoins as a new member, and the coordinator waits for the old member's session to expire before the group
 * goes on (seen: the worker resumes KAFKA_SESSION_TIMEOUT_MS after the restart). The client's consumer would
 * wait kafkajs' default 30 s; a session as short as the test worker's keeps the test short. A crash kafkajs does
 * not restart from ("Failed to find group coordinator", non-retriable) leaves the client deaf: it is noted, and
 * the resend loop then asks again through a new client.
 */
async function connectClient(): Promise<ExperimentationClient> {
  clientConsumerDead = false;
  const clientKafka = Object.assign(Object.create(kafka) as Kafka, {
    consumer: (options: Parameters<Kafka['consumer']>[0]) => {
      const consumer = kafka.consumer({ ...options, sessionTimeout: 8000, heartbeatInterval: 1000 });
      consumer.on(consumer.events.CRASH, (e) => {
        console.log(`[broker-restart] client consumer crashed (restart: ${e.payload.restart}): ${e.payload.error?.message}`);
        if (!e.payload.restart) clientConsumerDead = true;
      });
      return consumer;
    },
  });
  const c = new ExperimentationClient({ kafka: clientKafka, ...testKeys.system, commandsTopic: config.COMMANDS_TOPIC, eventsTopic: config.EVENTS_TOPIC, replyTopic: `${config.REPLIES_TOPIC}.client`, defaultActor: systemActor });
  await c.connect();
  return c;
}

/** scripts/kafka.sh start|stop for this test's broker; resolves with how long it took. */
async function broker(command: 'start' | 'stop'): Promise<number> {
  const started = Date.now();
  await run('bash', ['scripts/kafka.sh', command], { cwd: root, env: kafkaEnv, timeout: 150_000 });
  return Date.now() - started;
}

beforeAll(async () => {
  const port = await freePort();
  let controllerPort = await freePort();
  while (controllerPort === port) controllerPort = await freePort();
  kafkaEnv = { ...process.env, KAFKA_RUN_DIR: runDir, KAFKA_PORT: String(port), KAFKA_CONTROLLER_PORT: String(controllerPort) };
  brokerStarted = true;
  const ms = await broker('start');
  console.log(`[broker-restart] own broker on 127.0.0.1:${port} ready in ${ms} ms (state in ${runDir})`);

  const env = testWorkerEnv({ KAFKA_BROKERS: `127.0.0.1:${port}`, HTTP_PORT: String(await freePort()) });
  config = loadConfig(env);
  kafka = createKafka(config.KAFKA_BROKERS, logger, 'guarantees-broker-restart');
  const replyTopic = `${config.REPLIES_TOPIC}.client`;
  await ensureTopics(kafka, [...workerTopics(config), { topic: replyTopic, numPartitions: 1 }]);
  client = await connectClient();
  worker = new WorkerProcess(env);
  await worker.start();
}, 180_000);

afterAll(async () => {
  await client?.disconnect().catch(() => {});
  if (worker) {
    const code = await Promise.race([worker.kill('SIGTERM'), sleep(15_000).then(() => 'still running')]);
    if (code === 'still running') await worker.kill('SIGKILL');
    if (code !== 0) console.log(`[broker-restart] worker exit ${code}; its log ends:\n${worker.output.split('\n').slice(-30).join('\n')}`);
  }
  if (brokerStarted) await broker('stop').catch((e) => console.warn('stopping the test broker failed', e));
  rmSync(runDir, { recursive: true, force: true });
  // What this test's broker never got must not be sent by a later worker of this database to ITS broker (the
  // relay and the reconciler serve every row): a failed run leaves it behind.
  if (config) {
    await db('outbox').where({ topic: config.EVENTS_TOPIC }).whereNull('published_at').delete();
    await db('reply_deliveries').where({ topic: `${config.REPLIES_TOPIC}.client` }).whereNull('delivered_at').delete();
  }
  if (config) await deleteQueueKeys(config.QUEUE_PREFIX);
  await db.destroy();
}, 60_000);

interface Command {
  id: string;
  key: string;
  org: number;
  bytes: Buffer;
  producedAt?: number;
}

/** Every event on the events topic, read from the beginning by a consumer of its own, until `enough` holds. */
async function readEvents(enough: (events: { key: string; value: { id: string; commandId?: string } }[]) => boolean, timeoutMs: number) {
  const consumer = kafka.consumer({ groupId: `guarantees-events-${randomUUID()}`, maxWaitTimeInMs: 100 });
  const events: { key: string; value: { id: string; commandId?: string } }[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topic: config.EVENTS_TOPIC, fromBeginning: true });
    await consumer.run({ eachMessage: async ({ message }) => void events.push({ key: message.key!.toString(), value: JSON.parse(message.value!.toString()) }) });
    await eventually('every command event on the events topic', () => enough(events), timeoutMs, 200).catch(async (error) => {
      const unpublished = await db('outbox').where({ topic: config.EVENTS_TOPIC }).whereNull('published_at').count({ n: '*' });
      throw new Error(`${(error as Error).message}; ${unpublished[0]!.n} of its outbox rows are still unpublished (see "outbox relay failed" in the worker's log)`);
    });
    return events;
  } finally {
    await consumer.disconnect();
  }
}

describe('broker stopped and started mid-stream', () => {
  it('applies every command exactly once, answers every one, and keeps each key’s events in order', async () => {
    onTestFailed(() => {
      if (process.env.GUARANTEES_WORKER_LOG) writeFileSync(process.env.GUARANTEES_WORKER_LOG, worker!.output);
      console.log(`[broker-restart] the worker's log ends:\n${worker!.output.split('\n').slice(-60).map((l) => l.slice(0, 500)).join('\n')}`);
    });
    const orgs = Array.from({ length: KEYS }, () => randomInt(1e6, 2e9));
    const byKey: Command[][] = orgs.map((org) =>
      Array.from({ length: PER_KEY }, (_, seq) => {
        const envelope = client!.envelope({ type: 'organisation.upsert', payload: { id: org, name: `Org ${org} v${seq}`, experimentationEnabled: seq % 2 === 0 } });
        return { id: envelope.id, key: String(org), org, bytes: Buffer.from(JSON.stringify(envelope)) };
      }),
    );
    const commands = byKey.flat();
    const total = commands.length;
    const replies = new Map<string, Reply>();
    for (const c of commands) void client!.waitForReply(c.id, 170_000).then((r) => replies.set(c.id, r), () => {});

    let sendFailures = 0;
    const sendUntilAcknowledged = async (c: Command) => {
      for (;;) {
        try {
          await client!.sendRaw(c.bytes, { key: c.key });
          return;
        } catch {
          sendFailures++;
          await sleep(300);
        }
      }
    };
    const producing = Promise.all(
      byKey.map(async (lane) => {
        for (const c of lane) {
          await sendUntilAcknowledged(c);
          c.producedAt = Date.now();
          await sleep(PACE_MS);
        }
      }),
    );

    await eventually('60 replies before the broker stops', () => replies.size >= 60, 60_000, 20);
    const answeredBeforeStop = replies.size;
    const stopMs = await broker('stop');
    const downAt = Date.now();
    // The client's part: a command sent before the outage and not answered when the broker was gone may or may
    // not have been applied; it is resent with the same id once the broker is back (most were applied: duplicates).
    const inDoubt = commands.filter((c) => c.producedAt !== undefined && !replies.has(c.id));
    // Down for longer than kafkajs rides out by itself (about 8 s here): sends fail, offset commits fail, the
    // consumers crash and restart; the broker's own start adds several seconds more.
    await sleep(Number(process.env.GUARANTEES_DOWN_MS ?? 6000));
    const startMs = await broker('start');
    const upAt = Date.now();
    console.log(`[broker-restart] stopped after ${answeredBeforeStop} replies (stop ${stopMs} ms, down ${upAt - downAt} ms, start ${startMs} ms)`);

    for (const c of inDoubt) {
      void client!.waitForReply(c.id, 120_000).then((r) => replies.set(c.id, r), () => {});
      await sendUntilAcknowledged(c);
    }

    await producing;
    const producedAfterRestart = commands.filter((c) => c.producedAt! >= upAt).length;
    // Mid-stream: part of the stream was answered before, part produced only after the broker came back.
    expect(answeredBeforeStop).toBeLessThan(total);
    expect(producedAfterRestart).toBeGreaterThan(0);

    // Then whatever stays unanswered, again with the same id (bytes, key), every 10 s, for at most a minute.
    let resent = 0;
    let clientsReplaced = 0;
    for (let round = 0; replies.size < total; round++) {
      await eventually('every reply', () => replies.size === total, 10_000, 100).catch(() => {});
      if (replies.size === total) break;
      if (round === 6) {
        const missing = commands.filter((c) => !replies.has(c.id)).map((c) => c.id);
        const delivered = await db('reply_deliveries').whereIn('command_id', missing).whereNotNull('delivered_at').countDistinct({ n: 'command_id' });
        throw new Error(`${missing.length} commands unanswered a minute after the broker came back (Postgres has a delivered reply for ${delivered[0]!.n} of them)`);
      }
      if (clientConsumerDead) {
        console.log('[broker-restart] the client consumer is dead: a new client asks again');
        await client!.disconnect().catch(() => {});
        client = await connectClient();
        clientsReplaced++;
      }
      const missing = commands.filter((c) => !replies.has(c.id));
      resent += missing.length;
      for (const c of missing) {
        void client!.waitForReply(c.id, 60_000).then((r) => replies.set(c.id, r), () => {});
        await sendUntilAcknowledged(c);
      }
    }
    const consumerRestarts = worker!.output.split('\n').filter((l) => l.includes('command consumer crashed')).length;
    console.log(`[broker-restart] all ${total} answered ${Date.now() - upAt} ms after the restart; ${sendFailures} failed sends retried, ${inDoubt.length} in doubt resent, ${resent} more resent (clients replaced: ${clientsReplaced}); produced after restart: ${producedAfterRestart}; command consumer restarts: ${consumerRestarts}`);
    expect(commands.map((c) => replies.get(c.id)!.status)).toEqual(commands.map(() => 200));

    // Exactly once, from Postgres.
    const ids = commands.map((c) => c.id);
    const processed = await db('processed_commands').whereIn('command_id', ids).pluck('command_id');
    expect(new Set(processed).size).toBe(total);
    const audits = await db('audit_log').whereIn('command_id', ids).groupBy('command_id').select('command_id').count({ n: '*' });
    expect(audits).toHaveLength(total);
    expect(audits.filter((a) => Number(a.n) !== 1)).toEqual([]);
    // The last command of each key is the state.
    const names = Object.fromEntries((await db('organisations').whereIn('id', orgs).select('id', 'name')).map((o) => [o.id, o.name]));
    expect(names).toEqual(Object.fromEntries(orgs.map((org) => [org, `Org ${org} v${PER_KEY - 1}`])));

    // Each key's events in command order (at least once: the first time each event id is seen counts).
    const wanted = new Set(ids);
    const events = await readEvents((all) => new Set(all.map((e) => e.value.commandId).filter((id) => wanted.has(id!))).size === total, 30_000);
    for (const lane of byKey) {
      const seen = new Set<string>();
      const order: string[] = [];
      for (const e of events) {
        if (e.key !== lane[0]!.key || seen.has(e.value.id)) continue;
        seen.add(e.value.id);
        order.push(e.value.commandId!);
      }
      expect(order).toEqual(lane.map((c) => c.id));
    }

    // Nothing of this test left for another worker to send (the reconciler sends any pending reply in the database).
    await eventually('every reply delivery marked delivered', async () => Number((await db('reply_deliveries').whereIn('command_id', ids).whereNull('delivered_at').count({ n: '*' }))[0]!.n) === 0, 30_000);
  }, 150_000);
});
