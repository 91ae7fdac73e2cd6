import { randomInt, randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { ExperimentationClient } from '../../../src/client/index.js';
import { createKafka, ensureTopics, workerTopics } from '../../../src/transport/kafka.js';
import { createKnex } from '../../../src/db.js';
import { createLogger } from '../../../src/logger.js';
import { loadConfig } from '../../../src/config.js';
import type { Reply } from '../../../src/contracts/envelope.js';
import { removeTestWorkerResources, systemActor, testWorkerEnv, topicPrefixOf } from '../harness.js';
import { testDatabaseUrl, testKeys } from '../env.js';
import { WorkerProcess, freePort } from '../worker-process.js';

const logger = createLogger('warn');
const knex = createKnex(testDatabaseUrl, 2);
const workers: WorkerProcess[] = [];
let client: ExperimentationClient | undefined;
let env: Record<string, string> | undefined;
afterAll(async () => {
  for (const w of workers) await w.kill('SIGKILL').catch(() => {});
  await client?.disconnect();
  await knex.destroy();
  if (env) await removeTestWorkerResources(env);
});

describe('worker killed mid-batch', () => {
  it('applies every command exactly once and answers every one after a SIGKILL and a restart', async () => {
    env = testWorkerEnv({ HTTP_PORT: String(await freePort()), LOG_LEVEL: process.env.CRASH_LOG_LEVEL ?? 'warn' });
    const config = loadConfig(env);
    const kafka = createKafka(config.KAFKA_BROKERS, logger, 'crash-test');
    await ensureTopics(kafka, workerTopics(config));
    client = new ExperimentationClient({
      kafka,
      ...testKeys.system,
      commandsTopic: config.COMMANDS_TOPIC,
      eventsTopic: config.EVENTS_TOPIC,
      replyTopic: `${topicPrefixOf(env)}client.replies`,
      defaultActor: systemActor,
      subscribeToEvents: true,
    });
    await client.connect();

    const first = new WorkerProcess(env);
    workers.push(first);
    await first.start();
    console.log(new Date().toISOString().slice(14,23), '[crash] first worker ready');

    const total = 600;
    const commands = Array.from({ length: total }, (_, i) => {
      const id = randomInt(1e6, 2e9);
      return { id: randomUUID(), type: 'organisation.upsert', environment: `crash-key-${i % 12}`, payload: { id, name: `Org ${id}`, experimentationEnabled: false } };
    });
    const answered = new Set<string>();
    const replies = commands.map((c) =>
      client!.send(c, { timeout: 120_000 }).then((r: Reply) => {
        answered.add(r.commandId);
        return r;
      }),
    );
    // Kill it while the batch is in flight: some commands answered, most not.
    while (answered.size < 40) await new Promise((r) => setTimeout(r, 20));
    expect(await first.kill('SIGKILL')).toBe('SIGKILL');
    const answeredBeforeKill = answered.size;
    expect(answeredBeforeKill).toBeLessThan(total);

    console.log(new Date().toISOString().slice(14,23), `[crash] killed after ${answeredBeforeKill} replies`);
    const second = new WorkerProcess(env);
    workers.push(second);
    await second.start();
    console.log(new Date().toISOString().slice(14,23), '[crash] second worker ready');
    const all = await Promise.all(replies);
    console.log(new Date().toISOString().slice(14,23), '[crash] all replies in');
    expect(all.map((r) => r.status)).toEqual(commands.map(() => 200));

    const ids: string[] = commands.map((c) => c.id);
    const processed = await knex('processed_commands').whereIn('command_id', ids).count({ n: '*' });
    expect(Number(processed[0]!.n)).toBe(total);
    const audits = await knex('audit_log').whereIn('command_id', ids).groupBy('command_id').select('command_id').count({ n: '*' });
    expect(audits).toHaveLength(total);
    expect(audits.filter((a) => Number(a.n) !== 1)).toEqual([]);
    // Every command's event reaches the events topic (at least once; consumers dedupe by event id).
    await expect.poll(() => new Set(client!.events.map((e) => e.commandId)).size, { timeout: 30_000 }).toBeGreaterThanOrEqual(total);
    const eventIds = client!.events.filter((e) => ids.includes(e.commandId!)).map((e) => e.id);
    const distinctEvents = new Set(eventIds).size;
    expect(distinctEvents).toBe(total);

    if (process.env.CRASH_LOG_LEVEL) console.log(second.output.split('\n').map((l) => l.slice(0, 400)).join('\n'));
    expect(await second.kill('SIGTERM')).toBe(0);
  }, 180_000);
});
